"""The voice head: utterance-level features -> embedding h_audio and emotion logits.

Input: the mean and std of the Whisper tiny.en encoder states (768) and openSMILE eGeMAPS v02 functionals
(88) of one utterance, concatenated (B, 856). Each half is standardised with the training set's mean and std
(buffers, saved with the weights). eGeMAPS may be absent (openSMILE missing or failed): its standardised half
is then zero, the training mean, and the network was trained with that half dropped at random, so it still
reads the Whisper half.

Two heads read the standardised features and their probabilities are averaged (`mix` is the MLP's share):
an MLP whose hidden layer is the embedding h_audio, and a linear head (an L2-regularised logistic
regression, fitted in closed form by training/voice_recipe.py). Across corpora the linear head generalises
better, within a corpus the MLP: measured, the average is at least as good as the better of the two on
every test split but one (reports/voice_cross_corpus.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from agf_core.labels import NUM_EMOTIONS


@dataclass(frozen=True)
class VoiceNetConfig:
    whisper_dim: int = 768        # mean + std of the 384-D Whisper tiny.en states
    egemaps_dim: int = 88
    hidden: int = 256             # width of the embedding h_audio handed to fusion
    dropout: float = 0.3
    num_classes: int = NUM_EMOTIONS
    mix: float = 0.5              # the MLP's share of the probabilities; the linear head has the rest

    @property
    def input_dim(self) -> int:
        return self.whisper_dim + self.egemaps_dim


class VoiceNet(nn.Module):
    """Features (B, 856) + eGeMAPS presence (B,) bool -> embedding (B, hidden), logits (B, 7)."""

    def __init__(self, config: VoiceNetConfig = VoiceNetConfig()):
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.zeros(config.input_dim))
        self.register_buffer("std", torch.ones(config.input_dim))
        self.embed = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.input_dim, config.hidden),
                                   nn.LayerNorm(config.hidden), nn.GELU())
        self.out = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.hidden, config.num_classes))
        self.linear = nn.Linear(config.input_dim, config.num_classes)

    def standardize(self, x: torch.Tensor, has_egemaps: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.std                                         # (B, 856)
        keep = torch.ones_like(z, dtype=torch.bool)
        keep[:, self.config.whisper_dim:] = has_egemaps[:, None]               # (B, 856)
        return z.masked_fill(~keep, 0.0).clamp(-8, 8)  # clamp: one wild value must not swamp the rest

    def mlp(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised features (B, 856) -> embedding (B, hidden), the MLP's logits (B, 7)."""
        h = self.embed(z)                                                      # (B, hidden)
        return h, self.out(h)                                                  # (B, hidden), (B, 7)

    def forward(self, x: torch.Tensor, has_egemaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> embedding (B, hidden) and log-probabilities (B, 7) of the two heads' averaged probabilities."""
        z = self.standardize(x, has_egemaps)                                   # (B, 856)
        h, logits = self.mlp(z)
        p = self.config.mix * logits.softmax(-1) + (1 - self.config.mix) * self.linear(z).softmax(-1)  # (B, 7)
        return h, p.clamp_min(1e-8).log()
