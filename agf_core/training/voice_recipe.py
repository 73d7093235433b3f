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

A person's baseline (calibration): a speaker's neutral features minus the training neutral mean are
subtracted from that speaker's features. The calibrated network is trained on features shifted that way
(each training speaker's baseline from up to `BASELINE_CLIPS` of their neutral clips), so it reads how a
voice differs from its own neutral.
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
    net: VoiceNetConfig = VoiceNetConfig()
    seed: int = 0


def sample_weights(s: VoiceSet) -> np.ndarray:
    """Every corpus the same total weight, every class the same weight within its corpus: (N,) summing to N."""
    w = np.zeros(len(s.y))
    corpora = np.unique(s.corpus)
    for c in corpora:
        in_c = s.corpus == c
        classes = np.unique(s.y[in_c])
        for k in classes:
            rows = in_c & (s.y == k)
            w[rows] = 1.0 / (len(corpora) * len(classes) * rows.sum())
    return w * len(w)


def neutral_reference(s: VoiceSet) -> np.ndarray:
    """The mean features (856,) of the clean neutral clips: where a calibrated voice is moved to."""
    keep = (s.y == NEUTRAL) & (s.copy == 0)
    return s.x[keep].mean(0) if keep.any() else s.x.mean(0)


def speaker_baselines(s: VoiceSet, reference: np.ndarray, clips: int = BASELINE_CLIPS, seed: int = 0
                      ) -> tuple[dict[tuple[str, str], np.ndarray], set[int]]:
    """{(corpus, speaker): baseline (856,)} from up to `clips` clean neutral clips of each speaker (those rows
    are returned too, so that a score can leave them out), minus the neutral reference."""
    rng, out, used = np.random.default_rng(seed), {}, set()
    for c, spk in sorted(set(zip(s.corpus, s.speaker))):
        rows = np.flatnonzero((s.corpus == c) & (s.speaker == spk) & (s.y == NEUTRAL) & (s.copy == 0))
        if len(rows):
            pick = rng.choice(rows, min(clips, len(rows)), replace=False)
            out[(c, spk)] = s.x[pick].mean(0) - reference
            used.update(pick.tolist())
    return out, used


def calibrated(s: VoiceSet, baselines: dict) -> tuple[VoiceSet, np.ndarray]:
    """The rows of speakers with a baseline, shifted by it; and which rows those were (N,) bool."""
    keep = np.array([(c, spk) in baselines for c, spk in zip(s.corpus, s.speaker)], bool)
    out = s.select(keep)
    shift = np.stack([baselines[(c, spk)] for c, spk in zip(out.corpus, out.speaker)]) if keep.any() \
        else np.zeros((0, s.x.shape[1]), np.float32)
    eg = out.has_egemaps[:, None]
    shift[:, -VoiceNetConfig.egemaps_dim:] *= eg  # absent eGeMAPS stay absent (zeros)
    return replace(out, x=(out.x - shift).astype(np.float32)), keep


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
            _, logits = net(x[b], has[b] & ~drop)                                      # (B, 7)
            loss = (torch.nn.functional.cross_entropy(logits, y[b], reduction="none") * w[b]).sum() / w[b].sum()
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
        dev = {f"{s.corpus[0]}": accuracy(net, s) for s in dev_sets}
        score = float(np.mean(list(dev.values())))
        if best is None or score > best["score"]:
            best = {"score": score, "epoch": epoch + 1, **dev}
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    return net.eval(), best


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


def run_protocol(data_root: str, recipe: VoiceRecipe = VoiceRecipe()) -> tuple[VoiceNet, VoiceNet, dict, dict]:
    """Train the shipped network (all train splits) and the calibrated one; score both on every test split,
    leave-one-corpus-out and with/without a baseline. Returns (net, calibrated net, report, the leave-one-
    corpus-out outputs {corpus: {logp, y, speaker, name}} of every clean clip: cross-fitted voice readings
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
        loco[held] = {"logp": np.log(np.clip(predict(m, held_set), 1e-8, 1)).astype(np.float32), "y": held_set.y,
                      "speaker": held_set.speaker,
                      "name": np.array([c.path.name for s in SPLITS[held] for c in read_corpus(data_root, held, s)])}
        log.info("LOCO %s: %s", held, report["loco"][held])
    report["loco_mean"] = float(np.mean([r["accuracy"] for r in report["loco"].values()]))
    cal_net, report["calibration"] = calibration_protocol(sets, recipe)
    return net, cal_net, report, loco


def calibration_protocol(sets: dict, recipe: VoiceRecipe) -> tuple[VoiceNet, dict]:
    """The same speakers scored without and with their baseline: test speakers of each corpus that has
    them, and TESS's two speakers through a model trained without TESS. The neutral clips that made a
    speaker's baseline are left out of both scores."""
    train_set = merged(sets, [(c, "train") for c in CORPORA])
    reference = neutral_reference(train_set)
    base, _ = speaker_baselines(train_set, reference)
    cal_train, _ = calibrated(train_set, base)
    plain, _ = train(train_set, [sets[k] for k in DEV], recipe)
    dev_cal = []
    for k in DEV:
        b, _ = speaker_baselines(sets[k], reference)
        dev_cal.append(calibrated(sets[k], b)[0])
    cal_net, _ = train(cal_train, dev_cal, recipe)
    cal_net.register_buffer("neutral_reference", torch.from_numpy(reference.astype(np.float32)))
    out = {}
    evals = {c: sets[(c, "test")] for c in CORPORA if "test" in SPLITS[c]}
    no_tess = [(c, "train") for c in CORPORA if c != "tess"]
    no_tess_set = merged(sets, no_tess)
    ref_nt = neutral_reference(no_tess_set)
    plain_nt, _ = train(no_tess_set, [sets[k] for k in DEV], recipe)
    cal_nt, _ = train(calibrated(no_tess_set, speaker_baselines(no_tess_set, ref_nt)[0])[0], dev_cal, recipe)
    evals["tess"] = sets[("tess", "train")].clean()
    for c, s in evals.items():
        p_net, c_net, ref = (plain_nt, cal_nt, ref_nt) if c == "tess" else (plain, cal_net, reference)
        b, used = speaker_baselines(s, ref, seed=1)
        scored = np.ones(len(s.y), bool)
        scored[list(used)] = False
        shifted, has_base = calibrated(s, b)
        keep = scored & has_base
        without = s.select(keep)
        with_b = shifted.select(scored[has_base])
        out[c] = {"speakers": int(len(b)), "n": int(keep.sum()), "without": scores(p_net, without, c),
                  "with": scores(c_net, with_b, c),
                  "with_logit_shift": logit_shift_accuracy(p_net, s, used, keep, train_set if c != "tess" else no_tess_set)}
        log.info("calibration %s: %s", c, out[c])
    return cal_net, out


def logit_shift_accuracy(net: VoiceNet, s: VoiceSet, used: set[int], scored: np.ndarray, train_set: VoiceSet
                         ) -> float:
    """The model-agnostic baseline (calibration.py): each speaker's mean log-probabilities on their baseline
    clips, minus the mean on the training neutral clips, subtracted from their other readings."""
    ref = np.log(predict(net, train_set.select((train_set.y == NEUTRAL) & (train_set.copy == 0))) + 1e-8).mean(0)
    logp = np.log(predict(net, s) + 1e-8)                                                # (N, 7)
    used_rows = np.zeros(len(s.y), bool)
    used_rows[list(used)] = True
    pred = np.zeros(len(s.y), int)
    for c, spk in set(zip(s.corpus, s.speaker)):
        rows = (s.corpus == c) & (s.speaker == spk)
        if (rows & used_rows).any():
            pred[rows] = (logp[rows] - (logp[rows & used_rows].mean(0) - ref)).argmax(1)
    return float((pred[scored] == s.y[scored]).mean())


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
    lines += ["", "A baseline per person (agf_core/baseline.py): the same speakers without and with a baseline "
              "from two of their neutral clips (left out of both scores); test speakers, and TESS's two speakers "
              "through networks trained without TESS. 'feature shift': a network trained on speaker-relative "
              "features; 'logit shift': the shipped network's readings minus the speaker's neutral offset (what "
              "the runtime does).", "",
              "| corpus | speakers | n | without | with (feature shift) | with (logit shift, shipped) |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {names[c]} | {r['speakers']} | {r['n']} | {pct(r['without']['accuracy'])} | "
              f"{pct(r['with']['accuracy'])} | {pct(r['with_logit_shift'])} |" for c, r in report["calibration"].items()]
    sel = report["selection"]
    lines += ["", f"Selection: epoch {sel['epoch']} of {report['recipe']['epochs']} by mean dev accuracy "
              f"({', '.join(f'{k} {pct(v)}' for k, v in sel.items() if k not in ('score', 'epoch'))})."]
    return "\n".join(lines) + "\n"


def save(net: VoiceNet, path: Path, meta: dict, calibrated_net: VoiceNet | None = None) -> None:
    state = {k: v for k, v in net.state_dict().items()}
    ck = {"kind": "audio", "config": {"voice": asdict(net.config)}, "state_dict": state, "meta": meta}
    if calibrated_net is not None:
        ck["calibrated_state_dict"] = calibrated_net.state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, path)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m agf_core.training.voice_recipe", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare", help="an earlier frame-level audio.pt to score on the same test splits")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    recipe = VoiceRecipe(seed=args.seed)
    net, cal_net, report, loco = run_protocol(args.data_root, recipe)
    if args.compare:
        report["earlier_branch"] = {"checkpoint": str(args.compare), "test": compare_frame_branch(args.data_root, args.compare)}
    train_set = merged(all_splits(args.data_root), [(c, "train") for c in CORPORA])
    neutral = predict(net, train_set.select((train_set.y == NEUTRAL) & (train_set.copy == 0)))
    meta = {"neutral_logp": np.log(neutral + 1e-8).mean(0).tolist(),
            "train": "train splits of ravdess, tess, urdu, emovo, indian (clean + augmented), corpus- and "
                     "class-balanced", "selection": report["selection"], "test": report["test"],
            "loco_mean": report["loco_mean"], "classes": list(EMOTIONS)}
    save(net, args.out / "best.pt", meta, cal_net)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    (args.out / "voice_cross_corpus.md").write_text(markdown(report))
    np.savez(args.out / "loco_outputs.npz", **{f"{c}_{k}": v for c, d in loco.items() for k, v in d.items()})
    log.info("test %s; LOCO mean %.3f", report["test"], report["loco_mean"])
    return report


if __name__ == "__main__":
    main()
