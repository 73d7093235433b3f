"""Session exports from the study store: JSON (one object per session, everything in it), and CSV / Parquet with
one row per timeline update, the study/participant/session/condition columns, and each sentence with its reply on
the row its turn produced, each correction on the reading it corrected (every one exactly once, its own time
beside it).

    paths = export_sessions(store, ["ab12", "cd34"], folder, formats=("json", "csv", "parquet"))
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from .store import StudyStore

log = logging.getLogger(__name__)

FORMATS = ("json", "csv", "parquet")
FORMAT_VERSION = "agf-session/2"
ID_COLUMNS = ("study", "condition", "participant_id", "session_id", "wall_time")


def session_document(store: StudyStore, session_id: str) -> dict:
    """Everything the store holds about one session (raw media listed, not embedded)."""
    s = store.session(session_id)
    if s is None:
        raise KeyError(f"no session {session_id!r} in the store")
    doc = {"format": FORMAT_VERSION, **s}
    for table in ("timeline", "utterances", "replies", "corrections"):
        doc[table] = store.rows(table, session_id)
    doc["media"] = [{"kind": r["kind"], "t": r["t"], "format": r["format"], "bytes": len(r["data"] or b"")}
                    for r in store.rows("media", session_id)]
    return doc


SAID = {"t": "said_t", "text": "said_text", "source": "said_source", "emotion": "said_emotion",
        "start": "said_start", "end": "said_end", "turn": "turn"}
REPLIED = {"t": "reply_t", "text": "reply_text", "strategy": "reply_strategy", "suggestion": "reply_suggestion",
           "turn": "turn"}
CORRECTED = {"t": "correction_t", "shown": "correction_shown", "felt": "correction_felt", "note": "correction_note"}


def timeline_frame(doc: dict) -> pd.DataFrame:
    """One row per timeline update with the id columns; each sentence and its reply on the row its turn produced
    (the reading of those words), each correction on the reading shown when it was made (the latest row at or
    before it). Every event is on exactly one row: one with no reading of its own gets a row with only its time."""
    rows = pd.DataFrame(doc["timeline"])
    if rows.empty:
        rows = pd.DataFrame({"t": pd.Series(dtype=float)})
    rows = rows.sort_values("t", kind="stable").reset_index(drop=True)
    said = _events(doc["utterances"], SAID)
    replied = _events(doc["replies"], REPLIED)
    corrected = _events(doc["corrections"], CORRECTED)
    rows, said["_row"] = _place(rows, said, _turn_rows(rows, said))
    by_turn = dict(zip(said["turn"], said["_row"]))
    by_time = dict(zip(said["said_t"], said["_row"]))
    rows, replied["_row"] = _place(rows, replied, [by_turn.get(turn, by_time.get(t)) if pd.notna(turn)
                                                   else by_time.get(t)
                                                   for turn, t in zip(replied["turn"], replied["reply_t"])])
    rows, corrected["_row"] = _place(rows, corrected, _shown_rows(rows, corrected))
    for events in (said.drop(columns="turn"), replied.drop(columns="turn"), corrected):
        rows = rows.join(events.set_index("_row"), how="left")
    rows = rows.sort_values("t", kind="stable").reset_index(drop=True)
    started = datetime.fromisoformat(doc["started"])
    ids = {"study": doc["study"], "condition": doc["condition"], "participant_id": doc["participant_id"],
           "session_id": doc["session_id"]}
    for i, (k, v) in enumerate(ids.items()):
        rows.insert(i, k, v)
    rows.insert(4, "wall_time", [(started + timedelta(seconds=float(t))).isoformat(timespec="milliseconds")
                                 for t in rows["t"]])
    return rows


def _events(rows: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns)).rename(columns=columns)
    key = next(iter(columns.values()))
    frame[key] = frame[key].astype(float)
    return frame.sort_values(key, kind="stable").reset_index(drop=True)


def _turn_rows(rows: pd.DataFrame, said: pd.DataFrame) -> list:
    """The row each sentence produced: the one with its turn number; for sessions stored before turns were
    numbered, the latest reading of the same source at or before it that no other sentence has."""
    turns = {} if "turn" not in rows else {int(v): i for i, v in rows["turn"].items() if pd.notna(v)}
    out, taken = [], set()
    for turn, t, source in zip(said["turn"], said["said_t"], said["said_source"]):
        i = turns.get(int(turn)) if pd.notna(turn) else None
        if i is None and not turns:
            before = rows.index[(rows["t"] <= t) & (rows.get("source") == source)] if "source" in rows else []
            i = next((j for j in reversed(before) if j not in taken), None)
        out.append(i)
        taken.add(i)
    return out


def _shown_rows(rows: pd.DataFrame, corrected: pd.DataFrame) -> list:
    """The reading shown when each correction was made: the latest row at or before it."""
    out = []
    for t in corrected["correction_t"]:
        before = rows.index[rows["t"] <= t]
        i = before[-1] if len(before) else None
        out.append(None if i in out else i)   # a second correction of one reading gets a row of its own
    return out


def _place(rows: pd.DataFrame, events: pd.DataFrame, at: list) -> tuple[pd.DataFrame, list]:
    """Each event's row index; an event without one gets a new row holding only its time."""
    key = next(c for c in events.columns if c.endswith("_t"))
    at = list(at)
    for k, i in enumerate(at):
        if i is None:
            at[k] = len(rows)
            rows = pd.concat([rows, pd.DataFrame({"t": [events[key][k]]}, index=[len(rows)])])
    return rows, at


def export_sessions(store: StudyStore, session_ids: list[str], folder: Path, formats=FORMATS,
                    stem: str | None = None) -> list[Path]:
    """Write the sessions to `folder` in each format; one file per format (all sessions together)."""
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown export format(s) {bad}; accepted: {', '.join(FORMATS)}")
    if not session_ids:
        raise ValueError("no sessions to export")
    store.flush()  # every row handed to the store so far
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = stem or (f"session_{session_ids[0]}" if len(session_ids) == 1 else f"sessions_{len(session_ids)}")
    docs = [session_document(store, sid) for sid in session_ids]
    paths = []
    if "json" in formats:
        paths.append(folder / f"{stem}.json")
        body = docs[0] if len(docs) == 1 else {"format": FORMAT_VERSION, "sessions": docs}
        paths[-1].write_text(json.dumps(body, indent=1, default=str))
    if "csv" in formats or "parquet" in formats:
        frame = pd.concat([timeline_frame(d) for d in docs], ignore_index=True)
        if "csv" in formats:
            paths.append(folder / f"{stem}_timeline.csv")
            frame.to_csv(paths[-1], index=False)
        if "parquet" in formats:
            paths.append(folder / f"{stem}_timeline.parquet")
            frame.to_parquet(paths[-1], index=False)
    log.info("exported %d session(s) to %s", len(docs), ", ".join(p.name for p in paths))
    return paths


def export_media(store: StudyStore, session_id: str, folder: Path) -> list[Path]:
    """A session's opted-in raw media as files: one WAV per utterance, face crops in one .npz."""
    import numpy as np
    import soundfile as sf
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    items = store.media_items(session_id)
    paths = []
    for i, (_, t, audio) in enumerate(x for x in items if x[0] == "audio"):
        paths.append(folder / f"session_{session_id}_utterance{i:03d}_t{t:.1f}s.wav")
        sf.write(paths[-1], audio, 16000)
    faces = [(t, c) for kind, t, c in items if kind == "face"]
    if faces:
        paths.append(folder / f"session_{session_id}_faces.npz")
        np.savez_compressed(paths[-1], t=np.array([t for t, _ in faces]), crops=np.stack([c for _, c in faces]))
    return paths
