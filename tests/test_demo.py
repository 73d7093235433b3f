"""demo.py's handlers called directly, as the streams call them."""
import json

import numpy as np
import pytest

gr = pytest.importorskip("gradio")
import demo  # noqa: E402
from conftest import speak  # noqa: E402


@pytest.fixture(scope="module")
def pipe():
    return demo.make_pipeline()


@pytest.fixture()
def study(tmp_path):
    from streaming.store import StudyStore
    from streaming.study import Study
    return Study(StudyStore(f"sqlite:///{tmp_path}/study.db"))


@pytest.fixture()
def state(pipe, study):
    return demo.start_session(pipe, study, True, "P42", None)[0]


def test_capture_stays_off_without_consent(pipe, study):
    with pytest.raises(gr.Error, match="consent"):
        demo.start_session(pipe, study, False, "", None)
    with pytest.raises(gr.Error, match="'a/b' is not accepted"):
        demo.start_session(pipe, study, True, "a/b", None)
    assert demo.on_frame(pipe, np.zeros((480, 640, 3), np.uint8), None) == (gr.skip(),) * 7


def test_typed_text_updates_the_view(pipe, state):
    out = demo.on_text(pipe, "I'm so happy we finally made it!", state)
    cleared, label, timeline, importance, bars, chat, status = out
    assert cleared == "" and max(label, key=label.get) == "joy"
    assert len(chat) == 2 and chat[1]["role"] == "assistant"
    assert len(timeline.data) == 7 and "words: ok" in status
    assert "fusion: agf_logit_ensemble (fusion.pt, calibrated)" in status


def test_frames_give_preview_and_face_status(pipe, state, face_photo):
    import cv2
    frame = cv2.resize(face_photo, (640, 480))
    out = demo.on_frame(pipe, frame, state)
    assert out[0].shape == (240, 320, 3)
    assert "face: ok" in out[-1]
    out = demo.on_frame(pipe, np.zeros((480, 640, 3), np.uint8), state)
    assert "face: absent: no face found" in out[-1]


def test_microphone_chunks_give_transcript_and_reply(pipe, state, tmp_path):
    _, speech = speak("I am so happy to see you again today.", tmp_path / "s.wav")
    pcm = np.concatenate([np.zeros(24000, np.int16), speech, np.zeros(96000, np.int16)])
    views = [demo.on_audio(pipe, (48000, pcm[i:i + 24000]), state) for i in range(0, len(pcm), 24000)]
    chats = [v[4] for v in views if v[4] is not gr.skip() and not isinstance(v[4], dict)]
    assert chats, "no utterance was completed"
    said = chats[-1][0]["content"].lower()
    assert "happy" in said and "(speech" in said


def test_correction_and_export_round_trip(pipe, study, state):
    demo.on_text(pipe, "That was awful.", state)
    answer = demo.on_correction(pipe, "surprise", "", state)
    assert "you feel surprise" in answer and "adapts to you (1 correction(s)" in answer
    assert "adapted to you (1 correction(s))" in demo.status_line(state)
    with pytest.raises(gr.Error, match="Pick the emotion"):
        demo.on_correction(pipe, None, "", state)
    html = demo.on_export(study, state)
    files = {f.suffix: f for f in study.desk.files()}
    assert set(files) == {".json", ".csv", ".parquet"} and html.count("<a href=") == 3
    data = json.loads(files[".json"].read_text())
    assert data["participant_id"] == "P42" and data["corrections"][0]["felt"] == "surprise"
    assert data["corrections"][0]["adapted"] is True
    assert data["utterances"][0]["text"] == "That was awful." and data["replies"][0]["strategy"]
    assert files[".csv"].read_text().count("\n") == len(data["timeline"]) + 1
    demo.on_end(study, state)
    assert study.desk.files() == [] and study.store.session(state.session.session_id)["state"] == "ended"


def test_withdraw_deletes_the_session(pipe, study, state):
    demo.on_text(pipe, "Please forget this.", state)
    with pytest.raises(gr.Error, match="Tick"):
        demo.on_withdraw(study, False, state)
    demo.on_withdraw(study, True, state)
    assert study.store.session(state.session.session_id) is None
    assert study.store.rows("utterances", state.session.session_id) == []


def test_raw_media_is_stored_only_with_opt_in(pipe, study, face_photo, tmp_path):
    import cv2
    _, speech = speak("Keep this recording please.", tmp_path / "s.wav")
    pcm = np.concatenate([np.zeros(24000, np.int16), speech, np.zeros(96000, np.int16)])
    frame = cv2.resize(face_photo, (640, 480))
    media = {}
    for keep in (False, True):
        state = demo.start_session(pipe, study, True, "raw", None, keep)[0]
        demo.on_frame(pipe, frame, state)
        for i in range(0, len(pcm), 24000):
            demo.on_audio(pipe, (48000, pcm[i:i + 24000]), state)
        assert len(state.raw_audio) == 0 and len(state.raw_faces) == 0  # nothing held in memory
        media[keep] = study.store.media_items(state.session.session_id)
        demo.on_export(study, state)
        names = [f.name for f in study.desk.files() if state.session.session_id in f.name]
        assert len([n for n in names if n.endswith(".wav")]) == (1 if keep else 0)
    assert media[False] == []
    kinds = [k for k, _, _ in media[True]]
    assert kinds.count("audio") == 1 and kinds.count("face") == 1
    assert next(a for k, _, a in media[True] if k == "face").shape == (48, 48)
