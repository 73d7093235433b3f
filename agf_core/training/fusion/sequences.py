"""Per-modality sequences for the fusion family (MulT attends over them), cached once per input and model:

    words  the text encoder's (all-MiniLM-L6-v2) last hidden states over an utterance's word pieces
    audio  the voice branch's Whisper tiny.en encoder states over a clip (50 frames a second)
    face   the face network's trunk features of an image as seen and mirrored (the two views the live face
           window averages; FER2013 has still images, so there are no later frames)

Words and audio frames are resampled to SEGMENTS steps (the mean of each of SEGMENTS equal stretches), so
every row of a modality has one length and no padding; the strategies that read one vector per modality
see the mean over time of the same sequence.

    python -m agf_core.training.fusion.sequences --data-root ../shared/data     # fill the cache (~5 min)
"""
from __future__ import annotations

import argparse
import logging

import numpy as np

from agf_core import checkpoint
from agf_core.training.features import cached

log = logging.getLogger(__name__)
SEGMENTS = 8


def resample(states: np.ndarray, n: int = SEGMENTS) -> np.ndarray:
    """(T, D) -> (n, D): the mean of each of n equal stretches of time; a stretch shorter than one step
    repeats the nearest step (T < n)."""
    if len(states) == 0:
        raise ValueError("cannot resample an empty sequence")
    edges = np.linspace(0, len(states), n + 1)
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        lo = min(int(np.floor(a)), len(states) - 1)
        out.append(states[lo:max(int(np.ceil(b)), lo + 1)].mean(0))
    return np.stack(out).astype(np.float32)


def ravdess_audio_frames(data_root: str) -> dict[str, np.ndarray]:
    """Every RAVDESS speech clip -> {name (N,) "03-..-AA.flac", frames (N, SEGMENTS, 384)}; cached."""
    from agf_core.branches import VOICE_FRONT
    from agf_core.models.audio import SpeechFrontEnd
    from agf_core.training.audio import read_wave
    from agf_core.training.data import read_ravdess

    def compute():
        front = SpeechFrontEnd(VOICE_FRONT)
        clips = [c for split in ("train", "dev", "test") for c in read_ravdess(data_root, split)]
        frames = []
        for i, c in enumerate(clips):
            frames.append(resample(front.whisper_states(front.normalized(read_wave(c.path)))))
            if i % 200 == 0:
                log.info("RAVDESS Whisper frames %d/%d", i, len(clips))
        return {"name": np.array([c.path.name for c in clips]), "frames": np.stack(frames)}
    return cached("seq_ravdess_whisper", {"front": repr(VOICE_FRONT), "segments": SEGMENTS}, compute)


def meld_word_states(data_root: str, split: str) -> dict[str, np.ndarray]:
    """MELD split -> {y (N,), words (N, SEGMENTS, 384)}: MiniLM states of the utterance's word pieces
    (no [CLS]/[SEP]), resampled; rows in read_meld order (the crossfit text outputs' order); cached."""
    import torch
    from agf_core.models.text import DEFAULT_TEXT_MODEL, _load
    from agf_core.training.data import read_meld

    def compute():
        tokenizer, model = _load(DEFAULT_TEXT_MODEL)
        rows = read_meld(data_root, split, 0)
        out = []
        for i in range(0, len(rows), 64):
            batch = tokenizer([r.text for r in rows[i:i + 64]], padding=True, truncation=True, max_length=128,
                              return_tensors="pt")
            with torch.no_grad():
                states = model(**batch).last_hidden_state.numpy()              # (b, L, 384)
            lengths = batch["attention_mask"].sum(1).numpy()
            out += [resample(s[1:max(n - 1, 2)]) for s, n in zip(states, lengths)]  # word pieces only
        return {"y": np.array([r.label for r in rows]), "words": np.stack(out)}
    return cached(f"seq_meld_words_{split}", {"model": DEFAULT_TEXT_MODEL, "segments": SEGMENTS}, compute)


def fer_face_views(data_root: str, split: str) -> dict[str, np.ndarray]:
    """FER2013 split -> {y (N,), views (N, 2, 256)}: the shipped face network's trunk features as seen and
    mirrored; rows in read_faces order (the crossfit face outputs' order); cached."""
    from agf_core.training.face_corpora import read_faces
    from agf_core.training.face_recipe import load_net, trunk_features
    video = checkpoint.WEIGHTS / "video.pt"

    def compute():
        images, y = read_faces(data_root, "fer2013", split)
        return {"y": y, "views": trunk_features(load_net(video), images)}
    return cached(f"seq_fer2013_views_{split}", {"video": checkpoint.sha256(video)}, compute)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m agf_core.training.fusion.sequences", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for split in ("dev", "test"):
        log.info("MELD %s words: %s", split, meld_word_states(args.data_root, split)["words"].shape)
        log.info("FER2013 %s views: %s", split, fer_face_views(args.data_root, split)["views"].shape)
    log.info("RAVDESS audio frames: %s", ravdess_audio_frames(args.data_root)["frames"].shape)


if __name__ == "__main__":
    main()
