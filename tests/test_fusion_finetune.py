"""The fusion's fine-tuning phase (agf_core/fusion_finetune.py) over the shipped branches, no data needed:
before training the tops compute exactly what the branches do, only the tops and the fusion move, a
fine-tuned checkpoint puts its tops into the recognizer's branches, and bad calls are refused."""
import shutil

import numpy as np
import pytest
import torch

from agf_core import EmotionRecognizer, checkpoint
from agf_core.inputs.audio import to_mono_16k
from agf_core.training.corruption import add_noise
from agf_core.checkpoint import WEIGHTS
from agf_core.training.fusion.pools import Branches
from agf_core.training.fusion.finetune import BranchTops, FineTunedFusion, apply_tops, finetune_fusion, load_finetuned
from agf_core.models.variants import VariantConfig, build
from agf_core.labels import MODALITIES, NUM_EMOTIONS
from agf_core.training.train import main as train_main

pytestmark = pytest.mark.skipif(not (WEIGHTS / "fusion.pt").exists(), reason="no fusion.pt shipped")
# The phase fine-tunes the frame-level voice (AudioBranch) and the embedding-level fusion shipped before session
# 11; it is kept for them, read back from git history when the checkout has it.
EARLIER = "b9d2c22"


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    import subprocess
    folder = tmp_path_factory.mktemp("frame_level")
    for name in ("text.pt", "audio.pt", "video.pt", "fusion.pt", "SHA256SUMS"):
        got = subprocess.run(["git", "show", f"{EARLIER}:agf_core/weights/{name}"], cwd=WEIGHTS.parent.parent,
                             capture_output=True)
        if got.returncode:
            pytest.skip(f"no git history here to read the pre-session-11 {name} from")
        (folder / name).write_bytes(got.stdout)
    return folder


@pytest.fixture(scope="module")
def branches(earlier):
    return Branches.load(earlier)


def test_fine_tuning_refuses_the_utterance_level_voice_with_a_clear_message():
    with pytest.raises(ValueError, match="needs a frame-level audio.pt"):
        BranchTops(Branches.load())


@pytest.fixture(scope="module")
def wave(speech):
    return to_mono_16k(speech)


def _windows(n=3):
    return np.random.default_rng(0).integers(0, 256, (n, 8, 48, 48)).astype(np.uint8)


def test_tops_compute_what_the_branches_compute_before_fine_tuning(branches, wave):
    tops = BranchTops(branches)
    with torch.no_grad():
        h, lp = tops.one("audio", torch.from_numpy(branches.audio.trunk(wave))[None])
        want_h, want_lp = branches.audio.logp(wave)
        np.testing.assert_allclose(h[0].numpy(), want_h, atol=1e-5)
        np.testing.assert_allclose(lp[0].numpy(), want_lp, atol=1e-4)

        w = _windows()
        g = branches.video.window_trunks(w)                                   # (3, 8, 2, C)
        assert g.shape[:3] == (3, 8, 2)
        h, lp = tops.one("video", torch.from_numpy(g.reshape(3, -1)))
        want_h, want_lp = branches.video.windows(w)
        np.testing.assert_allclose(h.numpy(), want_h, atol=1e-5)
        np.testing.assert_allclose(lp.numpy(), want_lp, atol=1e-5)

        texts = ["I am so happy today!", "Leave me alone."]
        h, lp = tops.one("text", torch.from_numpy(branches.text.encodings(texts)))
        want_h, want_lp = branches.text.batch(texts)
        np.testing.assert_allclose(h.numpy(), want_h, atol=1e-5)
        np.testing.assert_allclose(lp.numpy(), want_lp, atol=1e-5)
    with pytest.raises(ValueError, match="unknown modality 'smell'"):
        tops.one("smell", torch.zeros(1, 4))


def test_apply_tops_turns_trunk_pools_into_the_branches_pools(branches, wave):
    # what the fusion study scores a fine-tuned run on: every pool array keeps its leading (condition, row) axes
    waves = [wave, add_noise(wave, 5.0, np.random.default_rng(0))]
    texts = ["I am so happy today!", "Leave me alone."]
    w = _windows(3)
    trunks = {"speech": {"y": np.arange(2), "audio_h": np.stack([np.stack([branches.audio.trunk(x) for x in waves])] * 2),
                         "text_h": np.stack([branches.text.encodings(texts)] * 2)},
              "text": {"h": np.stack([branches.text.encodings(texts[::-1]), branches.text.encodings(texts)])},
              "face": {"h": branches.video.window_trunks(w).reshape(3, -1),
                       "corrupt_h": branches.video.window_trunks(w[:2]).reshape(1, 2, -1)}}
    pools = apply_tops(BranchTops(branches), trunks)
    assert pools["speech"]["y"] is trunks["speech"]["y"]
    assert pools["speech"]["audio_h"].shape == (2, 2, 256) and pools["face"]["corrupt_logp"].shape == (1, 2, 7)
    np.testing.assert_allclose(pools["speech"]["audio_logp"][1, 1], branches.audio.logp(waves[1])[1], atol=1e-4)
    np.testing.assert_allclose(pools["text"]["h"][0], branches.text.batch(texts[::-1])[0], atol=1e-5)
    np.testing.assert_allclose(pools["face"]["corrupt_h"][0], branches.video.windows(w[:2])[0], atol=1e-5)
    np.testing.assert_allclose(pools["face"]["logp"], branches.video.windows(w)[1], atol=1e-5)
    h, lp = branches.video.windows(np.zeros((0, 8, 48, 48), np.uint8))   # no windows: empty, not a crash
    assert h.shape == (0, 256) and lp.shape == (0, 7)


def test_only_the_tops_and_the_fusion_move(branches):
    model = FineTunedFusion(BranchTops(branches), build(VariantConfig.of("agf_logit")))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any(n.startswith("tops.audio.embed") for n in trainable)
    assert any(n.startswith("tops.video.head") for n in trainable)
    assert any(n.startswith("tops.text.") for n in trainable) and any(n.startswith("fusion.") for n in trainable)
    assert not [n for n in trainable if n.startswith(("tops.audio.proj", "tops.audio.attn", "tops.video.stages"))]
    model.train()
    assert model.fusion.training and not model.tops.training   # the branches' dropout and BatchNorm stay as trained

    before_branch = branches.audio.net.embed[1].weight.clone()
    before_top = model.tops.audio.embed[1].weight.clone()
    b = 4
    x = {"text": torch.randn(b, branches.text.head.config.input_dim), "audio": torch.randn(b, branches.audio.net.embed[1].in_features),
         "video": torch.randn(b, 8 * 2 * 256)}
    logp = {m: torch.zeros(b, NUM_EMOTIONS) for m in MODALITIES}
    mask, meta = torch.ones(b, 3, dtype=torch.bool), torch.zeros(b, 3, dtype=torch.long)
    y = torch.arange(b)
    loss = torch.nn.functional.cross_entropy(model(x, logp, mask, meta)[0], y) + model.gate_loss(x, logp, mask, meta, y)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss.backward()
    opt.step()
    assert not torch.equal(model.tops.audio.embed[1].weight, before_top)
    assert torch.equal(branches.audio.net.embed[1].weight, before_branch)  # the loaded branches are copies' sources only


def test_a_finetuned_checkpoint_puts_its_tops_into_the_recognizers_branches(tmp_path, branches, wave, earlier):
    recognizer = EmotionRecognizer.from_pretrained(earlier)
    for name in ("text.pt", "audio.pt", "video.pt"):
        shutil.copy(earlier / name, tmp_path / name)
    ck = checkpoint.load(earlier / "fusion.pt", "fusion")
    tops = BranchTops(branches)
    with torch.no_grad():
        tops.audio.out[1].bias[0] += 5.0                                     # a top that now favours neutral
    checkpoint.save(tmp_path / "fusion.pt", "fusion", ck["config"], ck["state_dict"],
                    {**ck["meta"], "variant": "agf_logit_ensemble_finetuned"}, extra={"branch_tops": tops.state_dict()})
    tuned = EmotionRecognizer.from_pretrained(tmp_path)
    assert tuned.fusion.startswith("agf_logit_ensemble_finetuned")
    with torch.no_grad():
        _, want = tops.one("audio", torch.from_numpy(branches.audio.trunk(wave))[None])
    got = tuned.audio((16000, wave)).probs
    np.testing.assert_allclose(got, want[0].exp().numpy(), atol=1e-5)
    assert got[0] > recognizer.audio((16000, wave)).probs[0] + 0.1
    model, loaded = load_finetuned(tmp_path / "fusion.pt", branches)
    assert torch.equal(model.tops.audio.out[1].bias, tops.audio.out[1].bias)


def test_fine_tuning_refuses_what_it_cannot_start_from(tmp_path, branches, earlier):
    with pytest.raises(ValueError, match="no fine-tuned branch tops"):
        load_finetuned(earlier / "fusion.pt", branches)
    ck = checkpoint.load(earlier / "fusion.pt", "fusion")
    done = checkpoint.save(tmp_path / "done.pt", "fusion", ck["config"], ck["state_dict"], ck["meta"],
                           extra={"branch_tops": BranchTops(branches).state_dict()})
    other = checkpoint.save(tmp_path / "other.pt", "fusion", ck["config"], ck["state_dict"],
                            {**ck["meta"], "branches": {**ck["meta"]["branches"], "video": "0" * 64}},
                            extra={"branch_tops": BranchTops(branches).state_dict()})
    with pytest.raises(ValueError, match="trained over other .* checkpoint"):
        load_finetuned(other, branches)
    with pytest.raises(ValueError, match="already fine-tuned"):
        finetune_fusion(str(tmp_path), tmp_path / "out", done, branches=branches)
    with pytest.raises(ValueError, match="fit_on 'test' is not accepted"):
        finetune_fusion(str(tmp_path), tmp_path / "out", earlier / "fusion.pt", branches=branches, fit_on="test")
    base = ["--data-root", str(tmp_path), "--out", str(tmp_path / "runs")]
    with pytest.raises(SystemExit, match="needs --init"):
        train_main(["--task", "fusion", "--finetune", *base])
    with pytest.raises(SystemExit, match="drop --variant and --seeds"):
        train_main(["--task", "fusion", "--finetune", "--init", str(earlier / "fusion.pt"), "--seeds", "0", "1", *base])
    with pytest.raises(SystemExit, match="only accepted with --task video or --task fusion --finetune"):
        train_main(["--task", "audio", "--init", str(earlier / "fusion.pt"), *base])
    with pytest.raises(SystemExit, match="is not a file"):
        train_main(["--task", "fusion", "--finetune", "--init", str(tmp_path / "nope.pt"), *base])
