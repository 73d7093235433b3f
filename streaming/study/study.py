"""The study a server runs: it opens each participant's session in the store with the consent record and
provenance, hooks the session's rows and (opted-in) raw media to the store, hands out exports, and ends or
withdraws sessions. demo.py's handlers call it; it knows nothing of Gradio.

    study = Study(StudyStore(url), StudyOptions(study_id="pilot"), provenance={...})
    study.begin(state, participant_id="P01", condition="A", keep_raw=False, owner=cookie, tab=session_hash)
    study.export(state, owner)        # -> [(file name, one-time URL)]
    study.end(state)                  # end time + latencies; the export folder goes
    study.unload(tab, finish)         # the tab closed or reloaded first: the session is marked interrupted
    study.withdraw(state)             # every row deleted
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from .access import ExportDesk
from .export import export_media, export_sessions
from .privacy import CONSENT_VERSION, PrivacyOptions
from .store import ConsentRecord, MediaSink, SessionRecord, SessionWriter, StudyStore, iso_time, validate_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyOptions:
    study_id: str = "default"
    condition: str = ""               # used when the link gives none
    privacy: PrivacyOptions = PrivacyOptions()

    def __post_init__(self):
        validate_id(self.study_id, "study ID", required=True)
        validate_id(self.condition, "condition")


@dataclass
class Study:
    store: StudyStore
    options: StudyOptions = StudyOptions()
    provenance: dict = field(default_factory=dict)
    desk: ExportDesk | None = None
    _tabs: dict = field(default_factory=dict)   # Gradio session hash -> the LiveState it started (for unload)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        if self.desk is None:
            self.desk = ExportDesk(self.options.privacy.export_ttl_s)

    def begin(self, state, participant_id: str = "", condition: str = "", keep_raw: bool = False,
              owner: str = "", tab: str = "") -> SessionWriter:
        """Open `state`'s session in the store (consent record, metadata, provenance) and hook its rows."""
        pid = validate_id(participant_id, "participant ID")
        cond = validate_id(condition, "condition") or self.options.condition
        s = state.session
        s.participant_id, s.owner = pid, owner
        writer = self.store.open_session(SessionRecord(
            session_id=s.session_id, study=self.options.study_id, condition=cond, participant_id=pid,
            consent=ConsentRecord(CONSENT_VERSION, bool(keep_raw)), metadata=dict(s.metadata),
            provenance=self.provenance, started=iso_time(s.started)))  # rows' t count from this instant
        s.sink = writer
        state.keep_raw = bool(keep_raw)
        if keep_raw:  # the pipeline appends raw media here; it goes to the store at once, none stays in memory
            state.raw_audio, state.raw_faces = MediaSink(writer, "audio"), MediaSink(writer, "face")
        if tab:
            with self._lock:
                previous = self._tabs.pop(tab, None)
                self._tabs[tab] = state
            if previous is not None and previous is not state:
                self.end(previous)
        log.info("session %s started (study %s, condition %r, participant %r, keep_raw %s)",
                 s.session_id, self.options.study_id, cond, pid, bool(keep_raw))
        return writer

    def end(self, state, latency: dict | None = None, how: str = "ended") -> None:
        """The session is over (ended, tab closed or reloaded): end time and latencies; its export folder goes."""
        s = state.session
        if s.sink is None or getattr(s, "ended", False):
            return
        s.ended = True
        try:
            s.sink.end(latency, how)
        except Exception:  # noqa: BLE001  the rows are committed; only the end stamp is missing
            log.exception("could not record the end of session %s", s.session_id)
        self.desk.close_session(s.session_id)

    def withdraw(self, state) -> int:
        """Delete everything this session wrote; the state keeps running without a sink."""
        s = state.session
        n = self.store.withdraw(s.session_id)
        s.sink, s.ended = None, True
        state.raw_audio, state.raw_faces = [], []
        state.keep_raw = False
        self.desk.close_session(s.session_id)
        return n

    def export(self, state, owner: str) -> list[tuple[str, str]]:
        """The session's files (JSON, CSV, Parquet; raw media when opted in), each with its one-time URL."""
        s = state.session
        if s.sink is None:
            raise ValueError("this session is not in the store (withdrawn or not started)")
        folder = self.desk.folder(s.session_id)
        paths = export_sessions(self.store, [s.session_id], folder)
        if state.keep_raw:
            paths += export_media(self.store, s.session_id, folder)
        return [(p.name, self.desk.offer(owner, p)) for p in paths]

    def live_sessions(self) -> list[str]:
        """IDs of the sessions open in this server's tabs and not ended (retention must not cut them off)."""
        with self._lock:
            return [st.session.session_id for st in self._tabs.values()
                    if st.session.sink is not None and not st.session.ended]

    def unload(self, tab: str, finish=None, latency_of=None):
        """A tab closed or reloaded before its session ended: `finish(state)` processes the input it sent
        (streaming.live.worker.finish), then the session is marked interrupted with its end time and latencies.
        Returns its state (None if the tab started none)."""
        with self._lock:
            state = self._tabs.pop(tab, None)
        if state is not None and state.session.sink is not None and not state.session.ended:
            if finish is not None:
                finish(state)
            self.end(state, latency_of(state) if latency_of else None, "interrupted")
        return state
