"""Adaptive Gated Fusion (DESIGN.md section 2), as specified, with explicit modality masks.

    g_i = sigmoid(W_i [h_i ; m] + b_i)      one gate per modality, conditioned on metadata m
    a   = softmax(g) over the modalities present (a missing modality gets weight 0, by mask)
    h   = sum_i a_i * P_i(h_i)               P_i projects each modality to a common width
    p   = softmax(Classifier(h) + b)

`gate="sigmoid"` is the design exactly: a softmax over values in (0, 1) can weight one modality at most
e ~ 2.7 times another. `gate="logit"` is the improved variant: the softmax runs over the gate logits
divided by a learned temperature, so a useless modality can be switched almost off.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from agf_core.labels import MODALITIES, NUM_EMOTIONS

GATES = ("sigmoid", "logit")


@dataclass(frozen=True)
class FusionConfig:
    dims: dict[str, int] = field(default_factory=lambda: {"text": 256, "audio": 256, "video": 256})
    meta_dim: int = 256          # width of the metadata embedding m; 0 = gates see no metadata
    width: int = 256             # common width of the projected modalities
    gate: str = "sigmoid"        # "sigmoid" (the design) | "logit" (gate logits with a learned temperature)
    dropout: float = 0.2
    hidden: int = 0              # the classifier's hidden width; 0 = one linear layer
    num_classes: int = NUM_EMOTIONS


def check_mask(mask: torch.Tensor, modalities: tuple[str, ...] = MODALITIES) -> None:
    """A presence mask must be bool (B, M), columns in `modalities` order, with a modality in every row."""
    if mask.dtype != torch.bool or mask.dim() != 2 or mask.shape[-1] != len(modalities) or not bool(mask.any(-1).all()):
        raise ValueError(f"mask {tuple(mask.shape)} {mask.dtype} must be a bool (B, {len(modalities)}) tensor, "
                         f"columns {', '.join(modalities)}, with at least one True per row")


class AdaptiveGatedFusion(nn.Module):
    """Fuse per-modality embeddings into emotion logits and per-modality weights.

    forward(h, mask, m, gate_bias):
        h    {name: (B, D_name)} for each modality in config.dims (absent ones may hold zeros)
        mask (B, M) bool, True where modality M is present, columns in `self.modalities` order
        m    (B, meta_dim) metadata embedding, or None when meta_dim == 0
        gate_bias (M,) added to the gate logits (a user's personalisation), or None
    returns logits (B, 7) and weights a (B, M): rows sum to 1 over present modalities, 0 where masked.
    """

    def __init__(self, config: FusionConfig = FusionConfig()):
        super().__init__()
        if config.gate not in GATES:
            raise ValueError(f"unknown gate {config.gate!r}; accepted: {', '.join(GATES)}")
        unknown = set(config.dims) - set(MODALITIES)
        if unknown or not config.dims:
            raise ValueError(f"fusion dims {config.dims} must name one or more of {', '.join(MODALITIES)}")
        self.config = config
        self.modalities = tuple(m for m in MODALITIES if m in config.dims)
        self.gates = nn.ModuleDict({k: nn.Linear(d + config.meta_dim, 1) for k, d in config.dims.items()})
        self.proj = nn.ModuleDict({k: nn.Linear(d, config.width) for k, d in config.dims.items()})
        self.log_temperature = nn.Parameter(torch.zeros(()))  # used by gate="logit" only
        # a hidden layer lets the modalities interact after the weighted sum
        hidden = [nn.Linear(config.width, config.hidden), nn.GELU(), nn.Dropout(config.dropout)] if config.hidden else []
        self.classifier = nn.Sequential(nn.LayerNorm(config.width), nn.Dropout(config.dropout), *hidden,
                                        nn.Linear(config.hidden or config.width, config.num_classes))

    def gate_logits(self, h: dict[str, torch.Tensor], m: torch.Tensor | None) -> torch.Tensor:
        cols = []
        for k in self.modalities:
            x = h[k] if self.config.meta_dim == 0 else torch.cat([h[k], m], -1)  # (B, D_k + meta_dim)
            cols.append(self.gates[k](x))                                       # (B, 1)
        return torch.cat(cols, -1)                                              # (B, M)

    def forward(self, h: dict[str, torch.Tensor], mask: torch.Tensor, m: torch.Tensor | None = None,
                gate_bias: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config.meta_dim and m is None:
            raise ValueError("this fusion conditions its gates on metadata: pass m (B, meta_dim)")
        check_mask(mask, self.modalities)
        z = self.gate_logits(h, m)                                              # (B, M)
        if gate_bias is not None:
            z = z + gate_bias
        g = torch.sigmoid(z) if self.config.gate == "sigmoid" else z / self.log_temperature.exp()
        a = g.masked_fill(~mask, float("-inf")).softmax(-1)                     # (B, M), 0 where masked
        proj = torch.stack([self.proj[k](h[k]) for k in self.modalities], 1)    # (B, M, W)
        fused = (a[..., None] * proj).sum(1)                                    # (B, W)
        return self.classifier(fused), a                                        # (B, 7), (B, M)
