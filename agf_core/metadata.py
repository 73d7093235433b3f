"""Speaker metadata (AvaMERG profile vocabulary) -> a 256-D embedding m, and timbre estimated from a voice."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from .audio import SAMPLE_RATE, pitch_hz

UNKNOWN = "unknown"
VOCAB: dict[str, tuple[str, ...]] = {
    "age": ("child", "young", "middle-aged", "elderly", UNKNOWN),
    "gender": ("female", "male", UNKNOWN),
    "timbre": ("low", "mid", "high", UNKNOWN),
}
# Median F0 boundaries for timbre (Hz): typical adult male speech sits near 85-155 Hz, female 165-255 Hz.
TIMBRE_BOUNDS_HZ = (150.0, 220.0)


def check_metadata(metadata: dict | None) -> dict[str, str]:
    """Fill missing fields with "unknown"; raise ValueError on an unknown key or value."""
    metadata = dict(metadata or {})
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict like {{'age': 'young'}}, got {type(metadata).__name__}")
    extra = set(metadata) - set(VOCAB)
    if extra:
        raise ValueError(f"unknown metadata field(s) {sorted(extra)}; accepted: {', '.join(VOCAB)}")
    out = {}
    for field, values in VOCAB.items():
        value = metadata.get(field) or UNKNOWN
        value = value.strip().lower() if isinstance(value, str) else value
        if value not in values:
            raise ValueError(f"metadata {field}={value!r} is not accepted; accepted: {', '.join(values)}")
        out[field] = value
    return out


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


@dataclass(frozen=True)
class MetadataConfig:
    field_dim: int = 32
    out_dim: int = 256


class MetadataEncoder(nn.Module):
    """Indices (B, 3) -> m (B, out_dim): one embedding per field, concatenated, then a linear layer."""

    def __init__(self, config: MetadataConfig = MetadataConfig()):
        super().__init__()
        self.config = config
        self.fields = nn.ModuleList(nn.Embedding(len(v), config.field_dim) for v in VOCAB.values())
        self.proj = nn.Sequential(nn.Linear(config.field_dim * len(VOCAB), config.out_dim), nn.GELU())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        parts = [emb(ids[:, i]) for i, emb in enumerate(self.fields)]    # 3 x (B, field_dim)
        return self.proj(torch.cat(parts, -1))                            # (B, out_dim)
