"""Few-shot adaptation of a frozen branch (issue 24.4): a residual bottleneck on the branch embedding h and a
linear output layer started from the branch's own, trained on k labelled examples per class.

    h' = h + W_up gelu(W_down h)        W_up starts at zero: before training the adapter is the identity,
    logits = W_out h' + b_out           and W_out, b_out are the branch's own output layer, so the adapted
                                        branch predicts exactly what the branch does until it has learnt.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn

from agf_core.labels import NUM_EMOTIONS


@dataclass(frozen=True)
class AdapterConfig:
    dim: int = 256            # width of the branch embedding h (text, voice and face all hand fusion 256)
    bottleneck: int = 32      # few parameters: a handful of examples must not be able to memorise much
    dropout: float = 0.1
    num_classes: int = NUM_EMOTIONS


class ResidualAdapter(nn.Module):
    """(B, D) -> (B, D): h + up(gelu(down(h))), the identity at initialisation."""

    def __init__(self, config: AdapterConfig = AdapterConfig()):
        super().__init__()
        self.down = nn.Linear(config.dim, config.bottleneck)
        self.up = nn.Linear(config.bottleneck, config.dim)
        self.drop = nn.Dropout(config.dropout)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(self.drop(nn.functional.gelu(self.down(h))))       # (B, D)


class AdaptedHead(nn.Module):
    """A frozen branch's embedding (B, D) -> logits (B, 7): adapter, then a copy of the branch's output layer."""

    def __init__(self, config: AdapterConfig = AdapterConfig(), out: nn.Linear | None = None):
        super().__init__()
        self.config = config
        self.adapter = ResidualAdapter(config)
        self.out = copy.deepcopy(out) if out is not None else nn.Linear(config.dim, config.num_classes)
        if (self.out.in_features, self.out.out_features) != (config.dim, config.num_classes):
            raise ValueError(f"output layer {self.out.in_features}->{self.out.out_features} does not fit the adapter "
                             f"({config.dim}->{config.num_classes})")
        for p in self.out.parameters():
            p.requires_grad_(True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(self.adapter(h))                                        # (B, 7)
