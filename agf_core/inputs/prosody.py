"""Frame-level prosody (pitch, energy, voicing, speaking rate) at Whisper's encoder frame rate (50/s), to
append to its states. Pure numpy; every feature is relative to the utterance or scale-free, so recording
level and microphone gain (corpus cues) do not enter:

    0  energy_rel   frame energy in dB relative to the utterance's loudest frame, / 20
    1  d_energy     its change from the previous frame, / 10
    2  voiced       1 where the frame is periodic (autocorrelation peak > 0.5 and not silent), else 0
    3  f0_st        log-f0 in semitones re 100 Hz, / 12 (0 where unvoiced)
    4  f0_rel_st    log-f0 in semitones re the utterance's median voiced f0, / 12 (0 where unvoiced)
    5  rate         voiced onsets per second over the utterance (a syllable-rate proxy), / 5; constant
"""
from __future__ import annotations

import numpy as np

from agf_core.inputs.audio import SAMPLE_RATE

PROSODY_DIM = 6
HOP = SAMPLE_RATE // 50          # 320 samples = one Whisper encoder frame
WIN = 2 * HOP                    # 40 ms analysis window


def frame_signal(x: np.ndarray, n_frames: int) -> np.ndarray:
    """Centred 40 ms windows every 20 ms: (N,) -> (n_frames, WIN)."""
    xp = np.pad(x.astype(np.float64), (WIN // 2, WIN // 2 + max(0, n_frames * HOP - len(x))))
    return np.lib.stride_tricks.sliding_window_view(xp, WIN)[::HOP][:n_frames]


def frame_pitch(frames: np.ndarray, sr: int = SAMPLE_RATE, fmin: float = 60.0, fmax: float = 500.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation pitch per frame: (T, WIN) -> f0 Hz (T,) and periodicity (T,) in [0, 1]."""
    fr = frames - frames.mean(1, keepdims=True)
    spec = np.fft.rfft(fr * np.hanning(fr.shape[1]), 2 * fr.shape[1], axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, : fr.shape[1]]          # (T, WIN)
    lo, hi = int(sr / fmax), int(sr / fmin)
    lag = lo + ac[:, lo:hi].argmax(1)                                       # (T,)
    rows = np.arange(len(ac))
    periodicity = np.where(ac[:, 0] > 0, ac[rows, lag] / np.maximum(ac[:, 0], 1e-12), 0.0)
    return sr / lag, np.clip(periodicity, 0, 1)


def prosody_frames(x: np.ndarray, n_frames: int | None = None, sr: int = SAMPLE_RATE) -> np.ndarray:
    """16 kHz mono (N,) -> prosody features (n_frames, PROSODY_DIM) float32 (default n_frames: ceil(N / 320)
    + 1 rounded as Whisper's encoder does, so the rows line up with its states)."""
    if sr != SAMPLE_RATE:
        raise ValueError(f"prosody needs {SAMPLE_RATE} Hz audio, got {sr}; resample with audio.to_mono_16k")
    n_frames = n_frames or (len(x) // 160 + 2) // 2
    frames = frame_signal(x, n_frames)                                       # (T, WIN)
    energy_db = 10 * np.log10(np.mean(frames ** 2, 1) + 1e-10)              # (T,)
    energy_rel = np.maximum(energy_db - energy_db.max(), -60.0)
    f0, periodicity = frame_pitch(frames, sr)
    voiced = (periodicity > 0.5) & (energy_rel > -35)                       # (T,)
    f0_st = np.where(voiced, 12 * np.log2(f0 / 100.0), 0.0)
    median = np.median(f0_st[voiced]) if voiced.any() else 0.0
    f0_rel = np.where(voiced, f0_st - median, 0.0)
    onsets = np.count_nonzero(np.diff(voiced.astype(int)) == 1) + int(voiced[:1].sum())
    rate = onsets / max(len(x) / sr, 0.1)
    d_energy = np.diff(energy_rel, prepend=energy_rel[:1])
    feats = np.stack([energy_rel / 20, d_energy / 10, voiced.astype(float), f0_st / 12, f0_rel / 12,
                      np.full(n_frames, rate / 5)], 1)                       # (T, 6)
    return feats.astype(np.float32)
