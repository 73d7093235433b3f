"""Would averaging the audio network with a linear probe generalise better? Chosen by leave-one-corpus-out on
data that is never a test split (issue 13). Research, not the shipped model.

    python -m benchmarks.speech_mix --data-root ../shared/data --runs runs/audio_cc/whisper_prosody_mix_reg \
        --out reports/

Every clip goes once through the shipped front end (whisper_prosody frames); from it come the probe's
features (mean and std over time) and the 7-way probabilities of the shipped network and of the networks
trained without one corpus (`<runs>/loco_no_<corpus>/best.pt`, from agf_core/training/speech_recipe.py).
For each probe strength C and mixing weight w (p = w probe + (1 - w) network), the held-out corpus is scored
on its train + dev clips (TESS: all), with a probe trained on the other corpora; the pair with the best mean
is the choice. Only then are RAVDESS and URDU test scored, with the probe trained on every corpus's train
split and the shipped network. Writes reports/speech_mix.json.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("speech_mix")
CORPORA = ("ravdess", "urdu", "tess")
CLASSES = {"ravdess": list(range(7)), "tess": list(range(7)), "urdu": [0, 1, 2, 3]}   # URDU: 4 of the 7
SPLITS = {"ravdess": ("train", "dev", "test"), "urdu": ("train", "dev", "test"), "tess": ("train",)}


def features(data_root: Path, runs: Path) -> dict[str, np.ndarray]:
    """Per clip: pooled frames X, label y, corpus, split and each network's probabilities; cached."""
    path = ROOT / ".cache" / "speech_mix.npz"
    if path.exists():
        return dict(np.load(path))
    import torch
    from agf_core.branches import AudioBranch
    from agf_core.models.audio import pad_frames
    from agf_core.training.audio import read_wave
    from agf_core.training.speech_corpora import read_corpus
    nets = {"shipped": AudioBranch(ROOT / "agf_core/weights/audio.pt"),
            **{f"loco_no_{c}": AudioBranch(runs / f"loco_no_{c}" / "best.pt") for c in CORPORA}}
    front = nets["shipped"].frontend
    if any(n.frontend.config != front.config for n in nets.values()):
        raise ValueError(f"the networks in {runs} use another front end than the shipped audio.pt")
    out: dict[str, list] = {k: [] for k in ("X", "y", "corpus", "split", *(f"p_{n}" for n in nets))}
    for corpus, splits in SPLITS.items():
        for split in splits:
            for clip in read_corpus(data_root, corpus, split):
                frames = front(read_wave(clip.path)).astype(np.float32)               # (T, D)
                out["X"].append(np.concatenate([frames.mean(0), frames.std(0)]))      # (2D,)
                out["y"].append(clip.label), out["corpus"].append(corpus), out["split"].append(split)
                with torch.no_grad():
                    for name, net in nets.items():
                        x, mask = pad_frames([((frames - net.mean) / net.std).astype(np.float32)])
                        out[f"p_{name}"].append(net.net.top(net.net.pool(x, mask))[1].softmax(-1)[0].numpy())
            log.info("%s %s done", corpus, split)
    arrays = {k: np.array(v) for k, v in out.items()}
    path.parent.mkdir(exist_ok=True)
    np.savez(path, **arrays)
    return arrays


def fit_probe(d: dict, mask: np.ndarray, c: float):
    """Logistic regression on standardised features, each corpus weighted equally; returns predict(mask)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    corpus = d["corpus"][mask]
    w = np.array([1.0 / (corpus == k).sum() for k in corpus])
    scale = StandardScaler().fit(d["X"][mask])
    clf = LogisticRegression(C=c, max_iter=3000).fit(scale.transform(d["X"][mask]), d["y"][mask],
                                                     sample_weight=w * len(w) / w.sum())

    def predict(m: np.ndarray) -> np.ndarray:
        p = np.zeros((int(m.sum()), 7))
        p[:, clf.classes_] = clf.predict_proba(scale.transform(d["X"][m]))
        return p
    return predict


def accuracy(d: dict, p: np.ndarray, m: np.ndarray, corpus: str) -> float:
    keep = np.array(CLASSES[corpus])
    return round(100 * float((keep[p[:, keep].argmax(1)] == d["y"][m]).mean()), 1)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.speech_mix", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--runs", type=Path, required=True, help="folder with loco_no_<corpus>/best.pt")
    ap.add_argument("--out", type=Path, default=ROOT / "reports")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    d = features(args.data_root, args.runs)
    train = lambda corpora: np.isin(d["corpus"], corpora) & (d["split"] == "train")   # noqa: E731
    grid = []
    for c in (0.001, 0.003, 0.01, 0.03, 0.1):
        held = {}
        for corpus in CORPORA:                                  # the held-out corpus, never its test split
            m = (d["corpus"] == corpus) & (d["split"] != "test")
            held[corpus] = (fit_probe(d, train([k for k in CORPORA if k != corpus]), c)(m), d[f"p_loco_no_{corpus}"][m], m)
        for w in np.round(np.linspace(0, 1, 11), 1):
            loco = {k: accuracy(d, w * pp + (1 - w) * pn, m, k) for k, (pp, pn, m) in held.items()}
            grid.append({"C": c, "w": float(w), "loco": loco, "loco_mean": round(float(np.mean(list(loco.values()))), 1)})
    best = max(grid, key=lambda r: r["loco_mean"])
    probe = fit_probe(d, train(list(CORPORA)), best["C"])
    test = {}
    for corpus in ("ravdess", "urdu"):
        m = (d["corpus"] == corpus) & (d["split"] == "test")
        for name, w in (("network alone", 0.0), ("chosen mix", best["w"])):
            test.setdefault(name, {})[f"{corpus}_test"] = accuracy(d, w * probe(m) + (1 - w) * d["p_shipped"][m], m, corpus)
    report = {"rule": "the (C, w) with the best LOCO mean on held-out corpora's train + dev clips (TESS: all)",
              "chosen": best, "network_alone_loco": next(r for r in grid if r["w"] == 0.0),
              "test_accuracy_%": test, "grid": grid}
    log.info("chosen %s; test %s", best, test)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speech_mix.json").write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
