"""Video branch: a compact CNN over 48x48 grey face crops, then pooling over an 8-frame window.

The CNN is trained here on FER2013 (`python -m agf_core.train --task face`); face detection and cropping
live in `face.py`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from agf_core.labels import NUM_EMOTIONS


@dataclass(frozen=True)
class FaceNetConfig:
    image_size: int = 48                          # FER2013 crops are 48x48 grey
    channels: tuple[int, ...] = (32, 64, 128, 256)  # one stage of two 3x3 convs per entry, 2x2 pool between
    embed_dim: int = 256
    dropout: float = 0.4
    num_classes: int = NUM_EMOTIONS
    window: int = 8                               # frames pooled into one video embedding


def _stage(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class FaceNet(nn.Module):
    """Face crop -> embedding and emotion logits. Input (B, 1, 48, 48) float in [0, 1]."""

    def __init__(self, config: FaceNetConfig = FaceNetConfig()):
        super().__init__()
        self.config = config
        chans = (1,) + tuple(config.channels)
        self.stages = nn.ModuleList(_stage(a, b) for a, b in zip(chans[:-1], chans[1:]))
        self.embed = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(chans[-1], config.embed_dim),
                                   nn.BatchNorm1d(config.embed_dim), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.embed_dim, config.num_classes))

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The convolutional stages: (B, 1, H, W) -> globally pooled features (B, C)."""
        x = (x - 0.5) / 0.25                                   # (B, 1, H, W), roughly zero-mean
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.stages) - 1:
                x = F.max_pool2d(x, 2)                         # 48 -> 24 -> 12 -> 6
        return x.mean((2, 3))                                  # (B, C) global average pool

    def top(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The layers above the trunk (the ones the fusion's fine-tuning phase moves): (B, C) -> emb, logits."""
        emb = self.embed(g)                                    # (B, D)
        return emb, self.head(emb)                             # (B, D), (B, 7)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.trunk(x))                       # (B, D)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.top(self.trunk(x))                         # (B, D), (B, 7)


def window_top(net: FaceNet, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Trunk features of a window, each frame as seen and mirrored, (B, T, 2, C) -> pooled embedding (B, D)
    and log-probabilities (B, 7): the two views averaged (as in evaluation), then `pool_window`."""
    b, t, v, c = g.shape
    emb, logits = net.top(g.reshape(b * t * v, c))                      # (b*T*2, D), (b*T*2, 7)
    emb = emb.view(b, t, v, emb.shape[-1]).mean(2)                      # (b, T, D)
    logits = logits.log_softmax(-1).view(b, t, v, logits.shape[-1]).mean(2)  # (b, T, 7)
    return pool_window(emb, logits)                                     # (b, D), (b, 7)


def crops_to_tensor(crops: list[np.ndarray] | np.ndarray) -> torch.Tensor:
    """uint8 grey crops (N, 48, 48) -> float tensor (N, 1, 48, 48) in [0, 1]."""
    arr = np.asarray(crops, dtype=np.float32) / 255.0
    return torch.from_numpy(arr)[:, None]


def pool_window(emb: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Confidence-weighted mean over a window of frames.

    emb (B, T, D), logits (B, T, 7), mask (B, T) bool (True = a face was found).
    Frames whose prediction is more certain (lower entropy) count more: a blurred or half-turned face
    gives a flat prediction and so adds little. Returns (B, D) embedding and (B, 7) log-probabilities.
    """
    logp = logits.log_softmax(-1)                                        # (B, T, 7)
    entropy = -(logp.exp() * logp).sum(-1)                               # (B, T)
    score = -entropy
    if mask is not None:
        score = score.masked_fill(~mask, float("-inf"))
    w = score.softmax(-1).nan_to_num(0.0)                                # (B, T), all-masked rows -> 0
    pooled_emb = (w[..., None] * emb).sum(1)                             # (B, D)
    pooled = (w[..., None] * logp.exp()).sum(1).clamp_min(1e-8).log()    # (B, 7)
    return pooled_emb, pooled
