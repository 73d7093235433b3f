"""A face that travels (issue 23): the face network's top retrained on several face corpora over its frozen
convolutional trunk, and the cross-dataset table (train on A, test on B, for every face corpus at hand).

    python -m agf_core.training.face_recipe --data-root ../shared/data --out runs/face_multi
        -> runs/face_multi/best.pt (a video checkpoint: the shipped trunk + the retrained top),
           runs/face_multi/report.json

The trunk (agf_core/weights/video.pt, trained end to end on FER2013) is kept frozen: each crop's trunk
features, as seen and mirrored, are computed once and cached. The top (embedding + classifier, the layers
`FaceNet.top` holds) is retrained on a mix of corpora, each corpus weighted equally and classes balanced
within it; selection on the mean dev accuracy of FER2013 and the Taiwanese performers.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.baseline import offset
from agf_core.branches import BranchOutput, config_from_dict
from agf_core.models.video import FaceNet, FaceNetConfig, crops_to_tensor
from agf_core.labels import emotion_index
from agf_core.training.face_corpora import FACE_CORPORA, ferplus_rows, read_faces, read_subjects
from agf_core.training.features import cached
from agf_core.training.loop import seed_everything, warmup_cosine
from agf_core.training.losses import group_balanced_weights

log = logging.getLogger(__name__)
SPLITS = ("train", "dev", "test")
DEV = ("fer2013", "taiwanese")
NEUTRAL = emotion_index("neutral")
MIXES = {"fer2013": ("fer2013",), "ferplus": ("ferplus",), "taiwanese": ("taiwanese",),
         "muxspace": ("muxspace",), "all": ("fer2013", "taiwanese", "muxspace")}
# The mix's corpus weights: FER2013 (28,709 faces, the benchmark to keep) half, the two small sets a quarter each.
SHARES = {"fer2013": 2.0, "taiwanese": 1.0, "muxspace": 1.0}


@dataclass(frozen=True)
class FaceTopRecipe:
    epochs: int = 25
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 5e-2
    seed: int = 0


def load_net(path: str | Path) -> FaceNet:
    ck = checkpoint.load(path, "video")
    net = FaceNet(config_from_dict(FaceNetConfig, ck["config"])).eval()
    net.load_state_dict(ck["state_dict"])
    return net


@torch.no_grad()
def trunk_features(net: FaceNet, images: np.ndarray, batch: int = 512) -> np.ndarray:
    """uint8 (N, 48, 48) -> trunk features as seen and mirrored (N, 2, C) float32."""
    out = []
    for i in range(0, len(images), batch):
        x = crops_to_tensor(images[i:i + batch])                                       # (b, 1, 48, 48)
        out.append(torch.stack([net.trunk(x), net.trunk(x.flip(-1))], 1).numpy())      # (b, 2, C)
    return np.concatenate(out) if out else np.zeros((0, 2, net.config.channels[-1]), np.float32)


def feature_sets(data_root: str, net: FaceNet, trunk_sha: str) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """{(corpus, split): (trunk features (N, 2, C), labels (N,))}, cached per trunk."""
    out = {}
    for corpus in FACE_CORPORA:
        for split in SPLITS:
            if corpus == "ferplus":  # the FER2013 images again, with other labels: reuse their features
                rows, y = ferplus_rows(data_root, split)
                out[(corpus, split)] = (out[("fer2013", split)][0][rows], y)
                continue
            images, y = read_faces(data_root, corpus, split)
            z = cached(f"face_trunk_{corpus}_{split}", {"trunk": trunk_sha, "n": len(y), "y": y.tolist()[:50]},
                       lambda: {"g": trunk_features(net, images), "y": y})
            out[(corpus, split)] = (z["g"], z["y"])
    return out


@torch.no_grad()
def top_probs(net: FaceNet, g: np.ndarray) -> np.ndarray:
    """Trunk features (N, 2, C) -> probabilities (N, 7), the two views averaged (as the live window does)."""
    net.eval()
    n, v, c = g.shape
    _, logits = net.top(torch.from_numpy(g).reshape(n * v, c))
    return logits.softmax(-1).view(n, v, -1).mean(1).numpy()


def accuracy(net: FaceNet, data: tuple[np.ndarray, np.ndarray]) -> float:
    g, y = data
    return float((top_probs(net, g).argmax(1) == y).mean()) if len(y) else float("nan")


def train_top(base: FaceNet, sets: dict, train_corpora: tuple[str, ...], recipe: FaceTopRecipe = FaceTopRecipe()
              ) -> tuple[FaceNet, dict]:
    """A copy of `base` whose top is retrained on the train splits of `train_corpora` (trunk frozen)."""
    seed_everything(recipe.seed)
    net = copy.deepcopy(base)
    for m in (net.embed, net.head):  # a fresh top: the shipped one learned FER2013 alone
        for layer in m:
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
    g = np.concatenate([sets[(c, "train")][0] for c in train_corpora])                  # (N, 2, C)
    y = np.concatenate([sets[(c, "train")][1] for c in train_corpora])
    ids = np.concatenate([np.full(len(sets[(c, "train")][1]), i) for i, c in enumerate(train_corpora)])
    share = np.array([SHARES.get(c, 1.0) for c in train_corpora])[ids]
    w = torch.from_numpy(group_balanced_weights(ids, y) * share / share.mean()).float()
    g, y = torch.from_numpy(g), torch.from_numpy(y)
    params = list(net.embed.parameters()) + list(net.head.parameters())
    steps = max(1, len(y) // recipe.batch_size)   # whole batches only: BatchNorm needs more than one row
    optim = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda i: warmup_cosine(i, recipe.epochs * steps, steps))
    gen = torch.Generator().manual_seed(recipe.seed)
    dev = [c for c in DEV if c in train_corpora] or list(train_corpora)
    best, best_state = None, None
    for epoch in range(recipe.epochs):
        net.train()
        order = torch.randperm(len(y), generator=gen)
        for i in range(steps):
            b = order[i * recipe.batch_size:(i + 1) * recipe.batch_size]
            view = torch.randint(0, 2, (len(b),), generator=gen)                        # seen or mirrored
            _, logits = net.top(g[b, view])                                             # (B, 7)
            loss = (torch.nn.functional.cross_entropy(logits, y[b], reduction="none", label_smoothing=0.1)
                    * w[b]).sum() / w[b].sum()
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
        scores = {c: accuracy(net, sets[(c, "dev")]) for c in dev}
        score = float(np.mean(list(scores.values())))
        if best is None or score > best["score"]:
            best = {"score": score, "epoch": epoch + 1, **{f"dev_{c}": v for c, v in scores.items()}}
            best_state = copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    return net.eval(), best


def cross_dataset(base: FaceNet, sets: dict, recipe: FaceTopRecipe, only: tuple[str, ...] = ()
                  ) -> tuple[dict, FaceNet]:
    """Test accuracy on every corpus for the shipped network and for tops trained on each mix."""
    table = {"shipped (FER2013, end to end)": {c: accuracy(base, sets[(c, "test")]) for c in FACE_CORPORA}}
    nets = {}
    for name, corpora in MIXES.items():
        if only and name not in only:
            continue
        nets[name], best = train_top(base, sets, corpora, recipe)
        table[f"top on {'+'.join(corpora)}"] = {**{c: accuracy(nets[name], sets[(c, "test")]) for c in FACE_CORPORA},
                                                  "selection": best}
        log.info("%s: %s", name, table[f"top on {'+'.join(corpora)}"])
    return table, nets["all"]


def neutral_probs(net: FaceNet, sets: dict, corpora: tuple[str, ...]) -> np.ndarray:
    """The network's mean probabilities (7,) on the neutral training faces: where a baseline moves a person's
    neutral to (agf_core/baseline.py)."""
    g = np.concatenate([sets[(c, "train")][0][sets[(c, "train")][1] == NEUTRAL] for c in corpora])
    return top_probs(net, g).mean(0)


def calibration_report(net: FaceNet, sets: dict, subjects: dict[str, np.ndarray], reference: np.ndarray,
                       seed: int = 0) -> dict:
    """Taiwanese performers never trained on (dev and test): accuracy without and with a baseline (the
    runtime's rule, baseline.offset) from one neutral image of the same performer, left out of both scores."""
    rng, out = np.random.default_rng(seed), {}
    for split in ("dev", "test"):
        g, y = sets[("taiwanese", split)]
        who = subjects[split]
        logp = np.log(top_probs(net, g) + 1e-8)                                          # (N, 7)
        base_rows, pred = [], logp.argmax(1).copy()
        for person in np.unique(who):
            neutral = np.flatnonzero((who == person) & (y == NEUTRAL))
            if not len(neutral):
                continue
            pick = rng.choice(neutral)
            base_rows.append(pick)
            rows = who == person
            shift = offset(BranchOutput(np.zeros(1, np.float32), logp[pick]), reference)
            pred[rows] = (logp[rows] - shift).argmax(1)
        scored = np.isin(who, who[base_rows])
        scored[base_rows] = False
        out[f"taiwanese_{split}"] = {"performers": len(base_rows), "n": int(scored.sum()),
                                     "without": float((logp.argmax(1)[scored] == y[scored]).mean()),
                                     "with": float((pred[scored] == y[scored]).mean())}
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m agf_core.training.face_recipe", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--trunk", default=str(checkpoint.WEIGHTS / "video.pt"))
    ap.add_argument("--only", nargs="+", choices=tuple(MIXES), default=[], help="train these mixes only ('all' "
                    "is the shippable one)")
    ap.add_argument("--add-reference", type=Path, help="write the --trunk network's mean neutral reading on "
                    "FER2013 train (what a baseline needs) into this copy of its checkpoint, and stop")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    base = load_net(args.trunk)
    sets = feature_sets(args.data_root, base, checkpoint.sha256(args.trunk))
    if args.add_reference:
        ck = checkpoint.load(args.trunk, "video")
        meta = {**ck["meta"], "neutral_probs": neutral_probs(base, sets, ("fer2013",)).tolist()}
        checkpoint.save(args.add_reference, "video", ck["config"], ck["state_dict"], meta)
        return {"neutral_probs": meta["neutral_probs"]}
    recipe = FaceTopRecipe()
    table, net = cross_dataset(base, sets, recipe, tuple(args.only))
    subjects = {s: read_subjects(args.data_root, "taiwanese", s) for s in ("dev", "test")}
    reference = neutral_probs(net, sets, MIXES["all"])
    calibration = {"shipped": calibration_report(base, sets, subjects, neutral_probs(base, sets, ("fer2013",))),
                   "multi": calibration_report(net, sets, subjects, reference)}
    log.info("calibration: %s", calibration)
    report = {"recipe": asdict(recipe), "trunk": Path(args.trunk).name, "test_accuracy": table,
              "calibration": calibration,
              "note": "test splits: FER2013 PrivateTest (FER2013 labels), the same images with FER+ majority "
                      "labels, Taiwanese test performers, muxspace test people (noisy single labels)"}
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint.save(args.out / "best.pt", "video", asdict(net.config), net.state_dict(),
                    {"train": "trunk: FER2013 end to end (the shipped video.pt); top: FER2013 + Taiwanese + "
                              "muxspace train splits, corpus- and class-balanced",
                     "selection": "mean dev accuracy of FER2013 PublicTest and Taiwanese dev performers",
                     "test_accuracy": table["top on fer2013+taiwanese+muxspace"],
                     "neutral_probs": reference.tolist()})
    (args.out / "report.json").write_text(json.dumps(report, indent=1, default=float))
    return report


if __name__ == "__main__":
    main()
