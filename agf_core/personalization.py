"""Personalisation from a user's corrections ("that's not how I feel"), with the fusion itself frozen:

- a per-user gate bias (M,) and class bias (7,) fitted on the session's corrections;
- a nearest-neighbour vote: the corrected moments most similar to the current one (cosine over the branch
  embeddings) add `knn_weight` x their label distribution to the logits. The same person tends to show an
  emotion the same way, which a bias alone cannot capture.

The state lives in one `Personalization` object per session, so nothing learnt from one user reaches another.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from agf_core.labels import EMOTIONS, MODALITIES, NUM_EMOTIONS


@dataclass(frozen=True)
class PersonalizationOptions:
    l2: float = 1.0           # pull towards "no change": 10 corrections should nudge, not overwrite
    steps: int = 60
    lr: float = 0.1
    min_corrections: int = 1  # fit as soon as there is one correction
    fit_gates: bool = False   # fit the gate bias too (measured: it overfits a few corrections)
    knn_weight: float = 2.0   # logit boost from the nearest corrected moments (tuned on dev actors 17-20)
    # The vote counts K/(K + knn_prior) of knn_weight for K corrections: one correction nudges (with the full
    # weight a single "anger" on a still neutral face gave anger 66 % on the next reading), many count fully.
    knn_prior: float = 4.0
    knn_temperature: float = 0.1


@dataclass
class Correction:
    h: dict[str, np.ndarray]      # modality -> (256,), present ones only
    logp: dict[str, np.ndarray]   # modality -> (7,)
    meta: np.ndarray              # (3,) metadata ids
    label: int


@dataclass
class Personalization:
    """One user's corrections and the biases fitted on them."""
    options: PersonalizationOptions = PersonalizationOptions()
    corrections: list[Correction] = field(default_factory=list)
    gate_bias: np.ndarray = field(default_factory=lambda: np.zeros(len(MODALITIES), np.float32))
    class_bias: np.ndarray = field(default_factory=lambda: np.zeros(NUM_EMOTIONS, np.float32))
    _neighbours: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def add(self, correction: Correction, model: torch.nn.Module) -> None:
        if not 0 <= correction.label < NUM_EMOTIONS:
            raise ValueError(f"correction label {correction.label!r} must index one of {', '.join(EMOTIONS)}")
        if not correction.h:
            raise ValueError("a correction needs at least one modality's embedding")
        self.corrections.append(correction)
        if len(self.corrections) >= self.options.min_corrections:
            self.gate_bias, self.class_bias = fit_biases(model, self.corrections, self.options)

    def reset(self) -> None:
        self.corrections.clear()
        self.gate_bias = np.zeros(len(MODALITIES), np.float32)
        self.class_bias = np.zeros(NUM_EMOTIONS, np.float32)

    @property
    def active(self) -> bool:
        return bool(self.corrections)

    def neighbours(self, model: torch.nn.Module) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """The corrections' embeddings {m: (K, D)}, unbiased fusion weights (K, M) and labels (K,) for the
        neighbour vote: computed once per model and set of corrections, not on every fused update."""
        held = self._neighbours
        if held is None or held[0] is not model or len(held[1]) != len(self.corrections) \
                or any(a is not b for a, b in zip(held[1], self.corrections)):
            ch, clogp, cmask, cmeta, cy = stack(self.corrections)
            with torch.no_grad():
                cweights = model(ch, clogp, cmask, cmeta)[1]                           # (K, M)
            held = self._neighbours = (model, tuple(self.corrections), (ch, cweights, cy))
        return held[2]


def representation(h: dict[str, torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """Branch embeddings {m: (B, D)} and fusion weights (B, M) -> one unit vector per row (B, M*D): each
    modality's normalised embedding times its weight, so a modality the fusion ignores (the fixed RAVDESS
    sentences) does not decide who the neighbours are."""
    parts = [torch.nn.functional.normalize(h[m], dim=-1) * weights[:, j, None] for j, m in enumerate(MODALITIES)]
    return torch.nn.functional.normalize(torch.cat(parts, -1), dim=-1)                # (B, M*D)


def knn_logits(model: torch.nn.Module, h: dict[str, torch.Tensor], weights: torch.Tensor,
               personal: "Personalization") -> torch.Tensor:
    """knn_weight x K/(K + knn_prior) x the label distribution of the K corrections, weighted by
    softmax(cosine / temperature)."""
    o = personal.options
    if not personal.corrections or o.knn_weight == 0:
        return torch.zeros(weights.shape[0], NUM_EMOTIONS)
    ch, cweights, cy = personal.neighbours(model)                                      # {m: (K, D)}, (K, M), (K,)
    sim = representation(h, weights) @ representation(ch, cweights).T                 # (B, K)
    w = (sim / o.knn_temperature).softmax(-1)                                          # (B, K)
    evidence = len(cy) / (len(cy) + o.knn_prior)
    return o.knn_weight * evidence * w @ torch.nn.functional.one_hot(cy, NUM_EMOTIONS).float()    # (B, 7)


def personal_logits(model: torch.nn.Module, h, logp, mask, meta, personal: "Personalization | None",
                    reliability: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The fusion's logits (B, 7) and weights (B, M) for one user: their biases and neighbour vote added.
    `reliability` (M,) is added to the gate logits: how much less a branch is trusted for this person now."""
    if personal is None or not personal.active:
        return model(h, logp, mask, meta, gate_bias=reliability)
    gate_bias = torch.from_numpy(personal.gate_bias) + (0 if reliability is None else reliability)
    logits, a = model(h, logp, mask, meta, gate_bias=gate_bias, class_bias=torch.from_numpy(personal.class_bias))
    if not personal.options.knn_weight:
        return logits, a
    # neighbours are found with the fusion's own weights, unbiased (the same as `a` unless gates were fitted)
    base = model(h, logp, mask, meta)[1] if personal.gate_bias.any() else a
    return logits + knn_logits(model, h, base, personal), a


def stack(corrections: list[Correction]) -> tuple[dict, dict, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Corrections -> batched fusion inputs h, logp {m: (K, D)}, mask (K, M), meta (K, 3), labels (K,)."""
    k = len(corrections)
    dim = next(iter(corrections[0].h.values())).shape[0]
    h = {m: torch.zeros(k, dim) for m in MODALITIES}
    logp = {m: torch.zeros(k, NUM_EMOTIONS) for m in MODALITIES}
    mask = torch.zeros(k, len(MODALITIES), dtype=torch.bool)
    for i, c in enumerate(corrections):
        for j, m in enumerate(MODALITIES):
            if m in c.h:
                h[m][i], logp[m][i], mask[i, j] = torch.as_tensor(c.h[m]), torch.as_tensor(c.logp[m]), True
    meta = torch.as_tensor(np.stack([c.meta for c in corrections]), dtype=torch.long)
    return h, logp, mask, meta, torch.tensor([c.label for c in corrections])


def fit_biases(model: torch.nn.Module, corrections: list[Correction],
               options: PersonalizationOptions = PersonalizationOptions()) -> tuple[np.ndarray, np.ndarray]:
    """Minimise cross-entropy on the corrections + l2 * (|gate_bias|^2 + |class_bias|^2), model frozen."""
    h, logp, mask, meta, y = stack(corrections)
    gate = torch.zeros(len(MODALITIES), requires_grad=options.fit_gates)
    cls = torch.zeros(NUM_EMOTIONS, requires_grad=True)
    params = [gate, cls] if options.fit_gates else [cls]
    opt = torch.optim.Adam(params, lr=options.lr)
    model.eval()
    with torch.enable_grad():  # callable from inference code; gradients go to the biases only, never the model
        for _ in range(options.steps):
            logits, _ = model(h, logp, mask, meta, gate_bias=gate, class_bias=cls)
            loss = torch.nn.functional.cross_entropy(logits, y) + options.l2 * (gate.square().sum() + cls.square().sum())
            for p, g in zip(params, torch.autograd.grad(loss, params)):
                p.grad = g
            opt.step()
    return gate.detach().numpy().copy(), cls.detach().numpy().copy()
