"""Speaker metadata indices (age, gender, timbre) -> the 256-D embedding m that conditions the gates."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from agf_core.inputs.metadata import VOCAB


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
