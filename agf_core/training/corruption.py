"""Input corruptions the fusion study trains and tests the gates on: noisy or silent audio, ASR-like word
errors, blank, occluded, blurred or dark face crops. Also the "window" of 8 jittered crops built from one
still image. All pure functions of their input and a numpy Generator.
"""
from __future__ import annotations

import cv2
import numpy as np

SILENCE = "silence"
# Audio conditions, from clean to gone: None = clean, numbers = white-noise SNR in dB.
AUDIO_CONDITIONS: tuple[float | str | None, ...] = (None, 20.0, 10.0, 5.0, 0.0, -5.0, SILENCE)
FACE_CORRUPTIONS = ("blank", "occluded", "blurred", "dark")


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White noise at `snr_db` relative to the clip's mean power. (N,) float32 -> (N,) float32."""
    power = np.mean(x ** 2) + 1e-10
    return (x + rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), x.shape)).astype(np.float32)


def degrade_audio(x: np.ndarray, condition: float | str | None, rng: np.random.Generator) -> np.ndarray:
    """One of AUDIO_CONDITIONS: None -> x, a number -> noise at that SNR, "silence" -> a -60 dBFS noise floor."""
    if condition is None:
        return x
    if condition == SILENCE:
        return rng.normal(0, 1e-3, x.shape).astype(np.float32)
    if isinstance(condition, (int, float)):
        return add_noise(x, float(condition), rng)
    raise ValueError(f"unknown audio condition {condition!r}; accepted: {AUDIO_CONDITIONS}")


_FILLERS = ("the", "a", "and", "uh", "to", "you", "it", "that", "oh", "I", "so", "know")


def asr_errors(text: str, rate: float, rng: np.random.Generator) -> str:
    """Simulated recognition errors: each word is, with probability `rate`, dropped, replaced by a short
    common word, or has its last letters cut (the three error kinds Whisper tiny makes on noisy speech)."""
    if not 0 <= rate <= 1:
        raise ValueError(f"rate {rate!r} must be within [0, 1]")
    out = []
    for word in text.split():
        if rng.random() >= rate:
            out.append(word)
            continue
        kind = rng.integers(3)
        if kind == 1:
            out.append(str(rng.choice(_FILLERS)))
        elif kind == 2 and len(word) > 3:
            out.append(word[: max(2, len(word) // 2)])
    return " ".join(out) or str(rng.choice(_FILLERS))


def jitter_window(image: np.ndarray, rng: np.random.Generator, frames: int = 8) -> np.ndarray:
    """One still grey crop (48, 48) uint8 -> a pseudo video window (frames, 48, 48): each frame shifted by up
    to 2 px, rotated up to 4 degrees, scaled 0.96-1.04 and its brightness changed up to 8%, as a face
    drifts between webcam frames."""
    h, w = image.shape
    out = np.empty((frames, h, w), np.uint8)
    for t in range(frames):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-4, 4), rng.uniform(0.96, 1.04))
        m[:, 2] += rng.uniform(-2, 2, 2)
        warped = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        out[t] = np.clip(warped * rng.uniform(0.92, 1.08), 0, 255).astype(np.uint8)
    return out


def corrupt_window(window: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """(T, 48, 48) uint8 -> the same window "blank" (no face, flat grey), "occluded" (a hand or mask over
    the lower or upper half), "blurred" (motion/defocus, Gaussian sigma 2.5) or "dark" (a badly lit room)."""
    t, h, w = window.shape
    if kind == "blank":
        return np.clip(rng.normal(rng.uniform(60, 190), 4, window.shape), 0, 255).astype(np.uint8)
    if kind == "occluded":
        out = window.copy()
        top = rng.random() < 0.5
        rows = slice(0, int(h * 0.55)) if top else slice(int(h * 0.45), h)
        out[:, rows] = np.uint8(rng.uniform(10, 60))
        return out
    if kind == "blurred":
        return np.stack([cv2.GaussianBlur(f, (0, 0), 2.5) for f in window])
    if kind == "dark":
        dark = window.astype(np.float32) * 0.2 + rng.normal(0, 6, window.shape)
        return np.clip(dark, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown face corruption {kind!r}; accepted: {', '.join(FACE_CORRUPTIONS)}")
