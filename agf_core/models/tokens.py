"""What the fusion family's attention and graph strategies share: each modality's input as tokens of one
common width.

A modality's input h[m] is one vector (B, D_m) or a sequence (B, T_m, D_m) (word tokens, audio frames, face
views). Strategies that read one vector per modality take `pooled` (the mean over time); MulT reads the
sequence, and a one-vector modality is a one-token sequence.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from agf_core.labels import MODALITIES

MAX_TOKENS = 32        # the longest sequence a learned position embedding covers


def pooled(x: torch.Tensor) -> torch.Tensor:
    """(B, D) or (B, T, D) -> (B, D): a sequence's mean over time."""
    return x if x.dim() == 2 else x.mean(1)


def as_sequence(x: torch.Tensor) -> torch.Tensor:
    """(B, D) or (B, T, D) -> (B, T, D): one vector is a one-token sequence."""
    return x[:, None] if x.dim() == 2 else x


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (B, M, W) averaged over the present modalities of mask (B, M) -> (B, W); absent rows weigh exactly 0."""
    w = mask.float()[..., None]                                                  # (B, M, 1)
    return (x * w).sum(1) / w.sum(1).clamp_min(1.0)


class ModalityTokens(nn.Module):
    """{m: (B, D_m) or (B, T_m, D_m)} -> {m: (B, T_m, W)}: a linear map per modality, plus a learned
    embedding of the modality and of the position, so shared layers know whose token at which step they read."""

    def __init__(self, dims: dict[str, int], width: int, dropout: float):
        super().__init__()
        self.proj = nn.ModuleDict({k: nn.Linear(d, width) for k, d in dims.items()})
        self.kind = nn.Parameter(torch.zeros(len(MODALITIES), width))
        self.position = nn.Parameter(torch.zeros(MAX_TOKENS, width))
        nn.init.normal_(self.kind, std=0.02), nn.init.normal_(self.position, std=0.02)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for i, k in enumerate(MODALITIES):
            x = as_sequence(h[k])                                                # (B, T, D)
            if x.shape[1] > MAX_TOKENS:
                raise ValueError(f"{k} has {x.shape[1]} steps; at most {MAX_TOKENS} are accepted (resample it)")
            out[k] = self.drop(self.proj[k](x) + self.kind[i] + self.position[:x.shape[1]])  # (B, T, W)
        return out

    def pooled(self, h: dict[str, torch.Tensor]) -> torch.Tensor:
        """One token per modality (the mean over time): (B, M, W)."""
        return torch.stack([t.mean(1) for t in self(h).values()], 1)
