"""The fusion family (early, late, MulT, graph, contrastive, AGF, evidence AGF, hierarchical): tiny configs,
offline; one data test on the real aligned bed (skips without ../shared/data and the voice run)."""
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from agf_core import checkpoint
from agf_core.labels import MODALITIES, NUM_EMOTIONS
from agf_core.models.variants import build, check_variant, family_config, from_checkpoint, trainable_parameters
from agf_core.training.fusion.family import MEMBERS, STRATEGIES
from agf_core.training.fusion.sequences import resample

DIMS = (6, 5, 4)
STEPS = {"text": 3, "audio": 4, "video": 1}     # words and audio frames as sequences, the face one vector
MASK = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1]], dtype=torch.bool)


def _inputs(seed=0, b=len(MASK)):
    g = torch.Generator().manual_seed(seed)
    h = {m: torch.randn(b, STEPS[m], d, generator=g) if STEPS[m] > 1 else torch.randn(b, d, generator=g)
         for m, d in zip(MODALITIES, DIMS)}
    logp = {m: torch.randn(b, NUM_EMOTIONS, generator=g).log_softmax(-1) for m in MODALITIES}
    return h, logp, MASK.clone(), torch.zeros(b, 3, dtype=torch.long)


def _model(name):
    torch.manual_seed(0)
    if name == "hierarchical":
        parts = tuple(family_config(m, DIMS) for m in MEMBERS)
        return build(family_config(name, DIMS, parts)).eval()
    return build(family_config(name, DIMS)).eval()


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_builds_and_gives_logits_and_weights_over_the_present(name):
    logits, w = _model(name)(*_inputs())
    assert logits.shape == (len(MASK), NUM_EMOTIONS) and w.shape == (len(MASK), len(MODALITIES))
    assert torch.allclose(w.sum(-1), torch.ones(len(MASK)), atol=1e-5)
    assert (w[~MASK] == 0).all()


@pytest.mark.parametrize("name", STRATEGIES)
def test_an_absent_modality_cannot_change_the_output(name):
    model = _model(name)
    h, logp, mask, meta = _inputs()
    other_h, other_logp, _, _ = _inputs(seed=1)
    with torch.no_grad():
        before = model(h, logp, mask, meta)[0]
        for i, m in enumerate(MODALITIES):
            absent = ~mask[:, i]
            h[m][absent], logp[m][absent] = 100 * other_h[m][absent], other_logp[m][absent]
        after = model(h, logp, mask, meta)[0]
        changed = model(other_h, other_logp, mask, meta)[0]
    assert torch.allclose(before, after, atol=1e-5)
    assert not torch.allclose(before, changed, atol=1e-3)   # the present modalities do matter


def test_mult_attends_over_the_whole_sequence_and_the_others_read_its_mean():
    h, logp, mask, meta = _inputs()
    moved = {m: v.clone() for m, v in h.items()}
    moved["audio"][:, 1] += 1.0                 # a later audio frame changes ...
    moved["audio"][:, 2] -= 1.0                 # ... and another compensates: the mean stays
    with torch.no_grad():
        mult = _model("mult")
        assert not torch.allclose(mult(h, logp, mask, meta)[0][mask[:, 1]], mult(moved, logp, mask, meta)[0][mask[:, 1]])
        for name in ("early", "graph", "agf", "contrastive"):
            m = _model(name)
            assert torch.allclose(m(h, logp, mask, meta)[0], m(moved, logp, mask, meta)[0], atol=1e-5), name


def test_late_fusion_has_one_weight_per_modality_and_seven_biases():
    assert trainable_parameters(_model("late_learned")) == len(MODALITIES) + NUM_EMOTIONS


def test_hierarchical_trains_only_its_meta_level_over_frozen_members():
    model = _model("hierarchical")
    k = len(MEMBERS)
    assert trainable_parameters(model) == (len(MODALITIES) + k) * k + k + 1 + NUM_EMOTIONS
    assert all(not p.requires_grad for p in model.members.parameters())
    model.train()
    assert all(not m.training for m in model.members)


def test_contrastive_pretraining_pulls_the_modalities_of_one_row_together():
    torch.manual_seed(0)
    model = build(family_config("contrastive", (4, 4, 4)))
    z = torch.randn(64, 4)
    h = {"text": z, "audio": z @ torch.randn(4, 4), "video": torch.tanh(z)}   # three views of one latent
    mask, meta = torch.ones(64, 3, dtype=torch.bool), torch.zeros(64, 3, dtype=torch.long)
    optim = torch.optim.Adam(model.proj.parameters(), lr=1e-2)
    first = model.contrastive_loss(h, None, mask, meta).item()
    for _ in range(60):
        loss = model.contrastive_loss(h, None, mask, meta)
        optim.zero_grad(), loss.backward(), optim.step()
    assert loss.item() < 0.5 * first
    model.freeze_projections()
    assert all(not p.requires_grad for p in model.proj.parameters())
    with pytest.raises(ValueError, match="two modalities"):
        model.contrastive_loss(h, None, torch.tensor([[True, False, False]] * 4), meta[:4])


@pytest.mark.parametrize("bad", ["mlt", "MulT", "", "hierarchic"])
def test_an_unknown_variant_is_refused_in_one_line_naming_the_accepted(bad):
    with pytest.raises(ValueError) as e:
        check_variant(bad)
    msg = str(e.value)
    assert "\n" not in msg and repr(bad) in msg and all(v in msg for v in ("mult", "graph", "contrastive", "hierarchical"))
    assert check_variant("late") == "late_learned" and check_variant("adaptive") == "agf"


def test_the_cli_refuses_a_bad_variant_or_bed_in_one_line(tmp_path, capsys):
    from agf_core.training.train import main
    for argv, needle in ((["--variant", "mlt", "--bed", "aligned"], "'mlt'"), (["--variant", "mult", "--bed", "av"], "'av'"),
                         (["--variant", "late_average", "--bed", "aligned"], "not in the fusion family")):
        with pytest.raises(SystemExit) as e:
            main(["--task", "fusion", "--data-root", str(tmp_path), "--out", str(tmp_path / "o"),
                  "--voice", str(tmp_path), *argv])
        err = capsys.readouterr().err.strip().splitlines()
        assert e.value.code == 2 and len(err) == 1 and needle in err[0], err
    with pytest.raises(SystemExit, match="--bed"):
        main(["--task", "fusion", "--data-root", str(tmp_path), "--out", str(tmp_path / "o"), "--variant", "hierarchical"])


def _saved(name, tmp_path):
    model = _model(name)
    return model, checkpoint.load(checkpoint.save(tmp_path / f"{name}.pt", "fusion", asdict(model.config),
                                                  model.state_dict(), {"variant": name}), "fusion")


@pytest.mark.parametrize("name", ["graph", "hierarchical"])
def test_a_checkpoint_loads_back_and_another_variant_or_bed_is_refused(name, tmp_path):
    model, ck = _saved(name, tmp_path)
    loaded = from_checkpoint(ck, name, DIMS)
    with torch.no_grad():
        assert torch.allclose(model(*_inputs())[0], loaded(*_inputs())[0])
    with pytest.raises(ValueError, match=f"holds variant '{name}', not 'mult'"):
        from_checkpoint(ck, "mult")
    with pytest.raises(ValueError, match="trained on another bed"):
        from_checkpoint(ck, name, (7, 7, 7))


def test_resample_averages_equal_stretches_and_repeats_short_sequences():
    x = np.arange(8, dtype=np.float32)[:, None]                                 # (8, 1)
    assert resample(x, 4)[:, 0].tolist() == [0.5, 2.5, 4.5, 6.5]
    assert resample(x[:2], 4)[:, 0].tolist() == [0.0, 0.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        resample(x[:0], 4)


VOICE = Path.home() / ".cache" / "agf" / "runs" / "voice2"


def test_on_the_real_aligned_bed_fusion_beats_each_modality(data_root):
    """RAVDESS face + voice of the same clip, actors 21-24 never seen: the shipped fusion file, and the same
    strategy trained here on actors 1-16, both beat the better branch alone."""
    if not (VOICE / "loco_outputs.npz").exists():
        pytest.skip(f"no voice run at {VOICE} (python -m agf_core.training.voice_recipe)")
    from agf_core.training.fusion.beds import aligned_bed
    from agf_core.training.fusion.family import FamilyOptions, train_strategy, score
    from agf_core.training.fusion.family_report import branch_alone, shipped_rows
    bed = aligned_bed(str(data_root), VOICE)
    assert len(bed.fit) == 960 and len(bed.select) == 240
    test = bed.test["RAVDESS actors 21-24"]
    assert set(test.info["actor"]) == {21, 22, 23, 24} and not set(bed.fit.info["actor"]) & {17, 18, 19, 20, 21, 22, 23, 24}
    best_single = max(branch_alone(bed)["RAVDESS actors 21-24"].values())
    assert shipped_rows(bed, checkpoint.WEIGHTS / "fusion.pt")["RAVDESS actors 21-24"]["audio+video"] > best_single
    model, _ = train_strategy("agf_evidence", bed, 0, FamilyOptions(epochs=40))
    assert 100 * score(model, bed)["RAVDESS actors 21-24"]["audio+video"]["accuracy"] > best_single


def _runs(variant, dropout, correct_by_test):
    return [{"variant": variant, "modality_dropout": dropout, "seed": s,
             "test": {t: {"audio+video" if t == "av" else "text+audio+video": {"correct": c}} for t, c in correct_by_test.items()}}
            for s in range(3)]


def _table(results):
    table = {}
    for r in results:
        key = f"{r['variant']}|{'drop' if r['modality_dropout'] else 'nodrop'}"
        for t, rows in r["test"].items():
            full = next(iter(rows))
            table.setdefault(t, {})[key] = {"all_present": full, full: {"mean": 100 * float(np.mean(rows[full]["correct"]))}}
    return table


def test_the_shipped_strategy_changes_only_on_a_clear_gain_without_a_loss_elsewhere():
    from agf_core.training.fusion.family_report import ship_decision
    rng = np.random.default_rng(0)
    ref = rng.random(240) < 0.55
    words = {"meld": rng.random(500) < 0.6, "emory": rng.random(500) < 0.45}
    shipped = _runs("agf_evidence", False, {"av": ref, **words})
    noisy = ref.copy()
    noisy[:6] = True                                   # +2.5 pt at most: within the noise of 240 clips
    clear = ref | (rng.random(240) < 0.4)              # many more right, none lost
    worse_words = {"meld": words["meld"] & (rng.random(500) < 0.9), "emory": words["emory"]}
    results = (shipped + _runs("graph", True, {"av": noisy, **words}) + _runs("mult", False, {"av": clear, **words})
               + _runs("early", True, {"av": clear, **worse_words}))
    decision = ship_decision(results, _table(results))
    assert decision["winners"] == ["mult|nodrop"] and decision["ships"] == "mult"
    assert decision["gains"]["early|drop"]["aligned_gain_ci95"][0] > 0          # it wins on faces + voices ...
    assert min(decision["gains"]["early|drop"]["words_gain"].values()) < -0.5   # ... but loses on words
    results = shipped + _runs("graph", True, {"av": noisy, **words})
    assert ship_decision(results, _table(results))["ships"] == "agf_evidence"


def test_a_bed_without_the_modalities_a_strategy_needs_is_refused():
    from agf_core.training.fusion.beds import Bed
    from agf_core.training.fusion.family import train_strategy
    from agf_core.training.fusion.pools import FusionSet
    n = 8
    s = FusionSet({m: np.zeros((n, d), np.float32) for m, d in zip(MODALITIES, DIMS)},
                  {m: np.zeros((n, NUM_EMOTIONS), np.float32) for m in MODALITIES},
                  np.tile([False, True, False], (n, 1)), np.zeros((n, 3), int), np.arange(n) % NUM_EMOTIONS,
                  {"bed": np.full(n, "x")})
    with pytest.raises(ValueError, match=r"only \('audio',\); contrastive needs two modalities"):
        train_strategy("contrastive", Bed("voice-only", s, s, {"t": s}, ("audio",)), 0)


def test_the_report_takes_in_the_few_shot_and_distillation_tables_when_they_exist(tmp_path):
    from agf_core.training.fusion.family_report import extra_sections
    assert extra_sections(tmp_path) == ([], {})
    (tmp_path / "fusion_fewshot.md").write_text("# Few-shot\n\n## k = 5\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    (tmp_path / "fusion_distill.json").write_text('{"student": 0.5}')
    md, js = extra_sections(tmp_path)
    assert md[0] == "## Few-shot (from reports/fusion_fewshot.md)" and "### k = 5" in md and "| 1 | 2 |" in md
    assert js == {"distill": {"student": 0.5}}
