"""Microphone chunks -> utterances, by an energy voice-activity detector with an adaptive noise floor.

Chunks arrive as Gradio delivers them, `(48000, int16[24000])` every ~0.5 s, or at any rate and size;
each is resampled to 16 kHz mono float32 and cut into 30 ms frames. An utterance starts after
`start_ms` of speech (keeping `preroll_ms` before it) and ends after `end_silence_ms` of silence, or at
`max_seconds`. Memory is bounded: only the current utterance and the pre-roll are kept.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from agf_core.inputs.audio import SAMPLE_RATE, to_mono_16k

FRAME = int(0.03 * SAMPLE_RATE)  # 30 ms


@dataclass(frozen=True)
class VadOptions:
    threshold_db: float = 12.0      # speech: this far above the noise floor
    min_speech_dbfs: float = -50.0  # and never quieter than this
    start_ms: int = 150
    end_silence_ms: int = 600
    preroll_ms: int = 300
    min_seconds: float = 0.4        # shorter bursts (clicks, coughs) are dropped
    max_seconds: float = 15.0       # a monologue is cut here so the display keeps moving


def frame_dbfs(frames: np.ndarray) -> np.ndarray:
    """(T, FRAME) float32 -> (T,) loudness in dBFS."""
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-5))


@dataclass
class Utterance:
    audio: np.ndarray       # 16 kHz mono float32
    start_s: float          # seconds since the stream began
    end_s: float
    clipped: bool = False   # some samples at full scale

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass
class UtteranceSegmenter:
    options: VadOptions = field(default_factory=VadOptions)
    noise_db: float = -60.0
    _pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    _preroll: deque = field(default_factory=deque)
    _speech: list = field(default_factory=list)
    _in_speech: bool = False
    _run: int = 0            # consecutive speech frames before start / silence frames inside speech
    _frames_seen: int = 0
    _start_frame: int = 0

    def push(self, chunk: tuple[int, np.ndarray]) -> list[Utterance]:
        """Add one microphone chunk; return the utterances it completed (usually none or one)."""
        x = np.concatenate([self._pending, to_mono_16k(chunk)])
        n = len(x) // FRAME
        self._pending = x[n * FRAME:]
        if n == 0:
            return []
        frames = x[: n * FRAME].reshape(n, FRAME)
        return [u for f, db in zip(frames, frame_dbfs(frames)) if (u := self._step(f, db)) is not None]

    def flush(self) -> list[Utterance]:
        """End of stream: the utterance in progress, if long enough."""
        done = self._finish() if self._in_speech else None
        return [done] if done is not None else []

    def _step(self, frame: np.ndarray, db: float) -> Utterance | None:
        o = self.options
        self._frames_seen += 1
        speech = db > max(self.noise_db + o.threshold_db, o.min_speech_dbfs)
        if not speech:  # the floor follows quiet frames quickly and loud ones slowly
            self.noise_db += (0.05 if db > self.noise_db else 0.3) * (db - self.noise_db)
        if not self._in_speech:
            self._preroll.append(frame)
            while len(self._preroll) > (o.preroll_ms + o.start_ms) // 30:
                self._preroll.popleft()
            self._run = self._run + 1 if speech else 0
            if self._run * 30 >= o.start_ms:
                self._in_speech, self._run = True, 0
                self._speech = list(self._preroll)
                self._start_frame = self._frames_seen - len(self._speech)
                self._preroll.clear()
            return None
        self._speech.append(frame)
        self._run = 0 if speech else self._run + 1
        if self._run * 30 >= o.end_silence_ms or len(self._speech) * 30 >= o.max_seconds * 1000:
            return self._finish()
        return None

    def _finish(self) -> Utterance | None:
        audio = np.concatenate(self._speech) if self._speech else np.zeros(0, np.float32)
        trail = min(self._run, max(0, len(self._speech) - 1)) * FRAME  # drop most of the trailing silence
        audio = audio[: len(audio) - trail + 6 * FRAME] if trail else audio
        start = self._start_frame * 0.03
        self._speech, self._in_speech, self._run = [], False, 0
        if len(audio) < self.options.min_seconds * SAMPLE_RATE:
            return None
        return Utterance(audio, start, start + len(audio) / SAMPLE_RATE, bool(np.abs(audio).max() >= 0.999))
