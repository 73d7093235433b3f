"""Train and score one strategy of the fusion family on one bed (beds.py), with or without modality dropout.

    python -m agf_core.train --task fusion --variant mult --bed aligned --data-root ../shared/data \
        --voice ~/.cache/agf/runs/voice2 --out runs/family --seed 0 [--no-modality-dropout]

Recipe (every strategy alike): AdamW (lr 3e-3, weight decay 1e-2), warm-up then cosine, batches of 128,
cross-entropy with every bed and class the same total weight (crossfit.py's weighting), at most EPOCHS
epochs; the epoch with the best select-split accuracy is kept (the evidence bed has no select split: its
last epoch is kept, as crossfit.py does). Modality dropout: each epoch every row keeps all its modalities
with probability 0.4, else a random non-empty subset, and each metadata field is unknown with probability
0.3 (pools.drop_modalities). Strategy-specific: agf_evidence's gates are also taught whether their branch is
right (gate loss, weight 0.5); contrastive pre-trains its projections with InfoNCE for PRETRAIN_EPOCHS, then
freezes them; hierarchical trains every other strategy first (same seed and dropout), then its meta level on
the select split (on the evidence bed, on the fit rows: there is no other split).
"""
from __future__ import annotations

import copy
import itertools
import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from agf_core.labels import MODALITIES
from agf_core.models.variants import VariantConfig, build, family_config, trainable_parameters
from agf_core.training.fusion.beds import Bed
from agf_core.training.fusion.crossfit import NATURAL
from agf_core.training.fusion.pools import FusionSet, drop_modalities
from agf_core.training.fusion.recipe import to_tensors
from agf_core.training.loop import seed_everything, warmup_cosine
from agf_core.training.losses import group_balanced_weights
from agf_core.training.metrics import classification_report

log = logging.getLogger(__name__)
STRATEGIES = ("early", "late_learned", "mult", "graph", "contrastive", "agf", "agf_evidence", "hierarchical")
MEMBERS = STRATEGIES[:-1]


@dataclass(frozen=True)
class FamilyOptions:
    epochs: int = 40
    pretrain_epochs: int = 20
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-2
    modality_dropout: bool = True


# Per bed: the tuples overfit within a few epochs (6,000 rows re-pair few items) and MulT is slow there; the
# evidence bed trains as crossfit.py trains the shipped fusion.
BED_OPTIONS = {"tuples": {"epochs": 15}, "evidence": {"lr": 1e-2, "weight_decay": 1e-3, "batch_size": 256}}


def bed_options(bed: str, modality_dropout: bool = True) -> FamilyOptions:
    """The options every strategy is trained with on a bed (the report's and the CLI's)."""
    return FamilyOptions(modality_dropout=modality_dropout, **BED_OPTIONS.get(bed, {}))


def subsets(modalities: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every non-empty subset of a bed's modalities, smallest first."""
    return [c for r in range(1, len(modalities) + 1) for c in itertools.combinations(modalities, r)]


def _weights(s: FusionSet) -> torch.Tensor:
    natural = np.isin(s.info["bed"], NATURAL)
    return torch.from_numpy(group_balanced_weights(s.info["bed"], np.where(natural, -1, s.y))).float()


def _batches(s: FusionSet, opts: FamilyOptions, rng: np.random.Generator):
    rows = drop_modalities(s, rng) if opts.modality_dropout else s
    w = _weights(rows)
    order = rng.permutation(len(rows))
    for i in range(0, len(order), opts.batch_size):
        b = order[i:i + opts.batch_size]
        part = rows.select(b)
        yield (*to_tensors(part), torch.from_numpy(part.y), w[b])


@torch.no_grad()
def predict(model: torch.nn.Module, s: FusionSet, batch: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N, 7) and modality weights (N, M)."""
    model.eval()
    probs, weights = [], []
    for i in range(0, len(s), batch):
        logits, a = model(*to_tensors(s.select(np.arange(i, min(i + batch, len(s))))))
        probs.append(logits.softmax(-1).numpy()), weights.append(a.numpy())
    return np.concatenate(probs), np.concatenate(weights)


def accuracy(model: torch.nn.Module, s: FusionSet) -> float:
    return float((predict(model, s)[0].argmax(1) == s.y).mean())


def _optimise(model, params, epochs: int, steps: int, opts: FamilyOptions, lr: float | None = None):
    optim = torch.optim.AdamW(params, lr=lr or opts.lr, weight_decay=opts.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda i: warmup_cosine(i, epochs * steps, steps))

    def step(loss):
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        sched.step()
    return step


def pretrain_contrastive(model, fit: FusionSet, opts: FamilyOptions, rng: np.random.Generator) -> None:
    """Phase 1 of the contrastive strategy: InfoNCE on the projections (labels unused), then frozen."""
    steps = int(np.ceil(len(fit) / opts.batch_size))
    step = _optimise(model, model.proj.parameters(), opts.pretrain_epochs, steps, opts)
    for _ in range(opts.pretrain_epochs):
        model.train()
        for h, logp, mask, meta, y, w in _batches(fit, FamilyOptions(batch_size=opts.batch_size, modality_dropout=False), rng):
            step(model.contrastive_loss(h, logp, mask, meta))
    model.freeze_projections()


def fit_model(model: torch.nn.Module, fit: FusionSet, select: FusionSet | None, opts: FamilyOptions,
              rng: np.random.Generator) -> dict:
    """Train the trainable parameters; keep the best select epoch (or the last). -> {epoch, select_accuracy}."""
    config = model.config
    params = [p for p in model.parameters() if p.requires_grad]
    steps = int(np.ceil(len(fit) / opts.batch_size))
    step = _optimise(model, params, opts.epochs, steps, opts)
    best = (-1.0, 0, None)
    for epoch in range(opts.epochs):
        model.train()
        for h, logp, mask, meta, y, w in _batches(fit, opts, rng):
            logits, _ = model(h, logp, mask, meta)
            loss = (torch.nn.functional.cross_entropy(logits, y, reduction="none") * w).sum() / w.sum()
            if config.gate_supervision:
                loss = loss + config.gate_supervision * model.gate_loss(h, logp, mask, meta, y)
            step(loss)
        score = accuracy(model, select) if select is not None else float(epoch)
        if score > best[0]:
            best = (score, epoch, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    return {"epoch": best[1], "select_accuracy": round(best[0], 4) if select is not None else None}


def train_strategy(name: str, bed: Bed, seed: int, opts: FamilyOptions = FamilyOptions(),
                   members: list[torch.nn.Module] | None = None) -> tuple[torch.nn.Module, dict]:
    """One strategy on one bed with one seed -> (model in eval mode, training info)."""
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    if name == "hierarchical":
        members = members or [train_strategy(m, bed, seed, opts)[0] for m in MEMBERS]
        config = family_config(name, bed.dims, tuple(m.config for m in members))
        from agf_core.models.hierarchical import HierarchicalFusion
        model = HierarchicalFusion(config, members)
        info = fit_model(model, bed.select if bed.select is not None else bed.fit, None, opts, rng)
        return model.eval(), info
    if name == "contrastive" and len(bed.modalities) < 2:
        raise ValueError(f"bed {bed.name} has only {bed.modalities}; contrastive needs two modalities of the same rows")
    model = build(family_config(name, bed.dims))
    if trainable_parameters(model) == 0:
        return model.eval(), {"epoch": 0, "select_accuracy": None}
    if name == "contrastive":
        pretrain_contrastive(model, bed.fit, opts, rng)
    return model.eval(), fit_model(model, bed.fit, bed.select, opts, rng)


def cpu_ms(model: torch.nn.Module, s: FusionSet, n: int = 100) -> float:
    """Median milliseconds for one prediction (batch of 1, this process's threads) over n test rows."""
    times = []
    with torch.no_grad():
        for i in range(min(n, len(s))):
            x = to_tensors(s.select(np.array([i])))
            t = time.perf_counter()
            model(*x)
            times.append(time.perf_counter() - t)
    return round(1000 * float(np.median(times)), 3)


def score(model: torch.nn.Module, bed: Bed) -> dict:
    """Accuracy and macro-F1 on every test set with every subset of the bed's modalities present, and the
    mean modality weights with all present. A test set's rows that lack a modality of the subset (the words
    beds) are scored with what they have of it."""
    out = {}
    for test_name, s in bed.test.items():
        rows = {}
        for sub in subsets(bed.modalities):
            keep = np.array([m in sub for m in MODALITIES])
            if not all(s.mask[:, MODALITIES.index(m)].any() for m in sub):
                continue              # e.g. words on the RAVDESS test: no row has them
            have = (s.mask & keep).any(1)
            part = s.select(np.flatnonzero(have))
            part.mask = part.mask & keep
            p, a = predict(model, part)
            rep = classification_report(part.y, p)
            rows["+".join(sub)] = {"n": int(len(part)), "accuracy": round(rep["accuracy"], 4),
                                   "macro_f1": round(rep["macro_f1"], 4), "correct": (p.argmax(1) == part.y).astype(int).tolist()}
        _, a = predict(model, s)
        rows["weights"] = {m: round(float(a[s.mask[:, i], i].mean()), 3) for i, m in enumerate(MODALITIES) if s.mask[:, i].any()}
        out[test_name] = rows
    return out


def run(name: str, bed: Bed, seed: int, opts: FamilyOptions, members: list[torch.nn.Module] | None = None
        ) -> tuple[torch.nn.Module, dict]:
    """Train + score + size + speed of one strategy: what one row of the report needs (hierarchical over
    `members` when given, else over members it trains first)."""
    t = time.perf_counter()
    model, info = train_strategy(name, bed, seed, opts, members)
    seconds = time.perf_counter() - t
    result = {"variant": name, "bed": bed.name, "seed": seed, "modality_dropout": opts.modality_dropout,
              "train_seconds": round(seconds, 1), **info,
              "parameters": sum(p.numel() for p in model.parameters()),
              "trainable_parameters": trainable_parameters(model),
              "cpu_ms": cpu_ms(model, next(iter(bed.test.values()))), "test": score(model, bed),
              "options": asdict(opts), "config": asdict(model.config) if isinstance(model.config, VariantConfig) else None}
    return model, result


def save(model: torch.nn.Module, path, bed: Bed, result: dict) -> None:
    """A family checkpoint: its config, the bed it reads (an evidence-bed model reads branch readings only)."""
    from agf_core import checkpoint
    summary = {t: {k: v["accuracy"] for k, v in rows.items() if k != "weights"} for t, rows in result["test"].items()}
    checkpoint.save(path, "fusion", asdict(model.config), model.state_dict(),
                    {"variant": model.config.name, "bed": bed.name, "dims": list(bed.dims),
                     "inputs": "evidence" if bed.name == "evidence" else "features", "seed": result["seed"],
                     "modality_dropout": result["modality_dropout"], "parameters": result["parameters"], "test": summary})


def load(path, variant: str, bed: Bed) -> torch.nn.Module:
    """A saved family checkpoint, refused when it holds another strategy or was trained on another bed."""
    from agf_core import checkpoint
    from agf_core.models.variants import from_checkpoint
    ck = checkpoint.load(path, "fusion")
    trained_on = ck["meta"].get("bed")
    if trained_on is not None and trained_on != bed.name:
        raise ValueError(f"{path} was trained on the {trained_on} bed, not {bed.name}; pass --bed {trained_on}")
    return from_checkpoint(ck, variant, bed.dims)
