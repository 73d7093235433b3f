"""The live pipeline's handlers called directly with numpy frames and (48000, int16) chunks."""
import numpy as np
import pytest

from conftest import speak
from streaming.pipeline import LivePipeline, latency_summary
from streaming.reply import TemplateReply


class FakeTranscriber:
    def __init__(self, text="I passed my exam today"):
        self.text, self.calls = text, 0

    def __call__(self, audio16k):
        self.calls += 1
        return self.text


class BrokenTranscriber:
    def __call__(self, audio16k):
        raise RuntimeError("ASR exploded")


def _chunks(pcm, size=24000):
    return [(48000, pcm[i:i + size]) for i in range(0, len(pcm), size)]


@pytest.fixture(scope="module")
def utterance_pcm(tmp_path_factory):
    _, speech = speak("I passed my exam today, I am so happy.", tmp_path_factory.mktemp("p") / "s.wav")
    quiet = np.zeros(48000, np.int16)
    return np.concatenate([quiet, speech, quiet, quiet])


def test_typed_text_gives_prediction_and_reply(recognizer):
    pipe = LivePipeline(recognizer, FakeTranscriber(), TemplateReply())
    state = pipe.new_state("P01")
    turn = pipe.on_text(state, "This is the best day ever, I'm so happy!")
    assert turn.prediction.label == "joy" and set(turn.prediction.weights) == {"text"}
    assert "wonderful" in turn.reply.lower() or "happy" in turn.reply.lower() or "love" in turn.reply.lower() \
        or "smile" in turn.reply.lower()
    assert state.session.transcript[0]["source"] == "typed" and len(state.session.timeline) == 1
    assert pipe.on_text(state, "   ") is None


def test_utterance_gives_transcript_audio_text_and_reply(recognizer, utterance_pcm):
    asr = FakeTranscriber()
    pipe = LivePipeline(recognizer, asr, TemplateReply())
    state = pipe.new_state()
    turns = [t for c in _chunks(utterance_pcm) for t in pipe.on_audio(state, c)] + pipe.close(state)
    assert len(turns) == 1 and asr.calls == 1
    turn = turns[0]
    assert turn.text == "I passed my exam today" and turn.reply
    assert set(turn.prediction.per_modality) == {"audio", "text"}
    assert state.timbre in ("low", "mid", "high") and state.status["audio"].state == "ok"
    assert {"vad", "asr", "audio_emotion", "text_emotion", "fusion", "reply"} <= set(latency_summary(state))


def test_failing_asr_keeps_the_voice(recognizer, utterance_pcm):
    pipe = LivePipeline(recognizer, BrokenTranscriber(), TemplateReply())
    state = pipe.new_state()
    turns = [t for c in _chunks(utterance_pcm) for t in pipe.on_audio(state, c)] + pipe.close(state)
    assert len(turns) == 1 and set(turns[0].prediction.per_modality) == {"audio"}
    assert state.status["text"].state == "failed" and "ASR exploded" not in str(state.status["text"])
    assert turns[0].prediction.status["text"].state == "failed"


def test_frames_and_no_face(recognizer, face_photo):
    import cv2
    pipe = LivePipeline(recognizer, FakeTranscriber(), TemplateReply())
    state = pipe.new_state()
    frame = cv2.resize(face_photo, (640, 480))
    preds = [p for _ in range(3) if (p := pipe.on_frame(state, frame)) is not None]
    assert preds and set(preds[0].per_modality) == {"video"}
    blank = np.zeros((480, 640, 3), np.uint8)
    assert pipe.on_frame(state, blank) is None and state.status["video"].reason == "no face found"
    assert pipe.on_frame(state, None) is None
    # a bad frame marks video failed (in plain words; details go to the log) instead of raising
    assert pipe.on_frame(state, np.zeros((10, 10), np.uint8)) is None
    assert state.status["video"].state == "failed" and "ValueError" not in str(state.status["video"])


def test_bad_audio_chunk_does_not_raise(recognizer):
    pipe = LivePipeline(recognizer, FakeTranscriber(), TemplateReply())
    state = pipe.new_state()
    assert pipe.on_audio(state, (48000, np.zeros(10, np.uint8))) == []
    assert state.status["audio"].state == "failed"
    assert pipe.on_audio(state, None) == []


def test_local_mode_without_devices_exits_with_a_clear_message():
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "streaming.local", "--camera", "7", "--seconds", "1"],
                          capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    if done.returncode == 0:
        pytest.skip("this machine has a camera or microphone")
    assert done.returncode == 2 and "neither a camera nor a microphone" in done.stderr
