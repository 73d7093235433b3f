"""What became of one modality in a prediction: used, absent (nothing to read), or failed (a stage broke).

The live app and `predict` show these to people, so reasons are plain language; details go to the log.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["ok", "absent", "failed"]

# The reasons the library itself gives; the live path adds its own (e.g. "nothing said recently").
NO_FACE = "no face found"
NO_SPEECH = "no speech found"
NOT_GIVEN = "not given"


@dataclass(frozen=True)
class ModalityStatus:
    state: State
    reason: str = ""

    def __post_init__(self):
        if self.state not in ("ok", "absent", "failed"):
            raise ValueError(f"modality state {self.state!r} is not accepted; accepted: ok, absent, failed")

    @classmethod
    def ok(cls) -> "ModalityStatus":
        return cls("ok")

    @classmethod
    def absent(cls, reason: str) -> "ModalityStatus":
        return cls("absent", reason)

    @classmethod
    def failed(cls, reason: str) -> "ModalityStatus":
        return cls("failed", reason)

    def __str__(self) -> str:
        return self.state if not self.reason else f"{self.state}: {self.reason}"
