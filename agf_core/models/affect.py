"""Valence and arousal heads: one linear map per modality from the branch's embedding h_i to (valence, arousal).

    va_m = W_m h_m + b_m          h_m (B, D_m) -> (B, 2), columns (valence, arousal), in [-1, 1] after clipping

Linear on purpose: the embeddings already carry what the branches learnt, and the heads are fitted in closed
form (ridge regression, agf_core/training/affect_recipe.py), so the checkpoint is a few KB and the fit has no
randomness. The fused reading is the same gate-weighted sum the categories use (agf_core/affect.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from agf_core.labels import MODALITIES


@dataclass(frozen=True)
class AffectConfig:
    dims: dict[str, int] = field(default_factory=lambda: {m: 256 for m in MODALITIES})  # modalities with a head


class AffectHeads(nn.Module):
    """{modality: embedding (B, D)} -> {modality: (B, 2) valence, arousal}, clipped to [-1, 1]."""

    def __init__(self, config: AffectConfig = AffectConfig()):
        super().__init__()
        unknown = set(config.dims) - set(MODALITIES)
        if unknown:
            raise ValueError(f"affect heads for unknown modality {sorted(unknown)}; accepted: {', '.join(MODALITIES)}")
        self.config = config
        self.heads = nn.ModuleDict({m: nn.Linear(d, 2) for m, d in config.dims.items()})

    def forward(self, h: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {m: self.heads[m](x).clamp(-1.0, 1.0) for m, x in h.items() if m in self.heads}  # (B, 2) each
