"""Graph fusion: the modalities are the nodes of a complete graph and exchange messages.

Each node starts as its modality's vector in a common width. In each round a node gathers the values of the
present nodes (itself always, so a lone node is defined) with attention scores q_i . k_j plus a learned bias
per directed edge type (text -> audio differs from audio -> text), then updates by residual + feed-forward.
Readout: a learned score per node, softmax over the present nodes (the modality weights returned), the
weighted sum of the node states, a linear classifier. Absent nodes send nothing and are not read out.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from agf_core.labels import MODALITIES, NUM_EMOTIONS
from agf_core.models.fusion import check_mask
from agf_core.models.tokens import ModalityTokens

ROUNDS = 2


class MessageRound(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        m = len(MODALITIES)
        self.qkv = nn.Linear(width, 3 * width)
        self.edge = nn.Parameter(torch.zeros(m, m))                                  # bias per directed edge
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * width, width))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, -1)                                           # 3 x (B, M, W)
        scores = q @ k.transpose(1, 2) / math.sqrt(x.shape[-1]) + self.edge          # (B, M, M) receiver, sender
        eye = torch.eye(mask.shape[1], dtype=torch.bool, device=mask.device)
        senders = mask[:, None, :] | eye                                             # (B, M, M)
        msg = scores.masked_fill(~senders, float("-inf")).softmax(-1) @ v            # (B, M, W)
        x = self.norm1(x + self.drop(msg))
        return self.norm2(x + self.drop(self.ff(x)))


class GraphFusion(nn.Module):
    """model(h, logp, mask, meta) -> logits (B, 7), readout weights (B, M)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.tokens = ModalityTokens(config.input_dims, config.width, config.dropout)
        self.rounds = nn.ModuleList(MessageRound(config.width, config.dropout) for _ in range(ROUNDS))
        self.readout = nn.Linear(config.width, 1)
        self.classifier = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.width, NUM_EMOTIONS))

    def forward(self, h, logp, mask, meta, gate_bias=None, class_bias=None):
        check_mask(mask)
        x = self.tokens.pooled(h)                                                    # (B, M, W)
        for r in self.rounds:
            x = r(x, mask)
        z = self.readout(x)[..., 0] + (0 if gate_bias is None else gate_bias)        # (B, M)
        a = z.masked_fill(~mask, float("-inf")).softmax(-1)                          # (B, M), 0 where absent
        logits = self.classifier((a[..., None] * x.masked_fill(~mask[..., None], 0.0)).sum(1))  # (B, 7)
        return (logits if class_bias is None else logits + class_bias), a
