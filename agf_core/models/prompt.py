"""Prompt tuning of the text encoder (issue 24.4): `length` learned input vectors inserted after [CLS] of
every sequence the frozen transformer reads (TextEncoder.forward(prompt=...)); only the vectors (and the
head above) are trained on the few labelled examples.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from agf_core.models.text import TextEncoder, check_text


@dataclass(frozen=True)
class PromptConfig:
    length: int = 8           # learned vectors per sequence
    seed: int = 0             # which vocabulary embeddings start them (real tokens: a start the encoder knows)


class PromptedEncoder(nn.Module):
    """texts (+ contexts) -> (B, encoder.dim) through a frozen TextEncoder with a learned prompt (P, H)."""

    def __init__(self, encoder: TextEncoder, config: PromptConfig = PromptConfig()):
        super().__init__()
        if config.length < 1:
            raise ValueError(f"prompt length {config.length!r} must be a positive int")
        self.config = config
        self.encoder = encoder
        for p in encoder.parameters():
            p.requires_grad_(False)
        vocab = encoder.model.get_input_embeddings().weight                   # (V, H)
        g = torch.Generator().manual_seed(config.seed)
        # skip the first 1,000 ids: special and unused tokens in BERT-style vocabularies
        ids = torch.randint(min(1000, vocab.shape[0] - 1), vocab.shape[0], (config.length,), generator=g)
        self.prompt = nn.Parameter(vocab[ids].detach().clone())                # (P, H)

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def forward(self, texts: list[str], contexts: list[list[str]] | None = None,
                context_states: torch.Tensor | None = None) -> torch.Tensor:
        """-> (B, dim). `context_states` (B, H): the frozen encoder's context half, computed once; then only
        the utterances run through the prompted transformer (half the cost: the prompt is for the sentence)."""
        if context_states is None:
            return self.encoder(texts, contexts, prompt=self.prompt)           # (B, dim)
        utterances = self.encoder._pool([check_text(t) for t in texts], self.prompt)   # (B, H)
        return torch.cat([utterances, context_states], -1)                     # (B, 2H)
