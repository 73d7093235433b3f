"""Contrastive cross-modal fusion: projections pre-trained to agree across modalities, then a classifier.

Phase 1 (`contrastive_loss`, no labels): each modality's projection maps its vector onto the unit sphere of a
shared space; for every pair of modalities present in the same rows, a symmetric InfoNCE loss pulls a row's two
projections together and pushes it from the other rows of the batch (temperature TAU). Phase 2: the
projections are frozen (`freeze_projections`) and a classifier learns the emotion from the mean of the present
modalities' projections and the presence flags. An absent modality is left out of the mean.
"""
from __future__ import annotations

import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F

from agf_core.labels import MODALITIES, NUM_EMOTIONS
from agf_core.models.fusion import check_mask
from agf_core.models.tokens import masked_mean, pooled

TAU = 0.1


class ContrastiveFusion(nn.Module):
    """model(h, logp, mask, meta) -> logits (B, 7), weights (B, M) (uniform over the present modalities)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        w = config.width
        self.proj = nn.ModuleDict({k: nn.Sequential(nn.Linear(d, w), nn.GELU(), nn.Linear(w, w))
                                   for k, d in config.input_dims.items()})
        m = len(MODALITIES)
        self.classifier = nn.Sequential(nn.Linear(w + m, w), nn.GELU(), nn.Dropout(config.dropout),
                                        nn.Linear(w, NUM_EMOTIONS))

    def project(self, h: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack([F.normalize(self.proj[k](pooled(h[k])), dim=-1) for k in MODALITIES], 1)  # (B, M, W)

    def contrastive_loss(self, h, logp, mask, meta, y=None) -> torch.Tensor:
        """Symmetric InfoNCE over every pair of modalities, on the rows where both are present."""
        z = self.project(h)                                                          # (B, M, W)
        losses = []
        for a, b in itertools.combinations(range(len(MODALITIES)), 2):
            rows = mask[:, a] & mask[:, b]
            if rows.sum() < 2:
                continue
            sim = z[rows, a] @ z[rows, b].T / TAU                                    # (R, R)
            target = torch.arange(len(sim))
            losses.append((F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target)) / 2)
        if not losses:
            raise ValueError("contrastive pre-training needs rows with two modalities present; this batch has none")
        return torch.stack(losses).mean()

    def freeze_projections(self) -> None:
        self.proj.requires_grad_(False)

    def forward(self, h, logp, mask, meta, gate_bias=None, class_bias=None):
        check_mask(mask)
        fused = masked_mean(self.project(h), mask)                                   # (B, W)
        logits = self.classifier(torch.cat([fused, mask.float()], -1))
        weights = mask.float() / mask.float().sum(-1, keepdim=True)                  # (B, M)
        return (logits if class_bias is None else logits + class_bias), weights
