"""The study store: round trips, crash safety, withdraw, exports and their joins, ID validation, bounded memory,
provenance. Every store test runs on an SQLite file and, where Debian's postgres binaries exist, on a real
PostgreSQL server started in a temp folder (tests/postgres.py)."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agf_core.labels import EMOTIONS
from agf_core.recognizer import Prediction
from streaming.study.export import export_sessions, session_document, timeline_frame
from streaming.live.session import SessionState
from streaming.study.store import ConsentRecord, MediaSink, SessionRecord, StudyStore, validate_id

ROOT = Path(__file__).resolve().parent.parent


def _pred(label="joy", p=0.8):
    probs = {e: (p if e == label else (1 - p) / 6) for e in EMOTIONS}
    return Prediction(label, p, probs, {"text": probs}, {"text": 1.0}, "average", {"timbre": "mid"})


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = StudyStore(f"sqlite:///{tmp_path}/study.db")
    else:
        s = StudyStore(request.getfixturevalue("postgres_url"))
    yield s
    if request.param == "postgresql":  # one server for the whole run: each test starts from empty tables
        from streaming.study.store import metadata_obj
        metadata_obj.drop_all(s.engine)
    s.close()


def _open(store, sid="s1", pid="P01", keep_raw=False, study="pilot", condition="A"):
    return store.open_session(SessionRecord(session_id=sid, study=study, condition=condition, participant_id=pid,
                                            consent=ConsentRecord("2", keep_raw), metadata={"age": "young"},
                                            provenance={"app_version": "git x"}))


def test_session_round_trip(store):
    writer = _open(store)
    session = SessionState(participant_id="P01", session_id="s1", sink=writer)
    session.add_prediction(_pred("joy"), "typed", t=0.5)
    session.hear(0.2, 1.4)
    session.add_turn("I passed", "speech", "joy", "Wonderful!", "shared warmth")
    session.add_prediction(_pred("sadness"), "speech", t=2.0)
    row = session.add_correction("surprise", "more surprised")
    session.log_correction({**row, "learned_from": "joy", "adapted": True})
    session.set_metadata({"age": "elderly"})
    writer.end({"face": {"median_ms": 3.0}})

    doc = session_document(store, "s1")
    assert doc["participant_id"] == "P01" and doc["condition"] == "A" and doc["study"] == "pilot"
    assert doc["consent"]["version"] == "2" and doc["consent"]["keep_raw"] is False
    assert "+" in doc["started"] or "-" in doc["started"][19:]  # ISO 8601 with a time zone offset
    assert doc["state"] == "ended" and doc["ended"] >= doc["started"]
    assert doc["metadata"] == {"age": "elderly"} and doc["latency"] == {"face": {"median_ms": 3.0}}
    assert [r["label"] for r in doc["timeline"]] == ["joy", "sadness"]
    assert doc["timeline"][0]["timbre"] == "mid"
    assert doc["utterances"][0]["text"] == "I passed" and (doc["utterances"][0]["start"], doc["utterances"][0]["end"]) == (0.2, 1.4)
    assert doc["replies"][0]["strategy"] == "shared warmth"
    assert doc["corrections"][0]["felt"] == "surprise" and doc["corrections"][0]["adapted"] is True
    s = store.sessions("pilot")[0]
    assert s["counts"]["timeline"] == 2 and s["counts"]["utterances"] == 1 and s["duration_s"] >= 0


def test_withdraw_deletes_every_row(store):
    writer = _open(store, "gone")
    _open(store, "kept", pid="P02")
    writer.timeline({"t": 0.1, "label": "joy"})
    writer.utterance({"t": 0.2, "text": "hello", "source": "typed"})
    assert store.withdraw("gone") == 3
    assert store.session("gone") is None and store.rows("timeline", "gone") == []
    assert [s["session_id"] for s in store.sessions()] == ["kept"]


def test_raw_media_only_with_opt_in(store):
    for sid, keep in (("no", False), ("yes", True)):
        w = _open(store, sid, keep_raw=keep)
        MediaSink(w, "audio").append((1.0, np.sin(np.linspace(0, 100, 16000)).astype(np.float32) * 0.5))
        MediaSink(w, "face").append((1.0, np.full((48, 48), 7, np.uint8)))
    store.flush()
    assert store.media_items("no") == []
    items = store.media_items("yes")
    assert [k for k, _, _ in items] == ["audio", "face"]
    assert items[0][2].shape == (16000,) and abs(items[0][2].max() - 0.5) < 1e-3
    assert (items[1][2] == 7).all()


def test_export_formats_and_joins(store, tmp_path):
    w = _open(store, "e1")
    for t, source, turn in ((0.5, "video", None), (0.9, "speech", 1), (1.5, "video", None), (2.5, "video", None),
                            (2.9, "typed", 2), (3.5, "video", None)):
        w.timeline({"t": t, "source": source, "label": "joy", "p_joy": 0.9, **({"turn": turn} if turn else {})})
    w.utterance({"t": 1.0, "text": "first", "source": "speech", "start": 0.1, "end": 0.9, "turn": 1})
    w.reply({"t": 1.0, "text": "ok", "strategy": "plain", "turn": 1})
    w.utterance({"t": 3.0, "text": "second", "source": "typed", "turn": 2})
    w.correction({"t": 2.0, "shown": "joy", "felt": "sadness"})
    w2 = _open(store, "e2", pid="P02", condition="B")          # stored before turns were numbered
    w2.correction({"t": 0.1, "shown": "neutral", "felt": "fear"})   # before any reading: a row of its own
    w2.timeline({"t": 0.2, "source": "video", "label": "fear"})
    w2.timeline({"t": 0.3, "source": "typed", "label": "fear"})
    w2.utterance({"t": 0.31, "text": "old", "source": "typed"})
    w2.reply({"t": 0.31, "text": "old reply", "strategy": "plain"})
    paths = export_sessions(store, ["e1", "e2"], tmp_path / "out")
    assert [p.suffix for p in paths] == [".json", ".csv", ".parquet"]
    doc = json.loads(paths[0].read_text())
    assert [s["session_id"] for s in doc["sessions"]] == ["e1", "e2"]
    for frame in (pd.read_csv(paths[1]), pd.read_parquet(paths[2])):
        assert list(frame.columns[:5]) == ["study", "condition", "participant_id", "session_id", "wall_time"]
        assert len(frame) == 9
        e1 = frame[frame.session_id == "e1"].reset_index(drop=True)
        assert list(e1.said_text.fillna("")) == ["", "first", "", "", "second", ""]
        assert list(e1.correction_felt.fillna("")) == ["", "", "sadness", "", "", ""]
        assert list(e1.reply_strategy.fillna("")) == ["", "plain", "", "", "", ""] and e1.said_start[1] == 0.1
        e2 = frame[frame.session_id == "e2"].reset_index(drop=True)
        assert list(e2.condition) == ["B"] * 3 and list(e2.participant_id) == ["P02"] * 3
        assert list(e2.t) == [0.1, 0.2, 0.3] and e2.label.isna()[0] and e2.correction_felt[0] == "fear"
        assert list(e2.said_text.fillna("")) == ["", "", "old"] and e2.reply_text[2] == "old reply"


def test_a_store_from_before_turn_numbers_gets_the_column(tmp_path):
    import sqlalchemy as sa
    url = f"sqlite:///{tmp_path}/old.db"
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("CREATE TABLE utterances (id INTEGER PRIMARY KEY, session_id VARCHAR(64), t FLOAT, "
                          "source VARCHAR(16), text TEXT)"))
        c.execute(sa.text("INSERT INTO utterances (session_id, t, source, text) VALUES ('s', 1.0, 'typed', 'hi')"))
    store = StudyStore(url)
    store.insert("utterances", "s", {"t": 2.0, "text": "again", "source": "typed", "turn": 2})
    assert [(r["text"], r["turn"]) for r in store.rows("utterances", "s")] == [("hi", None), ("again", 2)]


def test_export_of_an_empty_session_still_has_its_ids(store):
    _open(store, "empty")
    frame = timeline_frame(session_document(store, "empty"))
    assert len(frame) == 0 and "session_id" in frame.columns and "said_text" in frame.columns


def test_ids_are_validated_with_a_clear_message():
    assert validate_id("  P-01_a ") == "P-01_a" and validate_id("") == ""
    for bad in ("a/b", "x" * 300, "Jane Doe", "../etc", "é"):
        with pytest.raises(ValueError, match="is not accepted: use 1-64 letters"):
            validate_id(bad)
    with pytest.raises(ValueError, match="300 characters"):
        validate_id("x" * 300)
    with pytest.raises(ValueError, match="study ID"):
        SessionRecord(session_id="s", study="", consent=ConsentRecord("2"))


def test_rows_committed_before_a_kill_survive(tmp_path):
    """A server process writes rows and is killed (SIGKILL) mid-session: every committed row is there."""
    url = f"sqlite:///{tmp_path}/crash.db"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from streaming.study.store import StudyStore, SessionRecord, ConsentRecord
        store = StudyStore({url!r})
        w = store.open_session(SessionRecord(session_id="k1", study="crash", consent=ConsentRecord("2")))
        for i in range(200):
            w.timeline({{"t": i * 0.1, "label": "joy"}})
        w.utterance({{"t": 19.9, "text": "last words", "source": "speech"}})
        store.flush()  # committed: the live loop's rows are committed within milliseconds
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == -9 and "written" in out.stdout
    store = StudyStore(url)
    assert len(store.rows("timeline", "k1")) == 200
    assert store.rows("utterances", "k1")[0]["text"] == "last words"
    assert store.mark_interrupted() == 1
    s = store.session("k1")
    assert s["state"] == "interrupted" and s["ended"] is not None


def test_postgres_marks_the_sessions_of_a_killed_server_and_only_those(postgres_url):
    """Issue 22.9: on PostgreSQL a killed server's sessions stayed 'active' after a restart (only SQLite marked
    them). A replica that starts while another runs must not mark the live one's sessions either."""
    import time
    from streaming.study.store import metadata_obj
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from streaming.study.store import StudyStore, SessionRecord, ConsentRecord
        store = StudyStore({postgres_url!r})
        w = store.open_session(SessionRecord(session_id="k1", study="crash", consent=ConsentRecord("2")))
        w.timeline({{"t": 2.5, "label": "joy"}})
        store.flush()
        print("written", flush=True)
        time.sleep(600)
    """)
    other = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    store = StudyStore(postgres_url)                                 # a second replica, starting
    try:
        assert other.stdout.readline().strip() == "written"
        mine = _open(store, "mine")
        assert store.mark_interrupted() == 0                         # both servers are running
        assert store.session("k1")["state"] == store.session("mine")["state"] == "active"
        other.kill()                                                 # SIGKILL: no end is written
        other.wait(timeout=30)
        end = time.monotonic() + 30                                  # the database notices the closed connection
        while (n := store.mark_interrupted()) == 0 and time.monotonic() < end:
            time.sleep(0.1)
        assert n == 1
        s = store.session("k1")
        assert s["state"] == "interrupted" and s["ended"] is not None and len(store.rows("timeline", "k1")) == 1
        assert store.session("mine")["state"] == "active"            # this server's own session is live
        mine.end()
        assert store.session("mine")["state"] == "ended" and store.mark_interrupted() == 0
    finally:
        other.kill()
        metadata_obj.drop_all(store.engine)
        store.close()


def test_a_store_made_before_a_column_existed_gets_it(tmp_path):
    """A study database from an older version (no utterances.why_no_emotion) opens and takes the new rows."""
    import sqlalchemy as sa
    url = f"sqlite:///{tmp_path}/old.db"
    StudyStore(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("ALTER TABLE utterances DROP COLUMN why_no_emotion"))
    engine.dispose()
    store = StudyStore(url)
    w = _open(store, "old1")
    w.utterance({"t": 1.0, "source": "typed", "text": "hi", "emotion": None, "why_no_emotion": "words: failed"})
    store.flush()
    assert store.rows("utterances", "old1")[0]["why_no_emotion"] == "words: failed"


def test_retention_deletes_old_sessions(tmp_path):
    store = StudyStore(f"sqlite:///{tmp_path}/r.db")
    store.open_session(SessionRecord(session_id="old", study="r", consent=ConsentRecord("2"),
                                     started="2020-01-01T10:00:00.000+00:00"))
    _open(store, "new", study="r")
    assert store.delete_older_than(30) == ["old"]
    assert [s["session_id"] for s in store.sessions()] == ["new"]


def test_memory_stays_bounded_over_a_long_session(tmp_path):
    """30 simulated minutes at 8 updates/s and a turn every 10 s: memory holds the last ~90 s, the store all."""
    store = StudyStore(f"sqlite:///{tmp_path}/long.db")
    session = SessionState(session_id="long", sink=_open(store, "long"))
    for i in range(30 * 60 * 8):
        t = i / 8
        session.add_prediction(_pred("joy" if i % 3 else "sadness"), "video", t=t)
        if i % 80 == 0:
            session.add_turn(f"turn {i}", "typed", "joy", "ok", "plain")
    store.flush()
    assert session.counts["timeline"] == 14400 and len(store.rows("timeline", "long")) == 14400
    assert len(session.timeline) <= 90 * 8 + 1
    assert session.timeline[0]["t"] >= 30 * 60 - 90 - 1
    assert len(session.transcript) == len(session.replies) == 100 and session.counts["turns"] == 180


def test_a_failed_write_is_retried_not_lost(tmp_path):
    store = StudyStore(f"sqlite:///{tmp_path}/retry.db")
    w = _open(store, "r1")
    real = store.insert
    calls = {"n": 0}

    def flaky(table, sid, row):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("database restarting")
        real(table, sid, row)
    store.insert = flaky
    for t in (0.1, 0.2, 0.3):
        w.timeline({"t": t, "label": "joy"})
    store.flush()
    assert w.failed == 1 and len(w.pending) == 0
    assert [r["t"] for r in store.rows("timeline", "r1")] == [0.1, 0.2, 0.3]


def test_provenance_names_code_and_models():
    from streaming.study.provenance import provenance
    p = provenance("tiny.en", "TemplateReply", "2")
    assert p["app_version"].startswith(("git ", "package ")) and p["package_version"]
    sums = dict(reversed(line.split()) for line in (ROOT / "agf_core/weights/SHA256SUMS").read_text().splitlines())
    assert all(p["models"][name] == digest for name, digest in sums.items()) and p["shipped_sums_ok"]
    assert any(k.endswith("model.bin") for k in p["models"])  # the Whisper model actually loaded
    assert any(k.endswith("model.safetensors") for k in p["models"])  # the text encoder
    assert (p["asr_model"], p["reply_generator"], p["consent_version"]) == ("tiny.en", "TemplateReply", "2")


def test_export_puts_each_sentence_and_correction_on_the_row_it_produced(recognizer, store, tmp_path):
    """A live session through the pipeline: every sentence, reply and correction of the JSON is in the CSV and
    Parquet exactly once, on the timeline row its turn produced (the reading of those words), and a correction
    after the last reading is not lost."""
    from streaming.live.pipeline import LivePipeline
    from streaming.dialogue.reply import TemplateReply
    pipe = LivePipeline(recognizer, lambda audio: "", TemplateReply())
    state = pipe.new_state("P01")
    state.session.sink = _open(store, state.session.session_id)
    for text in ("Wow", "I am so scared about the exam", "That was a lovely surprise"):
        pipe.on_text(state, text)
    pipe.correct(state, "anger")
    paths = export_sessions(store, [state.session.session_id], tmp_path / "out")
    doc = json.loads(paths[0].read_text())
    assert len(doc["utterances"]) == 3 and len(doc["corrections"]) == 1
    for frame in (pd.read_csv(paths[1]), pd.read_parquet(paths[2])):
        said = frame[frame.said_text.notna()]
        assert list(said.said_text) == [u["text"] for u in doc["utterances"]]          # each exactly once
        assert list(frame.reply_text.dropna()) == [r["text"] for r in doc["replies"]]
        assert len(set(said.said_emotion)) > 1             # readings that differ, so a shifted row shows
        for _, row in said.iterrows():                     # the row holds the reading of those very words
            assert row.source == "typed" and row.t <= row.said_t and row.label == row.said_emotion
        assert list(frame.correction_felt.dropna()) == ["anger"]
        assert frame.correction_felt.notna().idxmax() == said.index[-1]     # the reading shown when corrected


def test_exports_carry_valence_arousal_and_sessions_from_before_them_still_export(tmp_path):
    """Timeline rows written before valence and arousal existed (no such keys) export beside new ones: the
    columns are there, empty for the old rows; a reading with no valence model is empty too, never 0."""
    from streaming.study.researcher import session_table
    store = StudyStore(f"sqlite:///{tmp_path}/va.db")
    old = _open(store, "old")
    old.timeline({"t": 0.5, "source": "typed", "label": "joy", "p_joy": 0.9})
    writer = _open(store, "new", pid="P02")
    session = SessionState(session_id="new", sink=writer)
    with_va = _pred("sadness")
    with_va.valence, with_va.arousal = -0.5, 0.25
    with_va.per_modality_affect = {"text": {"valence": -0.5, "arousal": 0.25}}
    session.add_prediction(with_va, "typed", t=1.0)
    session.add_prediction(_pred("joy"), "video", t=2.0)             # no valence-arousal model: None
    paths = export_sessions(store, ["old", "new"], tmp_path / "out")
    doc = json.loads(paths[0].read_text())
    assert doc["sessions"][1]["timeline"][1]["valence"] is None
    for frame in (pd.read_csv(paths[1]), pd.read_parquet(paths[2])):
        assert {"valence", "arousal", "text_valence", "text_arousal"} <= set(frame.columns)
        assert frame.valence.isna().tolist() == [True, False, True] and frame.valence[1] == -0.5
        assert frame.text_arousal[1] == 0.25
    table = {r[0]: r for r in session_table(store)}                   # the researcher view lists both
    assert table["old"][8] == 1 and table["new"][8] == 2
    store.close()
