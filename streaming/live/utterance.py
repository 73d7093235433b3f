"""Microphone chunks -> utterances, by a voice-activity detector (Silero by default, energy as fallback).

Chunks arrive as the browser sends them, `(48000, int16[N])` a few times a second, or at any rate from 8 to
192 kHz (agf_core.inputs.audio.check_rate) and up to 10 s a chunk. They are resampled to 16 kHz mono float32 by
one streaming resampler per stream (no clicks at chunk boundaries) and cut into 32 ms frames. An utterance
starts after `start_ms` of speech (keeping `preroll_ms` before it) and ends after `end_silence_ms` of silence
(the hangover), or at `max_seconds`. Memory is bounded: only the utterance in progress and the pre-roll are
kept. Every sample pushed is counted.
"""
from __future__ import annotations

import atexit
import weakref
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from agf_core.inputs.audio import SAMPLE_RATE, check_rate

from .vad import FRAME, FRAME_S, EnergyOptions, SpeechDetector, make_detector

KEEP_SILENT = 6          # frames of silence an utterance keeps after its last speech (~0.19 s)

MAX_CHUNK_S = 10.0                    # the browser sends ~0.25-0.5 s; far more is not a live chunk


@dataclass(frozen=True)
class VadOptions:
    detector: str = "silero"        # or "energy"
    energy: EnergyOptions = EnergyOptions()
    start_ms: int = 96              # 3 frames of speech start an utterance
    end_silence_ms: int = 416       # the hangover: this much silence (13 frames) ends it
    preroll_ms: int = 320           # kept before the detected start, so the first syllable is not cut
    min_seconds: float = 0.4        # shorter bursts (clicks, coughs) are dropped
    max_seconds: float = 15.0       # a monologue is cut here so the display keeps moving


@dataclass
class Utterance:
    audio: np.ndarray       # 16 kHz mono float32
    start_s: float          # seconds since the stream began
    end_s: float
    clipped: bool = False   # some samples at full scale

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def check_chunk(chunk: object) -> tuple[int, np.ndarray]:
    """A live microphone chunk `(rate, samples)`: refuse what no microphone sends (odd rates, minutes long)."""
    if not isinstance(chunk, (tuple, list)) or len(chunk) != 2:
        raise ValueError(f"a microphone chunk must be (sample_rate, samples), got {type(chunk).__name__}")
    rate, x = chunk
    rate = check_rate(rate, "microphone")
    if not isinstance(x, np.ndarray) or x.dtype not in (np.int16, np.int32, np.float32, np.float64):
        raise ValueError(f"microphone samples must be an int16/int32/float ndarray, got "
                         f"{getattr(x, 'dtype', type(x).__name__)}")
    if x.ndim not in (1, 2):
        raise ValueError(f"microphone chunk of shape {x.shape} is not accepted; accepted: (N,) or (N, channels)")
    if len(x) > MAX_CHUNK_S * rate:     # the length is the problem, not the rate: say so
        raise ValueError(f"a microphone chunk of {len(x) / rate:.2f} s ({len(x)} samples at {rate} Hz) is too long; "
                         f"accepted: at most {MAX_CHUNK_S:.0f} s a chunk")
    return rate, x


class StreamResampler:
    """One stream's chunks at `rate` -> 16 kHz mono float32, with the filter state carried across chunks."""

    def __init__(self, rate: int):
        import soxr
        self.rate = rate
        self._stream = None if rate == SAMPLE_RATE else soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
        _RESAMPLERS.add(self)

    def __call__(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768.0
        elif x.dtype == np.int32:
            x = x.astype(np.float32) / 2147483648.0
        x = np.nan_to_num(x.astype(np.float32))
        if x.ndim == 2:
            x = x.mean(1)                                                  # downmix
        stream = self._stream
        if stream is None and self.rate != SAMPLE_RATE:   # released at exit: nothing more is processed
            return np.zeros(0, np.float32)
        return x if stream is None else stream.resample_chunk(x, last=last)

    def release(self) -> None:
        self._stream = None


# soxr is a nanobind extension: a stream still referenced when the interpreter shuts down (a session's worker
# holds one while the server stops) makes nanobind print a "leaked instances" report. Free them at exit.
_RESAMPLERS: "weakref.WeakSet[StreamResampler]" = weakref.WeakSet()
atexit.register(lambda: [r.release() for r in list(_RESAMPLERS)])


@dataclass
class UtteranceSegmenter:
    options: VadOptions = field(default_factory=VadOptions)
    detector: SpeechDetector | None = None
    samples_in: int = 0                 # at the chunks' own rate: every sample the stream delivered
    seconds_in: float = 0.0
    _resampler: StreamResampler | None = None
    _pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    _preroll: deque = field(default_factory=deque)
    _speech: list = field(default_factory=list)
    _in_speech: bool = False
    _run: int = 0            # consecutive speech frames before start / silence frames inside speech
    _frames_seen: int = 0
    _start_frame: int = 0

    def __post_init__(self):
        if self.detector is None:
            self.detector = make_detector(self.options.detector)

    def push(self, chunk: tuple[int, np.ndarray]) -> list[Utterance]:
        """Add one microphone chunk; return the utterances it completed (usually none or one)."""
        rate, x = check_chunk(chunk)
        if self._resampler is None or self._resampler.rate != rate:
            self._resampler = StreamResampler(rate)
        self.samples_in += len(x)
        self.seconds_in += len(x) / rate
        x = np.concatenate([self._pending, self._resampler(x)])
        n = len(x) // FRAME
        self._pending = x[n * FRAME:]
        return [u for f in x[: n * FRAME].reshape(n, FRAME) if (u := self._step(f)) is not None]

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def speech_start_s(self) -> float | None:
        """Where the utterance in progress began (stream seconds), None between utterances."""
        return self._start_frame * FRAME_S if self._in_speech else None

    @property
    def trailing_silence_s(self) -> float:
        """How long the utterance in progress has been silent (0 while the person speaks)."""
        return self._run * FRAME_S if self._in_speech else 0.0

    def current_audio(self) -> np.ndarray | None:
        """The utterance in progress so far (16 kHz float32), for partial transcripts; None between utterances."""
        return np.concatenate(self._speech) if self._in_speech and self._speech else None

    def flush(self) -> list[Utterance]:
        """End of stream: the utterance in progress, if long enough."""
        done = self._finish() if self._in_speech else None
        return [done] if done is not None else []

    def _step(self, frame: np.ndarray) -> Utterance | None:
        o = self.options
        self._frames_seen += 1
        speech = self.detector(frame)
        if not self._in_speech:
            self._preroll.append(frame)
            while len(self._preroll) * FRAME_S * 1000 > o.preroll_ms + o.start_ms:
                self._preroll.popleft()
            self._run = self._run + 1 if speech else 0
            if self._run * FRAME_S * 1000 >= o.start_ms:
                self._in_speech, self._run = True, 0
                self._speech = list(self._preroll)
                self._start_frame = self._frames_seen - len(self._speech)
                self._preroll.clear()
            return None
        self._speech.append(frame)
        self._run = 0 if speech else self._run + 1
        if self._run * FRAME_S * 1000 >= o.end_silence_ms or len(self._speech) * FRAME_S >= o.max_seconds:
            return self._finish()
        return None

    def ending_audio(self) -> np.ndarray | None:
        """The audio the utterance in progress will have if the silence now under way ends it: None unless that
        silence is at least the KEEP_SILENT frames an utterance keeps (so its final words can be decoded early)."""
        if not self._in_speech or self._run < KEEP_SILENT or len(self._speech) <= self._run:
            return None
        return self._trimmed()

    def _trimmed(self) -> np.ndarray:
        audio = np.concatenate(self._speech) if self._speech else np.zeros(0, np.float32)
        trail = min(self._run, max(0, len(self._speech) - 1)) * FRAME  # drop most of the trailing silence
        return audio[: len(audio) - trail + KEEP_SILENT * FRAME] if trail else audio

    def _finish(self) -> Utterance | None:
        audio = self._trimmed()
        start = self._start_frame * FRAME_S
        self._speech, self._in_speech, self._run = [], False, 0
        if len(audio) < self.options.min_seconds * SAMPLE_RATE:
            return None
        return Utterance(audio, start, start + len(audio) / SAMPLE_RATE, bool(np.abs(audio).max() >= 0.999))
