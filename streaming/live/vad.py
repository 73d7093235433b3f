"""Voice activity detection on 32 ms frames of 16 kHz audio: is each frame speech?

- `SileroVad` (default): the Silero VAD v6 network that faster-whisper ships as ONNX
  (`faster_whisper/assets/silero_vad_v6.onnx`), run frame by frame with its recurrent state carried over.
- `EnergyVad` (fallback): loudness above an adaptive noise floor; needs nothing but numpy.
Both take frames of `FRAME` samples and keep their own state, one detector per audio stream.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

FRAME = 512             # samples at 16 kHz = 32 ms: Silero's window
FRAME_S = FRAME / 16000
_CONTEXT = 64           # Silero v6 reads 64 samples of the previous frame before each window


class SpeechDetector(Protocol):
    def __call__(self, frame: np.ndarray) -> bool: ...   # one (FRAME,) float32 frame -> is it speech?


def frame_dbfs(frame: np.ndarray) -> float:
    """Loudness of one frame in dBFS (silence gives -100)."""
    rms = float(np.sqrt(np.mean(np.square(frame, dtype=np.float64))))
    return 20 * np.log10(max(rms, 1e-5))


@dataclass(frozen=True)
class EnergyOptions:
    threshold_db: float = 12.0      # speech: this far above the noise floor
    min_speech_dbfs: float = -50.0  # and never quieter than this


class EnergyVad:
    """Loudness above a noise floor that follows quiet frames quickly and loud ones slowly."""

    def __init__(self, options: EnergyOptions = EnergyOptions()):
        self.options, self.noise_db = options, -60.0

    def __call__(self, frame: np.ndarray) -> bool:
        db = frame_dbfs(frame)
        speech = db > max(self.noise_db + self.options.threshold_db, self.options.min_speech_dbfs)
        if not speech:
            self.noise_db += (0.05 if db > self.noise_db else 0.3) * (db - self.noise_db)
        return speech


def silero_model_path() -> Path:
    import faster_whisper
    return Path(faster_whisper.__file__).parent / "assets" / "silero_vad_v6.onnx"


class SileroVad:
    """Silero VAD v6 (MIT, shipped inside faster-whisper) as a streaming detector."""

    def __init__(self, threshold: float = 0.5, path: Path | None = None):
        import onnxruntime
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = opts.intra_op_num_threads = 1   # ~0.1 ms a frame: one thread is plenty
        opts.log_severity_level = 4
        self.session = onnxruntime.InferenceSession(str(path or silero_model_path()), sess_options=opts,
                                                    providers=["CPUExecutionProvider"])
        self.threshold = threshold
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(_CONTEXT, np.float32)

    def probability(self, frame: np.ndarray) -> float:
        x = np.concatenate([self._context, frame.astype(np.float32)])[None]          # (1, 576)
        out, self._h, self._c = self.session.run(None, {"input": x, "h": self._h, "c": self._c})
        self._context = frame[-_CONTEXT:].astype(np.float32)
        return float(np.asarray(out).reshape(-1)[0])

    def __call__(self, frame: np.ndarray) -> bool:
        return self.probability(frame) >= self.threshold


def make_detector(kind: str = "silero") -> SpeechDetector:
    """"silero" (falls back to energy with a warning when onnxruntime or the model is missing) or "energy"."""
    if kind not in ("silero", "energy"):
        raise ValueError(f"unknown VAD {kind!r}; accepted: silero, energy")
    if kind == "silero":
        try:
            return SileroVad()
        except Exception as e:  # noqa: BLE001  no onnxruntime / no model file: the energy VAD still works
            log.warning("Silero VAD unavailable (%s); using the energy VAD", e)
    return EnergyVad()
