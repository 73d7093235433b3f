"""Temperature scaling (Guo et al. 2017), one temperature per set of present modalities.

How over-confident the fusion is depends on what it sees: speech with a fixed neutral sentence (RAVDESS)
is not text, speech and face together. So besides one global temperature, each set of present modalities
with at least MIN_ROWS dev rows gets its own (with the study's dev beds: text+audio and text+audio+video);
other sets use the global one. A fusion that passes a lone modality through returns that branch's own
probabilities, which are left as they are (T = 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from agf_core.labels import MODALITIES

MIN_ROWS = 200   # dev rows a modality set needs for its own temperature


def subset_key(present_row) -> str:
    """A mask row (M,) bool -> "text+audio"."""
    return "+".join(m for m, p in zip(MODALITIES, present_row) if p)


def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The T > 0 minimising the negative log-likelihood of softmax(logits / T)."""
    log_t = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), y)
        loss.backward()
        return loss
    opt.step(closure)
    return float(log_t.detach().exp())


@dataclass
class Temperatures:
    default: float = 1.0
    by_subset: dict[str, float] = field(default_factory=dict)
    passthrough: bool = False    # rows with one modality are that branch's own output: T = 1

    def for_mask(self, mask: np.ndarray | torch.Tensor) -> np.ndarray:
        """mask (B, M) bool -> the temperature of each row (B,)."""
        mask = np.asarray(mask)
        temps = np.array([self.by_subset.get(subset_key(row), self.default) for row in mask], np.float32)
        return np.where(mask.sum(-1) == 1, 1.0, temps).astype(np.float32) if self.passthrough else temps

    @classmethod
    def fit(cls, logits: torch.Tensor, y: torch.Tensor, mask: np.ndarray) -> "Temperatures":
        keys = np.array([subset_key(row) for row in np.asarray(mask)])
        by_subset = {str(k): fit_temperature(logits[torch.from_numpy(keys == k)], y[torch.from_numpy(keys == k)])
                     for k in np.unique(keys) if (keys == k).sum() >= MIN_ROWS}
        return cls(fit_temperature(logits, y), by_subset)

    @classmethod
    def from_meta(cls, meta: dict, passthrough: bool = False) -> "Temperatures":
        return cls(float(meta.get("temperature", 1.0)), dict(meta.get("temperatures_by_subset", {})), passthrough)
