"""reports/fusion.md and fusion.json: every strategy of the fusion family on every bed, side by side.

    python -m agf_core.training.fusion.family_report --data-root ../shared/data \
        --voice ~/.cache/agf/runs/voice2 --out reports                 # ~30 min on 1 CPU thread

Each (bed, strategy, modality dropout, seed) run is stored in --runs (default ~/.cache/agf/runs/fusion_family)
and reused when the command is run again (--fresh retrains everything). Every run is seeded and uses one
CPU thread, so it recomputes to the same numbers. The few-shot and distillation studies' tables
(reports/fusion_fewshot.md, reports/fusion_distill.md, made by their own commands) are included when present.
"""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.labels import MODALITIES
from agf_core.models.variants import from_checkpoint
from agf_core.training.fusion import beds as bed_lib
from agf_core.training.fusion.family import STRATEGIES, bed_options, run, score, subsets

log = logging.getLogger(__name__)
SEEDS = (0, 1, 2)
SHIPPED = "agf_evidence"
BOOTSTRAP = 1000
EXTRA = ("fewshot", "distill")      # the other halves of the study, reports/fusion_<name>.{md,json}


def run_path(runs: Path, bed: str, variant: str, dropout: bool, seed: int) -> Path:
    return runs / f"{bed}_{variant}_{'drop' if dropout else 'nodrop'}_s{seed}.json"


def run_bed(bed: bed_lib.Bed, runs: Path, fresh: bool) -> list[dict]:
    """Every strategy, with and without modality dropout, every seed; hierarchical over that run's members."""
    out = []
    for dropout in (True, False):
        opts = bed_options(bed.name, dropout)
        for seed in SEEDS:
            paths = {v: run_path(runs, bed.name, v, dropout, seed) for v in STRATEGIES}
            if not fresh and all(p.exists() for p in paths.values()):
                out += [json.loads(p.read_text()) for p in paths.values()]
                continue
            members = []
            for v in STRATEGIES:
                model, result = run(v, bed, seed, opts, members if v == "hierarchical" else None)
                members += [model] if v != "hierarchical" else []
                paths[v].write_text(json.dumps(result))
                log.info("%s %s dropout=%s seed %d: %.1f s", bed.name, v, dropout, seed, result["train_seconds"])
                out.append(result)
    return out


def _ci(correct: np.ndarray, rng: np.random.Generator) -> list[float]:
    """95 % bootstrap interval over test rows of the seeds' mean accuracy; correct (S, N)."""
    n = correct.shape[1]
    means = [correct[:, rng.integers(0, n, n)].mean() for _ in range(BOOTSTRAP)]
    return [round(100 * float(np.percentile(means, q)), 1) for q in (2.5, 97.5)]


def aggregate(results: list[dict], bed: bed_lib.Bed) -> dict:
    """{test set: {"variant|dropout": {subset: {mean, sd, ci95}, parameters, cpu_ms, ...}}}."""
    rng = np.random.default_rng(0)
    full = "+".join(bed.modalities)
    out = {}
    for test_name, s in bed.test.items():
        present = "+".join(m for i, m in enumerate(MODALITIES) if s.mask[:, i].any())
        rows = {}
        for v in STRATEGIES:
            for dropout in (True, False):
                rs = [r for r in results if r["variant"] == v and r["modality_dropout"] == dropout]
                if not rs:
                    continue
                row = {}
                for sub in [k for k in rs[0]["test"][test_name] if k != "weights"]:
                    acc = [100 * r["test"][test_name][sub]["accuracy"] for r in rs]
                    correct = np.array([r["test"][test_name][sub]["correct"] for r in rs])
                    row[sub] = {"mean": round(float(np.mean(acc)), 1), "sd": round(float(np.std(acc, ddof=1)), 1),
                                "ci95": _ci(correct, rng), "n": rs[0]["test"][test_name][sub]["n"]}
                row["macro_f1"] = round(float(np.mean([100 * r["test"][test_name][present]["macro_f1"] for r in rs])), 1)
                row["all_present"] = present
                row["weights"] = rs[0]["test"][test_name]["weights"]
                row.update(seeds=[r["seed"] for r in rs], parameters=rs[0]["parameters"],
                           trainable_parameters=rs[0]["trainable_parameters"],
                           cpu_ms=round(float(np.median([r["cpu_ms"] for r in rs])), 2),
                           train_seconds=round(float(np.mean([r["train_seconds"] for r in rs])), 1))
                rows[f"{v}|{'drop' if dropout else 'nodrop'}"] = row
        out[test_name] = rows
    return out


def branch_alone(bed: bed_lib.Bed) -> dict:
    """Each branch's own reading on each test set (rows where it is present), accuracy %."""
    return {t: {m: round(100 * float((s.logp[m].argmax(1) == s.y)[s.mask[:, i]].mean()), 1)
                for i, m in enumerate(MODALITIES) if s.mask[:, i].any()} for t, s in bed.test.items()}


def shipped_rows(bed: bed_lib.Bed, path: Path) -> dict:
    """The shipped fusion file itself on a bed that gives branch readings (it reads nothing else)."""
    ck = checkpoint.load(path, "fusion")
    model = from_checkpoint(ck, SHIPPED)
    scored = score(model, bed)
    return {t: {sub: round(100 * r["accuracy"], 1) for sub, r in rows.items() if sub != "weights"}
            for t, rows in scored.items()}


SHIP_RULE = ("another strategy (with or without modality dropout) replaces agf_evidence as shipped (no dropout) "
             "only if, on the real aligned test (RAVDESS actors 21-24, face + voice), the paired 95 % bootstrap "
             "interval of its accuracy gain (seed means, same rows) lies above 0, and on neither words test is its "
             "seed-mean accuracy more than 0.5 pt lower")


def _correct(results: list[dict], key: str, test: str) -> np.ndarray:
    """(N,) the seeds' mean correctness of one strategy|dropout on a test set with everything it has present."""
    v, d = key.split("|")
    rs = [r for r in results if r["variant"] == v and r["modality_dropout"] == (d == "drop")]
    full = max((k for k in rs[0]["test"][test] if k != "weights"), key=lambda k: k.count("+"))
    return np.mean([r["test"][test][full]["correct"] for r in rs], 0)


def ship_decision(results: list[dict], table: dict) -> dict:
    """SHIP_RULE applied to the evidence bed's runs: {reference, gains (per candidate), winners, ships}."""
    av, *words = list(table)
    ref = f"{SHIPPED}|nodrop"     # the shipped recipe (crossfit.py) adds no modality dropout
    rng = np.random.default_rng(0)
    gains = {}
    for key in table[av]:
        if key == ref:
            continue
        diff = _correct(results, key, av) - _correct(results, ref, av)
        boot = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(BOOTSTRAP)]
        gains[key] = {"aligned_gain": round(100 * float(diff.mean()), 1),
                      "aligned_gain_ci95": [round(100 * float(np.percentile(boot, q)), 1) for q in (2.5, 97.5)],
                      "words_gain": {t: round(table[t][key][table[t][key]["all_present"]]["mean"]
                                              - table[t][ref][table[t][ref]["all_present"]]["mean"], 1) for t in words}}
    winners = [k for k, g in gains.items() if g["aligned_gain_ci95"][0] > 0 and min(g["words_gain"].values()) >= -0.5]
    best = max(winners, key=lambda k: gains[k]["aligned_gain"]) if winners else None
    return {"rule": SHIP_RULE, "reference": ref, "gains": gains, "winners": winners, "ships": (best or ref).split("|")[0]}


def _name(key: str) -> str:
    v, d = key.split("|")
    return f"{v}{' +drop' if d == 'drop' else ''}"


def _cell(r: dict) -> str:
    return f"{r['mean']:.1f} ± {r['sd']:.1f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]"


def bed_markdown(name: str, table: dict, alone: dict, shipped: dict | None, modalities: tuple[str, ...]) -> list[str]:
    out = []
    for test_name, rows in table.items():
        full = next(iter(rows.values()))["all_present"]
        alone_txt = ", ".join(f"{m} {a}" for m, a in alone[test_name].items())
        out += [f"### {name}: {test_name}", "", f"Each branch's own reading alone: {alone_txt}."
                + (f" The shipped fusion file ({SHIPPED}, agf_core/weights/fusion.pt): {shipped[test_name][full]} "
                   f"with {full.replace('+', ' + ')}." if shipped else ""), "",
                f"| strategy | accuracy, {full.replace('+', ' + ')} (mean ± sd over seeds [95 % CI]) | macro-F1 | "
                "parameters | CPU ms / prediction | train s / seed |", "|---|---|---|---|---|---|"]
        for key, r in rows.items():
            params = f"{r['parameters']:,}" + (f" ({r['trainable_parameters']:,} its own)" if key.startswith("hierarchical") else "")
            out.append(f"| {_name(key)} | {_cell(r[full])} | {r['macro_f1']:.1f} | {params} | {r['cpu_ms']:.2f} | "
                       f"{r['train_seconds']:.0f} |")
        subs = [k for k in (("+".join(s) for s in subsets(modalities))) if k in next(iter(rows.values()))]
        out += ["", f"Missing modalities ({test_name}), accuracy mean ± sd over seeds, by the modalities present:", "",
                "| strategy | " + " | ".join(s.replace("+", " + ") for s in subs) + " |", "|---|" + "---|" * len(subs)]
        for key, r in rows.items():
            out.append(f"| {_name(key)} | " + " | ".join(f"{r[s]['mean']:.1f} ± {r[s]['sd']:.1f}" for s in subs) + " |")
        out.append("")
    return out


def _missing_mean(row: dict, bed_modalities: tuple[str, ...]) -> float:
    """Mean accuracy over the subsets that lack at least one of the bed's modalities."""
    subs = ["+".join(s) for s in subsets(bed_modalities)][:-1]
    return float(np.mean([row[s]["mean"] for s in subs]))


def advice(report: dict) -> str:
    """The "what to use when" paragraph, from the numbers."""
    lines = []
    for bed, mods in (("aligned", ("audio", "video")), ("frames", ("audio", "video")), ("tuples", MODALITIES)):
        if bed not in report["beds"]:
            continue
        test, rows = next(iter(report["beds"][bed]["table"].items()))
        full = "+".join(mods)
        best = max(rows, key=lambda k: rows[k][full]["mean"])
        close = [k for k in rows if rows[k][full]["mean"] >= rows[best][full]["mean"] - rows[best][full]["sd"] - 1.0]
        cheap = min(close, key=lambda k: rows[k]["cpu_ms"])
        robust = max(rows, key=lambda k: _missing_mean(rows[k], mods))
        gain = np.mean([_missing_mean(rows[f"{v}|drop"], mods) - _missing_mean(rows[f"{v}|nodrop"], mods)
                        for v in STRATEGIES if f"{v}|drop" in rows and f"{v}|nodrop" in rows])
        lines.append(f"On the {bed} bed ({test}) {_name(best)} is best with every modality present "
                     f"({rows[best][full]['mean']:.1f} %); within its seed spread + 1 pt, {_name(cheap)} is the cheapest "
                     f"({rows[cheap][full]['mean']:.1f} %, {rows[cheap]['cpu_ms']:.2f} ms); with a modality missing "
                     f"{_name(robust)} holds up best ({_missing_mean(rows[robust], mods):.1f} % over the incomplete subsets); "
                     f"modality dropout changes the incomplete-subset accuracy by {gain:+.1f} pt on average over strategies.")
    beds = report["beds"]
    if "aligned" in beds and "evidence" in beds:
        feat = max(r["audio+video"]["mean"] for r in next(iter(beds["aligned"]["table"].values())).values())
        evid = max(r["audio+video"]["mean"] for r in next(iter(beds["evidence"]["table"].values())).values())
        lines.append(f"The aligned and frames beds fit the fusion on RAVDESS's own features of other actors, which "
                     f"the live voice network never heard, so their lead over the best fusion of the branch readings "
                     f"of the same clips ({feat:.1f} % on aligned against {evid:.1f} %) compares inputs as much as "
                     "strategies: with aligned labelled data of the deployment's own kind, fit MulT or the hierarchical "
                     "meta-fusion on its features; over frozen branches, fuse their readings.")
    slowest = max(((name, k, r["train_seconds"]) for name, b in beds.items() for rows in b["table"].values()
                   for k, r in rows.items()), key=lambda x: x[2])
    lines.append(f"Every strategy trains on one CPU thread in at most {slowest[2]:.0f} s per seed "
                 f"({_name(slowest[1])} on the {slowest[0]} bed; hierarchical's figure excludes its members).")
    ship = report["ship_decision"]
    gains = ship.get("gains", {})
    if gains:
        top = max(gains, key=lambda k: gains[k]["aligned_gain"])
        words = {k: min(g["words_gain"].values()) for k, g in gains.items()}
        wbest = max(words, key=words.get)
        lines.append(f"Over the live branches only strategies that read the branches' readings can run (the evidence "
                     f"bed, where every input is a branch's 7 log-probabilities): there the best on RAVDESS face + voice is "
                     f"{_name(top)}, {gains[top]['aligned_gain']:+.1f} pt over {SHIPPED} as shipped (paired 95 % interval "
                     f"{gains[top]['aligned_gain_ci95'][0]:+.1f} to {gains[top]['aligned_gain_ci95'][1]:+.1f}), and on the words "
                     f"tests {_name(wbest)} gains at least {words[wbest]:+.1f} pt; "
                     + ("no candidate's gain on the aligned test is clear of zero, so " + SHIPPED + " stays shipped: "
                        "its gates say which branch counted, which the page shows."
                        if not ship["winners"] else "the rule picks " + ship["ships"] + "."))
    return " ".join(lines)


def extra_sections(out_dir: Path) -> tuple[list[str], dict]:
    """The few-shot and distillation reports' tables, when their commands have written them."""
    md, js = [], {}
    for name in EXTRA:
        path = out_dir / f"fusion_{name}.md"
        if path.exists():
            body = path.read_text().splitlines()
            md += [f"## {body[0].lstrip('# ')} (from reports/fusion_{name}.md)", ""] + \
                  [("#" + line if line.startswith("#") else line) for line in body[1:]] + [""]
        jpath = out_dir / f"fusion_{name}.json"
        if jpath.exists():
            js[name] = json.loads(jpath.read_text())
    return md, js


def markdown(report: dict, extra: list[str]) -> str:
    out = [f"# The fusion family side by side (shipped: {report['shipped']})", "",
           f"`{report['command']}`", "",
           "Accuracy %, 7 emotions, on speakers (and items) never seen in training; mean ± sd over seeds "
           f"{', '.join(map(str, SEEDS))}, 95 % interval from {BOOTSTRAP} bootstrap resamples of the test rows "
           "(of the seeds' mean). `+drop` = trained with modality dropout. CPU ms: median of 100 single predictions "
           "on one thread of this machine (timings vary with load; accuracies recompute exactly). "
           "agf_core/training/fusion/beds.py says how each bed is made, family.py how every strategy is trained.", "",
           f"Aligned corpora in the data folder's aligned/: {', '.join(report['aligned_corpora'])} (a new one needs its "
           "own bed in beds.py). Few-shot learning and distillation are reported in reports/fusion_fewshot.md and "
           "reports/fusion_distill.md; their tables are appended below when those files exist.", "",
           "## What to use when", "", report["advice"], "",
           f"Shipping rule: {report['ship_decision']['rule']}. By this rule the shipped strategy is "
           f"**{report['ship_decision']['ships']}**; agf_core/weights/fusion.pt holds {report['shipped']}.", ""]
    gains = report["ship_decision"].get("gains", {})
    if gains:
        out += ["| candidate (evidence bed) | gain on RAVDESS 21-24 over agf_evidence as shipped [paired 95 % CI] | "
                "gain on the words tests |", "|---|---|---|"]
        out += [f"| {_name(k)} | {g['aligned_gain']:+.1f} [{g['aligned_gain_ci95'][0]:+.1f}, {g['aligned_gain_ci95'][1]:+.1f}] | "
                + ", ".join(f"{t.split('(')[-1].rstrip(')')} {d:+.1f}" for t, d in g["words_gain"].items()) + " |"
                for k, g in gains.items()]
        out.append("")
    for name, b in report["beds"].items():
        out += [f"## Bed: {name}", "", b["description"], ""]
        out += bed_markdown(name, b["table"], b["branch_alone"], b.get("shipped_file"), tuple(b["modalities"]))
    return "\n".join(out + extra) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m agf_core.training.fusion.family_report", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--voice", required=True, type=Path, help="the voice_recipe run of the shipped voice (loco_outputs.npz)")
    ap.add_argument("--out", default="reports", type=Path)
    ap.add_argument("--runs", default=Path.home() / ".cache/agf/runs/fusion_family", type=Path)
    ap.add_argument("--beds", nargs="+", default=list(bed_lib.BEDS), choices=bed_lib.BEDS)
    ap.add_argument("--fresh", action="store_true", help="retrain every run instead of reusing --runs")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    args.runs.mkdir(parents=True, exist_ok=True)
    report = {"command": "python -m agf_core.training.fusion.family_report --data-root ../shared/data --voice "
                         "~/.cache/agf/runs/voice2 --out reports", "seeds": list(SEEDS), "beds": {}}
    shipped = checkpoint.WEIGHTS / "fusion.pt"
    report["shipped"] = checkpoint.load(shipped, "fusion")["meta"]["variant"]
    report["aligned_corpora"] = sorted(p.name for p in (Path(args.data_root) / "aligned").iterdir() if p.is_dir())
    evidence_results = None
    for name in args.beds:
        bed = bed_lib.load_bed(name, args.data_root, args.voice)
        results = run_bed(bed, args.runs, args.fresh)
        if name == "evidence":
            evidence_results = results
        report["beds"][name] = {"description": bed_lib.DESCRIPTIONS[name], "modalities": list(bed.modalities),
                                "steps": bed.steps, "dims": list(bed.dims), "options": asdict(bed_options(name, True)),
                                "table": aggregate(results, bed), "branch_alone": branch_alone(bed)}
        if name != "tuples":
            report["beds"][name]["shipped_file"] = shipped_rows(bed, shipped)
    if "evidence" in report["beds"]:
        report["ship_decision"] = ship_decision(evidence_results, report["beds"]["evidence"]["table"])
    else:
        report["ship_decision"] = {"rule": "(the evidence bed was not run)", "winners": [], "ships": SHIPPED}
    report["advice"] = advice(report)
    extra, extra_json = extra_sections(args.out)
    report.update(extra_json)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fusion.json").write_text(json.dumps(report, indent=1))
    (args.out / "fusion.md").write_text(markdown(report, extra))
    return report


if __name__ == "__main__":
    main()
