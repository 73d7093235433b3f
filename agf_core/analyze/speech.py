"""Streamed 16 kHz audio -> utterances (Silero VAD, as faster-whisper ships it) -> per utterance the voice's
reading, the words with their times and the words' reading.

The VAD runs over blocks; an utterance still open at a block's end is carried into the next block, so memory
holds one block plus at most one utterance (`max_speech_s`), whatever the length of the recording.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from agf_core.branches import BranchOutput
from agf_core.inputs.audio import SAMPLE_RATE, is_silent
from agf_core.transcriber import Word


@dataclass(frozen=True)
class SpeechOptions:
    threshold: float = 0.5
    min_speech_ms: int = 400         # shorter bursts (clicks, coughs) are dropped, as live
    min_silence_ms: int = 416        # the live hangover: this much silence ends an utterance
    pad_ms: int = 160                # kept each side, so the first syllable is not cut
    max_speech_s: float = 15.0       # a monologue is cut here (at a pause when there is one), as live
    context_turns: int = 2           # previous utterances the text model reads with each one, as live


@dataclass
class Utterance:
    start_s: float
    end_s: float
    voice: BranchOutput | None = None        # None: silent (the VAD heard speech the loudness check did not)
    words: list[Word] = field(default_factory=list)   # times from the start of the recording
    text: BranchOutput | None = None         # None: no words

    @property
    def transcript(self) -> str:
        return " ".join(w.text for w in self.words)


def segments(blocks: Iterable[np.ndarray], options: SpeechOptions = SpeechOptions()
             ) -> Iterator[tuple[float, np.ndarray]]:
    """(start in s, 16 kHz float32 audio) of each utterance in a stream of audio blocks."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps
    vad = VadOptions(threshold=options.threshold, min_speech_duration_ms=options.min_speech_ms,
                     min_silence_duration_ms=options.min_silence_ms, speech_pad_ms=options.pad_ms,
                     max_speech_duration_s=options.max_speech_s)
    settle = int((options.min_silence_ms + options.pad_ms) / 1000 * SAMPLE_RATE) + SAMPLE_RATE // 2
    carry, offset = np.zeros(0, np.float32), 0     # `carry` starts at sample `offset` of the recording
    blocks = iter(blocks)
    block = next(blocks, None)
    while block is not None:
        following = next(blocks, None)
        buf = np.concatenate([carry, block])
        last = following is None
        keep_from = max(0, len(buf) - settle) if not last else len(buf)
        for s in get_speech_timestamps(buf, vad):
            if not last and s["end"] > len(buf) - settle:   # may go on in the next block: decide it there
                keep_from = min(keep_from, s["start"])
                break
            yield (offset + s["start"]) / SAMPLE_RATE, buf[s["start"]:s["end"]]
        carry, offset = buf[keep_from:], offset + keep_from
        block = following


def read_utterance(start_s: float, audio: np.ndarray, recognizer, transcriber, context: list[str]) -> Utterance:
    """The voice, the timed words and their reading (in the context of the previous turns) of one utterance."""
    u = Utterance(start_s, start_s + len(audio) / SAMPLE_RATE)
    if is_silent(audio):
        return u
    u.voice = recognizer.audio((SAMPLE_RATE, audio))
    u.words = [Word(w.text, w.start_s + start_s, w.end_s + start_s, w.probability) for w in transcriber.words(audio)]
    if u.words:
        u.text = recognizer.text(u.transcript, context or None)
    return u


def utterances(blocks: Iterable[np.ndarray], recognizer, transcriber, options: SpeechOptions = SpeechOptions()
               ) -> Iterator[Utterance]:
    """Every utterance of a stream of audio blocks, read."""
    context: list[str] = []
    for start_s, audio in segments(blocks, options):
        u = read_utterance(start_s, audio, recognizer, transcriber, context[-options.context_turns:])
        if u.words:
            context.append(u.transcript)
        yield u
