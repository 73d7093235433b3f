"""The voice that travels (issue 23): a small network over utterance-level features (pooled Whisper states +
eGeMAPS, voice_features.py) trained across all five speech corpora, and the protocol that measures it on
speakers and corpora it never saw.

    python -m agf_core.training.voice_features --data-root ../shared/data           # the feature cache, once
    python -m agf_core.training.voice_recipe --data-root ../shared/data --out runs/voice
        -> runs/voice/best.pt (the shippable audio.pt), runs/voice/report.json

Training: the train splits of RAVDESS, TESS, URDU, EMOVO and Indian EmoSpeech (clean + augmented copies),
every corpus weighted equally and every class equally within its corpus; eGeMAPS dropped from 20 % of rows
so that the network also reads the Whisper half alone. Selection: the epoch with the best mean accuracy on
the dev speakers of RAVDESS, URDU and Indian EmoSpeech (EMOVO and TESS have no dev speakers).

A person's baseline (agf_core/baseline.py) is measured on the same speakers without and with it: test
speakers of each corpus, TESS's two speakers through the network trained without TESS.
"""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from agf_core.labels import EMOTIONS, NUM_EMOTIONS, emotion_index
from agf_core.models.voice import VoiceNet, VoiceNetConfig
from agf_core.training.loop import seed_everything, warmup_cosine
from agf_core.training.losses import group_balanced_weights
from agf_core.training.speech_corpora import CORPORA, CORPUS_CLASSES, read_corpus
from agf_core.training.voice_features import SPLITS, VoiceSet, all_splits

log = logging.getLogger(__name__)
DEV = (("ravdess", "dev"), ("urdu", "dev"), ("indian", "dev"))
NEUTRAL = emotion_index("neutral")
BASELINE_CLIPS = 2        # neutral utterances per calibration (~10 s of speech for RAVDESS-length clips)


@dataclass(frozen=True)
class VoiceRecipe:
    epochs: int = 40
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 5e-2
    egemaps_dropout: float = 0.2
    linear_c: float = 0.003       # inverse L2 strength of the linear head (chosen by leave-one-corpus-out)
    net: VoiceNetConfig = VoiceNetConfig()
    seed: int = 0


def sample_weights(s: VoiceSet) -> np.ndarray:
    """Every corpus the same total weight, every class the same weight within its corpus: (N,) summing to N."""
    return group_balanced_weights(s.corpus, s.y)


@torch.no_grad()
def predict(net: VoiceNet, s: VoiceSet) -> np.ndarray:
    net.eval()
    _, logits = net(torch.from_numpy(s.x), torch.from_numpy(s.has_egemaps))
    return logits.softmax(-1).numpy()                                                  # (N, 7)


def accuracy(net: VoiceNet, s: VoiceSet) -> float:
    return float((predict(net, s).argmax(1) == s.y).mean()) if len(s.y) else float("nan")


def train(train_set: VoiceSet, dev_sets: list[VoiceSet], recipe: VoiceRecipe = VoiceRecipe()) -> tuple[VoiceNet, dict]:
    """The network at its best dev epoch, and that epoch's dev accuracies."""
    seed_everything(recipe.seed)
    net = VoiceNet(recipe.net)
    clean = train_set.x[train_set.has_egemaps]
    net.mean.copy_(torch.from_numpy(train_set.x.mean(0)))
    net.std.copy_(torch.from_numpy(train_set.x.std(0) + 1e-6))
    if len(clean):  # eGeMAPS statistics from the rows that have them
        net.mean[-recipe.net.egemaps_dim:] = torch.from_numpy(clean.mean(0)[-recipe.net.egemaps_dim:])
        net.std[-recipe.net.egemaps_dim:] = torch.from_numpy(clean.std(0)[-recipe.net.egemaps_dim:] + 1e-6)
    x, y = torch.from_numpy(train_set.x), torch.from_numpy(train_set.y)
    has = torch.from_numpy(train_set.has_egemaps)
    w = torch.from_numpy(sample_weights(train_set)).float()
    steps = int(np.ceil(len(y) / recipe.batch_size))
    optim = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda i: warmup_cosine(i, recipe.epochs * steps, steps))
    gen = torch.Generator().manual_seed(recipe.seed)
    best, best_state = None, None
    for epoch in range(recipe.epochs):
        net.train()
        order = torch.randperm(len(y), generator=gen)
        for i in range(steps):
            b = order[i * recipe.batch_size:(i + 1) * recipe.batch_size]
            drop = torch.rand(len(b), generator=gen) < recipe.egemaps_dropout
            _, logits = net.mlp(net.standardize(x[b], has[b] & ~drop))                 # (B, 7)
            loss = (torch.nn.functional.cross_entropy(logits, y[b], reduction="none") * w[b]).sum() / w[b].sum()
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
        dev = {f"{s.corpus[0]}": mlp_accuracy(net, s) for s in dev_sets}
        score = float(np.mean(list(dev.values())))
        if best is None or score > best["score"]:
            best = {"score": score, "epoch": epoch + 1, **dev}
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    fit_linear(net, train_set, recipe)
    best.update({f"{s.corpus[0]}_mixed": accuracy(net, s) for s in dev_sets})
    return net.eval(), best


@torch.no_grad()
def mlp_accuracy(net: VoiceNet, s: VoiceSet) -> float:
    net.eval()
    _, logits = net.mlp(net.standardize(torch.from_numpy(s.x), torch.from_numpy(s.has_egemaps)))
    net.train()
    return float((logits.argmax(1).numpy() == s.y).mean())


@torch.no_grad()
def fit_linear(net: VoiceNet, s: VoiceSet, recipe: VoiceRecipe) -> None:
    """The linear head: a logistic regression (L2, C=recipe.linear_c) on the network's standardised features,
    with the same sample weights and the same eGeMAPS dropout, copied into net.linear."""
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(recipe.seed)
    has = s.has_egemaps & (rng.random(len(s.y)) >= recipe.egemaps_dropout)
    z = net.standardize(torch.from_numpy(s.x), torch.from_numpy(has)).numpy()
    clf = LogisticRegression(C=recipe.linear_c, max_iter=2000).fit(z, s.y, sample_weight=sample_weights(s))
    weight = np.zeros((net.config.num_classes, z.shape[1]), np.float32)
    bias = np.full(net.config.num_classes, -30.0, np.float32)     # a class never seen in training: never chosen
    weight[clf.classes_], bias[clf.classes_] = clf.coef_, clf.intercept_
    net.linear.weight.copy_(torch.from_numpy(weight))
    net.linear.bias.copy_(torch.from_numpy(bias))


def scores(net: VoiceNet, s: VoiceSet, corpus: str) -> dict:
    """7-way accuracy, and accuracy with the prediction restricted to the corpus's classes."""
    p = predict(net, s)
    restricted = np.full_like(p, -1.0)
    classes = list(CORPUS_CLASSES[corpus])
    restricted[:, classes] = p[:, classes]
    return {"n": int(len(s.y)), "accuracy": float((p.argmax(1) == s.y).mean()),
            "accuracy_own_classes": float((restricted.argmax(1) == s.y).mean())}


def merged(sets: dict, keys) -> VoiceSet:
    return VoiceSet.concat([sets[k] for k in keys])


def run_protocol(data_root: str, recipe: VoiceRecipe = VoiceRecipe()) -> tuple[VoiceNet, dict, dict]:
    """Train the shipped network (all train splits); score it on every test split, leave-one-corpus-out and
    with/without a person's baseline. Returns (net, report, the leave-one-corpus-out outputs {corpus: {logp, y, speaker, name}} of every clean clip: cross-fitted voice readings
    for the fusion, training/fusion/crossfit.py)."""
    sets = all_splits(data_root)
    train_keys = [(c, "train") for c in CORPORA]
    dev_sets = [sets[k] for k in DEV]
    net, best = train(merged(sets, train_keys), dev_sets, recipe)
    tests = {c: sets[(c, "test")] for c in CORPORA if "test" in SPLITS[c]}
    report = {"recipe": asdict(recipe), "selection": best,
              "test": {c: scores(net, s, c) for c, s in tests.items()}, "loco": {}, "calibration": {}}
    loco = {}
    for held in CORPORA:  # leave one corpus out: train on the other four, score on all of the held-out one
        rest = [c for c in CORPORA if c != held]
        m, _ = train(merged(sets, [(c, "train") for c in rest]), [sets[k] for k in DEV if k[0] != held], recipe)
        held_set = merged(sets, [(held, s) for s in SPLITS[held]]).clean()
        report["loco"][held] = scores(m, held_set, held)
        if held == "tess":  # TESS has no test speakers: its two speakers through the network that never heard it
            rest_set = merged(sets, [(c, "train") for c in rest])
            report["calibration_tess"] = calibration_scores(m, held_set, neutral_probs(m, rest_set), held)
        loco[held] = {"logp": np.log(np.clip(predict(m, held_set), 1e-8, 1)).astype(np.float32), "y": held_set.y,
                      "speaker": held_set.speaker,
                      "name": np.array([c.path.name for s in SPLITS[held] for c in read_corpus(data_root, held, s)])}
        log.info("LOCO %s: %s", held, report["loco"][held])
    report["loco_mean"] = float(np.mean([r["accuracy"] for r in report["loco"].values()]))
    full = merged(sets, train_keys)
    report["calibration"] = {c: calibration_scores(net, s, neutral_probs(net, full), c) for c, s in tests.items()}
    return net, report, loco


def calibration_scores(net: VoiceNet, s: VoiceSet, reference: np.ndarray, corpus: str, seed: int = 1) -> dict:
    """The same speakers without and with a baseline (the runtime's rule, agf_core/baseline.offset) from
    BASELINE_CLIPS of their neutral clips, which are left out of both scores."""
    from agf_core.baseline import offset
    from agf_core.branches import BranchOutput
    p = predict(net, s)
    logp = np.log(p + 1e-8)                                                               # (N, 7)
    rng, pred, used = np.random.default_rng(seed), logp.argmax(1).copy(), np.zeros(len(s.y), bool)
    for spk in np.unique(s.speaker):
        rows = s.speaker == spk
        neutral = np.flatnonzero(rows & (s.y == NEUTRAL))
        if not len(neutral):
            continue
        pick = rng.choice(neutral, min(BASELINE_CLIPS, len(neutral)), replace=False)
        used[pick] = True
        sample = BranchOutput(np.zeros(1, np.float32), np.log(p[pick].mean(0) + 1e-8))
        pred[rows] = (logp[rows] - offset(sample, reference)).argmax(1)
    speakers = np.unique(s.speaker[used])
    scored = np.isin(s.speaker, speakers) & ~used
    return {"speakers": int(len(speakers)), "n": int(scored.sum()),
            "without": float((logp.argmax(1)[scored] == s.y[scored]).mean()),
            "with": float((pred[scored] == s.y[scored]).mean())}


def neutral_probs(net: VoiceNet, s: VoiceSet) -> np.ndarray:
    """The mean probabilities (7,) on the clean neutral clips of `s`: where a baseline moves a person's neutral."""
    return predict(net, s.select((s.y == NEUTRAL) & (s.copy == 0))).mean(0)


def compare_frame_branch(data_root: str, path: str | Path) -> dict:
    """An earlier frame-level voice checkpoint (AudioBranch) on the same test splits, 7-way; cached."""
    from agf_core import checkpoint
    from agf_core.branches import AudioBranch
    from agf_core.training.audio import read_wave
    from agf_core.training.features import cached

    def compute():
        branch, out = AudioBranch(path), {}
        for c in CORPORA:
            if "test" in SPLITS[c]:
                clips = read_corpus(data_root, c, "test")
                out[c] = np.stack([branch(read_wave(clip.path)).probs for clip in clips])
                out[f"{c}_y"] = np.array([clip.label for clip in clips])
        return out
    z = cached("voice_compare", {"checkpoint": checkpoint.sha256(path)}, compute)
    report = {}
    for c in CORPORA:
        if c in z:
            p, y = z[c], z[f"{c}_y"]
            own = np.full_like(p, -1.0)
            own[:, list(CORPUS_CLASSES[c])] = p[:, list(CORPUS_CLASSES[c])]
            report[c] = {"n": int(len(y)), "accuracy": float((p.argmax(1) == y).mean()),
                         "accuracy_own_classes": float((own.argmax(1) == y).mean())}
    return report


def markdown(report: dict) -> str:
    """reports/voice_cross_corpus.md from the protocol's report."""
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    tests = [c for c in ("ravdess", "urdu", "emovo", "indian") if c in report["test"]]
    names = {"ravdess": "RAVDESS 21-24", "urdu": "URDU test", "emovo": "EMOVO test speakers",
             "indian": "Indian EmoSpeech test", "tess": "TESS"}
    lines = ["# The voice across speakers and corpora (issue 23)", "",
             "7-way accuracy, % (in brackets: the prediction restricted to the classes the corpus has). "
             "`python -m agf_core.training.voice_recipe --data-root ../shared/data --out runs/voice "
             "--compare <earlier audio.pt>`.", "",
             "| voice branch | " + " | ".join(names[c] for c in tests) + " | leave-one-corpus-out mean (5 corpora) |",
             "|---|" + "---|" * (len(tests) + 1)]
    if "earlier_branch" in report:
        e = report["earlier_branch"]["test"]
        lines.append("| earlier: Whisper frames + prosody, RAVDESS+TESS+URDU | " + " | ".join(
            f"{pct(e[c]['accuracy'])} ({pct(e[c]['accuracy_own_classes'])})" for c in tests) + " | — |")
    t = report["test"]
    lines.append("| **shipped: pooled Whisper + eGeMAPS, all five corpora** | " + " | ".join(
        f"**{pct(t[c]['accuracy'])}** ({pct(t[c]['accuracy_own_classes'])})" for c in tests)
        + f" | **{pct(report['loco_mean'])}** |")
    lines += ["", "Leave one corpus out (trained on the other four corpora's train speakers, scored on every clip "
              "of the held-out corpus):", "", "| held out | n | accuracy | own classes |", "|---|---|---|---|"]
    lines += [f"| {names[c]} | {r['n']} | {pct(r['accuracy'])} | {pct(r['accuracy_own_classes'])} |"
              for c, r in report["loco"].items()]
    lines += ["", "A baseline per person (agf_core/baseline.py, the runtime's rule): the same speakers without and "
              f"with a baseline from {BASELINE_CLIPS} of their neutral clips (left out of both scores); test "
              "speakers, and TESS's two speakers through the network trained without TESS.", "",
              "| corpus | speakers | n | without | with baseline |", "|---|---|---|---|---|"]
    cal = {**report["calibration"], **({"tess": report["calibration_tess"]} if "calibration_tess" in report else {})}
    lines += [f"| {names[c]} | {r['speakers']} | {r['n']} | {pct(r['without'])} | {pct(r['with'])} |"
              for c, r in cal.items()]
    sel = report["selection"]
    lines += ["", f"Selection: the MLP's epoch {sel['epoch']} of {report['recipe']['epochs']} by its mean dev accuracy "
              f"({', '.join(f'{k} {pct(v)}' for k, v in sel.items() if k not in ('score', 'epoch'))}; "
              "'_mixed': with the linear head)."]
    return "\n".join(lines) + "\n"


def save(net: VoiceNet, path: Path, meta: dict) -> None:
    from agf_core import checkpoint
    checkpoint.save(path, "audio", {"voice": asdict(net.config)}, net.state_dict(), meta)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m agf_core.training.voice_recipe", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare", help="an earlier frame-level audio.pt to score on the same test splits")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    recipe = VoiceRecipe(seed=args.seed)
    net, report, loco = run_protocol(args.data_root, recipe)
    if args.compare:
        report["earlier_branch"] = {"checkpoint": str(args.compare), "test": compare_frame_branch(args.data_root, args.compare)}
    meta = {"neutral_probs": neutral_probs(net, merged(all_splits(args.data_root), [(c, "train") for c in CORPORA])).tolist(),
            "train": "train splits of ravdess, tess, urdu, emovo, indian (clean + augmented), corpus- and "
                     "class-balanced", "selection": report["selection"], "test": report["test"],
            "loco_mean": report["loco_mean"], "classes": list(EMOTIONS)}
    save(net, args.out / "best.pt", meta)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    (args.out / "voice_cross_corpus.md").write_text(markdown(report))
    np.savez(args.out / "loco_outputs.npz", **{f"{c}_{k}": v for c, d in loco.items() for k, v in d.items()})
    log.info("test %s; LOCO mean %.3f", report["test"], report["loco_mean"])
    return report


if __name__ == "__main__":
    main()
