"""Evaluate a branch on its test split: `python -m agf_core.evaluate --task {text,audio,video} --data-root
../shared/data --out reports/` -> reports/<task>.json and reports/<task>_confusion.png.

`--task fusion` runs the fusion study instead (agf_core/training/fusion/report.py); `--task audio --cross-corpus`
scores the shipped audio.pt and every audio run under `--runs` on every speech corpus's test bed
(agf_core/training/cross_corpus.py) -> reports/audio_cross_corpus.json and .md.
Test splits: MELD test (text), RAVDESS actors 21-24 (audio), FER2013 PrivateTest (video: the face branch). The branch runs
exactly as in `EmotionRecognizer` (same encoder config, same checkpoint), on cached encoder features.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.branches import AudioBranch, TextBranch, VoiceBranch, config_from_dict
from agf_core.checkpoint import WEIGHTS
from agf_core.device import set_threads
from agf_core.labels import EMOTIONS
from agf_core.training.metrics import classification_report
from agf_core.training.train import TASKS, data_root, run_cli, task_name

TEST_SPLITS = {"text": "MELD test (2,610 utterances)", "audio": "RAVDESS actors 21-24 (240 clips, calm -> neutral)",
               "video": "FER2013 test = PrivateTest (3,589 crops)"}


def text_probs(ckpt_path: Path, data_root: str) -> tuple[np.ndarray, np.ndarray]:
    from agf_core.training.text import text_features
    branch = TextBranch(ckpt_path)
    if branch.finetuned:  # its encoder differs from the frozen one the feature cache holds
        from agf_core.training.data import read_meld
        from agf_core.training.text import TextClassifier, text_classifier_probs
        rows = read_meld(data_root, "test", branch.encoder.config.context_turns)
        model = TextClassifier(branch.encoder, branch.head).eval()
        return np.array([r.label for r in rows]), text_classifier_probs(model, rows)
    feats = text_features(data_root, "meld", "test", branch.encoder.config)
    with torch.no_grad():
        return feats["y"], branch.head(torch.from_numpy(feats["x"]))[1].softmax(-1).numpy()


def audio_probs(ckpt_path: Path, data_root: str) -> tuple[np.ndarray, np.ndarray]:
    from agf_core.training.audio import frame_features, predict_probs
    if "voice" in checkpoint.load(ckpt_path, "audio")["config"]:   # utterance-level (the shipped voice)
        from agf_core.training.voice_features import voice_set
        from agf_core.training.voice_recipe import predict
        test = voice_set(data_root, "ravdess", "test")
        return test.y, predict(VoiceBranch(ckpt_path).net, test)
    branch = AudioBranch(ckpt_path)
    seqs, y = frame_features(data_root, "test", branch.frontend.config, noisy_copy=False)
    return y, predict_probs(branch.net, [((s - branch.mean) / branch.std).astype(np.float32) for s in seqs])


def video_probs(ckpt_path: Path, data_root: str) -> tuple[np.ndarray, np.ndarray]:
    from agf_core.training.data import read_fer2013
    from agf_core.training.video import predict_probs
    from agf_core.models.video import FaceNet, FaceNetConfig
    ck = checkpoint.load(ckpt_path, "video")
    net = FaceNet(config_from_dict(FaceNetConfig, ck["config"]))
    net.load_state_dict(ck["state_dict"])
    x, y = read_fer2013(data_root, "test")
    return y, predict_probs(net, x, flip_tta=True)


def save_confusion_png(report: dict, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cm = np.array(report["confusion"], dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(EMOTIONS)):
        for j in range(len(EMOTIONS)):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45, ha="right")
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    ax.set_xlabel("predicted"), ax.set_ylabel("true"), ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluate(task: str, data_root: str, out_dir: str | Path, ckpt_path: str | Path | None = None) -> dict:
    if task == "fusion":
        raise ValueError("the fusion study is evaluated by agf_core.training.fusion.report.evaluate_fusion")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; accepted: {', '.join(TASKS)}")
    ckpt_path = Path(ckpt_path or WEIGHTS / f"{task}.pt")
    y, probs = {"text": text_probs, "audio": audio_probs, "video": video_probs}[task](ckpt_path, data_root)
    report = {"task": task, "test_split": TEST_SPLITS[task], "checkpoint": str(ckpt_path),
              "checkpoint_sha256": checkpoint.sha256(ckpt_path), **classification_report(y, probs)}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{task}.json").write_text(json.dumps(report, indent=2))
    save_confusion_png(report, out / f"{task}_confusion.png",
                       f"{task}: {TEST_SPLITS[task]}\nacc {report['accuracy']:.3f}  wF1 {report['weighted_f1']:.3f}"
                       f"  macro-F1 {report['macro_f1']:.3f}")
    return report


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m agf_core.evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("--task", required=True, type=task_name, help=f"one of {', '.join(TASKS)}")
    ap.add_argument("--data-root", required=True, type=data_root,
                    help="folder holding text/, audio/, faces/ (../shared/data)")
    ap.add_argument("--out", default="reports", help="folder for <task>.json and <task>_confusion.png")
    ap.add_argument("--checkpoint", help="default: the shipped agf_core/weights/<task>.pt; text --cross-corpus: the "
                    "MELD-only baseline (default runs/text_meld_only.pt)")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--runs", nargs="+", help="fusion: the folder `train --task fusion` wrote (default runs/fusion); "
                    "--cross-corpus: folders searched for best.pt (default audio: runs/audio_cc runs/audio_multi; "
                    "text: runs/text_cc)")
    ap.add_argument("--cross-corpus", action="store_true", help="audio and text: the cross-corpus table")
    ap.add_argument("--bed", help="fusion: score a saved fusion-family --checkpoint of --variant on this bed "
                    "(aligned, frames, tuples, evidence)")
    ap.add_argument("--variant", default="all", help="fusion --bed: the strategy the --checkpoint holds")
    ap.add_argument("--voice", help="fusion --bed: the voice_recipe run with loco_outputs.npz")
    return run_cli(ap, _evaluate, ap.parse_args(argv))


def _evaluate(args: argparse.Namespace) -> dict:
    set_threads(args.threads)
    if args.cross_corpus:
        if args.task not in ("audio", "text"):
            raise SystemExit(f"--cross-corpus is only accepted with --task audio or text, not --task {args.task}")
        if args.task == "text":
            from agf_core.training.text_cross_corpus import text_cross_corpus_report
            from agf_core.training.text_cross_corpus import MELD_ONLY_BASELINE
            rep = text_cross_corpus_report(args.data_root, args.runs or ["runs/text_cc"], args.out,
                                           baseline=Path(args.checkpoint or MELD_ONLY_BASELINE))
            print((Path(args.out) / "text_cross_corpus.md").read_text())
            return rep
        from agf_core.training.cross_corpus import cross_corpus_report
        rep = cross_corpus_report(args.data_root, args.runs or ["runs/audio_cc", "runs/audio_multi"], args.out)
        print((Path(args.out) / "audio_cross_corpus.md").read_text())
        return rep
    if args.bed is not None:
        if args.task != "fusion":
            raise SystemExit(f"--bed is only accepted with --task fusion, not --task {args.task}")
        from agf_core.training.fusion.family_cli import evaluate_family
        return evaluate_family(args)
    if args.task == "fusion":
        from agf_core.training.fusion.report import evaluate_fusion
        rep = evaluate_fusion(args.data_root, (args.runs or ["runs/fusion"])[0], args.out, args.checkpoint)
        print(json.dumps({bed: {v: {k: r[k] for k in ("accuracy", "macro_f1", "weighted_f1", "ece")}
                                for v, r in rows.items() if v != "singles"}
                          for bed, rows in rep["variants"].items()}, indent=2))
        return rep
    rep = evaluate(args.task, args.data_root, args.out, args.checkpoint)
    print(json.dumps({k: rep[k] for k in ("task", "n", "accuracy", "macro_f1", "weighted_f1", "ece")}, indent=2))
    return rep


if __name__ == "__main__":
    main()
