import json
from dataclasses import replace

import numpy as np

from agf_core import checkpoint
from agf_core.training import speech_recipe
from agf_core.branches import AudioBranch
from agf_core.training.speech_features import SpeechSet
from agf_core.training.speech_recipe import SPEECH_DEFAULTS, SpeechRecipe, train_speech


def fake_set(data_root, corpus, split, encoder, copies=0, augment=None, seed=0):
    """Random 390-D frames whose mean encodes the label, so a few steps learn something."""
    rng = np.random.default_rng(len(corpus) * 10 + len(split))
    n, speakers = (40, ["OAF", "YAF"]) if corpus == "tess" else (24, ["A", "B"])
    y = rng.integers(0, 4, n)
    seqs = [(rng.normal(size=(int(rng.integers(5, 30)), 390)) + label).astype(np.float32) for label in y]
    return SpeechSet(seqs, y.astype(np.int64), np.array([speakers[i % 2] for i in range(n)]),
                     np.zeros(n, int), corpus)


def test_train_speech_writes_a_resumable_audio_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(speech_recipe, "speech_set", fake_set)
    recipe = SpeechRecipe(train_specs=("ravdess", "tess:OAF", "urdu"), steps_per_epoch=3)
    opts = replace(SPEECH_DEFAULTS, epochs=2, batch_size=6)
    best = train_speech("unused", tmp_path, opts, recipe)
    assert set(best) >= {"score", "dev_ravdess_accuracy", "dev_urdu_accuracy", "epoch"}
    ck = checkpoint.load(tmp_path / "best.pt", "audio")
    assert ck["meta"]["train_specs"] == ["ravdess", "tess:OAF", "urdu"]
    assert ck["config"]["encoder"]["frontend"] == "whisper_prosody" and ck["config"]["net"]["input_dim"] == 390
    branch = AudioBranch(tmp_path / "best.pt")       # loads as the shipped branch does
    assert branch.mean.shape == (390,)
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 2
    assert train_speech("unused", tmp_path, opts, recipe) == json.loads(json.dumps(best))   # resumes: done


def test_mixup_and_corpus_adversary_train_and_are_left_out_of_the_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(speech_recipe, "speech_set", fake_set)
    recipe = SpeechRecipe(train_specs=("ravdess", "urdu"), steps_per_epoch=3, mixup=0.4, adversary=0.5)
    train_speech("unused", tmp_path, replace(SPEECH_DEFAULTS, epochs=1, batch_size=6), recipe)
    state = checkpoint.load(tmp_path / "best.pt")["state_dict"]
    assert not any(k.startswith("adversary.") for k in state)
    AudioBranch(tmp_path / "best.pt")                  # loads strictly


def test_no_dev_corpus_keeps_the_last_epoch(tmp_path, monkeypatch):
    monkeypatch.setattr(speech_recipe, "speech_set", fake_set)
    best = train_speech("unused", tmp_path, replace(SPEECH_DEFAULTS, epochs=3, batch_size=4),
                        SpeechRecipe(train_specs=("tess",), steps_per_epoch=2))
    assert best["epoch"] == 3
    assert checkpoint.load(tmp_path / "best.pt")["meta"]["selection"] == "last epoch (no dev split)"


def test_average_frames_ignores_padding():
    import torch

    from agf_core.models.audio import AudioNet, AudioNetConfig, average_frames, pad_frames
    x, mask = pad_frames([np.arange(10, dtype=np.float32).reshape(5, 2), np.ones((2, 2), np.float32)])
    y, m = average_frames(x, mask, 2)                                       # (2, 3, 2), (2, 3)
    assert y.shape == (2, 3, 2) and m.tolist() == [[True, True, True], [True, False, False]]
    assert y[0, :, 0].tolist() == [1.0, 5.0, 8.0] and y[1, 0].tolist() == [1.0, 1.0]
    net = AudioNet(AudioNetConfig(input_dim=2, channels=8, hidden=4, frame_stride=2)).eval()
    with torch.no_grad():   # padding a clip does not change its output
        a = net(*pad_frames([np.ones((5, 2), np.float32)]))[1]
        b = net(*pad_frames([np.ones((5, 2), np.float32), np.ones((9, 2), np.float32)]))[1][:1]
    assert torch.allclose(a, b, atol=1e-5)
