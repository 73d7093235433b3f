"""Losses from the design's training recipe: focal loss (alpha 1, gamma 2) or class-weighted cross-entropy."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

LOSSES = ("ce", "weighted_ce", "focal")


def class_weights(labels: np.ndarray, num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights normalised to mean 1; a class absent from `labels` gets weight 0."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / num_classes, 0.0)
    return torch.tensor(w / w[w > 0].mean(), dtype=torch.float32)


def group_balanced_weights(groups: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample weights (N,) with mean 1: every group (corpus, test bed) the same total weight, every class the
    same weight within its group."""
    w = np.zeros(len(y))
    names = np.unique(groups)
    for g in names:
        in_g = groups == g
        classes = np.unique(y[in_g])
        for k in classes:
            rows = in_g & (y == k)
            w[rows] = 1.0 / (len(names) * len(classes) * rows.sum())
    return w * len(w)


class FocalLoss(nn.Module):
    """mean_i alpha * w_y * (1 - p_y)^gamma * -log p_y   (Lin et al. 2017); reduces to CE at gamma 0."""

    def __init__(self, alpha: float = 1.0, gamma: float = 2.0, weight: torch.Tensor | None = None):
        super().__init__()
        self.alpha, self.gamma = alpha, gamma
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = logits.log_softmax(-1).gather(1, target[:, None])[:, 0]   # (B,)
        loss = -self.alpha * (1 - logp.exp()).pow(self.gamma) * logp
        if self.weight is not None:
            loss = loss * self.weight[target]
        return loss.mean()


def make_loss(name: str, labels: np.ndarray, num_classes: int, label_smoothing: float = 0.0) -> nn.Module:
    """`ce` | `weighted_ce` (inverse class frequency) | `focal` (alpha 1, gamma 2)."""
    if name == "ce":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if name == "weighted_ce":
        return nn.CrossEntropyLoss(weight=class_weights(labels, num_classes), label_smoothing=label_smoothing)
    if name == "focal":
        return FocalLoss()
    raise ValueError(f"unknown loss {name!r}; accepted: {', '.join(LOSSES)}")
