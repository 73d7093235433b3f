"""Training recipe for the fusion over the frozen branches (the fusion issue; data in fusion_data.py).

Stacking: the branches were trained on the train splits, where their outputs are far more reliable than on
unseen data (the audio branch is nearly perfect on the actors it was trained on). A fusion fitted there
learns to trust that branch blindly. With `fit_on="dev"` the fusion is fitted on one half of the
dev splits, which no branch was trained on (RAVDESS actors 17-18, half of MELD dev, half of FER2013 val), and
selected on the other half (actors 19-20, ...). Measured, it overfits those small halves within one or two
epochs and scores lower, so the default stays `fit_on="train"`: fitted on the train splits, selected on the
whole dev split, with the over-confidence corrected by temperature scaling.

Each epoch draws fresh rows: 12,000 label-paired tuples (b) with random corruptions, every RAVDESS clip of
the fitting pools (a) under random audio conditions, then modality and metadata dropout. Selection: the mean
weighted-F1 on (a) and on 3,000 clean tuples (b) of the selection pools, on which a temperature is then
fitted (calibration).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.calibration import Temperatures
from agf_core.training.fusion.pools import Branches, FusionSet, half_pools, load_pools, ravdess_set, training_set, tuple_set
from agf_core.models.variants import (FusionEnsemble, check_variant, VariantConfig, build, ensemble_name, from_checkpoint,
                              trainable_parameters)
from agf_core.labels import MODALITIES
from agf_core.training.metrics import classification_report
from agf_core.training.loop import TrainOptions, fit

FUSION_DEFAULTS = TrainOptions(epochs=30, batch_size=128, lr=2e-3, weight_decay=1e-2, loss="ce",
                               warmup_epochs=1, patience=8)
TUPLES_PER_EPOCH = 12_000
EVAL_TUPLES = 3_000
FIT_ON = ("dev", "train")


TRAIN_DATA = {"dev": "RAVDESS actors 17-18 (+ASR transcripts) and label-paired tuples from half of MELD dev, "
                      "those actors and half of FER2013 val, with corruptions and modality dropout",
              "train": "RAVDESS actors 1-16 (+ASR transcripts) and label-paired MELD/RAVDESS/FER2013 train tuples "
                       "with corruptions and modality dropout"}
SELECTION = {"dev": "mean weighted-F1 of RAVDESS actors 19-20 and 3,000 tuples from the other dev halves",
             "train": "mean weighted-F1 of RAVDESS actors 17-20 and 3,000 dev tuples"}


def to_tensors(s: FusionSet) -> tuple[dict, dict, torch.Tensor, torch.Tensor]:
    t = lambda d: {k: torch.from_numpy(np.ascontiguousarray(v, np.float32)) for k, v in d.items()}  # noqa: E731
    return t(s.h), t(s.logp), torch.from_numpy(s.mask), torch.from_numpy(s.meta.astype(np.int64))


@torch.no_grad()
def predict(model: torch.nn.Module, s: FusionSet, temperature: Temperatures | None = None, batch: int = 4096
            ) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N, 7) and weights (N, M) of a fusion model over a FusionSet, calibrated when given
    the temperatures."""
    model.eval()
    probs, weights = [], []
    for i in range(0, len(s), batch):
        h, logp, mask, meta = to_tensors(s.select(np.arange(i, min(i + batch, len(s)))))
        logits, a = model(h, logp, mask, meta)                                   # (b, 7), (b, M)
        t = torch.from_numpy(temperature.for_mask(mask))[:, None] if temperature else 1.0
        probs.append((logits / t).softmax(-1).numpy()), weights.append(a.numpy())
    return np.concatenate(probs), np.concatenate(weights)


def fit_temperatures(model: torch.nn.Module, s: FusionSet) -> Temperatures:
    """Temperatures (global and per set of present modalities) minimising the NLL on `s`."""
    with torch.no_grad():
        h, logp, mask, meta = to_tensors(s)
        logits = model.eval()(h, logp, mask, meta)[0]
    return Temperatures.fit(logits, torch.from_numpy(s.y), s.mask)


def eval_sets(pools: dict, seed: int) -> dict[str, FusionSet]:
    """The two clean evaluation beds of a split: (a) every RAVDESS clip, (b) EVAL_TUPLES fixed tuples."""
    rng = np.random.default_rng(seed)
    return {"ravdess": ravdess_set(pools["speech"], video_dim=pools["face"]["h"].shape[-1]),
            "tuples": tuple_set(pools["text"], pools["speech"], pools["face"], EVAL_TUPLES, rng)}


def dev_score(model: torch.nn.Module, dev: dict[str, FusionSet]) -> dict:
    out = {}
    for name, s in dev.items():
        rep = classification_report(s.y, predict(model, s)[0])
        out[f"dev_{name}_weighted_f1"], out[f"dev_{name}_accuracy"] = rep["weighted_f1"], rep["accuracy"]
    out["score"] = float(np.mean([out[f"dev_{n}_weighted_f1"] for n in dev]))
    return out


def fit_and_select(load, fit_on: str) -> tuple[dict, int, dict[str, FusionSet], FusionSet]:
    """What a fusion fits on and is selected and calibrated on, given `load(split)` -> that split's pools:
    (training pools, RAVDESS repeats per epoch, the dev beds, the dev beds as one set)."""
    if fit_on not in FIT_ON:
        raise ValueError(f"fit_on {fit_on!r} is not accepted; accepted: {', '.join(FIT_ON)}")
    dev_pools = load("dev")
    if fit_on == "dev":
        train_pools, select_pools, repeats = half_pools(dev_pools, "fit"), half_pools(dev_pools, "select"), 8
    else:
        train_pools, select_pools, repeats = load("train"), dev_pools, 2
    dev = eval_sets(select_pools, seed=1)
    return train_pools, repeats, dev, FusionSet.concat(list(dev.values()))


def epoch_batches(pools: dict, opts: TrainOptions, repeats: int):
    """`batches(epoch)` yielding (h, logp, mask, meta, y) of that epoch's fresh training rows, and the steps
    per epoch."""
    steps = len(training_set(pools, np.random.default_rng(0), TUPLES_PER_EPOCH, repeats)) // opts.batch_size

    def batches(epoch):
        rng = np.random.default_rng(opts.seed * 1000 + epoch)
        rows = training_set(pools, rng, TUPLES_PER_EPOCH, repeats)
        order = rng.permutation(len(rows))
        for s in range(steps):
            part = rows.select(order[s * opts.batch_size:(s + 1) * opts.batch_size])
            yield (*to_tensors(part), torch.from_numpy(part.y))
    return batches, steps


def train_fusion(data_root: str, out_dir: str | Path, opts: TrainOptions = FUSION_DEFAULTS,
                 variant: str = "agf_logit", branches: Branches | None = None, fit_on: str = "train") -> dict:
    """Train one variant into out_dir (best.pt carries its config, temperature and the branch hashes)."""
    check_variant(variant)
    branches = branches or Branches.load()
    train_pools, repeats, dev, dev_all = fit_and_select(lambda split: load_pools(data_root, split, branches), fit_on)
    config = VariantConfig.of(variant)
    model = build(config)
    loss_fn = torch.nn.CrossEntropyLoss()
    batches, steps = epoch_batches(train_pools, opts, repeats)

    def step_loss(m, b):
        loss = loss_fn(m(b[0], b[1], b[2], b[3])[0], b[4])
        if config.gate_supervision:
            loss = loss + config.gate_supervision * m.gate_loss(*b)
        return loss

    def save_best(m, path, metrics):
        temps = fit_temperatures(m, dev_all)
        checkpoint.save(path, "fusion", asdict(config), m.state_dict(),
                        fusion_meta(m, temps, branches, variant, fit_on, TRAIN_DATA[fit_on], SELECTION[fit_on], **metrics))

    if trainable_parameters(model) == 0:  # late_average: nothing to train, save it as it is
        metrics = {**dev_score(model, dev), "epoch": 0}
        save_best(model, Path(out_dir) / "best.pt", metrics)
        return metrics
    return fit(model, opts, out_dir, batches, steps, step_loss, lambda m: dev_score(m, dev), save_best)


def fusion_meta(model, temps: Temperatures, branches: Branches, variant: str, fit_on: str | None,
                train: str | None, selection: str | None, **more) -> dict:
    """What every fusion checkpoint records: calibration, the branches it was trained over, how it was made."""
    return {"temperature": temps.default, "temperatures_by_subset": temps.by_subset, "branches": branches.digests,
            "variant": variant, "parameters": trainable_parameters(model), "modalities": list(MODALITIES),
            "fit_on": fit_on, "train": train, "selection": selection, **more}


def member_dir(out_dir: str | Path, variant: str, seed: int) -> Path:
    """Where seed `seed` of a variant trains: OUT/<variant> for seed 0 (as `--variant all` does), else
    OUT/<variant>_s<seed>."""
    return Path(out_dir) / (variant if seed == 0 else f"{variant}_s{seed}")


def assemble_ensemble(data_root: str, members: list[str | Path], out_path: str | Path,
                      branches: Branches | None = None) -> dict:
    """Average trained members of one variant (FusionEnsemble), fit its temperatures on the whole dev
    split as train_fusion does, and save it to out_path. Nothing is trained here."""
    branches = branches or Branches.load()
    cks = [checkpoint.load(p, "fusion") for p in members]
    names = {ck["config"]["name"] for ck in cks}
    if len(cks) < 2 or len(names) != 1:
        raise ValueError(f"an ensemble needs at least 2 members of one variant, got {len(cks)} of {sorted(names)}")
    for p, ck in zip(members, cks):
        checkpoint.check_trained_over(ck["meta"], branches.digests, f"fusion member {p}")
    model = FusionEnsemble([from_checkpoint(ck) for ck in cks])
    dev = eval_sets(load_pools(data_root, "dev", branches), seed=1)
    metrics = dev_score(model, dev)
    temps = fit_temperatures(model, FusionSet.concat(list(dev.values())))
    first = cks[0]["meta"]
    checkpoint.save(out_path, "fusion", asdict(model.config), model.state_dict(),
                    fusion_meta(model, temps, branches, ensemble_name(names.pop()), first.get("fit_on"),
                                first.get("train"), first.get("selection"), members=[str(p) for p in members],
                                member_scores=[ck["meta"].get("score") for ck in cks], **metrics))
    return metrics
