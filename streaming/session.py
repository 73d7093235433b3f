"""Per-browser-session state: the timeline of raw predictions, transcript, replies, user corrections and
metadata, with CSV/JSON export. One `SessionState` per participant, kept in `gr.State`, never global."""
from __future__ import annotations

import csv
import io
import json
import time
import uuid
from dataclasses import asdict, dataclass, field

from agf_core.labels import EMOTIONS, MODALITIES, check_emotion
from agf_core.recognizer import Prediction

from .smoothing import LabelSmoother

SOURCES = ("video", "speech", "typed")


@dataclass
class SessionState:
    participant_id: str = ""
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started: float = field(default_factory=time.time)
    consent: bool = False
    metadata: dict = field(default_factory=dict)       # as set by the participant (unknown fields left out)
    timeline: list[dict] = field(default_factory=list)  # raw fused + per-modality probabilities, every update
    transcript: list[dict] = field(default_factory=list)
    replies: list[dict] = field(default_factory=list)
    corrections: list[dict] = field(default_factory=list)
    smoother: LabelSmoother = field(default_factory=LabelSmoother)

    def now(self) -> float:
        return round(time.time() - self.started, 3)

    def add_prediction(self, pred: Prediction, source: str, t: float | None = None) -> dict:
        """Append one raw prediction to the timeline; returns the row (with the smoothed label to show)."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; accepted: {', '.join(SOURCES)}")
        t = self.now() if t is None else t
        shown, _ = self.smoother.update(pred.probs, t) if pred.probs else (self.smoother.label, None)
        row = {"t": t, "source": source, "label": pred.label, "confidence": round(pred.confidence, 4),
               "shown": shown, "fusion": pred.fusion,
               **{f"p_{e}": round(pred.probs.get(e, 0.0), 4) for e in EMOTIONS},
               **{f"w_{m}": round(pred.weights.get(m, 0.0), 4) for m in MODALITIES},
               **{f"{m}_{e}": round(pred.per_modality[m][e], 4) for m in pred.per_modality for e in EMOTIONS}}
        self.timeline.append(row)
        return row

    def add_turn(self, text: str, source: str, emotion: str, reply: str, strategy: str) -> None:
        t = self.now()
        self.transcript.append({"t": t, "source": source, "text": text, "emotion": emotion})
        self.replies.append({"t": t, "text": reply, "emotion": emotion, "strategy": strategy})

    def add_correction(self, felt: str, note: str = "") -> dict:
        """The participant says "that's not how I feel": store what was shown and what they chose."""
        check_emotion(felt)
        row = {"t": self.now(), "shown": self.smoother.label, "felt": felt, "note": note,
               "timeline_index": len(self.timeline) - 1}
        self.corrections.append(row)
        return row

    def history(self) -> list[tuple[str, str]]:
        """(what was said, what was replied) pairs, oldest first."""
        return [(u["text"], r["text"]) for u, r in zip(self.transcript, self.replies)]

    def to_json(self) -> str:
        d = asdict(self)
        d.pop("smoother")
        return json.dumps({"format": "agf-session/1", **d}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "SessionState":
        d = json.loads(text)
        if d.pop("format", None) != "agf-session/1":
            raise ValueError("not an agf session export (missing format 'agf-session/1')")
        return cls(**d)

    def timeline_csv(self) -> str:
        """The timeline as CSV, one row per update, with every column any row has (a header even when empty)."""
        base = ["t", "source", "label", "confidence", "shown", "fusion", *(f"p_{e}" for e in EMOTIONS),
                *(f"w_{m}" for m in MODALITIES)]
        cols = list(dict.fromkeys(base + [k for row in self.timeline for k in row]))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, restval="")
        writer.writeheader()
        writer.writerows(self.timeline)
        return buf.getvalue()
