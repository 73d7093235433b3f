"""Hierarchical meta-fusion: a second level that fuses what the other strategies concluded.

The members (any strategies of models/variants.py, trained first and frozen) each give log-probabilities
(B, 7) and modality weights (B, M). The meta level weighs the members by which modalities are present and
how sure each member is (its entropy):

    w      = softmax(W [mask ; H(p_1) .. H(p_K)] + b)      (B, K), one weight per member
    logits = s * sum_k w_k log p_k + c                      s > 0 sharpens, c: 7 class biases
    a      = sum_k w_k a_k                                  the members' modality weights, mixed alike

It is trained on rows the members were not fitted on (the study's selection split), as stacking must be.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from agf_core.labels import MODALITIES, NUM_EMOTIONS
from agf_core.models.fusion import check_mask


class HierarchicalFusion(nn.Module):
    def __init__(self, config, members: list[nn.Module]):
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"hierarchical fusion needs at least 2 member strategies, got {len(members)}")
        self.config = config
        self.members = nn.ModuleList(members).requires_grad_(False)
        self.mix = nn.Linear(len(MODALITIES) + len(members), len(members))
        self.log_sharpness = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(NUM_EMOTIONS))

    def train(self, mode: bool = True):
        super().train(mode)
        self.members.eval()          # frozen members never train: no dropout in their outputs
        return self

    def forward(self, h, logp, mask, meta, gate_bias=None, class_bias=None):
        check_mask(mask)
        outs = [m(h, logp, mask, meta, gate_bias=gate_bias) for m in self.members]
        lp = torch.stack([z.log_softmax(-1) for z, _ in outs], 1)                    # (B, K, 7)
        entropy = -(lp.exp() * lp).sum(-1)                                           # (B, K)
        w = self.mix(torch.cat([mask.float(), entropy], -1)).softmax(-1)             # (B, K)
        logits = self.log_sharpness.exp() * (w[..., None] * lp).sum(1) + self.bias   # (B, 7)
        a = (w[..., None] * torch.stack([a for _, a in outs], 1)).sum(1)             # (B, M)
        return (logits if class_bias is None else logits + class_bias), a
