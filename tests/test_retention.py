"""Retention while the server runs: the sweep deletes sessions past the researcher's retention (never one still
running here) with their export folders, and sweeps the temp folders; the scheduler runs it periodically,
survives a failed sweep and stops cleanly. The time is passed in; nothing waits on the wall clock."""
import threading
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from streaming.study.privacy import PrivacyOptions, consent_text
from streaming.study.retention import RetentionSweeper, retention_interval_s
from streaming.live.state import LiveState
from streaming.study.store import ConsentRecord, SessionRecord, StudyStore
from streaming.study.study import Study, StudyOptions


@pytest.fixture()
def study(tmp_path):
    options = StudyOptions("ret", privacy=PrivacyOptions(retention_days=1))
    s = Study(StudyStore(f"sqlite:///{tmp_path}/r.db"), options)
    yield s
    s.desk.close()
    s.store.close()


def test_the_interval_follows_the_retention():
    assert retention_interval_s(90) == 3600 and retention_interval_s(0.5) == 1800
    assert retention_interval_s(0.001) == 60          # never busier than once a minute
    with pytest.raises(ValueError, match="retention_days=0 is not accepted"):
        retention_interval_s(0)
    assert "deleted 30 days after the session started" in consent_text(PrivacyOptions(retention_days=30))


def test_the_consent_text_says_where_the_face_detector_can_reach():
    assert "never leaves this server" in consent_text(PrivacyOptions())
    fallback = consent_text(PrivacyOptions(), detector_offline=False)
    assert "visible on the network" in fallback and "never leaves" not in fallback


def test_a_sweep_deletes_expired_sessions_and_sweeps_the_folders(study, tmp_path):
    store = study.store
    store.open_session(SessionRecord(session_id="old", study="ret", consent=ConsentRecord("4"),
                                     started="2020-01-01T10:00:00.000+00:00"))
    store.insert("timeline", "old", {"t": 0.5, "label": "joy"})
    exported = study.desk.folder("old") / "session_old.json"
    exported.write_text("{}")
    study.desk.offer("browser-a", exported)
    live = LiveState()
    study.begin(live, tab="tab-1")                         # running in this server: never cut off
    done = LiveState()
    study.begin(done, tab="tab-2")
    study.end(done)                                        # ended: deleted once past the retention
    for name in ("agf-exports-999999999-x", "agf-gradio-999999999-y"):   # left by a killed server
        (tmp_path / name).mkdir()
    swept = []
    temp = SimpleNamespace(root=tmp_path, sweep=lambda: swept.append(1))
    sweeper = RetentionSweeper(study, temp)
    assert sweeper.interval_s == 3600

    assert sweeper.sweep() == ["old"]                      # now: only the 2020 session is past one day
    assert store.session("old") is None and store.rows("timeline", "old") == []
    assert not exported.parent.exists() and study.desk.files() == []
    assert swept == [1] and not any(tmp_path.glob("agf-*-999999999-*"))
    ids = {live.session.session_id, done.session.session_id}
    assert {s["session_id"] for s in store.sessions()} == ids

    tomorrow = datetime.now().astimezone() + timedelta(days=1, minutes=1)
    assert sweeper.sweep(now=tomorrow) == [done.session.session_id]
    assert [s["session_id"] for s in store.sessions()] == [live.session.session_id]
    study.unload("tab-1")                                  # the tab closes: the session ends ...
    assert sweeper.sweep(now=tomorrow) == [live.session.session_id]   # ... and the next sweep deletes it
    assert store.sessions() == [] and sweeper.deleted == 3


def test_the_scheduler_sweeps_periodically_survives_a_failure_and_stops(study):
    calls, third = [], threading.Event()

    def sweep(now=None):
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("database restarting")      # logged; the next sweep still comes
        if len(calls) >= 3:
            third.set()
        return []
    sweeper = RetentionSweeper(study, interval_s=0.01)
    sweeper.sweep = sweep
    sweeper.start()                                        # the first sweep runs at start, in this thread
    assert len(calls) >= 1
    assert third.wait(timeout=60), "the scheduler did not sweep again"
    sweeper.close()
    assert not sweeper._thread.is_alive()                  # stopped: no sweep after close()


def test_the_store_refuses_a_retention_of_no_days(study):
    with pytest.raises(ValueError, match="days=0 is not accepted"):
        study.store.delete_older_than(0)
