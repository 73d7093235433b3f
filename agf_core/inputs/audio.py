"""Pure signal processing for speech: validation, mono 16 kHz float32, log-mel, pitch and loudness.

Audio is `(sample_rate, ndarray)` everywhere, as Gradio delivers it: int16, int32 or float samples,
shape (N,) mono or (N, C) multi-channel.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
# One rule for every sample rate the library and the live routes take: what a microphone or a sound file
# plausibly has. Outside it soxr misbehaves: 2**63 Hz hung it for minutes, 10**10 Hz resampled to no samples.
MIN_RATE, MAX_RATE = 8_000, 192_000
RATES = f"whole numbers of Hz from {MIN_RATE} to {MAX_RATE}"
_ACCEPTED = (f"(sample_rate: int, {MIN_RATE}-{MAX_RATE} Hz, samples: int16/int32/float32/float64 ndarray of "
             "shape (N,) or (N, channels))")


def check_rate(rate: object, what: str = "audio") -> int:
    """`rate` as an int when it is a whole number of Hz in [MIN_RATE, MAX_RATE]; else ValueError naming it."""
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"{what} sample rate {rate!r} is not accepted; accepted: {RATES} (such as 16000 or 48000)")
    return int(rate)


def to_mono_16k(audio: tuple[int, np.ndarray]) -> np.ndarray:
    """Validate, downmix and resample -> float32 (N,) in [-1, 1] at 16 kHz. Raises ValueError on bad input."""
    if not isinstance(audio, (tuple, list)) or len(audio) != 2:
        raise ValueError(f"audio must be {_ACCEPTED}, got {type(audio).__name__}")
    sr, x = audio
    sr = check_rate(sr)
    if not isinstance(x, np.ndarray):
        raise ValueError(f"audio samples must be a numpy array, got {type(x).__name__}; expected {_ACCEPTED}")
    if x.dtype not in (np.int16, np.int32, np.float32, np.float64):
        raise ValueError(f"audio dtype {x.dtype} is not accepted; expected int16, int32, float32 or float64")
    if x.ndim == 2 and x.shape[0] <= 8 < x.shape[1]:
        x = x.T                                   # (C, N) from soundfile-like readers -> (N, C)
    if x.ndim not in (1, 2) or (x.ndim == 2 and x.shape[1] == 0):
        raise ValueError(f"audio shape {x.shape} is not accepted; expected (N,) or (N, channels)")
    if x.shape[0] == 0:
        raise ValueError("audio has zero length; pass at least one sample, or audio=None")
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    elif x.dtype == np.int32:
        x = x.astype(np.float32) / 2147483648.0
    elif not np.isfinite(x).all():
        raise ValueError("audio contains NaN or inf samples; clean the signal or pass audio=None")
    x = x.astype(np.float32)
    if x.ndim == 2:
        x = x.mean(1)                             # downmix
    return resample(x, sr, SAMPLE_RATE)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    sr_in, sr_out = check_rate(sr_in), check_rate(sr_out, "target")
    if sr_in == sr_out:
        return x.astype(np.float32)
    import soxr
    return soxr.resample(x, sr_in, sr_out).astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    """Loudness in dBFS; -inf-safe (silence gives -100)."""
    return float(20 * np.log10(max(np.sqrt(np.mean(np.square(x), dtype=np.float64)) if len(x) else 0.0, 1e-5)))


def is_silent(x16k: np.ndarray, floor_dbfs: float = -50.0, frame_s: float = 0.03) -> bool:
    """True when no 30 ms frame of 16 kHz audio reaches `floor_dbfs`: nothing to hear, not even quiet speech."""
    n = int(frame_s * SAMPLE_RATE)
    frames = x16k[: len(x16k) // n * n].reshape(-1, n) if len(x16k) >= n else x16k[None]
    loudest = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1)).max()
    return bool(20 * np.log10(max(loudest, 1e-5)) < floor_dbfs)


def normalize_rms(x: np.ndarray, target_db: float = -23.0) -> np.ndarray:
    """Scale to `target_db` dBFS RMS (silence is returned unchanged); peaks are clipped to [-1, 1]."""
    level = rms_db(x)
    if level <= -100:
        return x.astype(np.float32)
    return np.clip(x * 10 ** ((target_db - level) / 20), -1, 1).astype(np.float32)


def mel_filterbank(n_mels: int, n_fft: int, sr: int = SAMPLE_RATE, fmin: float = 0.0, fmax: float | None = None
                   ) -> np.ndarray:
    """Slaney-style triangular mel filters (n_mels, n_fft // 2 + 1)."""
    hz_to_mel = lambda f: 2595.0 * np.log10(1 + f / 700.0)  # noqa: E731
    mel_to_hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1)  # noqa: E731
    fmax = fmax or sr / 2
    pts = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    lo, mid, hi = pts[:-2, None], pts[1:-1, None], pts[2:, None]
    tri = np.maximum(0, np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)))
    return (tri * (2.0 / (hi - lo))).astype(np.float32)


def log_mel(x: np.ndarray, n_mels: int = 64, n_fft: int = 400, hop: int = 160) -> np.ndarray:
    """16 kHz float32 (N,) -> log-mel frames (T, n_mels), 25 ms windows every 10 ms."""
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]     # (T, n_fft)
    spec = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)) ** 2  # (T, F)
    return np.log(spec @ mel_filterbank(n_mels, n_fft).T + 1e-6).astype(np.float32)       # (T, n_mels)


def pitch_hz(x: np.ndarray, sr: int = SAMPLE_RATE, fmin: float = 60.0, fmax: float = 400.0) -> float | None:
    """Median fundamental frequency of the voiced 40 ms frames (autocorrelation); None if nothing is voiced."""
    win, hop = int(0.04 * sr), int(0.01 * sr)
    if len(x) < win:
        return None
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop]       # (T, win)
    energy = (frames ** 2).mean(1)
    frames = frames[energy > max(1e-6, 0.1 * np.percentile(energy, 90))]   # voiced-ish frames only
    lags = np.arange(int(sr / fmax), int(sr / fmin))
    f0s = []
    for fr in frames:
        fr = fr - fr.mean()
        ac = np.correlate(fr, fr, "full")[win - 1:]                         # (win,)
        if ac[0] <= 0:
            continue
        lag = lags[np.argmax(ac[lags])]
        if ac[lag] / ac[0] > 0.5:                                           # periodic enough to be voiced
            f0s.append(sr / lag)
    return float(np.median(f0s)) if len(f0s) >= 3 else None


def read_audio(path: str | Path) -> tuple[int, np.ndarray]:
    """A sound file (WAV, FLAC, OGG; 8-192 kHz, mono or multi-channel) -> (sample_rate, float32 samples)."""
    import soundfile as sf
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"audio file {path} not found")
    try:
        x, sr = sf.read(path, dtype="float32", always_2d=False)
    except Exception as e:
        raise ValueError(f"cannot read audio file {path} ({e}); accepted: WAV, FLAC, OGG") from e
    return check_rate(int(sr), f"audio file {path}"), x
