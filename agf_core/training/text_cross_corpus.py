"""Cross-corpus evaluation of the text branch: the MELD-only model (shipped before session 6) and every multi-corpus and
leave-one-corpus-out head of `text_recipe`, on the test split of every text corpus.

    python -m agf_core.evaluate --task text --cross-corpus --data-root ../shared/data --runs runs/text_cc --out reports/

-> reports/text_cross_corpus.json and .md. Metrics are taken with the prediction restricted to the classes the
corpus has (text_corpora.CORPUS_CLASSES; the others are listed as dropped). Every checkpoint scored here
shares the shipped encoder (checked by its digest), so the cached encodings serve all of them. Caveat: that
encoder was fine-tuned on MELD train, so MELD is never fully held out, even for `loco_no_meld`.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from agf_core import checkpoint
from agf_core.branches import TextBranch
from agf_core.checkpoint import WEIGHTS
from agf_core.labels import EMOTIONS
from agf_core.training.text_corpora import CORPUS_CLASSES, TEXT_CORPORA
from agf_core.training.cross_corpus import pct, class_lists, find_checkpoints, write_report
from agf_core.training.metrics import restricted_report
from agf_core.training.text_recipe import CAPS, corpus_features, encoder_digest, head_probs

log = logging.getLogger(__name__)
MELD_ONLY = ("meld",)


def score_checkpoint(path: Path, data_root: str, name: str, encoder_path: Path) -> dict:
    if encoder_digest(path) != encoder_digest(encoder_path):
        raise ValueError(f"{path} has another encoder than {encoder_path}; this report scores heads over one "
                         "shared encoder")
    ck = checkpoint.load(path, "text")
    trained = tuple(ck["meta"].get("train_corpora") or MELD_ONLY)
    head = TextBranch(path).head
    row = {"name": name, "checkpoint": str(path), "checkpoint_sha256": checkpoint.sha256(path),
           "train_corpora": list(trained), "selection": ck["meta"].get("selection"), "beds": {}}
    for corpus in TEXT_CORPORA:
        d = corpus_features(data_root, corpus, "test", encoder_path, [])
        rep = restricted_report(d["y"], head_probs(head, d["x"]), CORPUS_CLASSES[corpus])
        row["beds"][corpus] = {"held_out": corpus not in trained, "n": rep["n"],
                               **{k: rep[k] for k in ("accuracy", "macro_f1", "weighted_f1")},
                               "per_class_f1": {e: rep["per_class"][e]["f1"] for e in EMOTIONS
                                                if rep["per_class"][e]["support"]}}
    return row


def summary(rows: list[dict]) -> dict:
    """Leave-one-corpus-out weighted-F1 per corpus against the MELD-only model on the same corpus, and the
    multi-corpus model against the MELD-only one on every split."""
    by = {Path(r["name"]).name: r for r in rows}
    meld_only = rows[0]
    loco = {c: by[f"loco_no_{c}"]["beds"][c]["weighted_f1"] for c in TEXT_CORPORA if f"loco_no_{c}" in by}
    out = {"loco_weighted_f1": loco, "loco_mean": float(np.mean(list(loco.values()))) if loco else None,
           "meld_only_weighted_f1": {c: meld_only["beds"][c]["weighted_f1"] for c in TEXT_CORPORA}}
    out["loco_beats_meld_only"] = {c: v > out["meld_only_weighted_f1"][c] for c, v in loco.items() if c != "meld"}
    others = [c for c in TEXT_CORPORA if c != "meld"]
    out["meld_only_other_mean_weighted_f1"] = float(np.mean([meld_only["beds"][c]["weighted_f1"] for c in others]))
    out["multi"] = {}
    for name in sorted(n for n in by if n.startswith("multi")):   # multi and its recipe variants
        beds = by[name]["beds"]
        out["multi"][name] = {"other_mean_weighted_f1": float(np.mean([beds[c]["weighted_f1"] for c in others])),
                              "beats_meld_only": {c: beds[c]["weighted_f1"] >= meld_only["beds"][c]["weighted_f1"]
                                                  for c in TEXT_CORPORA}}
    return out


MELD_ONLY_BASELINE = Path("runs/text_meld_only.pt")
MELD_ONLY_HINT = ("the MELD-only text.pt shipped before session 6; recover it with `git show "
                  "667ed6e:agf_core/weights/text.pt > runs/text_meld_only.pt`")


def check_baseline(path: Path) -> Path:
    """The first row must be a MELD-only head over the shared encoder: every comparison is against it."""
    if not path.is_file():
        raise FileNotFoundError(f"baseline {path} not found: pass --checkpoint with {MELD_ONLY_HINT}")
    trained = tuple(checkpoint.load(path, "text")["meta"].get("train_corpora") or MELD_ONLY)
    if trained != MELD_ONLY:
        raise ValueError(f"baseline {path} was trained on {', '.join(trained)}, not MELD only; pass {MELD_ONLY_HINT}")
    return path


def text_cross_corpus_report(data_root: str, runs: list[str], out_dir: str | Path,
                             encoder_path: Path = WEIGHTS / "text.pt", baseline: Path = MELD_ONLY_BASELINE) -> dict:
    rows = []
    first = (f"MELD-only model ({baseline})", check_baseline(Path(baseline)))
    for name, path in find_checkpoints(runs, first).items():
        log.info("scoring %s", path)
        rows.append(score_checkpoint(path, data_root, name, encoder_path))
    report = {"task": "text", "kind": "cross-corpus", "caps": CAPS, **class_lists(CORPUS_CLASSES),
              "checkpoints": rows, "summary": summary(rows)}
    return write_report(report, out_dir, "text_cross_corpus", markdown)


def markdown(report: dict) -> str:
    lines = ["# Text branch across corpora", "",
             "Written by `python -m agf_core.evaluate --task text --cross-corpus`. Accuracy / macro-F1 / weighted-F1 "
             "(%) on each corpus's test split, the prediction restricted to the classes the corpus has. ° = the "
             "corpus was held out of the head's training. Every head sits on the same frozen encoder (MiniLM "
             "fine-tuned on MELD train), so MELD is never fully held out. MELD test is whole (2,610); the other test "
             f"splits are capped at {report['caps']['test']} texts (a fixed-seed sample where larger).", "",
             "Classes dropped per corpus: " + "; ".join(f"{c}: {', '.join(d) or 'none'}"
                                                         for c, d in report["dropped_classes"].items()), "",
             "| checkpoint | trained on | " + " | ".join(TEXT_CORPORA) + " | sha256 |",
             "|" + "---|" * (len(TEXT_CORPORA) + 3)]
    for r in report["checkpoints"]:
        cells = [f"{pct(b['accuracy'])} / {pct(b['macro_f1'])} / {pct(b['weighted_f1'])}{'°' if b['held_out'] else ''}"
                 for b in (r["beds"][c] for c in TEXT_CORPORA)]
        lines.append(f"| {r['name']} | {' + '.join(r['train_corpora'])} | " + " | ".join(cells)
                     + f" | `{r['checkpoint_sha256'][:12]}` |")
    s = report["summary"]
    lines += ["", "## Leave-one-corpus-out (weighted-F1 %, on the held-out corpus)", "",
              "| corpus | trained without it | MELD-only model | beats MELD-only |", "|---|---|---|---|"]
    for c, v in s["loco_weighted_f1"].items():
        lines.append(f"| {c} | {pct(v)} | {pct(s['meld_only_weighted_f1'][c])} | "
                     f"{s['loco_beats_meld_only'].get(c, '— (MELD-tuned encoder)')} |")
    if s.get("loco_mean") is not None:
        lines.append(f"\nLeave-one-corpus-out mean weighted-F1: {pct(s['loco_mean'])}")
    lines.append(f"\nMean weighted-F1 over the test splits other than MELD: MELD-only model "
                 f"{pct(s['meld_only_other_mean_weighted_f1'])}")
    for name, m in s["multi"].items():
        worse = [c for c, ok in m["beats_meld_only"].items() if not ok]
        lines.append(f"- {name}: {pct(m['other_mean_weighted_f1'])}; below the MELD-only model on: "
                     f"{', '.join(worse) or 'none'}")
    return "\n".join(lines) + "\n"
