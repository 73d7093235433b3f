"""The small classifier on top of a frozen encoder: embedding in, (fusion embedding, emotion logits) out."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from agf_core.labels import NUM_EMOTIONS


@dataclass(frozen=True)
class HeadConfig:
    input_dim: int = 768
    hidden: int = 256          # width of the embedding h_i handed to fusion
    dropout: float = 0.3
    num_classes: int = NUM_EMOTIONS


class ClassifierHead(nn.Module):
    """(B, input_dim) -> (B, hidden) embedding and (B, 7) logits."""

    def __init__(self, config: HeadConfig = HeadConfig()):
        super().__init__()
        self.config = config
        self.embed = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.input_dim, config.hidden),
                                   nn.LayerNorm(config.hidden), nn.GELU())
        self.out = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.hidden, config.num_classes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.embed(x)          # (B, hidden)
        return h, self.out(h)      # (B, hidden), (B, 7)
