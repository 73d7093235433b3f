"""A person's baseline: how their face and voice read when they are neutral, from a short calibration sample
("relax your face and read this sentence in your normal voice"), so that their later readings are taken
relative to their own neutral rather than to the average person's.

The person's offset for a modality is half the difference between the log of the branch's probabilities on
the sample and the log of its mean probabilities on the neutral faces / voices it was trained on, each value
clipped to +-2 (`offset`); it is subtracted from their later readings of that modality (`Baseline.apply`).
Halved and clipped because a full shift by log-probabilities lets the noise in tiny probabilities of
unlikely classes swing the reading (measured: RAVDESS test speakers 69.8 -> 56.5 % with the full shift,
-> 71.6 % with this one). A face that looks a little sad at rest, or a voice that is loud and tense when calm,
then reads neutral. Measured on speakers and performers the branches never saw: reports/calibration.md.

A baseline belongs to one session (`owner`); the live pipeline never applies it to another.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agf_core.branches import BranchOutput

MIN_SECONDS, MAX_SECONDS = 2.0, 60.0


class CalibrationError(ValueError):
    """A calibration sample that cannot give a baseline (silent, no face, too short or too long); the
    message says which, in words a participant can read. The session goes on uncalibrated."""


@dataclass(frozen=True)
class Baseline:
    owner: str                                                    # the session it was made for
    offsets: dict[str, np.ndarray] = field(default_factory=dict)  # modality -> (7,) log-probability offset
    seconds: float = 0.0                                          # length of the voice sample

    def __post_init__(self):
        bad = {m: np.shape(v) for m, v in self.offsets.items() if m not in ("audio", "video") or np.shape(v) != (7,)}
        if bad:
            raise ValueError(f"baseline offsets {bad} must be (7,) arrays for 'audio' and/or 'video'")
        if not self.offsets:
            raise ValueError("a baseline needs an offset for the voice, the face or both; got none")

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(sorted(self.offsets))

    def apply(self, modality: str, out: BranchOutput) -> BranchOutput:
        """`out` relative to this person's neutral (unchanged for a modality the baseline does not cover)."""
        if modality not in self.offsets:
            return out
        z = out.logp - self.offsets[modality]                                       # (7,)
        z = z - np.logaddexp.reduce(z)                                              # renormalised
        return BranchOutput(out.embedding, z.astype(np.float32))

    def to_dict(self) -> dict:
        return {"owner": self.owner, "modalities": list(self.modalities), "seconds": round(self.seconds, 2),
                "offsets": {m: [round(float(v), 4) for v in o] for m, o in self.offsets.items()}}


SHRINK, CLIP = 0.5, 2.0


def offset(sample: BranchOutput, neutral_probs: np.ndarray) -> np.ndarray:
    """A calibration reading against the branch's mean probabilities on neutral training inputs:
    SHRINK * clip(log p_sample - log p_neutral, +-CLIP), (7,) float32."""
    diff = np.asarray(sample.logp, np.float64) - np.log(np.clip(np.asarray(neutral_probs, np.float64), 1e-8, 1))
    return (SHRINK * np.clip(diff, -CLIP, CLIP)).astype(np.float32)


def check_duration(seconds: float) -> float:
    if seconds < MIN_SECONDS:
        raise CalibrationError(f"the calibration recording is {seconds:.1f} s long; it needs {MIN_SECONDS:.0f} "
                               f"to {MAX_SECONDS:.0f} s of speech (read the whole sentence)")
    if seconds > MAX_SECONDS:
        raise CalibrationError(f"the calibration recording is {seconds:.1f} s long; it needs {MIN_SECONDS:.0f} "
                               f"to {MAX_SECONDS:.0f} s (read the sentence once)")
    return seconds
