"""Speaker metadata: the AvaMERG profile vocabulary, its checks, and timbre estimated from a voice.
The 256-D embedding m is `agf_core.models.metadata.MetadataEncoder`."""
from __future__ import annotations

import numpy as np
import torch

from agf_core.inputs.audio import SAMPLE_RATE, pitch_hz

UNKNOWN = "unknown"
VOCAB: dict[str, tuple[str, ...]] = {
    "age": ("child", "young", "middle-aged", "elderly", UNKNOWN),
    "gender": ("female", "male", UNKNOWN),
    "timbre": ("low", "mid", "high", UNKNOWN),
}
# Median F0 boundaries for timbre (Hz): typical adult male speech sits near 85-155 Hz, female 165-255 Hz.
TIMBRE_BOUNDS_HZ = (150.0, 220.0)


def check_metadata(metadata: dict | None) -> dict[str, str]:
    """Fill missing fields with "unknown"; raise ValueError on anything but a dict of known str values."""
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict such as {{'age': 'young', 'gender': 'female'}}, "
                         f"got {type(metadata).__name__} {metadata!r:.40}")
    extra = set(metadata) - set(VOCAB)
    if extra:
        raise ValueError(f"unknown metadata field(s) {sorted(map(str, extra))}; accepted: {', '.join(VOCAB)}")
    out = {}
    for field, values in VOCAB.items():
        value = metadata.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            value = UNKNOWN
        if not isinstance(value, str) or value.strip().lower() not in values:
            raise ValueError(f"metadata {field}={value!r} is not accepted; accepted: {', '.join(values)}")
        out[field] = value.strip().lower()
    return out


def with_timbre(metadata: dict[str, str], audio16k: np.ndarray | None) -> dict[str, str]:
    """Checked metadata with the timbre estimated from the voice when it is unknown (the one place that does)."""
    meta = check_metadata(metadata)
    if meta["timbre"] == UNKNOWN and audio16k is not None:
        meta["timbre"] = estimate_timbre(audio16k)
    return meta


def estimate_timbre(audio16k: np.ndarray, sr: int = SAMPLE_RATE) -> str:
    """"low" | "mid" | "high" from the median pitch of the voiced frames; "unknown" when nothing is voiced."""
    f0 = pitch_hz(audio16k, sr)
    if f0 is None:
        return UNKNOWN
    low, high = TIMBRE_BOUNDS_HZ
    return "low" if f0 < low else "mid" if f0 < high else "high"


def metadata_ids(metadata: list[dict[str, str]]) -> torch.Tensor:
    """Checked metadata dicts -> indices (B, 3) in VOCAB order (age, gender, timbre)."""
    return torch.tensor([[VOCAB[f].index(check_metadata(m)[f]) for f in VOCAB] for m in metadata],
                        dtype=torch.long)
