"""Cross-corpus evaluation of the audio branch: does it recognise people, or the corpus it was trained on?

Test beds (none is ever used for training or selection by the run that is scored on it):
    ravdess_test  RAVDESS actors 21-24 (240 clips, 7 classes, calm -> neutral)
    urdu_test     URDU test speakers SM2 SM7 SM24 SM20 SF9 SM21 (112 clips; 4 classes: fear, disgust and
                  surprise do not occur, so they are dropped from its macro-F1; predictions stay 7-way)
    tess_OAF / tess_YAF   one TESS speaker each (700 clips, 7 classes): leave-one-speaker-out
    tess_all      both TESS speakers (1,400 clips): the test bed when TESS is the left-out corpus

The protocol (RUNS) trains, per front end, the multi-corpus model, one model per single corpus, the three
leave-one-corpus-out models and the two TESS leave-one-speaker-out models:

    python -m agf_core.training.cross_corpus --data-root ../shared/data --runs runs/audio_cc [--frontend F] [--only N ...]

and `python -m agf_core.evaluate --task audio --cross-corpus --data-root ../shared/data --runs runs/audio_cc
--out reports/` scores every checkpoint found (plus the shipped agf_core/weights/audio.pt, the "before" row) on
every test bed -> reports/audio_cross_corpus.json and .md.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from agf_core import checkpoint
from agf_core.checkpoint import WEIGHTS
from agf_core.labels import EMOTIONS
from agf_core.training.metrics import classification_report, restricted_report
from agf_core.training.speech_corpora import CORPUS_CLASSES, parse_spec

log = logging.getLogger(__name__)
TEST_BEDS = {"ravdess_test": ("ravdess", "test", None), "urdu_test": ("urdu", "test", None),
             "tess_OAF": ("tess", "train", "OAF"), "tess_YAF": ("tess", "train", "YAF"),
             "tess_all": ("tess", "train", None)}
RUNS = {"multi": ("ravdess", "tess", "urdu"),
        "ravdess_only": ("ravdess",), "tess_only": ("tess",), "urdu_only": ("urdu",),
        "loco_no_ravdess": ("tess", "urdu"), "loco_no_tess": ("ravdess", "urdu"), "loco_no_urdu": ("ravdess", "tess"),
        "loso_tess_OAF": ("ravdess", "tess:OAF", "urdu"), "loso_tess_YAF": ("ravdess", "tess:YAF", "urdu")}
LOCO_BED = {"ravdess": "ravdess_test", "urdu": "urdu_test", "tess": "tess_all"}
SHIPPED_SPECS = ("ravdess",)   # the shipped audio.pt: RAVDESS actors 01-16 only


def bed_status(bed: str, specs: tuple[str, ...]) -> str:
    """How a test bed relates to a training set: "held-out corpus", "unseen speakers" (same corpus, other
    speakers) or "seen speakers" (in-corpus memorisation; not a generalisation figure)."""
    corpus, _, speaker = TEST_BEDS[bed]
    parsed = [parse_spec(s) for s in specs]
    same = [sp for c, sp in parsed if c == corpus]
    if not same:
        return "held-out corpus"
    if corpus != "tess":
        return "unseen speakers"
    if speaker and all(sp is not None and sp != speaker for sp in same):
        return "unseen speakers"
    return "seen speakers"


def corpus_restricted(y: np.ndarray, probs: np.ndarray, corpus: str) -> dict:
    """Accuracy and F1s when the prediction is restricted to the classes the speech corpus has."""
    rep = restricted_report(y, probs, CORPUS_CLASSES[corpus])
    return {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"], "weighted_f1": rep["weighted_f1"]}


def bed_data(data_root: str, bed: str, encoder, cache: dict):
    """(frames list, labels) of a test bed for one encoder config (clean clips), memoised in `cache`."""
    from agf_core.training.speech_features import speech_set
    corpus, split, speaker = TEST_BEDS[bed]
    key = (bed, json.dumps(encoder.__dict__, sort_keys=True))
    if key not in cache:
        s = speech_set(data_root, corpus, split, encoder, copies=0)
        s = s.select(s.speaker == speaker) if speaker else s
        cache[key] = (s.seqs, s.y)
    return cache[key]


def score_checkpoint(path: Path, data_root: str, name: str, cache: dict) -> dict:
    from agf_core.training.audio import predict_probs
    from agf_core.branches import AudioBranch
    ck = checkpoint.load(path, "audio")
    if "voice" in ck["config"]:
        raise ValueError(f"{path} is an utterance-level voice (VoiceBranch): this table scores frame-level heads; "
                         "its own cross-corpus protocol is `python -m agf_core.training.voice_recipe` "
                         "(reports/voice_cross_corpus.md)")
    specs = tuple(ck["meta"].get("train_specs") or SHIPPED_SPECS)
    branch = AudioBranch(path)
    row = {"name": name, "checkpoint": str(path), "checkpoint_sha256": checkpoint.sha256(path),
           "train_specs": list(specs), "frontend": branch.frontend.config.frontend,
           "selection": ck["meta"].get("selection"), "train": ck["meta"].get("train"),
           "dev": {k: v for k, v in ck["meta"].items() if k.startswith("dev_")}, "beds": {}}
    for bed, (corpus, _, _) in TEST_BEDS.items():
        seqs, y = bed_data(data_root, bed, branch.frontend.config, cache)
        probs = predict_probs(branch.net, [((s - branch.mean) / branch.std).astype(np.float32) for s in seqs])
        rep = classification_report(y, probs)
        row["beds"][bed] = {"status": bed_status(bed, specs), "n": rep["n"],
                            **{k: rep[k] for k in ("accuracy", "macro_f1", "weighted_f1")},
                            "restricted": corpus_restricted(y, probs, corpus),
                            "per_class_f1": {e: rep["per_class"][e]["f1"] for e in EMOTIONS
                                             if rep["per_class"][e]["support"]},
                            "confusion": rep["confusion"]}
    return row


def find_checkpoints(runs: list[str], first: tuple[str, Path] = ("shipped audio.pt", WEIGHTS / "audio.pt")
                     ) -> dict[str, Path]:
    """`first` (the shipped checkpoint, the "before" row), then every best.pt under the run folders, named by
    their path."""
    found = dict([first])
    for root in runs:
        for p in sorted(Path(root).glob("**/best.pt")):
            found[str(p.parent)] = p
    return found


def summary(rows: list[dict]) -> dict:
    """Per front end: leave-one-corpus-out accuracy (and its mean), TESS leave-one-speaker-out, and the
    single-corpus models on each held-out corpus, for the 'better than single-corpus' comparison."""
    out = {}
    by_name = {r["name"]: r for r in rows}
    groups = sorted({str(Path(n).parent) for n in by_name if Path(n).name in RUNS})
    for g in groups:
        run = lambda n: by_name.get(str(Path(g) / n))  # noqa: E731
        loco, single = {}, {}
        for corpus, bed in LOCO_BED.items():
            r = run(f"loco_no_{corpus}")
            if r:
                loco[corpus] = r["beds"][bed]["accuracy"]
            single[corpus] = {n: run(n)["beds"][bed]["accuracy"] for n in ("ravdess_only", "tess_only", "urdu_only")
                              if run(n) and run(n)["beds"][bed]["status"] == "held-out corpus"}
        loso = {sp: run(f"loso_tess_{other}")["beds"][f"tess_{sp}"]["accuracy"]
                for sp, other in (("YAF", "OAF"), ("OAF", "YAF")) if run(f"loso_tess_{other}")}
        out[g] = {"loco_accuracy": loco, "loco_mean": float(np.mean(list(loco.values()))) if loco else None,
                  "single_corpus_on_held_out": single,
                  "loco_beats_every_single_corpus": {c: all(loco[c] > v for v in single[c].values())
                                                     for c in loco if single.get(c)},
                  "tess_leave_one_speaker_out": loso,
                  "tess_loso_mean": float(np.mean(list(loso.values()))) if loso else None}
    return out


def cross_corpus_report(data_root: str, runs: list[str], out_dir: str | Path) -> dict:
    cache: dict = {}
    rows = []
    for name, path in find_checkpoints(runs).items():
        log.info("scoring %s", path)
        rows.append(score_checkpoint(path, data_root, name, cache))
    report = {"task": "audio", "kind": "cross-corpus", "test_beds": {b: list(map(str, v)) for b, v in TEST_BEDS.items()},
              **class_lists(CORPUS_CLASSES), "checkpoints": rows, "summary": summary(rows)}
    return write_report(report, out_dir, "audio_cross_corpus", markdown)


def class_lists(corpus_classes: dict[str, tuple[int, ...]]) -> dict[str, dict[str, list[str]]]:
    """The classes each corpus has and those dropped from it, by name, for a report."""
    return {"corpus_classes": {c: [EMOTIONS[i] for i in k] for c, k in corpus_classes.items()},
            "dropped_classes": {c: [e for i, e in enumerate(EMOTIONS) if i not in k] for c, k in corpus_classes.items()}}


def write_report(report: dict, out_dir: str | Path, stem: str, markdown) -> dict:
    """OUT/<stem>.json and OUT/<stem>.md (`markdown(report)`); returns the report."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (out / f"{stem}.md").write_text(markdown(report))
    return report


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def markdown(report: dict) -> str:
    beds = list(TEST_BEDS)
    lines = ["# Audio branch across corpora", "",
             "Written by `python -m agf_core.evaluate --task audio --cross-corpus`. Accuracy / macro-F1 / "
             "weighted-F1 (%) with the 7-way prediction; macro-F1 over the classes the test bed has. "
             "URDU has only neutral, joy, sadness, anger (dropped: fear, disgust, surprise); `urdu 4-way` is "
             "the accuracy when the prediction is restricted to those 4. Cell marks: * seen speakers "
             "(in-corpus memorisation, not a generalisation figure), ° held-out corpus, no mark: the corpus "
             "was trained on but these speakers were not.", "",
             "| checkpoint | front end | trained on | " + " | ".join(beds) + " | urdu 4-way | sha256 |",
             "|" + "---|" * (len(beds) + 5)]
    mark = {"seen speakers": "*", "held-out corpus": "°", "unseen speakers": ""}
    for r in report["checkpoints"]:
        cells = [f"{pct(b['accuracy'])} / {pct(b['macro_f1'])} / {pct(b['weighted_f1'])}{mark[b['status']]}"
                 for b in (r["beds"][k] for k in beds)]
        lines.append(f"| {r['name']} | {r['frontend']} | {' + '.join(r['train_specs'])} | " + " | ".join(cells)
                     + f" | {pct(r['beds']['urdu_test']['restricted']['accuracy'])} | `{r['checkpoint_sha256'][:12]}` |")
    lines += ["", "## Leave-one-corpus-out and leave-one-speaker-out (accuracy %)", "",
              "| runs | LOCO RAVDESS | LOCO URDU | LOCO TESS | LOCO mean | best single-corpus model on each held-out "
              "corpus | LOCO beats every single-corpus model | TESS LOSO (YAF, OAF) | TESS LOSO mean |",
              "|---|---|---|---|---|---|---|---|---|"]
    for g, s in report["summary"].items():
        best_single = ", ".join(f"{c}: {pct(max(v.values()))}" for c, v in s["single_corpus_on_held_out"].items() if v)
        lines.append(f"| {g} | {pct(s['loco_accuracy'].get('ravdess'))} | {pct(s['loco_accuracy'].get('urdu'))} | "
                     f"{pct(s['loco_accuracy'].get('tess'))} | {pct(s['loco_mean'])} | {best_single} | "
                     f"{s['loco_beats_every_single_corpus']} | "
                     f"{', '.join(pct(v) for v in s['tess_leave_one_speaker_out'].values())} | {pct(s['tess_loso_mean'])} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Train the protocol's runs that are missing (each resumable): see the module docstring."""
    from dataclasses import replace

    from agf_core.device import set_threads
    from agf_core.training.speech_recipe import SPEECH_DEFAULTS, VARIANTS, SpeechRecipe, apply_variant, train_speech
    ap = argparse.ArgumentParser(prog="python -m agf_core.training.cross_corpus", description=main.__doc__)
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--runs", default="runs/audio_cc")
    ap.add_argument("--frontend", default="whisper_prosody", choices=("whisper", "whisper_prosody"))
    ap.add_argument("--only", nargs="+", choices=tuple(RUNS), help="train only these runs")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, help=f"default {SPEECH_DEFAULTS.epochs}")
    ap.add_argument("--variant", default="base", choices=tuple(VARIANTS),
                    help="recipe variant (agf_core/speech_recipe.py VARIANTS); runs go to RUNS/FRONTEND[_VARIANT]/")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    set_threads(args.threads)
    for name in args.only or RUNS:
        out = Path(args.runs) / (args.frontend + ("" if args.variant == "base" else f"_{args.variant}")) / name
        recipe = replace(SpeechRecipe(), train_specs=RUNS[name])
        recipe = replace(recipe, encoder=replace(recipe.encoder, frontend=args.frontend))
        opts = replace(SPEECH_DEFAULTS, epochs=args.epochs) if args.epochs else SPEECH_DEFAULTS
        recipe, opts = apply_variant(recipe, opts, args.variant)
        best = train_speech(args.data_root, out, opts, recipe)
        print(json.dumps({"run": str(out), "best": best}), flush=True)


if __name__ == "__main__":
    main()
