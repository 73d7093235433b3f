"""Multi-corpus text recipe: a new head over the shipped fine-tuned MiniLM, trained on every text corpus.

Fine-tuning the transformer on ~120k texts does not fit 2 CPU cores, so the encoder of the shipped text.pt
(MiniLM fine-tuned on MELD) stays frozen: its encodings of every corpus split are computed once and cached,
and a head is trained on them with corpus-balanced batches (each corpus drawn equally often, so 30k Reddit
comments do not drown 2.5k tweets). Selection: the mean dev weighted-F1 of the dialogue corpora (MELD and
EmoryNLP, on the classes each has; `--select-on` for others), since the live app reads conversation. The checkpoint carries the same encoder weights beside the new head, so the runtime loads it
exactly like the shipped one.

    python -m agf_core.training.text_recipe --data-root ../shared/data --runs runs/text_cc [--only multi ...]

trains the multi-corpus head and the leave-one-corpus-out heads (`loco_no_<corpus>`); the MELD-only model is
the shipped text.pt. The large corpora are subsampled (CAPS, fixed seed) to keep the encoding affordable.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.branches import TextBranch
from agf_core.checkpoint import WEIGHTS
from agf_core.models.head import ClassifierHead, HeadConfig
from agf_core.training.features import cached
from agf_core.training.loop import TrainOptions, fit
from agf_core.training.metrics import restricted_report
from agf_core.training.text_corpora import CORPUS_CLASSES, TEXT_CORPORA, check_corpus, read_text_corpus

log = logging.getLogger(__name__)
# Texts per corpus and split at most: what encoding on 2 CPU cores affords. MELD test, the headline
# benchmark, is always whole (2,610).
CAPS = {"train": 3000, "dev": 800, "test": 1500}
UNCAPPED = {("meld", "test")}
TEXT_MULTI_DEFAULTS = TrainOptions(epochs=30, batch_size=140, lr=1e-3, weight_decay=1e-2, loss="ce",
                                   label_smoothing=0.1, patience=6)
STEPS_PER_EPOCH = 300
RUNS = {"multi": TEXT_CORPORA, **{f"loco_no_{c}": tuple(x for x in TEXT_CORPORA if x != c) for c in TEXT_CORPORA}}
# Recipe variants for the multi-corpus run (runs/text_cc/multi_<variant>): how much MELD, the live app's
# conversational domain, is drawn, and whether the head starts from the shipped MELD head.
VARIANTS = {"meld3": {"shares": (("meld", 3.0),)}, "warm": {"warm_start": True},
            "warm_meld3": {"warm_start": True, "shares": (("meld", 3.0),)}}


# The live app reads conversation: the head is chosen on the dialogue corpora's dev sets, not on the mean of
# all corpora (which let tweets and Reddit pull MELD test down from 60.1 to 59.1 weighted-F1).
DIALOGUE = ("meld", "emorynlp")


@dataclass(frozen=True)
class TextRecipe:
    corpora: tuple[str, ...] = TEXT_CORPORA
    encoder_checkpoint: str = str(WEIGHTS / "text.pt")   # whose (frozen) encoder gives the features
    shares: tuple[tuple[str, float], ...] = ()            # relative draw rate per corpus; unlisted ones draw 1
    warm_start: bool = False                              # start from the encoder checkpoint's own head
    select_on: tuple[str, ...] = DIALOGUE                 # dev corpora whose mean weighted-F1 picks the epoch


def capped(rows: list, split: str, seed: int = 0) -> list:
    """At most CAPS[split] rows, drawn with a fixed seed, in their original order."""
    if len(rows) <= CAPS[split]:
        return rows
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), CAPS[split], replace=False))
    return [rows[i] for i in keep]


def encode_sorted(branch: TextBranch, rows: list, size: int = 64) -> np.ndarray:
    """Encodings (N, D) of rows, batched by length so short tweets are not padded to a long story's length."""
    order = np.argsort([len(r.text) + sum(len(c) for c in r.context) for r in rows], kind="stable")
    x = branch.encodings([rows[i].text for i in order], [rows[i].context for i in order], size)   # (N, D)
    out = np.empty_like(x)
    out[order] = x
    return out


def encoder_digest(path: str | Path) -> str:
    """SHA-256 of a text checkpoint's encoder weights and config: checkpoints that differ only in their head
    share it, and so share cached features."""
    ck = checkpoint.load(path, "text")
    h = hashlib.sha256(json.dumps(ck["config"]["encoder"], sort_keys=True).encode())
    for k in sorted(k for k in ck["state_dict"] if k.startswith("encoder.")):
        h.update(k.encode() + ck["state_dict"][k].numpy().tobytes())
    return h.hexdigest()


def corpus_features(data_root: str, corpus: str, split: str, encoder_checkpoint: str | Path,
                    branch: list) -> dict[str, np.ndarray]:
    """{"x": (N, D) float32, "y": (N,)} of one corpus split under a checkpoint's encoder; cached."""
    key = {"corpus": check_corpus(corpus), "split": split, "cap": None if (corpus, split) in UNCAPPED else CAPS[split],
           "encoder": encoder_digest(encoder_checkpoint)}

    def compute():
        if not branch:
            branch.append(TextBranch(encoder_checkpoint))
        rows = read_text_corpus(data_root, corpus, split, branch[0].encoder.config.context_turns)
        rows = rows if (corpus, split) in UNCAPPED else capped(rows, split)
        log.info("encoding %s %s: %d texts", corpus, split, len(rows))
        return {"x": encode_sorted(branch[0], rows).astype(np.float32), "y": np.array([r.label for r in rows])}
    return cached(f"textcc_{corpus}_{split}", key, compute)


def head_probs(head: ClassifierHead, x: np.ndarray) -> np.ndarray:
    head.eval()
    with torch.no_grad():
        return head(torch.from_numpy(x))[1].softmax(-1).numpy()


def train_text_multi(data_root: str, out_dir: str | Path, opts: TrainOptions = TEXT_MULTI_DEFAULTS,
                     recipe: TextRecipe = TextRecipe()) -> dict:
    for c in recipe.corpora:
        check_corpus(c)
    branch: list = []   # the TextBranch, loaded only if some features are not cached yet
    train = {c: corpus_features(data_root, c, "train", recipe.encoder_checkpoint, branch) for c in recipe.corpora}
    dev = {c: corpus_features(data_root, c, "dev", recipe.encoder_checkpoint, branch) for c in recipe.corpora}
    ck = checkpoint.load(recipe.encoder_checkpoint, "text")
    head_cfg = HeadConfig(input_dim=next(iter(train.values()))["x"].shape[1])
    model = ClassifierHead(head_cfg)
    if recipe.warm_start:
        model.load_state_dict({k[5:]: v for k, v in ck["state_dict"].items() if k.startswith("head.")})
    xs = {c: torch.from_numpy(d["x"]) for c, d in train.items()}
    ys = {c: torch.from_numpy(d["y"]) for c, d in train.items()}
    share = {c: dict(recipe.shares).get(c, 1.0) for c in recipe.corpora}
    per = {c: max(1, round(opts.batch_size * w / sum(share.values()))) for c, w in share.items()}
    smooth = opts.label_smoothing

    def batches(epoch):
        g = torch.Generator().manual_seed(opts.seed * 1000 + epoch)
        for _ in range(STEPS_PER_EPOCH):
            picks = {c: torch.randint(len(ys[c]), (per[c],), generator=g) for c in recipe.corpora}
            yield (torch.cat([xs[c][i] for c, i in picks.items()]),          # (B, D)
                   torch.cat([ys[c][i] for c, i in picks.items()]))          # (B,)

    def step_loss(m, b):
        return torch.nn.functional.cross_entropy(m(b[0])[1], b[1], label_smoothing=smooth)

    def evaluate(m):
        scores = {c: restricted_report(d["y"], head_probs(m, d["x"]), CORPUS_CLASSES[c])["weighted_f1"] for c, d in dev.items()}
        m.train()
        chosen = [scores[c] for c in recipe.select_on if c in scores] or list(scores.values())
        return {"score": float(np.mean(chosen)), **{f"dev_{c}_weighted_f1": v for c, v in scores.items()}}

    def save_best(m, path, metrics):
        encoder_state = {k: v for k, v in ck["state_dict"].items() if k.startswith("encoder.")}
        state = {**encoder_state, **{f"head.{k}": v for k, v in m.state_dict().items()}}
        checkpoint.save(path, "text", {**ck["config"], "head": asdict(head_cfg)}, state,
                        {"train": f"{', '.join(recipe.corpora)} train (draws per batch {per}; at most "
                                  f"{CAPS['train']} texts each; head "
                                  f"{'started from the encoder checkpoint' if recipe.warm_start else 'from scratch'}); "
                                  f"encoder: {Path(recipe.encoder_checkpoint).name} "
                                  f"({checkpoint.sha256(recipe.encoder_checkpoint)[:12]}), frozen",
                         "train_corpora": list(recipe.corpora),
                         "selection": "mean dev weighted-F1 of " + ", ".join(
                             [c for c in recipe.select_on if c in recipe.corpora] or list(recipe.corpora)), **metrics})

    return fit(model, opts, out_dir, batches, STEPS_PER_EPOCH, step_loss, evaluate, save_best)


def main(argv: list[str] | None = None) -> None:
    from agf_core.device import set_threads
    ap = argparse.ArgumentParser(prog="python -m agf_core.training.text_recipe", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--runs", default="runs/text_cc")
    ap.add_argument("--only", nargs="+", choices=tuple(RUNS), help="train only these runs (default: all)")
    ap.add_argument("--encoder", default=TextRecipe.encoder_checkpoint, help="text checkpoint whose encoder is used")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--features-only", action="store_true", help="fill the feature cache and stop")
    ap.add_argument("--select-on", nargs="+", choices=TEXT_CORPORA, default=list(DIALOGUE),
                    help="dev corpora whose mean weighted-F1 selects the epoch (default: the dialogue corpora)")
    ap.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=(),
                    help="also train these multi-corpus recipe variants into RUNS/multi_<variant>")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    set_threads(args.threads)
    if args.features_only:
        branch: list = []
        for split in ("dev", "test", "train"):
            for c in TEXT_CORPORA:
                corpus_features(args.data_root, c, split, args.encoder, branch)
        return
    opts = replace(TEXT_MULTI_DEFAULTS, epochs=args.epochs) if args.epochs else TEXT_MULTI_DEFAULTS
    for name in args.only or RUNS:
        best = train_text_multi(args.data_root, Path(args.runs) / name, opts,
                                TextRecipe(corpora=RUNS[name], encoder_checkpoint=args.encoder,
                                           select_on=tuple(args.select_on)))
        print(json.dumps({"run": name, "best": best}), flush=True)
    for variant in args.variants:
        best = train_text_multi(args.data_root, Path(args.runs) / f"multi_{variant}", opts,
                                TextRecipe(encoder_checkpoint=args.encoder, select_on=tuple(args.select_on),
                                           **VARIANTS[variant]))
        print(json.dumps({"run": f"multi_{variant}", "best": best}), flush=True)


if __name__ == "__main__":
    main()
