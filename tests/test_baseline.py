"""A person's baseline (agf_core/baseline.py): the API, its plain refusals, and the live pipeline's use of it."""
import time

import numpy as np
import pytest

from agf_core.baseline import Baseline, CalibrationError
from agf_core.branches import BranchOutput
from agf_core.labels import EMOTIONS

SAD = EMOTIONS.index("sadness")


def _reading(p):
    p = np.asarray(p, np.float64)
    return BranchOutput(np.zeros(4, np.float32), np.log(p / p.sum()).astype(np.float32))


def test_a_baseline_moves_the_persons_resting_reading_to_the_reference():
    rest = _reading([0.3, 0.05, 0.5, 0.05, 0.04, 0.03, 0.03])      # a face that looks sad at rest
    reference = _reading([0.7, 0.05, 0.1, 0.05, 0.04, 0.03, 0.03]).logp
    b = Baseline("s1", {"video": rest.logp - reference})
    moved = b.apply("video", rest)
    assert np.allclose(np.exp(moved.logp), np.exp(reference), atol=1e-5)
    assert EMOTIONS[int(moved.logp.argmax())] == "neutral" and EMOTIONS[int(rest.logp.argmax())] == "sadness"
    assert np.isclose(np.exp(moved.logp).sum(), 1.0)
    text = _reading([0.1, 0.6, 0.1, 0.05, 0.05, 0.05, 0.05])
    assert b.apply("text", text) is text                            # a modality it does not cover is unchanged


def test_bad_baselines_are_refused_by_name():
    with pytest.raises(ValueError, match="needs an offset"):
        Baseline("s1", {})
    with pytest.raises(ValueError, match="'text'"):
        Baseline("s1", {"text": np.zeros(7)})
    with pytest.raises(ValueError, match=r"\(3,\)"):
        Baseline("s1", {"audio": np.zeros(3)})


@pytest.mark.parametrize("seconds, match", [(1.5, "1.5 s long; it needs 2 to 60 s"), (61.0, "61.0 s long")])
def test_calibration_that_is_too_short_or_too_long_gets_a_plain_message(recognizer, seconds, match):
    audio = (16000, (np.random.default_rng(0).standard_normal(int(seconds * 16000)) * 0.1).astype(np.float32))
    with pytest.raises(CalibrationError, match=match):
        recognizer.calibrate(audio=audio)


def test_silent_calibration_and_no_face_get_plain_messages(recognizer):
    with pytest.raises(CalibrationError, match="silent"):
        recognizer.calibrate(audio=(16000, np.zeros(16000 * 5, np.float32)))
    with pytest.raises(CalibrationError, match="no face"):
        recognizer.calibrate(frames=[np.zeros((480, 640, 3), np.uint8)])
    with pytest.raises(ValueError, match="both were None"):
        recognizer.calibrate()


def test_calibrate_and_predict_with_the_baseline(recognizer, speech, face_photo):
    b = recognizer.calibrate(audio=speech, frames=[face_photo], owner="s1")
    assert b.modalities == ("audio", "video") and b.owner == "s1" and 2 <= b.seconds <= 60
    # the calibration sample itself now reads closer to the branches' typical neutral reading
    plain = recognizer.predict(audio=speech, frames=[face_photo])
    moved = recognizer.predict(audio=speech, frames=[face_photo], baseline=b)
    refs = {"audio": recognizer.branches[1].neutral_probs, "video": recognizer.branches[2].neutral_probs}
    for m, ref in refs.items():
        dist = lambda p: np.abs(np.array([p[e] for e in EMOTIONS]) - ref).sum()  # noqa: E731
        assert dist(moved.per_modality[m]) < dist(plain.per_modality[m])
    with pytest.raises(ValueError, match="Baseline from EmotionRecognizer.calibrate"):
        recognizer.predict(text="hi", baseline={"audio": np.zeros(7)})


def test_the_live_pipeline_calibrates_and_never_applies_another_sessions_baseline(recognizer, face_photo):
    import cv2
    from streaming.live.pipeline import LivePipeline, PipelineOptions
    from streaming.dialogue.reply import TemplateReply
    pipe = LivePipeline(recognizer, lambda a: "hello", TemplateReply(),
                        PipelineOptions(face_every_s=0.0, calibration_s=1.0))
    state = pipe.new_state("P01")
    frame = cv2.resize(face_photo, (640, 480))
    pipe.start_calibration(state)
    assert "Calibrating" in state.calibration_note
    pipe.on_frame(state, frame)
    pipe.step(state)
    assert state.baseline is None and len(state.calibrating.faces) == 1     # the window is still open
    time.sleep(1.0)
    pipe.step(state)
    # no speech was heard: the face is calibrated, the voice is not, and the page says why
    assert state.baseline is not None and state.baseline.modalities == ("video",)
    assert state.calibration_note == "Calibrated to your neutral face. Voice not calibrated: no speech was heard."
    assert state.session.calibration["modalities"] == ["video"]
    # a baseline made for another session is ignored by fusion
    other = Baseline("someone-else", {"video": np.full(7, 5.0, np.float32) - np.eye(7)[SAD] * 10})
    with state.lock:
        state.baseline = other
        pred = pipe.fuse(state, "video")
    assert pred.per_modality["video"] == recognizer.combine({"video": state.face.output}).per_modality["video"]
