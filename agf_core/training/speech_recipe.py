"""Multi-corpus training recipe for the audio branch: RAVDESS train + TESS + URDU train (or any subset,
named by specs such as `tess:OAF`), corpus-balanced batches, augmented copies cached once
(speech_features.py), SpecAugment and random time crops on the fly; model selection on the dev splits of
the training corpora (RAVDESS actors 17-20, URDU dev speakers), never on a test split.

The checkpoint has the shipped audio.pt's format (AudioBranch loads it), plus `meta["train_specs"]` so the
cross-corpus report knows what it has seen.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.models.audio import AudioEncoderConfig, AudioNet, AudioNetConfig, pad_frames
from agf_core.training.audio import predict_probs, spec_augment
from agf_core.training.augment import AugmentOptions
from agf_core.labels import NUM_EMOTIONS
from agf_core.training.losses import make_loss
from agf_core.training.metrics import classification_report
from agf_core.training.speech_corpora import parse_spec
from agf_core.training.speech_features import TRAIN_COPIES, SpeechSet, speech_set
from agf_core.training.loop import TrainOptions, fit

log = logging.getLogger(__name__)
SPEECH_DEFAULTS = TrainOptions(epochs=40, batch_size=48, lr=1e-3, weight_decay=5e-2, loss="ce",
                               label_smoothing=0.1, warmup_epochs=2, patience=10)
DEV_CORPORA = ("ravdess", "urdu")   # TESS has no dev split (two speakers)


@dataclass(frozen=True)
class SpeechRecipe:
    train_specs: tuple[str, ...] = ("ravdess", "tess", "urdu")
    encoder: AudioEncoderConfig = AudioEncoderConfig(frontend="whisper_prosody", normalize_db=-23.0)
    copies: tuple[tuple[str, int], ...] = tuple(TRAIN_COPIES.items())   # augmented copies per clip, per corpus
    augment: AugmentOptions = AugmentOptions()
    steps_per_epoch: int = 100
    crop_p: float = 0.5                  # chance of a random crop to 50-100 % of the frames
    corpus_weights: tuple[tuple[str, float], ...] = ()   # share of each batch per corpus (default: equal)
    mixup: float = 0.0                   # Beta(a, a) mixup of the pooled statistics and labels (0: off)
    adversary: float = 0.0               # weight of a corpus classifier behind gradient reversal (0: off)
    # Half the frame rate and half the width of the shipped net: 4x cheaper to train on 2 shared cores
    net: AudioNetConfig = AudioNetConfig(frame_stride=2, channels=128)


# Named recipe variants compared on dev (field overrides of SpeechRecipe; "net" overrides AudioNetConfig fields,
# "opts" overrides TrainOptions fields).
VARIANTS: dict[str, dict] = {
    "base": {},
    "mix_adv": {"mixup": 0.4, "adversary": 0.3},
    "mix_reg": {"mixup": 0.4, "net": {"dropout": 0.5}, "opts": {"lr": 5e-4}},
    "mix_reg_urdu": {"mixup": 0.4, "net": {"dropout": 0.5}, "opts": {"lr": 5e-4},
                     "corpus_weights": (("ravdess", 1.0), ("tess", 0.5), ("urdu", 1.5))},
}


def apply_variant(recipe: "SpeechRecipe", opts: TrainOptions, variant: str) -> tuple["SpeechRecipe", TrainOptions]:
    if variant not in VARIANTS:
        raise ValueError(f"unknown recipe variant {variant!r}; accepted: {', '.join(VARIANTS)}")
    v = dict(VARIANTS[variant])
    net = replace(recipe.net, **v.pop("net", {}))
    opts = replace(opts, **v.pop("opts", {}))
    return replace(recipe, net=net, **v), opts


def training_sets(data_root: str, recipe: SpeechRecipe) -> list[SpeechSet]:
    """One SpeechSet per training spec (clean + augmented copies)."""
    out = []
    for spec in recipe.train_specs:
        corpus, speaker = parse_spec(spec)
        s = speech_set(data_root, corpus, "train", recipe.encoder, dict(recipe.copies)[corpus], recipe.augment)
        out.append(s.select(s.speaker == speaker) if speaker else s)
    return out


def dev_sets(data_root: str, recipe: SpeechRecipe) -> list[SpeechSet]:
    corpora = dict.fromkeys(parse_spec(s)[0] for s in recipe.train_specs)
    return [speech_set(data_root, c, "dev", recipe.encoder) for c in corpora if c in DEV_CORPORA]


def balanced_batch(groups: list[np.ndarray], batch_size: int, rng: np.random.Generator,
                   weights: list[float] | None = None) -> np.ndarray:
    """Indices of one batch with (about) the same number drawn from each group (or in proportion to
    `weights`), uniformly within a group."""
    w = np.asarray(weights if weights is not None else np.ones(len(groups)), float)
    per = np.floor(batch_size * w / w.sum()).astype(int)
    per[np.argsort(-(batch_size * w / w.sum() - per))[: batch_size - per.sum()]] += 1
    return np.concatenate([rng.choice(g, n) for g, n in zip(groups, per)])


def random_crop(x: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """With probability p keep a random contiguous 50-100 % of the frames: (T, D) -> (T', D)."""
    if rng.random() >= p or len(x) < 20:
        return x
    n = int(len(x) * rng.uniform(0.5, 1.0))
    start = rng.integers(0, len(x) - n + 1)
    return x[start:start + n]


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad


def make_step_loss(recipe: SpeechRecipe, loss_fn, n_groups: int, model: AudioNet):
    """The batch loss: emotion CE on (optionally mixed-up) pooled statistics, plus (optionally) a corpus
    classifier trained through gradient reversal so the statistics stop telling the corpora apart. The
    adversary is attached to the model as `adversary` (left out of the saved checkpoint)."""
    if recipe.adversary > 0:
        width = 2 * model.config.channels
        model.adversary = torch.nn.Sequential(torch.nn.Linear(width, 128), torch.nn.GELU(),
                                              torch.nn.Linear(128, n_groups))
    beta = torch.distributions.Beta(recipe.mixup, recipe.mixup) if recipe.mixup > 0 else None

    def step_loss(m, batch):
        x, mask, target, group = batch
        stats = m.pool(x, mask)                                            # (B, 2C)
        if beta is None:
            loss = loss_fn(m.top(stats)[1], target)
        else:
            lam, perm = float(beta.sample()), torch.randperm(len(target))
            logits = m.top(lam * stats + (1 - lam) * stats[perm])[1]       # (B, 7)
            loss = lam * loss_fn(logits, target) + (1 - lam) * loss_fn(logits, target[perm])
        if recipe.adversary > 0:
            corpus_logits = m.adversary(_GradReverse.apply(stats))         # (B, n_groups)
            loss = loss + recipe.adversary * torch.nn.functional.cross_entropy(corpus_logits, group)
        return loss
    return step_loss


def describe(recipe: SpeechRecipe) -> str:
    copies = dict(recipe.copies)
    return " + ".join(f"{s} (clean + {copies[parse_spec(s)[0]]} augmented)" for s in recipe.train_specs)


def train_speech(data_root: str, out_dir: str | Path, opts: TrainOptions = SPEECH_DEFAULTS,
                 recipe: SpeechRecipe = SpeechRecipe()) -> dict:
    sets = training_sets(data_root, recipe)
    devs = dev_sets(data_root, recipe)
    seqs = [s for st in sets for s in st.seqs]
    y = np.concatenate([st.y for st in sets])
    bounds = np.cumsum([0] + [len(st.y) for st in sets])
    groups = [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    cw = dict(recipe.corpus_weights)
    weights = [cw.get(parse_spec(spec)[0], 1.0) for spec in recipe.train_specs]
    group_of = np.concatenate([np.full(len(g), k) for k, g in enumerate(groups)])
    frames = np.concatenate(seqs)
    mean = frames.mean(0).astype(np.float32)          # per-channel normalisation, stored in the model
    std = frames.std(0).astype(np.float32) + 1e-5
    del frames
    seqs = [(s - mean) / std for s in seqs]
    dev = [(st.corpus, [(s - mean) / std for s in st.seqs], st.y) for st in devs]
    net_cfg = AudioNetConfig(**{**asdict(recipe.net), "input_dim": seqs[0].shape[1]})
    model = AudioNet(net_cfg)
    loss_fn = make_loss(opts.loss, y, NUM_EMOTIONS, opts.label_smoothing)
    log.info("training on %s: %s sequences, dev %s", describe(recipe), [len(g) for g in groups],
             [d[0] for d in dev] or "none (the last epoch is kept)")

    def batches(epoch):
        rng = np.random.default_rng([opts.seed, epoch])
        for _ in range(recipe.steps_per_epoch):
            idx = balanced_batch(groups, opts.batch_size, rng, weights)
            x, mask = pad_frames([spec_augment(random_crop(seqs[i], rng, recipe.crop_p), rng) for i in idx])
            yield x, mask, torch.from_numpy(y[idx]), torch.from_numpy(group_of[idx])

    def evaluate(m):
        if not dev:   # no dev split among the training corpora: the latest epoch counts as best
            logged = Path(out_dir) / "log.jsonl"
            return {"score": float(len(logged.read_text().splitlines()) if logged.exists() else 0) + 1}
        reps = {c: classification_report(yy, predict_probs(m, ss)) for c, ss, yy in dev}
        out = {f"dev_{c}_accuracy": r["accuracy"] for c, r in reps.items()}
        return {"score": float(np.mean(list(out.values()))), **out}

    def save_best(m, path, metrics):
        state = {**{k: v for k, v in m.state_dict().items() if not k.startswith("adversary.")}, "norm_mean": torch.from_numpy(mean), "norm_std": torch.from_numpy(std)}
        checkpoint.save(path, "audio", {"encoder": asdict(recipe.encoder), "net": asdict(net_cfg)}, state,
                        {"train": describe(recipe), "train_specs": list(recipe.train_specs),
                         "selection": " + ".join(f"{c} dev" for c, _, _ in dev) or "last epoch (no dev split)",
                         "recipe": {k: v for k, v in asdict(recipe).items() if k not in ("encoder", "net")},
                         **metrics})

    step_loss = make_step_loss(recipe, loss_fn, len(groups), model)
    return fit(model, opts, out_dir, batches, recipe.steps_per_epoch, step_loss, evaluate, save_best)


def train_speech_cli(data_root: str, out_dir: str, specs: list[str], frontend: str | None, overrides: dict,
                     variant: str = "base") -> dict:
    """`train --task audio --corpora ...`: the default recipe on those specs (and front end)."""
    for spec in specs:
        parse_spec(spec)   # raises with the accepted names
    recipe = replace(SpeechRecipe(), train_specs=tuple(specs))
    if frontend:
        recipe = replace(recipe, encoder=replace(recipe.encoder, frontend=frontend))
    recipe, opts = apply_variant(recipe, SPEECH_DEFAULTS, variant)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    best = train_speech(data_root, out_dir, replace(opts, **overrides), recipe)
    print(json.dumps({"best": best}, indent=2))
    return best
