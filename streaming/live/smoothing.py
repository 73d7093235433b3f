"""Display smoothing: an exponential moving average of the fused probabilities, and hysteresis on the
label so the display does not flicker between two close emotions. Raw values stay in the timeline."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agf_core.labels import EMOTIONS


@dataclass(frozen=True)
class SmoothingOptions:
    half_life_s: float = 1.5   # the EMA forgets half of an old value in this time
    margin: float = 0.10       # a new label must beat the shown one by this much probability


@dataclass
class LabelSmoother:
    options: SmoothingOptions = SmoothingOptions()
    probs: np.ndarray | None = None     # (7,) smoothed
    label: str = "neutral"
    last_t: float | None = None

    def update(self, probs: dict[str, float], t: float) -> tuple[str, np.ndarray]:
        """Fold in a new fused prediction at time `t` (seconds); return the label to show and smoothed probs."""
        p = np.array([probs[e] for e in EMOTIONS], dtype=np.float64)
        if self.probs is None or self.last_t is None:
            self.probs = p
        else:
            keep = 0.5 ** (max(0.0, t - self.last_t) / self.options.half_life_s)
            self.probs = keep * self.probs + (1 - keep) * p
        self.last_t = t
        best = EMOTIONS[int(self.probs.argmax())]
        shown = EMOTIONS.index(self.label)
        if best != self.label and self.probs.max() - self.probs[shown] >= self.options.margin:
            self.label = best
        return self.label, self.probs
