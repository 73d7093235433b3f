"""Valence and arousal: the heads, the gate-weighted fusion, the recipe's pieces, and the shipped checkpoint."""
import numpy as np
import pytest
import torch

from agf_core import checkpoint
from agf_core.affect import LANDMARKS, Affect, fuse, landmark_targets, nearest_category
from agf_core.branches import BranchOutput
from agf_core.checkpoint import WEIGHTS
from agf_core.labels import EMOTIONS
from agf_core.models.affect import AffectConfig, AffectHeads
from agf_core.recognizer import EmotionRecognizer
from agf_core.training.affect_data import lexicon_va, read_emobank, read_nrc_vad
from agf_core.training.affect_recipe import intensity_check, pearson, predict, ridge


def _heads_file(tmp_path, dims=None, scale=1.0):
    """An affect checkpoint whose heads read valence from h[0] and arousal from h[1] (times `scale`)."""
    dims = dims or {"text": 4, "audio": 4}
    state = {}
    for m, d in dims.items():
        w = torch.zeros(2, d)
        w[0, 0] = w[1, 1] = scale
        state[f"heads.{m}.weight"], state[f"heads.{m}.bias"] = w, torch.zeros(2)
    return checkpoint.save(tmp_path / "affect.pt", "affect", {"dims": dims}, state)


def _out(h):
    return BranchOutput(np.asarray(h, np.float32), np.log(np.full(len(EMOTIONS), 1 / len(EMOTIONS), np.float32)))


def test_heads_clip_to_the_unit_square_and_refuse_unknown_modalities():
    heads = AffectHeads(AffectConfig({"text": 2}))
    heads.heads["text"].weight.data = torch.eye(2) * 10
    heads.heads["text"].bias.data.zero_()
    out = heads({"text": torch.tensor([[0.5, -0.02]]), "video": torch.zeros(1, 2)})
    assert set(out) == {"text"} and out["text"].tolist() == [[1.0, pytest.approx(-0.2)]]
    with pytest.raises(ValueError, match="unknown modality \\['face'\\]"):
        AffectHeads(AffectConfig({"face": 2}))


def test_fuse_is_the_gate_weighted_mean_over_modalities_with_a_reading():
    per = {"text": (0.8, -0.2), "audio": (-0.4, 0.6)}
    v, a = fuse(per, {"text": 0.75, "audio": 0.25, "video": 0.5})   # video has no reading: renormalised without it
    assert (v, a) == (pytest.approx(0.75 * 0.8 + 0.25 * -0.4), pytest.approx(0.75 * -0.2 + 0.25 * 0.6))
    assert fuse({}, {"text": 1.0}) == (None, None)                   # absent, never 0
    assert fuse({"text": (0.2, 0.4)}, {}) == (pytest.approx(0.2), pytest.approx(0.4))


def test_combine_gives_per_modality_and_fused_values_and_none_without_heads(tmp_path):
    affect = Affect(_heads_file(tmp_path))
    rec = EmotionRecognizer(None, None, None, fusion=None, affect=affect)
    pred = rec.combine({"text": _out([0.6, 0.2, 0, 0]), "audio": _out([-0.2, 0.8, 0, 0])})
    assert pred.per_modality_affect == {"text": {"valence": pytest.approx(0.6), "arousal": pytest.approx(0.2)},
                                        "audio": {"valence": pytest.approx(-0.2), "arousal": pytest.approx(0.8)}}
    assert (pred.valence, pred.arousal) == (pytest.approx(0.2), pytest.approx(0.5))   # "average": equal weights
    assert pred.to_dict()["valence"] == pytest.approx(0.2)
    # video has no head in this file: it is in the categories but has no valence-arousal reading
    rec_v = EmotionRecognizer(None, None, None, affect=Affect(_heads_file(tmp_path, {"text": 4})))
    only_video = rec_v.combine({"video": _out([0.9, 0.9, 0, 0])})
    assert only_video.label is not None and only_video.valence is None and only_video.per_modality_affect == {}
    plain = EmotionRecognizer(None, None, None).combine({"text": _out([0.6, 0.2, 0, 0])})
    assert plain.valence is None and plain.arousal is None


def test_heads_are_refused_over_other_branch_files(tmp_path):
    path = checkpoint.save(tmp_path / "a.pt", "affect", {"dims": {"text": 2}},
                           {"heads.text.weight": torch.zeros(2, 2), "heads.text.bias": torch.zeros(2)},
                           {"branches": {"text": "0" * 64}})
    with pytest.raises(ValueError, match="valence-arousal heads .* other text checkpoint.*affect_recipe"):
        Affect(path, {"text": "1" * 64})
    assert Affect(path, {"text": "0" * 64}).modalities == ("text",)


def test_landmarks_are_the_seven_categories_and_targets_follow_labels():
    assert tuple(LANDMARKS) == EMOTIONS
    assert LANDMARKS["joy"][0] > 0.5 > LANDMARKS["sadness"][0] and LANDMARKS["anger"][1] > LANDMARKS["neutral"][1]
    assert landmark_targets(np.array([1, 2])).tolist() == [list(map(np.float32, LANDMARKS["joy"])),
                                                           list(map(np.float32, LANDMARKS["sadness"]))]
    assert nearest_category(0.9, 0.6) == "joy" and nearest_category(-0.1, -0.6) == "neutral"


def test_ridge_recovers_a_linear_map_and_weights_count():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5)) * [1, 10, 0.1, 1, 1]
    y = np.stack([0.3 * x[:, 0] - 0.02 * x[:, 1], 2.0 * x[:, 2] + 0.1], 1)
    w, b = ridge(x, y, None, 1e-6)
    assert np.allclose(x @ w.T + b, y, atol=1e-3)
    # rows with weight ~0 do not pull the fit
    y_bad = y.copy()
    y_bad[:50] += 5
    weights = np.r_[np.full(50, 1e-9), np.ones(350)]
    w2, b2 = ridge(x, y_bad, weights, 1e-6)
    assert np.allclose(x[50:] @ w2.T + b2, y[50:], atol=1e-3)
    assert predict((w * 100, b), x).max() <= 1.0


def test_pearson_and_the_intensity_check(tmp_path):
    assert pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(np.corrcoef([1, 2, 3], [2, 4, 7])[0, 1])
    assert np.isnan(pearson([1, 1, 1], [1, 2, 3]))

    class Clip:
        def __init__(self, name, speaker="Actor_21"):
            self.path, self.speaker = tmp_path / name, speaker
    # emotion 05 (angry) normal and strong, and a neutral (01) the check leaves out
    clips = [Clip("03-01-05-01-01-01-21.flac"), Clip("03-01-05-02-01-01-21.flac"), Clip("03-01-05-01-02-01-21.flac"),
             Clip("03-01-05-02-02-01-21.flac"), Clip("03-01-01-01-01-01-21.flac")]
    out = intensity_check(np.array([0.1, 0.5, 0.2, 0.3, 0.9]), clips)
    assert out["clips"] == 4 and out["auc"] == pytest.approx(1.0)
    assert out["mean_arousal_normal"] == pytest.approx(0.15) and out["mean_arousal_strong"] == pytest.approx(0.4)


def test_emobank_and_lexicon_readers_on_tiny_files(tmp_path):
    (tmp_path / "text" / "emobank").mkdir(parents=True)
    (tmp_path / "text" / "emobank" / "emobank.csv").write_text(
        'id,split,V,A,D,text\na,train,4.0,2.0,3.0,"I love it"\nb,test,1.0,5.0,3.0,Awful!\nc,train,3.0,3.0,3,  \n')
    data = read_emobank(tmp_path, "train")
    assert data.text == ["I love it"] and data.va.tolist() == [[0.5, -0.5]]
    (tmp_path / "lexicons" / "nrc_vad").mkdir(parents=True)
    (tmp_path / "lexicons" / "nrc_vad" / "NRC-VAD-Lexicon.txt").write_text(
        "Word\tValence\tArousal\tDominance\nlove\t1.000\t0.519\t0.673\nawful\t0.050\t0.700\t0.300\n")
    lex = read_nrc_vad(tmp_path)
    assert lex["love"] == (pytest.approx(1.0), pytest.approx(0.038))
    va = lexicon_va(["I love it, awful", "nothing here"], lex)
    assert va[0].tolist() == pytest.approx([(1.0 - 0.9) / 2, (0.038 + 0.4) / 2], abs=1e-6) and va[1].tolist() == [0, 0]
    with pytest.raises(FileNotFoundError, match="EmoBank not found"):
        read_emobank(tmp_path / "nowhere", "train")


def test_shipped_heads_load_and_read_every_modality(recognizer):
    if not (WEIGHTS / "affect.pt").exists():
        pytest.fail("agf_core/weights/affect.pt is missing: python -m agf_core.training.affect_recipe")
    assert recognizer.affect is not None and set(recognizer.affect.modalities) == {"text", "audio", "video"}
    happy = recognizer.predict(text="This is the best day of my life, I am so happy!")
    sad = recognizer.predict(text="My dog died this morning and I can't stop crying.")
    assert happy.valence > sad.valence and set(happy.per_modality_affect) == {"text"}
    assert -1 <= sad.valence <= 1 and -1 <= sad.arousal <= 1


def test_text_heads_correlate_with_emobank_test(recognizer, data_root):
    """The shipped text head on 300 EmoBank test sentences: valence r well above chance (full figure: report)."""
    data = read_emobank(data_root, "test")
    h, _ = recognizer.branches[0].batch(data.text[:300])
    per = np.array([[v for v in recognizer.affect.read({"text": e})["text"]] for e in h])
    assert pearson(per[:, 0], data.va[:300, 0]) > 0.4
