"""Waveform augmentations that remove corpus cues (speaking rate, voice pitch, room, microphone, channel,
noise, level), so a speech model learns the emotion rather than the recording. Pure functions of a 16 kHz
mono float32 signal (N,) and, where random, a numpy Generator; numpy, scipy and soxr only.

    speed         resample: tempo and pitch together, length N / factor
    time_stretch  phase vocoder: tempo only, length N / rate
    pitch_shift   time stretch + resample: pitch only, length N
    add_noise_snr white / pink / brown noise at an exact SNR
    reverb        a synthetic room impulse response (exponentially decaying noise) with a given RT60
    band_limit    Butterworth band-pass (telephone 300-3400 Hz, or a narrower microphone)
    codec_like    8 kHz, mu-law 8 bit and back, as a phone line or VoIP codec
    normalize_rms per-utterance level normalisation to a target dBFS
`random_augment` chains them with random strengths (AugmentOptions).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from agf_core.inputs.audio import SAMPLE_RATE, normalize_rms, rms_db

NOISE_KINDS = ("white", "pink", "brown")


def fix_length(x: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad (N,) to exactly n samples."""
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def _check_factor(name: str, value: float, lo: float = 0.25, hi: float = 4.0) -> float:
    if not lo <= value <= hi:
        raise ValueError(f"{name} {value!r} is out of range; accepted: {lo} to {hi}")
    return float(value)


def speed(x: np.ndarray, factor: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Play `factor` times faster (tempo and pitch both scale): (N,) -> (round(N / factor),) float32."""
    import soxr
    _check_factor("speed factor", factor)
    y = soxr.resample(x.astype(np.float32), sr * factor, sr)
    return fix_length(y, round(len(x) / factor)).astype(np.float32)


def _stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    xp = np.pad(x, (n_fft // 2, n_fft // 2 + hop))
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop]      # (T, n_fft)
    return np.fft.rfft(frames * np.hanning(n_fft), axis=1)                   # (T, F)


def _istft(spec: np.ndarray, n_fft: int, hop: int, n: int) -> np.ndarray:
    frames = np.fft.irfft(spec, n_fft, axis=1) * np.hanning(n_fft)          # (T, n_fft)
    out = np.zeros(hop * (len(frames) - 1) + n_fft)
    norm = np.zeros_like(out)
    for t, fr in enumerate(frames):
        out[t * hop:t * hop + n_fft] += fr
        norm[t * hop:t * hop + n_fft] += np.hanning(n_fft) ** 2
    out = out / np.maximum(norm, 1e-3)
    return fix_length(out[n_fft // 2:], n)


def time_stretch(x: np.ndarray, rate: float, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Phase-vocoder tempo change without pitch change: `rate` > 1 is faster. (N,) -> (round(N / rate),)."""
    _check_factor("stretch rate", rate)
    spec = _stft(x.astype(np.float64), n_fft, hop)                          # (T, F)
    steps = np.arange(0, len(spec) - 1, rate)                                # fractional input frames
    i, frac = steps.astype(int), (steps % 1)[:, None]
    mag = (1 - frac) * np.abs(spec[i]) + frac * np.abs(spec[i + 1])          # (S, F)
    expected = 2 * np.pi * hop * np.arange(spec.shape[1]) / n_fft           # (F,) phase advance per hop
    dphi = np.angle(spec[i + 1]) - np.angle(spec[i]) - expected
    dphi = dphi - 2 * np.pi * np.round(dphi / (2 * np.pi)) + expected        # (S, F) true advance per hop
    phase = np.angle(spec[0]) + np.concatenate([np.zeros((1, spec.shape[1])), np.cumsum(dphi[:-1], 0)])
    return _istft(mag * np.exp(1j * phase), n_fft, hop, round(len(x) / rate)).astype(np.float32)


def pitch_shift(x: np.ndarray, semitones: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Shift the pitch by `semitones` keeping the tempo: (N,) -> (N,)."""
    if not -12 <= semitones <= 12:
        raise ValueError(f"pitch shift {semitones!r} semitones is out of range; accepted: -12 to 12")
    f = 2 ** (semitones / 12)
    return fix_length(speed(time_stretch(x, 1 / f), f, sr), len(x))


def noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-power coloured noise (n,): white (flat), pink (1/f power), brown (1/f^2 power)."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; accepted: {', '.join(NOISE_KINDS)}")
    w = rng.standard_normal(n)
    if kind != "white":
        spec = np.fft.rfft(w)
        f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
        spec = spec / (np.sqrt(f) if kind == "pink" else f)
        w = np.fft.irfft(spec, n)
    return w / np.sqrt(np.mean(w ** 2))


def add_noise_snr(x: np.ndarray, snr_db: float, rng: np.random.Generator, kind: str = "white") -> np.ndarray:
    """x + noise whose power is exactly mean(x^2) / 10^(snr_db / 10). (N,) -> (N,) float32."""
    power = float(np.mean(x.astype(np.float64) ** 2))
    if power == 0:
        return x.astype(np.float32)
    return (x + noise(len(x), kind, rng) * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)


def room_impulse(rt60: float, rng: np.random.Generator, sr: int = SAMPLE_RATE, direct_db: float = 0.0
                 ) -> np.ndarray:
    """A synthetic room impulse response (rt60 s long): a direct path, then noise decaying by 60 dB over
    rt60 seconds, its energy `direct_db` below the direct path (0 dB: as loud as the direct sound)."""
    if not 0.05 <= rt60 <= 2.0:
        raise ValueError(f"rt60 {rt60!r} s is out of range; accepted: 0.05 to 2.0")
    t = np.arange(int(rt60 * sr)) / sr
    tail = rng.standard_normal(len(t)) * 10 ** (-3 * t / rt60)               # -60 dB at t = rt60
    tail[0] = 0.0
    tail *= 10 ** (-direct_db / 20) / np.sqrt(np.sum(tail ** 2))
    tail[0] = 1.0
    return tail


def reverb(x: np.ndarray, rt60: float, rng: np.random.Generator, sr: int = SAMPLE_RATE, direct_db: float = 0.0
           ) -> np.ndarray:
    """x in a synthetic room (see room_impulse), same length and RMS as x. (N,) -> (N,) float32."""
    y = signal.fftconvolve(x.astype(np.float64), room_impulse(rt60, rng, sr, direct_db))[: len(x)]
    gain = np.sqrt(np.mean(x.astype(np.float64) ** 2) / max(np.mean(y ** 2), 1e-20))
    return (y * gain).astype(np.float32)


def band_limit(x: np.ndarray, low_hz: float = 300.0, high_hz: float = 3400.0, sr: int = SAMPLE_RATE,
               order: int = 6) -> np.ndarray:
    """Zero-phase Butterworth band-pass (telephone band by default). (N,) -> (N,) float32."""
    if not 0 < low_hz < high_hz < sr / 2:
        raise ValueError(f"band {low_hz}-{high_hz} Hz is not accepted; need 0 < low < high < {sr / 2} Hz")
    sos = signal.butter(order, [low_hz, high_hz], btype="bandpass", fs=sr, output="sos")
    return signal.sosfiltfilt(sos, x.astype(np.float64)).astype(np.float32)


def mu_law(x: np.ndarray, bits: int = 8, mu: float = 255.0) -> np.ndarray:
    """Mu-law companding quantised to 2^bits levels and expanded back: values in [-1, 1] -> same shape."""
    if not 2 <= bits <= 16:
        raise ValueError(f"bits {bits!r} is out of range; accepted: 2 to 16")
    x = np.clip(x, -1, 1)
    c = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)                 # [-1, 1]
    levels = 2 ** bits
    q = np.round((c + 1) / 2 * (levels - 1)) / (levels - 1) * 2 - 1
    return (np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu).astype(np.float32)


def codec_like(x: np.ndarray, rate: int = 8000, bits: int = 8, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A narrow-band channel: resample to `rate`, mu-law quantise, resample back. (N,) -> (N,) float32."""
    import soxr
    low = soxr.resample(x.astype(np.float32), sr, rate)
    return fix_length(soxr.resample(mu_law(low, bits), rate, sr), len(x)).astype(np.float32)


@dataclass(frozen=True)
class AugmentOptions:
    """Probabilities and ranges of `random_augment`; the defaults are the multi-corpus recipe's."""
    p_speed: float = 0.5
    speed_range: tuple[float, float] = (0.9, 1.1)
    p_pitch: float = 0.4
    pitch_semitones: float = 2.0                 # uniform in [-s, s]
    p_reverb: float = 0.4
    rt60_range: tuple[float, float] = (0.2, 0.8)
    p_channel: float = 0.4                       # band-limit or codec, half each
    p_noise: float = 0.6
    snrs_db: tuple[float, ...] = (5.0, 10.0, 20.0, 30.0)
    level_range_db: tuple[float, float] = (-35.0, -15.0)   # final level; the front end normalises it again


def random_augment(x: np.ndarray, rng: np.random.Generator, opts: AugmentOptions = AugmentOptions(),
                   sr: int = SAMPLE_RATE) -> np.ndarray:
    """A random chain of the augmentations above: (N,) -> (M,) float32 (M != N only after a speed change)."""
    if rng.random() < opts.p_speed:
        x = speed(x, rng.uniform(*opts.speed_range), sr)
    if rng.random() < opts.p_pitch:
        x = pitch_shift(x, rng.uniform(-opts.pitch_semitones, opts.pitch_semitones), sr)
    if rng.random() < opts.p_reverb:
        x = reverb(x, rng.uniform(*opts.rt60_range), rng, sr, direct_db=rng.uniform(0, 10))
    if rng.random() < opts.p_channel:
        x = band_limit(x, rng.uniform(150, 400), rng.uniform(3000, 4000), sr) if rng.random() < 0.5 \
            else codec_like(x, sr=sr)
    if rng.random() < opts.p_noise:
        x = add_noise_snr(x, float(rng.choice(opts.snrs_db)), rng, str(rng.choice(NOISE_KINDS)))
    return normalize_rms(x, rng.uniform(*opts.level_range_db))
