"""MulT (Tsai et al., 2019): cross-modal attention over per-modality sequences.

For each target modality t and each other modality s, a cross-modal block lets t's tokens attend to s's
tokens (queries from t, keys and values from s); t's sequence gains the sum of those updates from the present
sources, then one self-attention layer over t's own steps. The fused vector is the mean over time of each
present target's sequence, averaged over the present targets, then a linear classifier.

An absent source adds nothing (its update is multiplied by 0) and an absent target is left out of the
average, so an absent modality cannot change the output. A modality given as one vector is a one-token
sequence (the aligned action-unit bed has nothing else).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from agf_core.labels import MODALITIES, NUM_EMOTIONS
from agf_core.models.fusion import check_mask
from agf_core.models.tokens import ModalityTokens, masked_mean


class CrossBlock(nn.Module):
    """Target tokens (B, T_t, W) attend to source tokens (B, T_s, W) -> the target's update (B, T_t, W)."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_ff = nn.LayerNorm(width), nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * width, width))

    def forward(self, target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(source)
        u = self.attn(self.norm_q(target), kv, kv, need_weights=False)[0]           # (B, T_t, W)
        return u + self.ff(self.norm_ff(target + u))                                 # (B, T_t, W)


class MulTFusion(nn.Module):
    """model(h, logp, mask, meta) -> logits (B, 7), weights (B, M) (uniform over the present modalities)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        w, heads, drop = config.width, config.heads, config.dropout
        self.tokens = ModalityTokens(config.input_dims, w, drop)
        self.cross = nn.ModuleDict({f"{s}_to_{t}": CrossBlock(w, heads, drop)
                                    for t in MODALITIES for s in MODALITIES if s != t})
        self.own = nn.ModuleDict({t: nn.TransformerEncoderLayer(w, heads, 2 * w, drop, batch_first=True, norm_first=True)
                                  for t in MODALITIES})
        self.classifier = nn.Sequential(nn.LayerNorm(w), nn.Dropout(drop), nn.Linear(w, NUM_EMOTIONS))

    def forward(self, h, logp, mask, meta, gate_bias=None, class_bias=None):
        check_mask(mask)
        tok = self.tokens(h)                                                         # {m: (B, T_m, W)}
        present = mask.float()[..., None, None]                                      # (B, M, 1, 1)
        summary = []
        for i, t in enumerate(MODALITIES):
            z = tok[t]
            for j, s in enumerate(MODALITIES):
                if s != t:
                    z = z + present[:, j] * self.cross[f"{s}_to_{t}"](tok[t], tok[s])   # (B, T_t, W)
            summary.append(self.own[t](z).mean(1))                                   # (B, W)
        fused = masked_mean(torch.stack(summary, 1), mask)                           # (B, W)
        logits = self.classifier(fused)
        weights = mask.float() / mask.float().sum(-1, keepdim=True)                  # (B, M)
        return (logits if class_bias is None else logits + class_bias), weights
