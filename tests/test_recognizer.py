"""The shipped checkpoints through the public API: they load, get clear cases right, and refuse bad input."""
import numpy as np
import pytest

from agf_core import EMOTIONS, EmotionRecognizer, RecognizerConfig


def _check_prediction(out, present):
    assert set(out.probs) == set(EMOTIONS)
    assert abs(sum(out.probs.values()) - 1) < 1e-5
    assert set(out.per_modality) == set(present) == set(out.weights)
    assert abs(sum(out.weights.values()) - 1) < 1e-5
    assert out.label == max(out.probs, key=out.probs.get)


def test_joyful_sentence_is_joy(recognizer):
    out = recognizer.predict(text="This is the best day of my life, I'm so happy!")
    _check_prediction(out, ["text"])
    assert out.label == "joy"
    assert out.fusion.startswith("agf_evidence (fusion.pt")


def test_angry_sentence_is_anger(recognizer):
    out = recognizer.predict(text="Get out of my room right now, I am furious with you!")
    assert out.label == "anger"


def test_dialogue_context_is_used(recognizer):
    a = recognizer.predict(text="Really?")
    b = recognizer.predict(text="Really?", context=["I just won the lottery!"])
    assert a.probs != b.probs


def test_smiling_face_is_joy(recognizer, smiling_photo):
    out = recognizer.predict(frames=[smiling_photo])
    _check_prediction(out, ["video"])
    assert out.label == "joy"


def test_no_face_means_video_absent_not_error(recognizer):
    out = recognizer.predict(text="hello there", frames=[np.zeros((480, 640, 3), np.uint8)] * 3)
    _check_prediction(out, ["text"])
    assert out.absent == {"video": "no face found"}


def test_speech_audio_and_text_together(recognizer, speech):
    out = recognizer.predict(text="I am so happy to see you again today.", audio=speech,
                             metadata={"age": "young"})
    _check_prediction(out, ["text", "audio"])
    assert out.metadata["age"] == "young" and out.metadata["timbre"] in ("low", "mid", "high")
    assert out.outputs["audio"].embedding.shape == (256,)


def test_all_three_modalities(recognizer, speech, face_photo):
    out = recognizer.predict(text="ok", audio=speech, frames=[face_photo] * 10)
    _check_prediction(out, ["text", "audio", "video"])


# N samples give N // 160 + 1 mel frames: a 30 s window of exactly 480,000 samples gave 3001 and the encoder
# (3000) refused it, so any length in (k * 479,999, k * 480,000] samples crashed (issue 22, item 10)
@pytest.mark.parametrize("rate, samples", [
    (16000, 479_999), (16000, 480_000), (16000, 480_001), (16000, 959_999), (16000, 960_000),
    (48000, 1_440_000), (48000, 2_880_000), (48000, 1_440_003)])
def test_audio_at_whisper_window_boundaries(recognizer, rate, samples):
    x = (0.1 * np.random.default_rng(samples).standard_normal(samples)).astype(np.float32)
    out = recognizer.predict(audio=(rate, x))
    _check_prediction(out, ["audio"])
    assert out.outputs["audio"].embedding.shape == (256,)

@pytest.mark.parametrize("kwargs, match", [
    ({}, "at least one of text, audio or frames"),
    ({"text": "  "}, "no visible characters"),
    ({"text": "\u200b\u200b"}, "no visible characters"),
    ({"text": "\x00"}, "no visible characters"),
    ({"text": "caf\udce9"}, "lone surrogate"),
    ({"text": "hi", "context": [None]}, "must be a str, got NoneType"),
    ({"text": "hi", "context": "a str"}, "wrap a single turn in a list"),
    ({"text": "hi", "metadata": "young"}, "must be a dict"),
    ({"text": "hi", "metadata": 5}, "must be a dict"),
    ({"text": "hi", "metadata": {"age": 0}}, "age=0 is not accepted"),
    ({"audio": (16000, np.zeros(0, np.float32))}, "zero length"),
    ({"audio": (16000, np.full(100, np.nan, np.float32))}, "NaN"),
    ({"audio": (16000, np.zeros((4, 4, 4), np.float32))}, "shape"),
    ({"frames": []}, "non-empty list"),
    ({"frames": [np.zeros((48, 48), np.uint8)]}, r"shape \(48, 48\)"),
    ({"frames": [np.zeros((48, 48, 3), np.float64)]}, "dtype float64"),
    ({"text": "hi", "metadata": {"age": "ancient"}}, "age='ancient'"),
])
def test_bad_input_is_named(recognizer, kwargs, match):
    with pytest.raises(ValueError, match=match):
        recognizer.predict(**kwargs)


def test_missing_model_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="text.pt is missing"):
        EmotionRecognizer.from_pretrained(RecognizerConfig(folder=tmp_path))
    with pytest.raises(ValueError, match="not accepted"):
        EmotionRecognizer.from_pretrained(str(tmp_path / "nope"))


def test_one_correction_nudges_and_does_not_swing_the_reading(recognizer, face_photo):
    """A still, neutral face corrected once to "anger": anger rises, neutral stays on top (it showed
    "anger (53 %)" with nothing new); more corrections of the same moment move it further."""
    from agf_core.personalization import Personalization
    out = recognizer.predict(frames=[face_photo])
    assert out.label == "neutral"
    me = Personalization()
    recognizer.correct(out, "anger", me)
    once = recognizer.predict(frames=[face_photo], personal=me)
    assert once.label == "neutral" and out.probs["anger"] < once.probs["anger"] < once.probs["neutral"]
    for _ in range(4):
        recognizer.correct(out, "anger", me)
    assert recognizer.predict(frames=[face_photo], personal=me).probs["anger"] > once.probs["anger"]
