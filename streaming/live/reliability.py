"""How far each branch can be trusted for this person now: its agreement with the other modalities over the
last minute of the session's timeline. A branch that keeps disagreeing with the others (a face the network
reads as angry at rest, a voice through a poor microphone) gets a negative gate offset, so its weight on the
importance plot falls and the others carry the reading. Pure functions of the timeline rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agf_core.labels import EMOTIONS, MODALITIES


@dataclass(frozen=True)
class ReliabilityOptions:
    window_s: float = 60.0     # the last minute
    min_rows: int = 6          # moments with this modality and another one before anything changes
    trusted: float = 0.5       # agreement at or above this: no offset
    max_offset: float = 2.0    # the most a gate logit is lowered


def agreement(rows: list[dict], now: float, options: ReliabilityOptions = ReliabilityOptions()
              ) -> dict[str, tuple[float, int]]:
    """{modality: (share of recent moments where its top emotion matched the others' mean, moments)} over the
    rows of the last `window_s` seconds that had it and at least one other modality. Vectorised: it runs at
    every fusion, several times a second."""
    recent = [r for r in rows if now - r["t"] <= options.window_s]
    if not recent:
        return {}
    p = np.array([[[r.get(f"{m}_{e}", np.nan) for e in EMOTIONS] for m in MODALITIES] for r in recent])  # (N, M, 7)
    present = ~np.isnan(p[..., 0])                                                      # (N, M)
    p = np.nan_to_num(p)
    out = {}
    for i, m in enumerate(MODALITIES):
        others = present.copy()
        others[:, i] = False                                                            # (N, M)
        rows_ok = present[:, i] & others.any(1)                                         # (N,)
        if not rows_ok.any():
            continue
        theirs = (p * others[..., None]).sum(1) / others.sum(1, keepdims=True).clip(min=1)  # (N, 7)
        hits = (p[:, i].argmax(1) == theirs.argmax(1)) & rows_ok
        out[m] = (float(hits.sum() / rows_ok.sum()), int(rows_ok.sum()))
    return out


def gate_offsets(rows: list[dict], now: float, options: ReliabilityOptions = ReliabilityOptions()
                 ) -> dict[str, float]:
    """{modality: offset <= 0} for the branches that agreed with the others less than `trusted` of the time."""
    out = {}
    for m, (share, n) in agreement(rows, now, options).items():
        if n >= options.min_rows and share < options.trusted:
            out[m] = -options.max_offset * (options.trusted - share) / options.trusted
    return out
