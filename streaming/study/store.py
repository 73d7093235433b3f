"""The study store: every session's consent record, metadata, timeline, transcript, replies, corrections and
(opted in) raw media, written as they happen, each in its own short transaction.

SQLAlchemy 2 Core on any URL: the default is an SQLite file in WAL mode (`sqlite:///studies/agf.db`, created on
first use), a PostgreSQL URL (`postgresql+psycopg://user@host/db`) serves several app replicas. A session still
'active' when a server starts was cut off by a crash or kill and is marked 'interrupted' (`mark_interrupted`);
on PostgreSQL each server holds an advisory lock per running session (`SessionLocks`), so only the sessions no
live replica holds are marked. A committed row
survives a reload, a closed tab and a killed server process; the session in memory keeps only what the page
shows (see `streaming.live.session`), so memory does not grow with the session. A session's rows are committed by
one writer thread per store, in order, so the live loop never waits on the database (a row is committed
within milliseconds; `flush()` waits for every row handed over so far).

    store = StudyStore("sqlite:///studies/agf.db")
    writer = store.open_session(SessionRecord(session_id="ab12", study="pilot", participant_id="P01", ...))
    writer.timeline({"t": 0.4, "label": "joy", ...})     # one committed row per call
    writer.end({"face": {"median_ms": 3.1}})             # end time + per-stage latencies
    store.withdraw("ab12")                               # the participant withdraws: every row is deleted
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import queue
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///studies/agf.db"
DEMO_URL = "sqlite:///studies/demo.db"   # a demo run without --study: kept apart from any study's sessions
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
STATES = ("active", "ended", "interrupted")
MEDIA_KINDS = ("audio", "face")

metadata_obj = sa.MetaData()
sessions = sa.Table(
    "sessions", metadata_obj,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("study", sa.String(64), nullable=False, index=True),
    sa.Column("condition", sa.String(64), nullable=False, default=""),
    sa.Column("participant_id", sa.String(64), nullable=False, default=""),
    sa.Column("consent_version", sa.String(64), nullable=False),
    sa.Column("consent_time", sa.String(40), nullable=False),     # ISO 8601 with time zone
    sa.Column("keep_raw", sa.Boolean, nullable=False, default=False),
    sa.Column("metadata", sa.Text, nullable=False, default="{}"),  # JSON: as the participant set it
    sa.Column("provenance", sa.Text, nullable=False, default="{}"),  # JSON: streaming.study.provenance
    sa.Column("latency", sa.Text, nullable=False, default="{}"),   # JSON: per-stage median/p95 ms, at the end
    sa.Column("started", sa.String(40), nullable=False),
    sa.Column("ended", sa.String(40)),
    sa.Column("state", sa.String(16), nullable=False, default="active"),
)


def _event_table(name: str, *columns: sa.Column) -> sa.Table:
    return sa.Table(name, metadata_obj,
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("session_id", sa.String(64), nullable=False, index=True),
                    sa.Column("t", sa.Float, nullable=False),  # seconds since the session started
                    *columns)


timeline = _event_table("timeline", sa.Column("source", sa.String(16)), sa.Column("label", sa.String(16)),
                        sa.Column("data", sa.Text, nullable=False))  # JSON: the full row
# `turn` numbers a session's turns from 1; the timeline row a turn produced carries the same number in its JSON,
# so an export pairs a reading with the sentence behind it (their times differ by the reply's few ms).
utterances = _event_table("utterances", sa.Column("source", sa.String(16)), sa.Column("text", sa.Text),
                          sa.Column("emotion", sa.String(16)), sa.Column("start", sa.Float),
                          sa.Column("end", sa.Float), sa.Column("timbre", sa.String(16)), sa.Column("turn", sa.Integer),
                          sa.Column("why_no_emotion", sa.Text))   # set when emotion is NULL: nothing was readable
replies = _event_table("replies", sa.Column("text", sa.Text), sa.Column("emotion", sa.String(16)),
                       sa.Column("strategy", sa.String(64)), sa.Column("turn", sa.Integer))
corrections = _event_table("corrections", sa.Column("shown", sa.String(16)), sa.Column("felt", sa.String(16)),
                           sa.Column("note", sa.Text), sa.Column("learned_from", sa.String(16)),
                           sa.Column("adapted", sa.Boolean))
media = _event_table("media", sa.Column("kind", sa.String(8), nullable=False),
                     sa.Column("format", sa.String(8), nullable=False), sa.Column("data", sa.LargeBinary))
EVENT_TABLES = {t.name: t for t in (timeline, utterances, replies, corrections, media)}


def validate_id(value: str | None, what: str = "participant ID", required: bool = False) -> str:
    """`value` stripped, or '' when empty and not required; letters, digits, '_' and '-', 1-64 characters."""
    value = (value or "").strip()
    if not value and not required:
        return ""
    if not ID_PATTERN.match(value):
        shown = value if len(value) <= 40 else value[:40] + f"... ({len(value)} characters)"
        raise ValueError(f"{what} {shown!r} is not accepted: use 1-64 letters, digits, '_' or '-' "
                         "(no spaces, slashes or other characters)")
    return value


def now_iso() -> str:
    """The wall-clock time now, ISO 8601 with the local time zone offset."""
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def iso_time(epoch_s: float) -> str:
    """A `time.time()` value as ISO 8601 with the local time zone offset."""
    return datetime.fromtimestamp(epoch_s).astimezone().isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class ConsentRecord:
    version: str                     # which consent text was shown (streaming.study.privacy.CONSENT_VERSION)
    keep_raw: bool = False           # the participant opted in to keeping raw audio and face crops
    time: str = field(default_factory=now_iso)


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    study: str
    consent: ConsentRecord
    condition: str = ""
    participant_id: str = ""
    metadata: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    started: str = field(default_factory=now_iso)

    def __post_init__(self):
        validate_id(self.session_id, "session ID", required=True)
        validate_id(self.study, "study ID", required=True)
        validate_id(self.condition, "condition")
        validate_id(self.participant_id, "participant ID")


def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        db = sa.engine.make_url(url).database
        if not db or db == ":memory:":  # one shared in-memory database (tests, a demo without a store)
            return sa.create_engine(url, poolclass=sa.pool.StaticPool, connect_args={"check_same_thread": False})
        Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # WAL: readers never block the writer; a commit survives a killed process
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class StudyStore:
    """Tables on any SQLAlchemy URL; every method is one short transaction and safe from any thread."""

    def __init__(self, url: str = DEFAULT_URL):
        try:
            self.engine = _engine(url)
            _create_schema(self.engine)
        except Exception as e:
            raise RuntimeError(f"cannot open the study store {_safe_url(url)!r}: {_reason(e, url)}") from e
        self.url = url
        self.locks = SessionLocks(self.engine) if self.engine.dialect.name == "postgresql" else None
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    # ---- the writer thread --------------------------------------------------------------------------------
    def submit(self, fn, *args) -> None:
        """Run `fn(*args)` on the store's writer thread, after everything submitted before it."""
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._drain, name="agf-store-writer", daemon=True)
                self._thread.start()
        self._queue.put((fn, args))

    def flush(self) -> None:
        """Wait until every submitted write has run."""
        if self._thread is not None:
            self._queue.join()

    def _drain(self) -> None:
        while True:
            fn, args = self._queue.get()
            try:
                fn(*args)
            except Exception:  # noqa: BLE001  a failed write is logged by its writer; the thread goes on
                log.exception("store write failed")
            finally:
                self._queue.task_done()

    # ---- writes -------------------------------------------------------------------------------------------
    def open_session(self, record: SessionRecord) -> "SessionWriter":
        row = asdict(record)
        consent = row.pop("consent")
        row.update(consent_version=consent["version"], consent_time=consent["time"], keep_raw=consent["keep_raw"],
                   metadata=json.dumps(row["metadata"]), provenance=json.dumps(row["provenance"]), state="active")
        if self.locks is not None:
            self.locks.hold(record.session_id)   # before the row: no other server may take it for a dead one's
        with self.engine.begin() as c:
            c.execute(sessions.insert().values(**row))
        return SessionWriter(self, record.session_id, record.consent.keep_raw)

    def let_go(self, session_id: str) -> None:
        """The session is over here (ended, interrupted or withdrawn): this server no longer holds it."""
        if self.locks is not None:
            self.locks.release(session_id)

    def insert(self, table: str, session_id: str, row: dict) -> None:
        """One event row, committed before this returns."""
        t = EVENT_TABLES[table]
        values = {k: v for k, v in row.items() if k in t.c and k != "id"}
        if table == "timeline":
            values["data"] = json.dumps(row)
        with self.engine.begin() as c:
            c.execute(t.insert().values(session_id=session_id, **values))

    def update_session(self, session_id: str, values: dict) -> None:
        for k in ("metadata", "provenance", "latency"):
            if k in values and not isinstance(values[k], str):
                values[k] = json.dumps(values[k])
        if "state" in values and values["state"] not in STATES:
            raise ValueError(f"unknown session state {values['state']!r}; accepted: {', '.join(STATES)}")
        with self.engine.begin() as c:
            c.execute(sessions.update().where(sessions.c.session_id == session_id).values(**values))

    def withdraw(self, session_id: str) -> int:
        """Delete the session and every row it wrote, in one transaction; returns how many rows went."""
        self.flush()
        with self.engine.begin() as c:
            n = sum(c.execute(t.delete().where(t.c.session_id == session_id)).rowcount
                    for t in EVENT_TABLES.values())
            n += c.execute(sessions.delete().where(sessions.c.session_id == session_id)).rowcount
        self.let_go(session_id)
        log.info("session %s withdrawn: %d rows deleted", session_id, n)
        return n

    def mark_interrupted(self) -> int:
        """Sessions still 'active' when a server starts were cut off by a crash or kill: say so (their rows
        stay); their end is their last committed row. SQLite: every active session (a file one server uses
        alone). PostgreSQL: those whose server is gone (no live replica holds their lock)."""
        with self.engine.begin() as c:
            ids = c.execute(sa.select(sessions.c.session_id, sessions.c.started)
                            .where(sessions.c.state == "active")).all()
            if self.locks is not None:
                ids = [(sid, started) for sid, started in ids if self.locks.orphaned(c, sid)]
            for sid, started in ids:
                last = max((c.execute(sa.select(sa.func.max(t.c.t)).where(t.c.session_id == sid)).scalar() or 0.0
                            for t in EVENT_TABLES.values()), default=0.0)
                end = datetime.fromisoformat(started) + timedelta(seconds=last)
                c.execute(sessions.update().where(sessions.c.session_id == sid)
                          .values(state="interrupted", ended=end.isoformat(timespec="milliseconds")))
        return len(ids)

    def delete_older_than(self, days: float, now: datetime | None = None, keep=()) -> list[str]:
        """Retention: withdraw every session that started more than `days` before `now` (default: the time
        now), except those in `keep` (sessions still running here)."""
        if days <= 0:
            raise ValueError(f"days={days!r} is not accepted: use a positive number of days")
        cutoff = (now or datetime.now()).astimezone() - timedelta(days=days)
        keep = set(keep)
        with self.engine.connect() as c:
            old = [sid for sid, started in c.execute(sa.select(sessions.c.session_id, sessions.c.started))
                   if datetime.fromisoformat(started) < cutoff and sid not in keep]
        for sid in old:
            self.withdraw(sid)
        return old

    # ---- reads --------------------------------------------------------------------------------------------
    def session(self, session_id: str) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(sessions).where(sessions.c.session_id == session_id)).mappings().first()
        return _session_dict(row) if row is not None else None

    def sessions(self, study: str | None = None) -> list[dict]:
        """Every session (of `study`), oldest first, with its row counts and duration in seconds."""
        q = sa.select(sessions).order_by(sessions.c.started)
        if study:
            q = q.where(sessions.c.study == study)
        with self.engine.connect() as c:
            out = [_session_dict(r) for r in c.execute(q).mappings()]
            counts = {name: dict(c.execute(sa.select(t.c.session_id, sa.func.count())
                                           .group_by(t.c.session_id)).all())
                      for name, t in EVENT_TABLES.items()}
            last_t = dict(c.execute(sa.select(timeline.c.session_id, sa.func.max(timeline.c.t))
                                    .group_by(timeline.c.session_id)).all())
        for s in out:
            s["counts"] = {name: counts[name].get(s["session_id"], 0) for name in EVENT_TABLES}
            s["duration_s"] = _duration(s, last_t.get(s["session_id"]))
        return out

    def studies(self) -> list[str]:
        with self.engine.connect() as c:
            return [r[0] for r in c.execute(sa.select(sessions.c.study).distinct().order_by(sessions.c.study))]

    def rows(self, table: str, session_id: str) -> list[dict]:
        """A session's rows of one event table in time order; timeline rows as they were written."""
        t = EVENT_TABLES[table]
        with self.engine.connect() as c:
            result = c.execute(sa.select(t).where(t.c.session_id == session_id).order_by(t.c.t, t.c.id)).mappings()
            if table == "timeline":
                return [json.loads(r["data"]) for r in result]
            return [{k: v for k, v in r.items() if k not in ("id", "session_id")} for r in result]

    def media_items(self, session_id: str) -> list[tuple[str, float, np.ndarray]]:
        """(kind, t, array): audio as 16 kHz float32, face crops as uint8."""
        out = []
        for r in self.rows("media", session_id):
            if r["format"] == "wav":
                import soundfile as sf
                out.append((r["kind"], r["t"], sf.read(io.BytesIO(r["data"]), dtype="float32")[0]))
            else:
                out.append((r["kind"], r["t"], np.load(io.BytesIO(r["data"]))))
        return out

    def close(self) -> None:
        self.flush()
        if self.locks is not None:
            self.locks.close()
        self.engine.dispose()


class SessionLocks:
    """PostgreSQL: one advisory lock per session this server runs, held on a connection of its own. The database
    drops a connection's locks when it closes, as it does when the server's process dies, so a session that is
    'active' with no lock held belongs to no live replica."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._conn: sa.Connection | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def key(session_id: str) -> int:
        """The session's lock: a signed 64-bit number from its ID."""
        return int.from_bytes(hashlib.sha256(f"agf-session:{session_id}".encode()).digest()[:8], "big", signed=True)

    def _run(self, sql: str, session_id: str) -> None:
        """`sql` with the session's key on the lock connection; a broken connection (a restarted database
        dropped every lock) is replaced once and the locks still held are taken again."""
        for attempt in (1, 2):
            try:
                if self._conn is None:
                    self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                    for sid in self._held:
                        self._conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": self.key(sid)})
                self._conn.execute(sa.text(sql), {"k": self.key(session_id)})
                return
            except sa.exc.DBAPIError:
                if attempt == 2:
                    raise
                log.warning("the study store's lock connection broke; reconnecting", exc_info=True)
                self._drop()

    def hold(self, session_id: str) -> None:
        with self._lock:
            self._run("SELECT pg_advisory_lock(:k)", session_id)
            self._held.add(session_id)

    def release(self, session_id: str) -> None:
        with self._lock:
            if session_id in self._held:
                self._held.discard(session_id)
                self._run("SELECT pg_advisory_unlock(:k)", session_id)

    def orphaned(self, c: sa.Connection, session_id: str) -> bool:
        """Whether no live server holds the session (for `c`'s transaction, which then holds it till commit)."""
        return bool(c.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": self.key(session_id)}).scalar())

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001  already broken
                pass
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()
            self._held.clear()


class SessionWriter:
    """One session's rows to the store (the `SessionState.sink`). A write that fails (a database restarting)
    is kept in a bounded queue and retried with the next write, so a brief outage loses nothing."""

    def __init__(self, store: StudyStore, session_id: str, keep_raw: bool = False, max_pending: int = 10_000):
        self.store, self.session_id, self.keep_raw = store, session_id, keep_raw
        self.pending: deque = deque(maxlen=max_pending)
        self.failed = 0
        self._lock = threading.Lock()

    def _write(self, table: str, row: dict) -> None:
        self.store.submit(self._commit, table, row)

    def _commit(self, table: str, row: dict) -> None:
        with self._lock:
            self.pending.append((table, row))
            while self.pending:
                try:
                    self.store.insert(self.pending[0][0], self.session_id, self.pending[0][1])
                except Exception:  # noqa: BLE001  the stream goes on; the row is retried
                    self.failed += 1
                    log.exception("store write failed (session %s, %d pending)", self.session_id, len(self.pending))
                    return
                self.pending.popleft()

    def timeline(self, row: dict) -> None:
        self._write("timeline", row)

    def utterance(self, row: dict) -> None:
        self._write("utterances", row)

    def reply(self, row: dict) -> None:
        self._write("replies", row)

    def correction(self, row: dict) -> None:
        self._write("corrections", row)

    def metadata(self, metadata: dict) -> None:
        self.store.submit(self.store.update_session, self.session_id, {"metadata": dict(metadata)})

    def audio(self, t: float, samples16k: np.ndarray) -> None:
        """An utterance's audio as a 16 kHz WAV; only with the participant's opt-in."""
        if not self.keep_raw:
            return
        import soundfile as sf
        buf = io.BytesIO()
        sf.write(buf, np.asarray(samples16k, np.float32), 16000, format="WAV", subtype="PCM_16")
        self._write("media", {"t": t, "kind": "audio", "format": "wav", "data": buf.getvalue()})

    def face(self, t: float, crop: np.ndarray) -> None:
        """A face crop (uint8) as .npy bytes; only with the participant's opt-in."""
        if not self.keep_raw:
            return
        buf = io.BytesIO()
        np.save(buf, np.asarray(crop, np.uint8), allow_pickle=False)
        self._write("media", {"t": t, "kind": "face", "format": "npy", "data": buf.getvalue()})

    def end(self, latency: dict | None = None, state: str = "ended") -> None:
        """The session's end time and per-stage latencies."""
        self.store.submit(self.store.update_session, self.session_id,
                          {"ended": now_iso(), "state": state, "latency": latency or {}})
        self.store.submit(self.store.let_go, self.session_id)     # after its end is committed
        self.store.flush()


class MediaSink:
    """Stands in for `LiveState.raw_audio` / `raw_faces`: `append((t, array))` writes to the store at once
    and keeps nothing in memory."""

    def __init__(self, writer: SessionWriter, kind: str):
        if kind not in MEDIA_KINDS:
            raise ValueError(f"unknown media kind {kind!r}; accepted: {', '.join(MEDIA_KINDS)}")
        self.writer, self.kind, self.count = writer, kind, 0

    def append(self, item: tuple[float, np.ndarray]) -> None:
        t, array = item
        (self.writer.audio if self.kind == "audio" else self.writer.face)(t, array)
        self.count += 1

    def __len__(self) -> int:
        return 0  # nothing is held

    def __iter__(self):
        return iter(())

    def clear(self) -> None:
        pass


def _create_schema(engine: sa.Engine) -> None:
    """The tables and any missing columns. On PostgreSQL one server at a time, under an advisory lock: replicas
    starting together on a new database otherwise race in CREATE TABLE (duplicate key in pg_type)."""
    if engine.dialect.name != "postgresql":
        metadata_obj.create_all(engine)
        _add_missing_columns(engine)
        return
    key = int.from_bytes(hashlib.sha256(b"agf-schema").digest()[:8], "big", signed=True)
    with engine.connect() as c:
        c.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            metadata_obj.create_all(engine)
            _add_missing_columns(engine)
        finally:
            c.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def _add_missing_columns(engine: sa.Engine) -> None:
    """A store made by an older version lacks columns added since (all nullable): add them, keep every row."""
    inspector = sa.inspect(engine)
    for table in metadata_obj.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for col in table.columns:
            if col.name not in have:
                kind = col.type.compile(dialect=engine.dialect)
                with engine.begin() as c:
                    c.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {kind}'))
                log.info("study store: added column %s.%s", table.name, col.name)


def _session_dict(row) -> dict:
    d = dict(row)
    for k in ("metadata", "provenance", "latency"):
        d[k] = json.loads(d[k] or "{}")
    d["consent"] = {"version": d.pop("consent_version"), "time": d.pop("consent_time"), "keep_raw": d.pop("keep_raw")}
    return d


def _duration(s: dict, last_t: float | None) -> float:
    if s["ended"]:
        return round((datetime.fromisoformat(s["ended"]) - datetime.fromisoformat(s["started"])).total_seconds(), 1)
    return round(last_t or 0.0, 1)


def _safe_url(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "<unparsable URL>"


def _reason(e: Exception, url: str) -> str:
    """The driver's own first line (SQLAlchemy adds its class and a link), with the URL's password hidden."""
    lines = str(getattr(e, "orig", None) or e).strip().splitlines()
    text = lines[0] if lines else type(e).__name__
    try:
        password = sa.engine.make_url(url).password
    except Exception:  # noqa: BLE001
        password = None
    return text.replace(password, "***") if password else text
