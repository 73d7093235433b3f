"""Per-browser-session state: what the page shows of the session (the last minute of the timeline, the recent
transcript, replies and corrections) and the participant's settings. One `SessionState` per participant, kept
in `gr.State`, never global.

Memory stays bounded however long the session runs: every row also goes to `sink` (the study store's
`SessionWriter`) as it happens, and only the last `keep_s` seconds of the timeline and the last `keep_turns`
turns stay in memory. Without a sink the rows exist only in memory (tests, the local CLI).
"""
from __future__ import annotations

import csv
import io
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from agf_core.labels import EMOTIONS, MODALITIES, check_emotion
from agf_core.recognizer import Prediction

from .smoothing import LabelSmoother

SOURCES = ("video", "speech", "typed")
KEEP_S = 90.0       # the timeline charts show the last 60 s
KEEP_TURNS = 100    # the conversation shows this many turns


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def affect_columns(pred: Prediction) -> dict[str, float | None]:
    """valence, arousal and each present modality's ({m}_valence, {m}_arousal); None (an empty cell) where no
    modality supports them, never 0."""
    out = {"valence": _round(pred.valence), "arousal": _round(pred.arousal)}
    for m, va in pred.per_modality_affect.items():
        out.update({f"{m}_valence": _round(va["valence"]), f"{m}_arousal": _round(va["arousal"])})
    return out


class Recent(list):
    """A list that keeps only its last `maxlen` items (slicing works, unlike a deque)."""

    def __init__(self, items=(), maxlen: int = KEEP_TURNS):
        super().__init__(items)
        self.maxlen = maxlen
        self._trim()

    def append(self, item) -> None:
        super().append(item)
        self._trim()

    def _trim(self) -> None:
        if len(self) > self.maxlen:
            del self[:len(self) - self.maxlen]


class SessionSink(Protocol):
    """Where the rows go as they happen (streaming.study.store.SessionWriter implements it)."""
    def timeline(self, row: dict) -> None: ...
    def utterance(self, row: dict) -> None: ...
    def reply(self, row: dict) -> None: ...
    def correction(self, row: dict) -> None: ...
    def metadata(self, metadata: dict) -> None: ...


@dataclass
class SessionState:
    participant_id: str = ""
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started: float = field(default_factory=time.time)
    consent: bool = False
    metadata: dict = field(default_factory=dict)       # as set by the participant (unknown fields left out)
    timeline: list = field(default_factory=list)        # raw fused + per-modality probabilities, the last keep_s
    transcript: Recent = field(default_factory=Recent)
    replies: Recent = field(default_factory=Recent)
    corrections: Recent = field(default_factory=Recent)
    smoother: LabelSmoother = field(default_factory=LabelSmoother)
    sink: SessionSink | None = None                    # the study store; None keeps rows in memory only
    keep_s: float = KEEP_S
    counts: dict = field(default_factory=lambda: {"timeline": 0, "turns": 0, "corrections": 0})
    heard: tuple | None = None                         # (start, end) of the utterance being answered
    owner: str = ""                                    # the browser's owner cookie (streaming.study.access)
    ended: bool = False
    calibration: dict = field(default_factory=dict)    # the participant's baseline, when they calibrated

    def now(self) -> float:
        return round(time.time() - self.started, 3)

    def next_turn(self) -> int:
        """The number the next `add_turn` gets (turns are numbered from 1 in a session)."""
        return self.counts["turns"] + 1

    def add_prediction(self, pred: Prediction, source: str, t: float | None = None, turn: int | None = None) -> dict:
        """Append one raw prediction to the timeline; returns the row (with the smoothed label to show). `turn`:
        the turn whose words produced this reading (its utterance and reply carry the same number)."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; accepted: {', '.join(SOURCES)}")
        t = self.now() if t is None else t
        shown, _ = self.smoother.update(pred.probs, t) if pred.probs else (self.smoother.label, None)
        row = {"t": t, "source": source, "label": pred.label, "confidence": round(pred.confidence, 4),
               "shown": shown, "fusion": pred.fusion, "timbre": pred.metadata.get("timbre", ""),
               **{f"p_{e}": round(pred.probs.get(e, 0.0), 4) for e in EMOTIONS},
               **{f"w_{m}": round(pred.weights.get(m, 0.0), 4) for m in MODALITIES},
               **{f"{m}_{e}": round(pred.per_modality[m][e], 4) for m in pred.per_modality for e in EMOTIONS},
               **affect_columns(pred)}
        if turn is not None:
            row["turn"] = turn
        self.timeline.append(row)
        self.counts["timeline"] += 1
        if self.sink is not None:
            self.sink.timeline(row)
            old = next((i for i, r in enumerate(self.timeline) if r["t"] >= t - self.keep_s), len(self.timeline))
            del self.timeline[:old]
        return row

    def hear(self, start: float, end: float) -> None:
        """The utterance about to be answered spans session seconds [start, end] (its turn records them)."""
        self.heard = (round(start, 3), round(end, 3))

    def add_turn(self, text: str, source: str, emotion: str | None, reply: str, strategy: str,
                 start: float | None = None, end: float | None = None, why_no_emotion: str = "",
                 suggestion: str = "") -> None:
        """One turn: what was said and the emotion read from it, or None (no modality could be read) and
        `why_no_emotion`; and the reply, with the state it added a suggestion for (`suggestion`), if any."""
        t = self.now()
        if source == "speech" and start is None and self.heard is not None:
            (start, end), self.heard = self.heard, None
        turn = self.next_turn()
        said = {"t": t, "source": source, "text": text, "emotion": emotion, "start": start, "end": end, "turn": turn}
        if emotion is None:
            said["why_no_emotion"] = why_no_emotion or "no modality could be read"
        answer = {"t": t, "text": reply, "emotion": emotion, "strategy": strategy, "turn": turn}
        if suggestion:
            answer["suggestion"] = suggestion
        self.transcript.append(said)
        self.replies.append(answer)
        self.counts["turns"] += 1
        if self.sink is not None:
            self.sink.utterance(said)
            self.sink.reply(answer)

    def add_correction(self, felt: str, note: str = "") -> dict:
        """The participant says "that's not how I feel": store what was shown and what they chose."""
        check_emotion(felt)
        row = {"t": self.now(), "shown": self.smoother.label, "felt": felt, "note": note,
               "timeline_index": self.counts["timeline"] - 1}
        self.corrections.append(row)
        self.counts["corrections"] += 1
        return row

    def log_correction(self, row: dict) -> None:
        """Send a completed correction row (with what the fusion learnt) to the sink."""
        if self.sink is not None:
            self.sink.correction(row)

    def set_metadata(self, metadata: dict) -> None:
        self.metadata = dict(metadata)
        if self.sink is not None:
            self.sink.metadata(self.metadata)

    def history(self) -> list[tuple[str, str]]:
        """(what was said, what was replied) pairs, oldest first (the recent ones kept in memory)."""
        return [(u["text"], r["text"]) for u, r in zip(self.transcript, self.replies)]

    def to_dict(self) -> dict:
        return {"format": "agf-session/1", "participant_id": self.participant_id, "session_id": self.session_id,
                "started": self.started, "consent": self.consent, "metadata": self.metadata,
                "calibration": self.calibration,
                **{k: list(getattr(self, k)) for k in ("timeline", "transcript", "replies", "corrections")}}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "SessionState":
        d = json.loads(text)
        if d.pop("format", None) != "agf-session/1":
            raise ValueError("not an agf session export (missing format 'agf-session/1')")
        for k in ("transcript", "replies", "corrections"):
            d[k] = Recent(d.get(k, []))
        return cls(**d)

    def timeline_csv(self) -> str:
        """The timeline as CSV, one row per update, with every column any row has (a header even when empty)."""
        base = ["t", "source", "label", "confidence", "shown", "fusion", *(f"p_{e}" for e in EMOTIONS),
                *(f"w_{m}" for m in MODALITIES), "valence", "arousal"]
        cols = list(dict.fromkeys(base + [k for row in self.timeline for k in row]))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, restval="")
        writer.writeheader()
        writer.writerows(self.timeline)
        return buf.getvalue()
