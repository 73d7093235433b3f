"""The field's cheap baselines for the voice: a logistic regression on per-clip features (pooled Whisper tiny.en
states, eGeMAPS v02 functionals, or both), trained on the clean train speakers of all five speech corpora
(corpus- and class-balanced), scored 7-way on each test split and leave-one-corpus-out. Beside the shipped
network (agf_core/training/voice_recipe.py), same features and splits.

    python -m agf_core.training.voice_features --data-root ../shared/data     # the feature cache, once
    python -m benchmarks.voice_probe --data-root ../shared/data --out reports/
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from agf_core.training.speech_corpora import CORPORA
from agf_core.training.voice_features import SPLITS, VoiceSet, all_splits
from agf_core.training.voice_recipe import sample_weights

ROOT = Path(__file__).resolve().parent.parent
FEATURES = {"whisper": slice(0, 768), "egemaps": slice(768, 856), "both": slice(0, 856)}


def probe(train: VoiceSet, tests: dict[str, VoiceSet], cols: slice, c: float = 0.01) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    scale = StandardScaler().fit(train.x[:, cols])
    clf = LogisticRegression(C=c, max_iter=3000).fit(scale.transform(train.x[:, cols]), train.y,
                                                     sample_weight=sample_weights(train))
    return {name: round(100 * float((clf.predict(scale.transform(s.x[:, cols])) == s.y).mean()), 1)
            for name, s in tests.items()}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.voice_probe", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", type=Path, default=ROOT / "reports")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sets = {k: v.clean() for k, v in all_splits(args.data_root).items()}
    train = VoiceSet.concat([sets[(c, "train")] for c in CORPORA])
    tests = {c: sets[(c, "test")] for c in CORPORA if "test" in SPLITS[c]}
    rows = {}
    for name, cols in FEATURES.items():
        rows[name] = probe(train, tests, cols)
        loco = {}
        for held in CORPORA:
            rest = VoiceSet.concat([sets[(c, "train")] for c in CORPORA if c != held])
            whole = VoiceSet.concat([sets[(held, s)] for s in SPLITS[held]])
            loco[held] = probe(rest, {held: whole}, cols)[held]
        rows[name]["loco"] = loco
        rows[name]["loco_mean"] = round(float(np.mean(list(loco.values()))), 1)
        logging.info("%s: %s", name, rows[name])
    report = {"what": __doc__.splitlines()[0], "train": "clean train speakers of ravdess, tess, urdu, emovo, "
              "indian; logistic regression C=0.01, corpus- and class-balanced", "accuracy_7way": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "voice_probe.json").write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
