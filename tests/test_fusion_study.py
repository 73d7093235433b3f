"""The fusion study's parts on synthetic pools (no data needed): variants, test-bed construction,
corruptions and personalisation."""
import math
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from agf_core.training.corruption import (AUDIO_CONDITIONS, FACE_CORRUPTIONS, add_noise, asr_errors, corrupt_window,
                                 degrade_audio, jitter_window)
from agf_core.training.fusion.pools import drop_modalities, ravdess_set, training_set, tuple_set
from agf_core.training.fusion.recipe import fit_temperatures, predict
from agf_core import checkpoint
from agf_core.training.fusion.pools import Branches
from agf_core.training.fusion.recipe import assemble_ensemble
from agf_core.models.variants import VARIANTS, FusionEnsemble, VariantConfig, build, trainable_parameters
from agf_core.training.metrics import ece_noise_floor, expected_calibration_error
from agf_core.labels import MODALITIES, NUM_EMOTIONS
from agf_core.calibration import Temperatures
from agf_core.training.fusion.pools import half_pools
from agf_core.personalization import (Correction, Personalization, PersonalizationOptions, fit_biases,
                                      personal_logits, stack)

D = 256


def _onehot_logp(y: np.ndarray) -> np.ndarray:
    """Log-probabilities that put 0.9 on the label, so a row's origin can be read back from it."""
    p = np.full((len(y), NUM_EMOTIONS), 0.1 / (NUM_EMOTIONS - 1), np.float32)
    p[np.arange(len(y)), y] = 0.9
    return np.log(p)


@pytest.fixture(scope="module")
def pools():
    rng = np.random.default_rng(0)
    n_text, n_clip, n_face, c = 70, 42, 56, len(AUDIO_CONDITIONS)
    ty, sy, fy = (np.arange(n) % NUM_EMOTIONS for n in (n_text, n_clip, n_face))
    text = {"y": ty, "h": rng.normal(size=(2, n_text, D)).astype(np.float32),
            "logp": np.stack([_onehot_logp(ty)] * 2)}
    speech = {"y": sy, "actor": np.repeat(np.arange(1, 7), 7), "gender": np.arange(n_clip) % 2,
              "timbre": np.arange(n_clip) % 3, "audio_h": rng.normal(size=(c, n_clip, D)).astype(np.float32),
              "audio_logp": np.stack([_onehot_logp(sy)] * c), "text_h": rng.normal(size=(2, n_clip, D)).astype(np.float32),
              "text_logp": np.stack([_onehot_logp(np.zeros(n_clip, int))] * 2)}
    sub = np.arange(0, n_face, 2)
    face = {"y": fy, "h": rng.normal(size=(n_face, D)).astype(np.float32), "logp": _onehot_logp(fy),
            "corrupt_index": sub, "corrupt_h": rng.normal(size=(len(FACE_CORRUPTIONS), len(sub), D)).astype(np.float32),
            "corrupt_logp": np.stack([_onehot_logp(fy[sub])] * len(FACE_CORRUPTIONS))}
    return {"text": text, "speech": speech, "face": face}


def test_tuples_pair_examples_of_the_same_label(pools):
    s = tuple_set(pools["text"], pools["speech"], pools["face"], 300, np.random.default_rng(1),
                  audio_condition=None, face_corruption=None, text_noisy=None)
    assert s.mask.all() and len(s) == 300
    for m in MODALITIES:
        assert (s.logp[m].argmax(1) == s.y).all(), m
    assert set(np.unique(s.info["face_corruption"])) > {-1}
    assert set(np.unique(s.info["audio_condition"])) > {0}


def test_ravdess_rows_have_no_face_and_carry_the_speaker(pools):
    s = ravdess_set(pools["speech"], condition=3)
    assert not s.mask[:, 2].any() and s.mask[:, :2].all()
    assert (s.info["audio_condition"] == 3).all()
    assert (s.meta[:, 1] == pools["speech"]["gender"]).all()


def test_modality_dropout_keeps_at_least_one_modality(pools):
    base = training_set(pools, np.random.default_rng(2), 500)
    s = drop_modalities(base, np.random.default_rng(3), keep_all=0.0)
    assert s.mask.any(1).all()
    assert (s.mask.sum(1) < base.mask.sum(1)).mean() > 0.3
    assert not (s.mask & ~base.mask).any()  # dropout never adds a modality that was absent


def test_with_mask_rejects_rows_left_empty(pools):
    s = ravdess_set(pools["speech"])
    assert not s.with_mask(("audio",)).mask[:, 0].any()
    with pytest.raises(ValueError, match="none of"):
        s.with_mask(("video",))


def _inputs(b=5, mask=None):
    g = torch.Generator().manual_seed(0)
    h = {m: torch.randn(b, D, generator=g) for m in MODALITIES}
    logp = {m: torch.randn(b, NUM_EMOTIONS, generator=g).log_softmax(-1) for m in MODALITIES}
    mask = torch.ones(b, 3, dtype=torch.bool) if mask is None else mask
    return h, logp, mask, torch.zeros(b, 3, dtype=torch.long)


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_normalises_weights_over_present_modalities(name):
    torch.manual_seed(0)
    model = build(VariantConfig.of(name)).eval()
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=torch.bool)
    logits, w = model(*_inputs(mask=mask))
    assert logits.shape == (5, NUM_EMOTIONS)
    assert torch.allclose(w.sum(-1), torch.ones(5), atol=1e-6)
    assert (w[~mask] == 0).all()


def test_parameter_counts_of_the_baselines():
    assert trainable_parameters(build(VariantConfig.of("late_learned"))) == len(MODALITIES) + NUM_EMOTIONS == 10
    assert trainable_parameters(build(VariantConfig.of("late_average"))) == 0
    agf, nometa = build(VariantConfig.of("agf_logit")), build(VariantConfig.of("agf_nometa"))
    assert nometa.meta is None and agf.meta is not None
    assert trainable_parameters(agf) > trainable_parameters(nometa)


def test_late_average_is_the_mean_of_branch_probabilities():
    model = build(VariantConfig.of("late_average"))
    h, logp, mask, meta = _inputs()
    mask[:, 0] = False
    logits, _ = model(h, logp, mask, meta)
    expected = (logp["audio"].exp() + logp["video"].exp()) / 2
    assert torch.allclose(logits.softmax(-1), expected, atol=1e-5)


def test_the_design_gate_cannot_weight_one_modality_more_than_e_times_another():
    torch.manual_seed(0)
    model = build(VariantConfig.of("agf"))
    for lin in model.fusion.gates.values():
        torch.nn.init.normal_(lin.weight, std=5.0)
    with torch.no_grad():
        _, w = model(*_inputs(b=64))
    assert float((w.max(-1).values / w.min(-1).values).max()) <= math.e + 1e-4


def test_unknown_variant_is_rejected_with_the_accepted_names():
    with pytest.raises(ValueError, match="agf_logit"):
        VariantConfig.of("attention")


def test_temperature_fit_softens_an_overconfident_model(pools):
    torch.manual_seed(0)
    model = build(VariantConfig.of("late_learned"))
    with torch.no_grad():
        model.b.zero_()
    s = tuple_set(pools["text"], pools["speech"], pools["face"], 200, np.random.default_rng(4))
    s.logp["text"] = np.roll(s.logp["text"], 1, axis=1)  # a wrong but confident text branch
    s.logp["audio"] = np.roll(s.logp["audio"], 1, axis=1)
    t = fit_temperatures(model, s)
    assert t.default > 1.0 and set(t.by_subset) == {"text+audio+video"}
    assert (t.for_mask(np.array([[True, True, False]])) == t.default).all()
    p_raw, p_cal = predict(model, s)[0], predict(model, s, t)[0]
    assert p_cal.max(1).mean() < p_raw.max(1).mean()


def test_corruptions_do_what_they_say():
    rng = np.random.default_rng(0)
    x = np.sin(np.linspace(0, 400, 16000)).astype(np.float32)
    noisy = add_noise(x, 10.0, rng)
    snr = 10 * np.log10(np.mean(x ** 2) / np.mean((noisy - x) ** 2))
    assert abs(snr - 10) < 0.5
    assert np.abs(degrade_audio(x, "silence", rng)).max() < 0.01
    assert degrade_audio(x, None, rng) is x
    with pytest.raises(ValueError, match="unknown audio condition"):
        degrade_audio(x, "loud", rng)
    assert asr_errors("one two three", 0.0, rng) == "one two three"
    assert asr_errors("one two three four five six", 1.0, rng) != "one two three four five six"
    with pytest.raises(ValueError, match="rate 1.5"):
        asr_errors("a", 1.5, rng)
    img = (np.arange(48 * 48).reshape(48, 48) % 256).astype(np.uint8)
    win = jitter_window(img, rng)
    assert win.shape == (8, 48, 48) and win.dtype == np.uint8 and not (win[0] == win[1]).all()
    assert corrupt_window(win, "blank", rng).std() < 10
    assert corrupt_window(win, "blurred", rng).std() < win.std()
    with pytest.raises(ValueError, match="occluded"):
        corrupt_window(win, "rain", rng)


def _correction(rng, label, present=("text", "audio")):
    return Correction({m: rng.normal(size=D).astype(np.float32) for m in present},
                      {m: np.log(np.full(NUM_EMOTIONS, 1 / NUM_EMOTIONS, np.float32)) for m in present},
                      np.array([4, 2, 3]), label)


def test_corrections_move_the_prediction_towards_what_the_user_felt():
    torch.manual_seed(0)
    model = build(VariantConfig.of("agf_logit")).eval()
    rng = np.random.default_rng(0)
    corrections = [_correction(rng, 4) for _ in range(6)]
    gate, cls = fit_biases(model, corrections, PersonalizationOptions(l2=0.01))
    assert cls.argmax() == 4 and gate.shape == (3,)


def test_personalisation_stays_within_its_session():
    torch.manual_seed(0)
    model = build(VariantConfig.of("agf_logit")).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(0)
    alice, bob = Personalization(), Personalization()
    probe = stack([_correction(rng, 0)])[:4]
    with torch.no_grad():
        bob_before = personal_logits(model, *probe, bob)[0]
    with torch.no_grad():  # as in the live path: fitting must work, and touch only alice's biases
        for _ in range(3):
            alice.add(_correction(rng, 2), model)
    assert alice.active and not bob.active
    assert np.all(bob.class_bias == 0) and alice.class_bias.argmax() == 2
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():
        assert torch.equal(personal_logits(model, *probe, bob)[0], bob_before)
        assert not torch.equal(personal_logits(model, *probe, alice)[0], bob_before)
    alice.reset()
    assert not alice.active and np.all(alice.class_bias == 0)
    with pytest.raises(ValueError, match="correction label 9"):
        bob.add(_correction(rng, 9), model)


def test_a_lone_modality_passes_through_its_branch_and_keeps_its_probabilities():
    torch.manual_seed(0)
    model = build(VariantConfig.of("agf_logit")).eval()
    mask = torch.tensor([[0, 1, 0], [1, 1, 0]], dtype=torch.bool)
    h, logp, _, meta = _inputs(b=2, mask=mask)
    with torch.no_grad():
        logits, w = model(h, logp, mask, meta)
    assert torch.allclose(logits[0], logp["audio"][0]) and not torch.allclose(logits[1], logp["audio"][1])
    temps = Temperatures(2.0, {"text+audio": 3.0}, passthrough=True)
    assert temps.for_mask(mask.numpy()).tolist() == [1.0, 3.0]
    assert Temperatures(2.0).for_mask(np.array([[False, True, False]])).tolist() == [2.0]


def test_gate_loss_pushes_an_always_wrong_branch_down():
    torch.manual_seed(0)
    model = build(VariantConfig.of("agf_logit"))
    h, logp, mask, meta = _inputs(b=64)
    y = logp["audio"].argmax(-1)                   # audio always right, text always wrong
    logp["text"] = torch.roll(logp["audio"], 1, dims=-1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(50):
        loss = model.gate_loss(h, logp, mask, meta, y)
        opt.zero_grad(), loss.backward(), opt.step()
    with torch.no_grad():
        _, w = model(h, logp, mask, meta)
    assert float(w[:, 1].mean()) > float(w[:, 0].mean())


def test_half_pools_are_disjoint_and_keep_corrupted_faces_aligned(pools):
    fit, sel = half_pools(pools, "fit"), half_pools(pools, "select")
    assert len(fit["face"]["y"]) + len(sel["face"]["y"]) == len(pools["face"]["y"])
    for half in (fit, sel):
        f = half["face"]
        assert (f["corrupt_index"] < len(f["y"])).all()
        # a corrupted window has the label of the clean row it points at
        assert (f["corrupt_logp"][0].argmax(1) == f["y"][f["corrupt_index"]]).all()
    with pytest.raises(ValueError, match="part 'all'"):
        half_pools(pools, "all")


def test_bad_masks_are_refused_with_what_is_accepted():
    model = build(VariantConfig.of("agf"))
    h, logp, mask, meta = _inputs(b=2)
    with pytest.raises(ValueError, match="must be a bool"):
        model(h, logp, mask.float(), meta)
    with pytest.raises(ValueError, match="must be a bool"):
        model(h, logp, mask[0], meta)
    with pytest.raises(ValueError, match="must be a bool"):
        build(VariantConfig.of("early"))(h, logp, torch.zeros(2, 3, dtype=torch.bool), meta)


def test_an_ensemble_averages_its_members_and_keeps_the_interface():
    torch.manual_seed(0)
    config = replace(VariantConfig.of("agf_logit"), members=3)
    model = build(config).eval()
    assert isinstance(model, FusionEnsemble) and len(model.members) == 3
    assert trainable_parameters(model) == 3 * trainable_parameters(model.members[0])
    mask = torch.tensor([[1, 1, 1], [0, 1, 0], [1, 0, 1]], dtype=torch.bool)
    inputs = _inputs(b=3, mask=mask)
    with torch.no_grad():
        logits, w = model(*inputs)
        outs = [m(*inputs) for m in model.members]
    expected = torch.stack([z.log_softmax(-1) for z, _ in outs]).mean(0)
    assert torch.allclose(logits, expected, atol=1e-6)
    assert torch.allclose(w, torch.stack([a for _, a in outs]).mean(0)) and (w[~mask] == 0).all()
    assert torch.allclose(logits[1], inputs[1]["audio"][1], atol=1e-6)  # a lone modality still passes through
    # a user's biases reach every member: personalisation works on an ensemble as on one model
    user = Personalization(PersonalizationOptions(knn_weight=0.0))
    rng = np.random.default_rng(0)
    for _ in range(4):
        user.add(_correction(rng, 3), model)
    assert float(user.class_bias[3]) > 0
    with pytest.raises(ValueError, match="at least 2 members"):
        FusionEnsemble([model.members[0]])


def test_assembling_an_ensemble_refuses_mixed_or_lone_members(tmp_path):
    paths = []
    for i, name in enumerate(("agf_logit", "agf_logit", "early")):
        m = build(VariantConfig.of(name))
        paths.append(checkpoint.save(tmp_path / f"{i}.pt", "fusion", asdict(m.config),
                                     m.state_dict(), {"branches": {"text": "a"}}))
    branches = Branches(None, None, None, {"text": "a"})
    with pytest.raises(ValueError, match="one variant"):
        assemble_ensemble("unused", paths, tmp_path / "e.pt", branches)
    with pytest.raises(ValueError, match="at least 2 members"):
        assemble_ensemble("unused", paths[:1], tmp_path / "e.pt", branches)
    with pytest.raises(ValueError, match="trained over other .* checkpoint"):
        assemble_ensemble("unused", paths[:2], tmp_path / "e.pt", Branches(None, None, None, {"text": "b"}))


def test_ece_noise_floor_is_what_calibrated_models_measure_and_shrinks_with_more_rows():
    rng = np.random.default_rng(0)

    def probs_of(n):
        conf = rng.uniform(0.3, 0.95, n)
        probs = np.tile(((1 - conf) / (NUM_EMOTIONS - 1))[:, None], (1, NUM_EMOTIONS))
        probs[:, 0] = conf
        return probs
    small, big = probs_of(240), probs_of(20_000)
    floor_small, floor_big = ece_noise_floor(small, rng, 300), ece_noise_floor(big, rng, 30)
    # label sets that are right exactly as often as they are confident measure, on average, the floor
    measured = [expected_calibration_error(np.where(rng.random(240) < small[:, 0], 0, 1), small) for _ in range(300)]
    assert abs(np.mean(measured) - floor_small["mean"]) < 0.01
    assert floor_small["p5"] < floor_small["mean"] < floor_small["p95"]
    assert floor_big["mean"] < floor_small["mean"] / 3
    right_half_the_time = np.arange(240) % 2  # at a mean confidence of 0.62: over-confident
    assert expected_calibration_error(right_half_the_time, small) > floor_small["p95"]


def test_oracle_temperature_softens_an_overconfident_model_and_never_does_worse_than_none():
    from agf_core.training.fusion.report import oracle_temperature_ece
    rng = np.random.default_rng(0)
    y = rng.integers(NUM_EMOTIONS, size=600)
    logits = rng.normal(size=(600, NUM_EMOTIONS))
    logits[np.arange(600), np.where(rng.random(600) < 0.6, y, (y + 1) % NUM_EMOTIONS)] += 6.0  # 60 % right, ~97 % sure
    probs = torch.softmax(torch.from_numpy(logits), -1).numpy()
    best = oracle_temperature_ece(y, probs)
    assert best["temperature"] > 1.5
    assert best["ece"] < expected_calibration_error(y, probs) / 3


def test_train_cli_refuses_seed_lists_it_cannot_average(tmp_path):
    from agf_core.training.train import main
    base = ["--task", "fusion", "--data-root", str(tmp_path), "--out", str(tmp_path / "runs")]
    with pytest.raises(SystemExit, match="needs one --variant: unknown fusion variant 'all'"):
        main([*base, "--seeds", "0", "1"])
    with pytest.raises(SystemExit, match=r"--seeds \[3\] must name at least 2"):
        main([*base, "--variant", "agf_logit", "--seeds", "3", "3"])
