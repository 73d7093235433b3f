"""The timeline of one recording: a row per step (default 1 s) with the face's reading over the last 8 face
frames (the live window), the voice and the words' reading of the utterance under that step, the words that
began in it with their times, and the fused reading with each modality's weight.
"""
from __future__ import annotations

import json
import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from agf_core.branches import BranchOutput
from agf_core.labels import EMOTIONS, MODALITIES
from agf_core.status import NO_FACE, NO_SPEECH, ModalityStatus

from .speech import Utterance

log = logging.getLogger(__name__)
NO_VIDEO, NO_AUDIO, NO_WORDS = "no video stream", "no audio track", "no words heard"


@dataclass(frozen=True)
class TimelineOptions:
    step_s: float = 1.0         # one row per step
    face_fps: float = 4.0       # frames read per second of video (the live webcam sends ~3)
    window: int = 8             # face crops pooled into one reading, as live (2 s at 4 fps)
    forget_s: float = 1.0       # no face for this long: the face is absent, as live

    def __post_init__(self):
        if not (0.05 <= self.step_s <= 3600 and math.isfinite(self.step_s)):
            raise ValueError(f"step {self.step_s!r} s is not accepted; accepted: 0.05 to 3600 seconds")
        if not 0.5 <= self.face_fps <= 30:
            raise ValueError(f"face fps {self.face_fps!r} is not accepted; accepted: 0.5 to 30 frames a second")

    def steps(self, duration_s: float) -> int:
        return max(1, math.ceil(duration_s / self.step_s - 1e-9))


def face_steps(frames: Iterable[tuple[float, np.ndarray]], recognizer, options: TimelineOptions, n_steps: int
               ) -> Iterator[tuple[BranchOutput | None, int]]:
    """Per step: the face reading at its end over the last `window` crops (None: no face lately) and how many
    crops that window held."""
    features: deque = deque(maxlen=options.window)
    last_face_t, k = -math.inf, 0

    def close(end_s: float):
        if end_s - last_face_t > options.forget_s + 1 / options.face_fps:
            features.clear()
        return (recognizer.video_from_features(list(features)) if features else None), len(features)

    for t, frame in frames:
        while k < n_steps and t >= (k + 1) * options.step_s:
            yield close((k + 1) * options.step_s)
            k += 1
        if k >= n_steps:
            break
        try:
            face = recognizer.face(frame)
        except (RuntimeError, TimeoutError) as e:   # the detector's process restarting: this frame only
            log.warning("frame at %.1f s skipped: %s", t, e)
            face = None
        if face is not None:
            features.append(recognizer.face_features(face.crop))   # each frame through the network once
            last_face_t = t
    while k < n_steps:
        yield close((k + 1) * options.step_s)
        k += 1


def _under(utterances: list[Utterance], first: int, t0: float, t1: float) -> Utterance | None:
    """The utterance overlapping [t0, t1) the most, looking from index `first` on (they are in time order)."""
    best, most = None, 0.0
    for u in utterances[first:]:
        if u.start_s >= t1:
            break
        overlap = min(u.end_s, t1) - max(u.start_s, t0)
        if overlap > most:
            best, most = u, overlap
    return best


def _probs(prefix: str, out: BranchOutput | None) -> dict:
    p = out.probs if out is not None else [math.nan] * len(EMOTIONS)
    label = EMOTIONS[int(np.argmax(p))] if out is not None else None
    return {prefix: label, **{f"{prefix}_{e}": float(v) for e, v in zip(EMOTIONS, p)}}


def rows(faces: Iterable[tuple[BranchOutput | None, int]] | None, utterances: list[Utterance], n_steps: int,
         options: TimelineOptions, recognizer, has_audio: bool) -> Iterator[dict]:
    """One row per step; `faces` None when the recording has no video."""
    has_video = faces is not None
    faces = iter(faces) if has_video else iter([(None, 0)] * n_steps)
    words_all = [w for u in utterances for w in u.words]
    first = w_at = 0
    for k in range(n_steps):
        t0, t1 = k * options.step_s, (k + 1) * options.step_s
        face, crops = next(faces, (None, 0))
        while first < len(utterances) and utterances[first].end_s <= t0:
            first += 1
        u = _under(utterances, first, t0, t1)
        voice, text = (u.voice, u.text) if u is not None else (None, None)
        words = []
        while w_at < len(words_all) and words_all[w_at].start_s < t1:
            words.append(words_all[w_at])
            w_at += 1
        outs = {m: o for m, o in zip(MODALITIES, (text, voice, face)) if o is not None}
        status = {"video": ModalityStatus.absent(NO_FACE if has_video else NO_VIDEO),
                  "audio": ModalityStatus.absent(NO_SPEECH if has_audio else NO_AUDIO),
                  "text": ModalityStatus.absent(NO_WORDS if has_audio else NO_AUDIO)}
        yield _row(t0, t1, face, crops, u, words, recognizer.combine(outs, None, status))


def _row(t0: float, t1: float, face: BranchOutput | None, crops: int, u: Utterance | None, words: list, fused) -> dict:
    voice, text = (u.voice, u.text) if u is not None else (None, None)
    return {"t_start": t0, "t_end": t1, **_probs("face", face), "face_crops": crops,
            "utterance_start": u.start_s if u else math.nan, "utterance_end": u.end_s if u else math.nan,
            **_probs("voice", voice), "words": " ".join(w.text for w in words),
            "word_times": json.dumps([[w.text, round(w.start_s, 2), round(w.end_s, 2)] for w in words]),
            "transcript": u.transcript if u else "", **_probs("text", text),
            "label": fused.label, "confidence": fused.confidence,
            **{e: fused.probs.get(e, math.nan) for e in EMOTIONS},
            **{f"weight_{m}": fused.weights.get(m, 0.0) for m in MODALITIES},
            "absent": "; ".join(f"{m}: {r}" for m, r in fused.absent.items())}
