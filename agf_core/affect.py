"""Valence and arousal, read from the branches' embeddings and fused through the categories' gates.

Both are in [-1, 1]: valence from unpleasant to pleasant, arousal from calm to activated. Per modality a
linear head (agf_core/models/affect.py) reads the embedding h_m the branch hands to fusion; the fused value is
sum_m a_m * va_m over the present modalities that have a head, with the fusion's weights a_m renormalised over
them, so the weights on the page explain the plane as they explain the categories. A modality without a head
has no value (None), never 0.

The seven categories' places on the plane (LANDMARKS) are the NRC-VAD lexicon's values of the emotion words
(Mohammad 2018, v1; 0..1 rescaled to -1..1): the same mapping the voice and face heads were trained with.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.labels import EMOTIONS
from agf_core.models.affect import AffectConfig, AffectHeads

# NRC-VAD v1 valence, arousal of each class word, 2 * x - 1 ("neutral" 0.469, 0.184; "joy" 0.980, 0.824; ...).
LANDMARKS: dict[str, tuple[float, float]] = {
    "neutral": (-0.062, -0.632), "joy": (0.960, 0.648), "sadness": (-0.896, -0.424), "anger": (-0.666, 0.730),
    "fear": (-0.854, 0.680), "disgust": (-0.896, 0.550), "surprise": (0.750, 0.750)}
assert tuple(LANDMARKS) == EMOTIONS


def landmark_targets(labels: np.ndarray) -> np.ndarray:
    """Class indices (N,) -> their landmarks (N, 2): a categorical corpus as valence-arousal targets."""
    return np.asarray([LANDMARKS[e] for e in EMOTIONS], np.float32)[np.asarray(labels)]


class Affect:
    """The shipped valence-arousal heads (affect.pt), refused over other branch files than they were fitted on."""

    def __init__(self, path: str | Path, branch_digests: dict[str, str] | None = None):
        ck = checkpoint.load(path, "affect")
        changed = sorted(m for m in branch_digests or {} if ck["meta"].get("branches", {}).get(m, branch_digests[m])
                         != branch_digests[m])
        if changed:  # the heads read those branches' embeddings: over other ones they would read noise
            raise ValueError(f"valence-arousal heads {path} were fitted over other {', '.join(changed)} checkpoint(s) "
                             "than the ones loaded; refit them (python -m agf_core.training.affect_recipe --data-root "
                             "../shared/data) or load without them (RecognizerConfig(affect=None))")
        self.heads = AffectHeads(AffectConfig(dims=dict(ck["config"]["dims"]))).eval()
        self.heads.load_state_dict(ck["state_dict"])
        self.modalities = tuple(self.heads.heads)

    @torch.no_grad()
    def read(self, embeddings: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
        """{modality: embedding (D,)} -> {modality: (valence, arousal)} for the modalities with a head."""
        h = {m: torch.from_numpy(np.asarray(e, np.float32))[None] for m, e in embeddings.items() if m in self.modalities}
        return {m: (float(va[0, 0]), float(va[0, 1])) for m, va in self.heads(h).items()}


def fuse(per_modality: dict[str, tuple[float, float]], weights: dict[str, float]) -> tuple[float | None, float | None]:
    """sum_m a_m * va_m over the modalities that have both a reading and a weight, the weights renormalised
    over them; (None, None) when none has (no modality supports valence and arousal)."""
    w = {m: weights.get(m, 0.0) for m in per_modality}
    total = sum(w.values())
    if not per_modality:
        return None, None
    if total <= 0:  # all gates at zero: fall back to an even mix rather than inventing a value
        w, total = {m: 1.0 for m in per_modality}, float(len(per_modality))
    v = sum(w[m] * per_modality[m][0] for m in per_modality) / total
    a = sum(w[m] * per_modality[m][1] for m in per_modality) / total
    return float(np.clip(v, -1, 1)), float(np.clip(a, -1, 1))


def nearest_category(valence: float, arousal: float) -> str:
    """The category whose landmark is closest to a point (for captions)."""
    return min(LANDMARKS, key=lambda e: (LANDMARKS[e][0] - valence) ** 2 + (LANDMARKS[e][1] - arousal) ** 2)
