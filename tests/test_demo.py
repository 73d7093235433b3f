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
def state(pipe):
    return demo.start_session(pipe, True, "P42", None)[0]


def test_capture_stays_off_without_consent(pipe):
    with pytest.raises(gr.Error, match="consent"):
        demo.start_session(pipe, False, "", None)
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


def test_correction_and_export_round_trip(pipe, state):
    demo.on_text(pipe, "That was awful.", state)
    answer = demo.on_correction(pipe, "surprise", "", state)
    assert "you feel surprise" in answer and "adapts to you (1 correction(s)" in answer
    assert "adapted to you (1 correction(s))" in demo.status_line(state)
    with pytest.raises(gr.Error, match="Pick the emotion"):
        demo.on_correction(pipe, None, "", state)
    json_path, csv_path = demo.on_export(state)
    data = json.loads(open(json_path).read())
    assert data["participant_id"] == "P42" and data["corrections"][0]["felt"] == "surprise"
    assert data["transcript"][0]["text"] == "That was awful."
    assert open(csv_path).read().count("\n") == len(data["timeline"]) + 1


def test_raw_media_is_exported_only_with_opt_in(pipe, face_photo, tmp_path):
    import cv2
    _, speech = speak("Keep this recording please.", tmp_path / "s.wav")
    pcm = np.concatenate([np.zeros(24000, np.int16), speech, np.zeros(96000, np.int16)])
    frame = cv2.resize(face_photo, (640, 480))
    exports = {}
    for keep in (False, True):
        state = demo.start_session(pipe, True, "raw", None, keep)[0]
        demo.on_frame(pipe, frame, state)
        for i in range(0, len(pcm), 24000):
            demo.on_audio(pipe, (48000, pcm[i:i + 24000]), state)
        exports[keep] = demo.on_export(state)
    assert len(exports[False]) == 2
    wavs = [f for f in exports[True] if f.endswith(".wav")]
    faces = [f for f in exports[True] if f.endswith("_faces.npz")]
    assert len(wavs) == 1 and len(faces) == 1
    assert np.load(faces[0])["crops"].shape[1:] == (48, 48)
