"""demo.py's handlers called directly, as the streams and the page's timer call them."""
import json
import time
from html import escape

import numpy as np
import pytest

gr = pytest.importorskip("gradio")
import demo  # noqa: E402
from conftest import speak  # noqa: E402
from streaming.live.capture import CaptureRoutes  # noqa: E402
from streaming.live.worker import stop_worker  # noqa: E402

VIEW = ["headline", "notice", "timeline", "plane", "importance", "bars", "status"]


@pytest.fixture(scope="module")
def pipe():
    return demo.make_pipeline()


@pytest.fixture(scope="module")
def capture(pipe):
    return CaptureRoutes(pipe)


@pytest.fixture()
def study(tmp_path):
    from streaming.study.store import StudyStore
    from streaming.study.study import Study
    return Study(StudyStore(f"sqlite:///{tmp_path}/study.db"))


@pytest.fixture()
def state(pipe, study, capture):
    s = demo.start_session(pipe, study, capture, True, "P42", None)[0]
    yield s
    stop_worker(s)


def _wait_view(state, until, timeout=60.0):
    """Poll the page's timer handler until `until(view)` holds, as the browser does every 0.25 s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        out = demo.refresh(state)
        if out != (gr.skip(),) * len(VIEW):
            last = dict(zip(VIEW, out))
            if until(last):
                return last
        time.sleep(0.05)
    raise AssertionError(f"the page never showed what was expected; last view: {last and last['status']}")


def test_capture_stays_off_without_consent(pipe, study, capture):
    with pytest.raises(gr.Error, match="consent"):
        demo.start_session(pipe, study, capture, False, "", None)
    with pytest.raises(gr.Error, match="'a/b' is not accepted"):
        demo.start_session(pipe, study, capture, True, "a/b", None)
    with pytest.raises(PermissionError):
        capture.receive("not-a-token", 48000, np.zeros(100, np.int16).tobytes())
    assert demo.on_frame(pipe, np.zeros((480, 640, 3), np.uint8), None) is None
    assert demo.refresh(None) == (gr.skip(),) * len(VIEW)


def _token(start: tuple) -> str:
    return start[4].split('"')[1]                                     # start_session's token HTML


def test_typed_text_is_answered_in_its_own_request(pipe, study, capture):
    """The page's Enter key posts to /agf/text: the answer is the conversation with the message (escaped) and
    its reply, with no worker; the figures follow on the timer. A wrong token, another browser, a long or
    non-UTF-8 body are refused."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    start = demo.start_session(pipe, study, capture, True, "P44", None)
    state, token = start[0], _token(start)
    client = TestClient(FastAPI(routes=capture.routes()))
    got = client.post(f"/agf/text?token={token}", content="I'm so happy <b>we</b> made it!".encode())
    assert got.status_code == 200 and state.worker is None             # answered in the request
    html = got.json()["conversation"]
    assert "&lt;b&gt;we&lt;/b&gt;" in html and "<b>we" not in html
    said, reply = state.session.transcript[-1], state.session.replies[-1]
    assert said["source"] == "typed" and said["emotion"] == "joy" and escape(reply["text"]) in html
    view = _wait_view(state, lambda v: v["timeline"] != gr.skip())
    assert "Right now: joy" in view["headline"] and "words: ok" in view["status"]
    assert "fusion: agf_evidence (fusion.pt, calibrated)" in view["status"]
    timeline = view["timeline"]                                        # inline SVG (streaming/live/charts.py)
    assert timeline.startswith("<svg") and timeline.count("<polyline") == 7 and ">probability</text>" in timeline
    assert [float(t) for t in timeline.split('data-t="')[1].split('"')[0].split()] == \
        [r["t"] for r in state.session.timeline]                        # every point, at the stored time
    plane = view["plane"]                                              # valence-arousal (streaming/live/plane.py)
    assert 'data-name="now"' in plane and plane.split('data-va="')[1].split('"')[0] == \
        " ".join(f"{r['valence']:.4f},{r['arousal']:.4f}" for r in state.session.timeline)
    assert demo.refresh(state) == (gr.skip(),) * len(VIEW)          # nothing new since: the timer sends nothing
    assert client.post("/agf/text?token=wrong", content=b"hi").status_code == 403
    refused = client.post(f"/agf/text?token={token}", content=b"a" * 5001)
    assert refused.status_code == 400 and "5001 characters" in refused.json()["error"]
    assert client.post(f"/agf/text?token={token}", content=b"\xff\xfe").status_code == 400
    state.session.owner = "browser-a"                                  # set from the page's cookie at start
    with pytest.raises(PermissionError, match="another browser"):
        capture.say(token, "hi", owner="browser-b")
    assert len(state.session.transcript) == 1                          # nothing refused became a turn


def test_a_refused_microphone_post_says_whether_the_rate_or_the_length_is_wrong(pipe, study, capture):
    """The 400 names the accepted range for a bad rate, and the length for a chunk too long at a good rate (an
    11 s chunk at 8 kHz fits the byte cap but was refused as "audio at 8000 Hz is not accepted"; issue 22, 11)."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    start = demo.start_session(pipe, study, capture, True, "P47", None)
    state, token = start[0], _token(start)
    client = TestClient(FastAPI(routes=capture.routes()))
    long = client.post(f"/agf/audio?token={token}&rate=8000", content=np.zeros(8000 * 11, np.int16).tobytes())
    assert long.status_code == 400 and "11.00 s (88000 samples at 8000 Hz) is too long" in long.json()["error"]
    assert "at most 10 s" in long.json()["error"]
    for rate in ("9223372036854775808", "10000000000", "abc", ""):
        bad = client.post(f"/agf/audio?token={token}&rate={rate}", content=np.zeros(100, np.int16).tobytes())
        assert bad.status_code == 400, rate
        assert "accepted: whole numbers of Hz from 8000 to 192000" in bad.json()["error"], bad.json()
    assert "can't use" in state.status["audio"].reason and state.inbox.samples_in == 0
    ok = client.post(f"/agf/audio?token={token}&rate=8000", content=np.zeros(8000, np.int16).tobytes())
    assert ok.status_code == 200 and ok.json()["samples"] == 8000


def test_the_page_polls_the_words_and_gets_only_what_changed(pipe, study, capture):
    start = demo.start_session(pipe, study, capture, True, "P45", None)
    state, token = start[0], _token(start)
    first = capture.view(token)
    assert "Say something" in first["conversation"] and first["words"] == '<div class="agf-words"></div>'
    assert capture.view(token, first["key"]) == {"key": first["key"]}  # nothing new: only the key comes back
    with state.lock:
        state.listening.since_s, state.listening.partial = 1.0, "we won <the>"
    view = capture.view(token, first["key"])
    assert "listening…" in view["words"] and "<i>we won &lt;the&gt;</i>" in view["words"]
    with state.lock:
        state.listening.partial, state.listening.final = "we won <the> match", True   # the utterance ended
    final = capture.view(token, view["key"])
    assert "heard:" in final["words"] and "we won &lt;the&gt; match" in final["words"]
    assert "listening" not in final["words"]
    pipe.on_text(state, "We won the match!")                           # as the worker finishes a turn
    assert "We won the match!" in capture.view(token, first["key"])["conversation"]
    with pytest.raises(PermissionError):
        capture.view("not-a-token")


def test_a_held_view_request_answers_when_the_words_change(pipe, study, capture):
    """The page's long poll: `wait` holds the request until the view changes (answered with the new words),
    or until it runs out (answered with the key alone); a bad `wait` is refused naming it."""
    import threading
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    start = demo.start_session(pipe, study, capture, True, "P46", None)
    state, token = start[0], _token(start)
    client = TestClient(FastAPI(routes=capture.routes()))
    key = client.get(f"/agf/view?token={token}").json()["key"]
    assert client.get(f"/agf/view?token={token}&key={key}&wait=0.1").json() == {"key": key}

    def speak():
        time.sleep(0.3)
        with state.lock:
            state.listening.since_s, state.listening.partial = 1.0, "held words"
    threading.Thread(target=speak).start()
    held = client.get(f"/agf/view?token={token}&key={key}&wait=15").json()
    assert held["key"] != key and "held words" in held["words"]       # the change, not the 15-s timeout
    for bad in ("-1", "99", "soon"):
        refused = client.get(f"/agf/view?token={token}&key={key}&wait={bad}")
        assert refused.status_code == 400 and f"wait='{bad}'" in refused.json()["error"]
    assert client.get("/agf/view?token=wrong&wait=1").status_code == 403


def test_frames_are_queued_and_the_timer_shows_the_face(pipe, state, face_photo):
    import cv2
    frame = cv2.resize(face_photo, (640, 480))
    assert demo.on_frame(pipe, frame, state) is None                  # the stream handler returns at once
    _wait_view(state, lambda v: "face: ok" in v["status"])
    demo.on_frame(pipe, np.zeros((480, 640, 3), np.uint8), state)
    _wait_view(state, lambda v: "face: absent (no face found)" in v["status"])


def test_calibrate_button_starts_a_calibration_that_the_status_reports(pipe, state, face_photo):
    import cv2
    demo.on_calibrate(pipe, state)
    assert state.calibrating is not None
    _wait_view(state, lambda v: "Calibrating: relax your face" in v["status"])
    demo.on_skip_calibration(pipe, state)
    assert state.calibrating is None and state.baseline is None
    _wait_view(state, lambda v: "Not calibrated (skipped)." in v["status"])


def test_microphone_posts_give_listening_then_transcript_and_reply(pipe, study, capture, tmp_path):
    start = demo.start_session(pipe, study, capture, True, "P43", None)
    state, token = start[0], _token(start)
    _, speech = speak("I am so happy to see you again today.", tmp_path / "s.wav")
    pcm = np.concatenate([np.zeros(24000, np.int16), speech, np.zeros(96000, np.int16)])
    for i in range(0, len(pcm), 4800):                                 # the page posts every 100 ms
        got = capture.receive(token, 48000, pcm[i:i + 4800].tobytes())
    assert got["samples"] == state.inbox.samples_in == len(pcm)       # every sample reached the session
    with pytest.raises(ValueError, match="int16"):
        capture.receive(token, 48000, b"\x00" * 3)
    state.session.owner = "browser-a"                                  # set from the page's cookie at start
    with pytest.raises(PermissionError, match="another browser"):
        capture.receive(token, 48000, pcm[:9600].tobytes(), owner="browser-b")
    deadline = time.monotonic() + 60
    while 'data-testid="bot"' not in (seen := capture.view(token))["conversation"] and time.monotonic() < deadline:
        time.sleep(0.05)                                               # as the page polls /agf/view
    said = seen["conversation"].lower()
    assert "happy" in said and "(speech" in said and seen["words"] == '<div class="agf-words"></div>'
    stop_worker(state)


def test_correction_resets_and_export_round_trip(pipe, study, state):
    pipe.on_text(state, "That was awful.")
    answer, felt, note = demo.on_correction(pipe, "surprise", "a note", state)
    assert "you feel surprise" in answer and "adapts to you (1 correction(s)" in answer
    assert felt is None and note == ""                                 # the next correction is a new choice
    assert "adapted to you (1 correction(s))" in demo.status_line(state)
    with pytest.raises(gr.Error, match="Pick the emotion"):
        demo.on_correction(pipe, None, "", state)
    html = demo.on_export(study, state)
    files = {f.suffix: f for f in study.desk.files()}
    assert set(files) == {".json", ".csv", ".parquet"} and html.count("<a href=") == 3
    data = json.loads(files[".json"].read_text())
    assert data["participant_id"] == "P42" and data["corrections"][0]["felt"] == "surprise"
    assert data["corrections"][0]["adapted"] is True and data["corrections"][0]["note"] == "a note"
    assert data["utterances"][0]["text"] == "That was awful." and data["replies"][0]["strategy"]
    assert files[".csv"].read_text().count("\n") == len(data["timeline"]) + 1
    demo.on_end(pipe, study, state)
    assert study.desk.files() == [] and study.store.session(state.session.session_id)["state"] == "ended"


def test_withdraw_deletes_the_session(pipe, study, state):
    pipe.on_text(state, "Please forget this.")
    with pytest.raises(gr.Error, match="Tick"):
        demo.on_withdraw(study, False, state)
    demo.on_withdraw(study, True, state)
    assert study.store.session(state.session.session_id) is None
    assert study.store.rows("utterances", state.session.session_id) == []


def test_raw_media_is_stored_only_with_opt_in(pipe, study, capture, face_photo, tmp_path):
    import cv2
    _, speech = speak("Keep this recording please.", tmp_path / "s.wav")
    pcm = np.concatenate([np.zeros(24000, np.int16), speech, np.zeros(96000, np.int16)])
    frame = cv2.resize(face_photo, (640, 480))
    media = {}
    for keep in (False, True):
        state = demo.start_session(pipe, study, capture, True, "raw", None, keep)[0]
        stop_worker(state)                                             # run the pipeline here, in order
        pipe.on_frame(state, frame)
        for i in range(0, len(pcm), 24000):
            pipe.on_audio(state, (48000, pcm[i:i + 24000]))
        pipe.close(state)
        pipe.drain(state)
        assert len(state.raw_audio) == 0 and len(state.raw_faces) == 0  # nothing held in memory
        demo.on_export(study, state)
        media[keep] = study.store.media_items(state.session.session_id)
        names = [f.name for f in study.desk.files() if state.session.session_id in f.name]
        assert len([n for n in names if n.endswith(".wav")]) == (1 if keep else 0)
    assert media[False] == []
    kinds = [k for k, _, _ in media[True]]
    assert kinds.count("audio") == 1 and kinds.count("face") >= 1
    assert next(a for k, _, a in media[True] if k == "face").shape == (48, 48)


def test_a_closed_tab_finishes_its_session_then_marks_it_interrupted(pipe, study, capture, tmp_path):
    """The tab goes away mid-utterance (no trailing silence, no End click): the speech that had arrived still
    becomes a stored turn, the session is marked interrupted, and nothing is written after its end."""
    from types import SimpleNamespace
    request = SimpleNamespace(query_params={}, cookies={"agf_owner": "browser-a"}, session_hash="tab-1")
    start = demo.start_session(pipe, study, capture, True, "P44", None, request=request)
    state, token = start[0], start[4].split('"')[1]
    pipe.on_text(state, "Before I go.")
    _, speech = speak("See you next week.", tmp_path / "s.wav")
    pcm = np.concatenate([np.zeros(24000, np.int16), speech])           # cut off right after the words
    for i in range(0, len(pcm), 9600):
        capture.receive(token, 48000, pcm[i:i + 9600].tobytes(), owner="browser-a")
    demo.on_unload(pipe, study, SimpleNamespace(session_hash="tab-1"))
    sid = state.session.session_id
    s = study.store.session(sid)
    assert s["state"] == "interrupted" and s["ended"] and s["latency"]
    said = [u["text"] for u in study.store.rows("utterances", sid)]
    assert said[0] == "Before I go." and "next week" in said[1].lower()
    n = len(study.store.rows("timeline", sid))
    with pytest.raises(PermissionError):                                # the tab's token feeds nothing now
        capture.receive(token, 48000, pcm[:9600].tobytes(), owner="browser-a")
    demo.on_unload(pipe, study, SimpleNamespace(session_hash="tab-1"))  # a second unload changes nothing
    assert len(study.store.rows("timeline", sid)) == n and study.store.session(sid)["ended"] == s["ended"]


def test_threads_flag_is_checked(capsys):
    assert demo.threads_arg("2") == 2
    with pytest.raises(SystemExit):
        demo.main(["--threads", "0"])
    assert "--threads '0' is not accepted; use a whole number from 1 to 256" in capsys.readouterr().err


def test_the_headline_says_no_reading_once_nothing_is_read(recognizer, face_photo):
    """Issue 22.6: with the words' reading too old, the face detector failed, or the camera stopped, the last
    smoothed value was still shown ("Right now: joy (88%)") 30 s later."""
    from streaming.live.pipeline import LivePipeline
    from streaming.dialogue.reply import TemplateReply

    class NoFace:
        def __getattr__(self, name):
            return getattr(recognizer, name)

        def face(self, frame):
            raise RuntimeError("detector stuck")
    pipe = LivePipeline(recognizer, lambda audio: "", TemplateReply())
    state = pipe.new_state()
    state.session.consent = True

    def later(seconds):                                               # the session's clock moves on
        state.session.started -= seconds
    pipe.on_text(state, "We won the championship!")
    assert demo.refresh(state)[0].startswith("### Right now: joy")
    assert demo.refresh(state) == (gr.skip(),) * len(VIEW)             # nothing new
    later(pipe.options.speech_valid_s + 1)                            # the words' reading has expired
    assert demo.refresh(state)[0] == demo.NO_READING                   # shown with no new version
    assert demo.refresh(state) == (gr.skip(),) * len(VIEW)

    def frame():                                                      # a frame read, and the camera goes on
        later(1)
        pipe.on_frame(state, face_photo)
        pipe.step(state)
        pipe.on_frame(state, face_photo)
    frame()                                                           # a face: a reading again
    assert "Right now: no reading" not in demo.refresh(state)[0]
    pipe.recognizer = NoFace()                                        # the detector fails
    frame()
    assert state.status["video"].state == "failed" and demo.refresh(state)[0] == demo.NO_READING

    pipe.recognizer = recognizer
    frame()
    assert "Right now: no reading" not in demo.refresh(state)[0]
    later(pipe.options.video.stale_s + 1)                             # the camera stops: no more frames
    assert demo.refresh(state)[0] == demo.NO_READING
    turn = pipe.on_text(state, "We won the championship!")
    assert set(turn.prediction.per_modality) == {"text"}              # the old face is not fused either
    assert turn.prediction.status["video"].state == "absent"


@pytest.mark.parametrize("manifest", [True, False])
def test_a_damaged_face_model_stops_the_demo_in_one_line(tmp_path, monkeypatch, manifest):
    """A truncated face_landmarker.task at `python demo.py` start gave a traceback (issue 22, item 12). Beside
    its SHA256SUMS (as shipped) it fails the hash; alone, it is not a zip bundle: either way, one line."""
    import dataclasses

    from agf_core.branches import VideoBranch
    from agf_core.checkpoint import WEIGHTS, read_manifest
    from agf_core.inputs import detector_process, face
    bundle = tmp_path / "face_landmarker.task"
    bundle.write_bytes(face.FACE_BUNDLE.read_bytes()[:100_000])
    if manifest:
        (tmp_path / "SHA256SUMS").write_text(f"{read_manifest(WEIGHTS)[bundle.name]}  {bundle.name}\n")
    monkeypatch.setattr(detector_process, "detector_model",
                        lambda options: face.detector_model(dataclasses.replace(options, model_path=bundle)))
    monkeypatch.setattr("agf_core.recognizer.default_recognizer", lambda: VideoBranch(WEIGHTS / "video.pt"))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))    # demo.main points it at its own folder
    with pytest.raises(SystemExit) as stop:
        demo.main(["--store", f"sqlite:///{tmp_path}/study.db"])
    said = str(stop.value.code)
    assert said.startswith("python demo.py: cannot load the models: ") and "\n" not in said
    assert f"{bundle} is corrupted" in said if manifest else "is not a MediaPipe Face Landmarker bundle" in said


def _main_until_models(monkeypatch, tmp_path, *argv):
    """demo.main up to the point it loads the models (the store is open by then); returns the study it built."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGF_STORE", raising=False)
    monkeypatch.setattr(demo, "PrivateTemp", lambda privacy: None)
    monkeypatch.setattr(demo.signal, "signal", lambda *a: None)
    built = {}

    def stop(*a, **k):
        raise SystemExit("stopped before the models")
    monkeypatch.setattr(demo, "make_pipeline", stop)
    monkeypatch.setattr(demo, "StudyStore", lambda url: built.setdefault("url", url) and stop())
    with pytest.raises(SystemExit, match="stopped"):
        demo.main(list(argv))
    return built["url"]


def test_a_demo_without_study_does_not_write_to_a_study_database(monkeypatch, tmp_path, caplog):
    from streaming.study.store import DEFAULT_URL
    with caplog.at_level("INFO", logger="demo"):
        url = _main_until_models(monkeypatch, tmp_path)
    assert url != DEFAULT_URL and "demo" in url                    # not the README's study store
    assert "without --study" in caplog.text
    assert _main_until_models(monkeypatch, tmp_path, "--study", "pilot") == DEFAULT_URL
    assert _main_until_models(monkeypatch, tmp_path, "--store", "sqlite:///x.db") == "sqlite:///x.db"


def test_a_participants_mistake_is_a_message_not_a_logged_traceback(pipe, study, capture):
    for call in (lambda: demo.start_session(pipe, study, capture, False, "", None),
                 lambda: demo.on_correction(pipe, "joy", "", None), lambda: demo.on_export(study, None),
                 lambda: demo.on_end(pipe, study, None), lambda: demo.on_withdraw(study, True, None)):
        with pytest.raises(gr.Error) as refused:
            call()
        assert refused.value.print_exception is False, refused.value


def test_the_app_says_when_the_share_link_failed_and_when_the_researcher_view_is_off(caplog):
    with caplog.at_level("INFO", logger="demo"):
        demo.log_launch(share=True, share_url=None, local_url="http://127.0.0.1:7860/", admin_password="")
    lines = [r.getMessage() for r in caplog.records]
    assert any("--share" in x and "no public link" in x and "http://127.0.0.1:7860/" in x for x in lines), lines
    assert any("/researcher" in x and "AGF_ADMIN_PASSWORD" in x for x in lines), lines
    caplog.clear()
    with caplog.at_level("INFO", logger="demo"):
        demo.log_launch(share=True, share_url="https://x.gradio.live", local_url="http://h/", admin_password="pw")
    assert not any("no public link" in r.getMessage() or "AGF_ADMIN_PASSWORD" in r.getMessage()
                   for r in caplog.records)


def test_the_headline_says_a_correction_is_applied(pipe, study, state):
    pipe.on_text(state, "That was awful.")
    assert "correction" not in demo.headline(state)
    demo.on_correction(pipe, "surprise", "", state)
    assert "adjusted by your 1 correction" in demo.headline(state)


def _page(pipe, study):
    """The built page's components as Gradio's config lists them, in page order."""
    return demo.build(pipe, study).config["components"]


def test_the_webcam_says_its_record_button_starts_the_face_reading(pipe, study):
    """Gradio's webcam previews the face but streams nothing until its Record button is pressed (issue 21, 4):
    one instruction right under the camera; the blocked-microphone notice names the page's real button."""
    from pathlib import Path
    comps = _page(pipe, study)
    ids = [c["props"].get("elem_id") for c in comps]
    hint = comps[ids.index("webcam-hint")]["props"]["value"]
    assert ids.index("webcam-hint") == ids.index("webcam") + 1 and "Record" in hint and "face" in hint
    assets = Path(demo.__file__).parent / "assets"
    for page in ("devices.html", "capture.html"):
        text = (assets / page).read_text()
        assert "Record again" not in text, page
    assert "press Start microphone again" in (assets / "devices.html").read_text()


class _Request:
    """What the handlers read of a gr.Request: the link's query, the owner cookie, the session hash."""
    def __init__(self, **query):
        self.query_params, self.cookies, self.session_hash = query, {"agf_owner": "browser-1"}, "hash-1"


def test_the_id_field_shows_the_links_participant_and_a_typed_id_says_it_replaces_it(pipe, study, capture):
    """`?pid=P05` is put in the ID field on load; a typed ID still wins, and the start message says it replaced
    the link's (issue 21, item 7)."""
    config = demo.build(pipe, study).config
    labels = {c["id"]: c["props"].get("label") for c in config["components"]}
    on_load = [labels[o] for d in config["dependencies"] if any(t[1] == "load" for t in d["targets"])
               for o in d["outputs"]]
    assert on_load == ["Participant ID (optional)"]
    filled = demo.link_participant(_Request(pid="P05"))
    assert filled["value"] == "P05" and "P05" in filled["info"]
    assert demo.link_participant(_Request()) == gr.update()
    start = demo.start_session(pipe, study, capture, True, "", None, request=_Request(pid="P05"))
    assert start[0].session.participant_id == "P05" and "replaces" not in start[2]
    stop_worker(start[0])
    start = demo.start_session(pipe, study, capture, True, "P07", None, request=_Request(pid="P05"))
    assert start[0].session.participant_id == "P07"
    assert "participant P07 (the ID you typed replaces P05 from your link)" in start[2]
    stop_worker(start[0])
    start = demo.start_session(pipe, study, capture, True, "P05", None, request=_Request(pid="P05"))
    assert "replaces" not in start[2]
    stop_worker(start[0])


def test_start_folds_the_consent_to_one_line_and_end_opens_it_again(pipe, study, capture):
    """Issue 21, item 5: the consent block (an accordion) is folded by Start, with a label that says how to read
    it again; the page's End and Withdraw open it again (wired in build)."""
    start = demo.start_session(pipe, study, capture, True, "", None)
    assert start[5] == gr.update(open=False, label=demo.CONSENT_GIVEN) and "read it again" in demo.CONSENT_GIVEN
    stop_worker(start[0])
    config = demo.build(pipe, study).config
    box = next(c["id"] for c in config["components"] if c["props"].get("elem_id") == "consent")
    assert next(c for c in config["components"] if c["id"] == box)["type"] == "accordion"
    assert sum(box in d["outputs"] for d in config["dependencies"]) == 3     # Start, End, Withdraw
