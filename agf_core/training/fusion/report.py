"""The fusion study's evaluation: `python -m agf_core.evaluate --task fusion --data-root ../shared/data
--runs runs/fusion --out reports` -> reports/fusion_embeddings.json/.md and reports/fusion_*.png (the earlier study
of the embedding-level variants; reports/fusion.md is the whole fusion family, family_report.py).

Test beds (fusion_data.py says how they are built): (a) RAVDESS actors 21-24 with ASR transcripts, clean
audio; (b) 3,000 label-paired tuples from the test splits (MELD test, RAVDESS 21-24, FER2013 PrivateTest),
labels uniform, seed 7. Every variant is scored on the same rows; 95% intervals from 1,000 bootstrap
resamples of those rows.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.training.corruption import AUDIO_CONDITIONS, FACE_CORRUPTIONS, SILENCE
from agf_core.calibration import Temperatures
from agf_core.training.fusion.pools import Branches, FusionSet, load_pools, ravdess_set, tuple_set
from agf_core.training.fusion.finetune import BranchTops, apply_tops, finetuned_name, trunk_pools
from agf_core.training.fusion.recipe import EVAL_TUPLES, eval_sets, predict, to_tensors
from agf_core.models.variants import ENSEMBLE, VARIANTS, from_checkpoint
from agf_core.labels import MODALITIES
from agf_core.inputs.metadata import VOCAB
from agf_core.training.metrics import classification_report, ece_noise_floor
from agf_core.personalization import Correction, Personalization, PersonalizationOptions, fit_biases, personal_logits

BOOTSTRAP = 1000
TEST_SEED = 7
K_CORRECTIONS = (0, 5, 10, 20)
HELD_OUT = 40          # clips per actor scored at every k (the other 20 supply the corrections)
DRAWS = 20             # random orders per actor


def load_variant(path: str | Path) -> tuple[torch.nn.Module, Temperatures, dict]:
    ck = checkpoint.load(path, "fusion")
    model = from_checkpoint(ck)
    return model, Temperatures.from_meta(ck["meta"], model.config.passthrough), ck["meta"]


def summary(y: np.ndarray, probs: np.ndarray, rng: np.random.Generator | None = None) -> dict:
    """accuracy, macro-F1, weighted-F1, ECE, each with a 95% bootstrap interval when rng is given."""
    keys = ("accuracy", "macro_f1", "weighted_f1", "ece")
    rep = classification_report(y, probs)
    out = {k: round(rep[k], 4) for k in keys}
    if rng is not None:
        boot = {k: [] for k in keys}
        for _ in range(BOOTSTRAP):
            i = rng.integers(len(y), size=len(y))
            r = classification_report(y[i], probs[i])
            for k in keys:
                boot[k].append(r[k])
        out["ci95"] = {k: [round(float(np.percentile(v, 2.5)), 4), round(float(np.percentile(v, 97.5)), 4)]
                       for k, v in boot.items()}
    return out


def branch_probs(s: FusionSet, modality: str) -> np.ndarray:
    return np.exp(s.logp[modality])


def _subsets() -> list[tuple[str, ...]]:
    return [c for r in range(1, 4) for c in itertools.combinations(MODALITIES, r)]


def personalisation(model: torch.nn.Module, speech: dict, options: PersonalizationOptions, seed: int = 0) -> dict:
    """Accuracy on each RAVDESS actor's HELD_OUT clips after k corrections drawn from their other clips."""
    s = ravdess_set(speech)
    rng = np.random.default_rng(seed)
    user = Personalization(options)
    acc = {k: [] for k in K_CORRECTIONS}
    for actor in np.unique(s.info["actor"]):
        rows = np.flatnonzero(s.info["actor"] == actor)
        for _ in range(DRAWS):
            order = rng.permutation(rows)
            held, pool = s.select(order[:HELD_OUT]), s.select(order[HELD_OUT:])
            for k in K_CORRECTIONS:
                user.reset()
                if k:
                    user.corrections = [
                        Correction({m: pool.h[m][i] for j, m in enumerate(MODALITIES) if pool.mask[i, j]},
                                   {m: pool.logp[m][i] for j, m in enumerate(MODALITIES) if pool.mask[i, j]},
                                   pool.meta[i], int(pool.y[i])) for i in range(k)]
                    user.gate_bias, user.class_bias = fit_biases(model, user.corrections, options)
                with torch.no_grad():
                    logits, _ = personal_logits(model, *to_tensors(held), user)
                acc[k].append(float((logits.argmax(-1).numpy() == held.y).mean()))
    return {str(k): {"accuracy": round(float(np.mean(v)), 4), "sd": round(float(np.std(v)), 4), "runs": len(v)}
            for k, v in acc.items()}


def _plot(path: Path, xs, series: dict[str, list[float]], xlabel: str, ylabel: str, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ys in series.items():
        ax.plot(range(len(xs)), ys, marker="o", label=name)
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel), ax.set_title(title, fontsize=9), ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@dataclass
class Study:
    """Everything the analyses share: the trained variants and the shipped fusion, each with the test pools
    and beds it is scored on (a fine-tuned variant's are made by its own branch tops)."""
    data_root: str
    branches: Branches
    models: dict[str, tuple[torch.nn.Module, Temperatures, dict]]
    pools: dict                       # test pools of the frozen branches
    beds: dict[str, FusionSet]        # the two test beds built from them
    pools_of: dict[str, dict]         # per variant
    beds_of: dict[str, dict[str, FusionSet]]
    shipped: Path
    ship: tuple[torch.nn.Module, Temperatures, dict]
    ship_pools: dict
    ship_beds: dict[str, FusionSet]
    trunks: dict = field(default_factory=dict)

    @property
    def gate_models(self) -> dict[str, torch.nn.Module]:
        return {v: m for v, (m, _, _) in self.models.items() if v.startswith("agf")}

    def pools_for(self, path: Path, split: str) -> dict | None:
        return own_pools(path, self.branches, self.data_root, split, self.trunks)


def load_study(data_root: str, runs: Path, shipped: Path) -> Study:
    names = (*VARIANTS, ENSEMBLE, *sorted(p.parent.name for p in runs.glob(f"*{finetuned_name('')}/best.pt")))
    models = {v: load_variant(runs / v / "best.pt") for v in names if (runs / v / "best.pt").exists()}
    if not models:
        raise FileNotFoundError(f"no fusion runs in {runs}: train them with `python -m agf_core.train --task "
                                f"fusion --data-root ... --out {runs}`")
    ship = load_variant(shipped)
    branches = Branches.load()
    for name, (_, _, meta) in [*models.items(), ("shipped", ship)]:
        checkpoint.check_trained_over(meta, branches.digests, f"fusion {name}")
    pools = load_pools(data_root, "test", branches)
    beds = eval_sets(pools, TEST_SEED)
    study = Study(data_root, branches, models, pools, beds, {}, {}, shipped, ship, pools, beds)
    study.pools_of = {v: study.pools_for(runs / v / "best.pt", "test") or pools for v in models}
    study.beds_of = {v: beds if study.pools_of[v] is pools else eval_sets(study.pools_of[v], TEST_SEED) for v in models}
    study.ship_pools = study.pools_for(shipped, "test") or pools
    study.ship_beds = beds if study.ship_pools is pools else eval_sets(study.ship_pools, TEST_SEED)
    return study


def compare_variants(study: Study, rng: np.random.Generator) -> tuple[dict, dict]:
    """Variants side by side, and each single branch, on the same rows of each bed -> (rows, parameters)."""
    variants, parameters = {}, {}
    for bed, base in study.beds.items():
        rows = {}
        for v, (model, t, meta) in study.models.items():
            s = study.beds_of[v][bed]
            probs = predict(model, s)[0]
            rows[v] = {**summary(s.y, probs, rng), "ece_calibrated": round(classification_report(
                s.y, predict(model, s, t)[0])["ece"], 4), "temperature": round(t.default, 3)}
            parameters[v] = meta.get("parameters")
        singles = {m: summary(base.y, branch_probs(base, m), rng) for j, m in enumerate(MODALITIES)
                   if base.mask[:, j].all()}
        best = max(singles, key=lambda m: singles[m]["weighted_f1"])
        rows["best_single"] = {**singles[best], "modality": best}
        rows["singles"] = singles
        variants[bed] = rows
    return variants, parameters


def missing_modalities(study: Study) -> dict:
    """Weighted-F1 on the tuples with every non-empty subset of modalities present."""
    tuples = study.beds["tuples"]
    wf1 = lambda m, s: round(classification_report(s.y, predict(m, s)[0])["weighted_f1"], 4)  # noqa: E731
    missing = {}
    for present in _subsets():
        s = tuples.with_mask(present)
        row = {v: wf1(m, study.beds_of[v]["tuples"].with_mask(present)) for v, (m, _, _) in study.models.items()}
        row["shipped"] = wf1(study.ship[0], study.ship_beds["tuples"].with_mask(present))
        singles = {m: classification_report(s.y, branch_probs(s, m))["weighted_f1"] for m in present}
        row["best_single"] = round(max(singles.values()), 4)
        row["best_single_modality"] = max(singles, key=singles.get)
        missing["+".join(present)] = row
    return missing


def text_weight_on_ravdess(study: Study) -> dict:
    """Median text gate weight on RAVDESS, where the words (two fixed sentences) carry no emotion."""
    return {v: round(float(np.median(predict(m, study.beds_of[v]["ravdess"])[1][:, 0])), 4)
            for v, m in study.gate_models.items()}


def audio_weight_vs_snr(study: Study, out: Path) -> dict:
    """Median audio weight and accuracy under each audio condition (noise SNRs, silence); plotted."""
    snr = {}
    labels = ["clean" if c is None else (c if c == SILENCE else f"{c:g} dB") for c in AUDIO_CONDITIONS]
    for ci, label in enumerate(labels):
        snr[label] = {}
        for v, m in study.gate_models.items():
            p = study.pools_of[v]
            sa = ravdess_set(p["speech"], ci)
            sb = tuple_set(p["text"], p["speech"], p["face"], EVAL_TUPLES, np.random.default_rng(TEST_SEED), ci)
            snr[label][v] = {"ravdess_audio_weight": round(float(np.median(predict(m, sa)[1][:, 1])), 4),
                             "tuples_audio_weight": round(float(np.median(predict(m, sb)[1][:, 1])), 4),
                             "ravdess_accuracy": round(classification_report(sa.y, predict(m, sa)[0])["accuracy"], 4),
                             "tuples_accuracy": round(classification_report(sb.y, predict(m, sb)[0])["accuracy"], 4)}
        sa = ravdess_set(study.pools["speech"], ci)
        snr[label]["audio_branch_accuracy"] = round(classification_report(sa.y, branch_probs(sa, "audio"))["accuracy"], 4)
    _plot(out / "fusion_audio_weight_vs_snr.png", labels,
          {f"{v} ({bed})": [snr[lab][v][f"{bed}_audio_weight"] for lab in labels]
           for v in study.gate_models for bed in ("ravdess", "tuples")},
          "audio condition (white noise SNR)", "median audio weight",
          "Audio fusion weight as the audio gets worse (RAVDESS 21-24; test tuples)")
    return snr


def video_weight_vs_face(study: Study, out: Path) -> dict:
    """Mean video weight and accuracy on the tuples for clean and corrupted face windows; plotted."""
    face = {}
    for k, kind in enumerate(("clean", *FACE_CORRUPTIONS)):
        face[kind] = {}
        for v, m in study.gate_models.items():
            p = study.pools_of[v]
            sb = tuple_set(p["text"], p["speech"], p["face"], EVAL_TUPLES, np.random.default_rng(TEST_SEED),
                           face_corruption=k - 1)
            face[kind][v] = {"video_weight": round(float(np.mean(predict(m, sb)[1][:, 2])), 4),
                             "accuracy": round(classification_report(sb.y, predict(m, sb)[0])["accuracy"], 4)}
    _plot(out / "fusion_video_weight_vs_face.png", list(face),
          {v: [face[k][v]["video_weight"] for k in face] for v in study.gate_models},
          "face window", "mean video weight", "Video fusion weight for clean and corrupted faces (test tuples)")
    return face


def metadata_groups(study: Study) -> dict:
    """Mean text and audio weight and accuracy per gender and timbre group on RAVDESS."""
    groups = {}
    for field_name in ("gender", "timbre"):
        for gi, g in enumerate(VOCAB[field_name]):
            sel = np.flatnonzero(study.beds["ravdess"].info[field_name] == gi)
            if not len(sel):
                continue
            groups[f"{field_name}={g}"] = {"n": int(len(sel))}
            for v, m in study.gate_models.items():
                s = study.beds_of[v]["ravdess"].select(sel)
                groups[f"{field_name}={g}"][v] = {
                    "text_weight": round(float(predict(m, s)[1][:, 0].mean()), 4),
                    "audio_weight": round(float(predict(m, s)[1][:, 1].mean()), 4),
                    "accuracy": round(classification_report(s.y, predict(m, s)[0])["accuracy"], 4)}
    return groups


def calibration(study: Study, rng: np.random.Generator) -> dict:
    """ECE of the shipped fusion before and after its temperatures, against an oracle and the noise floor."""
    model, temps, _ = study.ship
    out = {}
    for bed, s in study.ship_beds.items():
        calibrated = predict(model, s, temps)[0]
        after = summary(s.y, calibrated, rng)
        out[bed] = {"n": len(s), "ece_before": round(classification_report(s.y, predict(model, s)[0])["ece"], 4),
                    "ece_after": after["ece"], "ece_after_ci95": after["ci95"]["ece"],
                    "ece_best_temperature_on_test": oracle_temperature_ece(s.y, predict(model, s)[0]),
                    "ece_if_perfectly_calibrated": ece_noise_floor(calibrated, np.random.default_rng(0))}
    return out


def personalisation_study(study: Study) -> dict:
    """Corrections on the test actors with options tuned on the dev actors, and the class-bias ceiling."""
    model = study.ship[0]
    dev_speech = (study.pools_for(study.shipped, "dev") or load_pools(study.data_root, "dev", study.branches))["speech"]
    options = tune_personalisation(model, dev_speech)
    return {"options": options.__dict__, "tuned_on": "RAVDESS dev actors 17-20",
            "ravdess_test_actors": personalisation(model, study.ship_pools["speech"], options),
            "class_bias_ceiling": {"dev": bias_ceiling(model, dev_speech),
                                   "test": bias_ceiling(model, study.ship_pools["speech"])}}


def evaluate_fusion(data_root: str, runs: str | Path, out_dir: str | Path, shipped: str | Path | None = None) -> dict:
    """Every analysis of the study, in the order the report shows them -> fusion_embeddings.json/.md, plots."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shipped = Path(shipped or checkpoint.WEIGHTS / "fusion.pt")
    study = load_study(data_root, Path(runs), shipped)
    rng = np.random.default_rng(0)
    variants, parameters = compare_variants(study, rng)
    temps, meta = study.ship[1], study.ship[2]
    report = {"shipped": {"variant": meta["variant"], "file": str(shipped), "sha256": checkpoint.sha256(shipped),
                          "temperature": temps.default, "temperatures_by_subset": temps.by_subset},
              "test_beds": {"ravdess": "RAVDESS actors 21-24 (240 clips), clean audio + Whisper tiny.en "
                                       "transcript, gender from the actor, timbre estimated, age unknown",
                            "tuples": f"{EVAL_TUPLES} label-paired tuples (labels uniform, seed {TEST_SEED}): "
                                      "MELD test utterance + RAVDESS 21-24 clip + FER2013 PrivateTest face "
                                      "window (8 jittered copies of one image), same label"},
              "variants": variants, "parameters": parameters,
              "missing_modalities_weighted_f1": missing_modalities(study),
              "ravdess_median_text_weight": text_weight_on_ravdess(study),
              "audio_weight_vs_snr": audio_weight_vs_snr(study, out),
              "video_weight_vs_face": video_weight_vs_face(study, out),
              "metadata_groups_ravdess": metadata_groups(study),
              "calibration": calibration(study, rng),
              "personalisation": personalisation_study(study)}
    (out / "fusion_embeddings.json").write_text(json.dumps(report, indent=2))
    (out / "fusion_embeddings.md").write_text(markdown(report))
    return report


def own_pools(path: Path, branches: Branches, data_root: str, split: str, trunks: dict) -> dict | None:
    """For a fine-tuned fusion checkpoint, the split's pools made by its own branch tops (trunk pools are
    loaded once into `trunks`); None for a frozen-phase checkpoint, which uses the branches' pools."""
    ck = checkpoint.load(path, "fusion")
    if "branch_tops" not in ck:
        return None
    tops = BranchTops(branches)
    tops.load_state_dict(ck["branch_tops"])
    if split not in trunks:
        trunks[split] = trunk_pools(data_root, split, branches)
    return apply_tops(tops, trunks[split])


def oracle_temperature_ece(y: np.ndarray, probs: np.ndarray) -> dict:
    """The lowest ECE any single temperature in [1, 6] reaches on these rows, chosen on the rows themselves:
    what temperature scaling could give at best, with a dev split exactly like the test bed."""
    logits = np.log(np.maximum(probs, 1e-12))
    ece, t = min((classification_report(y, torch.softmax(torch.from_numpy(logits / t), -1).numpy())["ece"], t)
                 for t in np.arange(1.0, 6.001, 0.05))
    return {"ece": round(float(ece), 4), "temperature": round(float(t), 2)}


def bias_ceiling(model: torch.nn.Module, speech: dict) -> dict:
    """The most a per-user class bias can give: fitted on ALL of an actor's clips (l2 = 0.01) and scored on
    those same clips, against no bias. An oracle that sees the clips it is scored on; no session has that."""
    s = ravdess_set(speech)
    options = PersonalizationOptions(l2=0.01, knn_weight=0.0, steps=200)
    before, after = [], []
    for actor in np.unique(s.info["actor"]):
        a = s.select(np.flatnonzero(s.info["actor"] == actor))
        user = Personalization(options)
        user.corrections = [Correction({m: a.h[m][i] for j, m in enumerate(MODALITIES) if a.mask[i, j]},
                                       {m: a.logp[m][i] for j, m in enumerate(MODALITIES) if a.mask[i, j]},
                                       a.meta[i], int(a.y[i])) for i in range(len(a))]
        user.gate_bias, user.class_bias = fit_biases(model, user.corrections, options)
        with torch.no_grad():
            before.append(float((personal_logits(model, *to_tensors(a), None)[0].argmax(-1).numpy() == a.y).mean()))
            after.append(float((personal_logits(model, *to_tensors(a), user)[0].argmax(-1).numpy() == a.y).mean()))
    return {"accuracy_without": round(float(np.mean(before)), 4),
            "accuracy_with_oracle_bias": round(float(np.mean(after)), 4)}


def tune_personalisation(model: torch.nn.Module, dev_speech: dict) -> PersonalizationOptions:
    """Pick the options that give the best dev-actor accuracy at k = 10 corrections."""
    best = None
    for l2, knn in itertools.product((0.1, 1.0), (0.0, 2.0, 4.0)):
        options = PersonalizationOptions(l2=l2, fit_gates=False, knn_weight=knn)
        acc = personalisation(model, dev_speech, options, seed=1)["10"]["accuracy"]
        if best is None or acc > best[0]:
            best = (acc, options)
    return best[1]


def markdown(report: dict) -> str:
    """The study's tables as Markdown (written beside fusion_embeddings.json as fusion_embeddings.md)."""
    pct = lambda x: f"{100 * x:.1f}"  # noqa: E731
    ci = lambda r, k: f"{pct(r[k])} [{pct(r['ci95'][k][0])}–{pct(r['ci95'][k][1])}]"  # noqa: E731
    out = [f"# Fusion study (shipped: {report['shipped']['variant']}, {Path(report['shipped']['file']).name})", ""]
    for bed, rows in report["variants"].items():
        out += [f"## Test bed {bed}: {report['test_beds'][bed]}", "",
                "| variant | accuracy | macro-F1 | weighted-F1 | ECE | ECE calibrated | parameters |", "|---|---|---|---|---|---|---|"]
        for v, r in rows.items():
            if v == "singles":
                continue
            name = f"best single ({r['modality']})" if v == "best_single" else v
            calibrated = f"{r['ece_calibrated']:.3f}" if "ece_calibrated" in r else "–"
            out.append(f"| {name} | {ci(r, 'accuracy')} | {ci(r, 'macro_f1')} | {ci(r, 'weighted_f1')} | "
                       f"{r['ece']:.3f} | {calibrated} | {report['parameters'].get(v, '–')} |")
        out.append("")
    if any(v.endswith(finetuned_name("")) for v in report["parameters"]):
        out += [f"Rows ending in `{finetuned_name('')}` (the optional fine-tuning phase) are scored on what their own "
                "fine-tuned branch tops make of the same test items; 'best single' is the frozen branches'.", ""]
    variants = [v for v in next(iter(report["missing_modalities_weighted_f1"].values())) if v != "best_single_modality"]
    out += ["## Missing modalities (tuples, weighted-F1)", "", "| present | " + " | ".join(variants) + " |",
            "|---|" + "---|" * len(variants)]
    for subset, row in report["missing_modalities_weighted_f1"].items():
        out.append(f"| {subset} | " + " | ".join(pct(row[v]) for v in variants) + " |")
    out += ["", "## Gates", "", f"Median text weight on RAVDESS: {report['ravdess_median_text_weight']}", "",
            "| audio | " + " | ".join(f"{v} weight (RAVDESS / tuples)" for v in report["ravdess_median_text_weight"]) +
            " | audio branch accuracy |", "|---|" + "---|" * (len(report["ravdess_median_text_weight"]) + 1)]
    for cond, row in report["audio_weight_vs_snr"].items():
        out.append(f"| {cond} | " + " | ".join(f"{row[v]['ravdess_audio_weight']:.2f} / {row[v]['tuples_audio_weight']:.2f}"
                                                for v in report["ravdess_median_text_weight"]) +
                   f" | {pct(row['audio_branch_accuracy'])} |")
    out += ["", "| face window | " + " | ".join(f"{v} video weight (accuracy)" for v in report["ravdess_median_text_weight"]) +
            " |", "|---|" + "---|" * len(report["ravdess_median_text_weight"])]
    for kind, row in report["video_weight_vs_face"].items():
        out.append(f"| {kind} | " + " | ".join(f"{row[v]['video_weight']:.2f} ({pct(row[v]['accuracy'])})"
                                                for v in report["ravdess_median_text_weight"]) + " |")
    out += ["", "| RAVDESS group | n | " + " | ".join(f"{v}: text / audio weight, accuracy"
                                                      for v in report["ravdess_median_text_weight"]) + " |",
            "|---|---|" + "---|" * len(report["ravdess_median_text_weight"])]
    for group, row in report["metadata_groups_ravdess"].items():
        out.append(f"| {group} | {row['n']} | " + " | ".join(
            f"{row[v]['text_weight']:.2f} / {row[v]['audio_weight']:.2f}, {pct(row[v]['accuracy'])}"
            for v in report["ravdess_median_text_weight"]) + " |")
    cal = report["calibration"]
    out += ["", "## Calibration of the shipped fusion (ECE, 15 bins)", "",
            "| bed | rows | before | after [95% CI] | best temperature chosen on the test rows (oracle) | "
            "a perfectly calibrated model would measure (mean [5th–95th pct]) |", "|---|---|---|---|---|---|"]
    for bed, c in cal.items():
        f = c["ece_if_perfectly_calibrated"]
        out.append(f"| {bed} | {c['n']} | {c['ece_before']:.3f} | {c['ece_after']:.3f} [{c['ece_after_ci95'][0]:.3f}–"
                   f"{c['ece_after_ci95'][1]:.3f}] | {c['ece_best_temperature_on_test']['ece']:.3f} "
                   f"(T = {c['ece_best_temperature_on_test']['temperature']:g}) | "
                   f"{f['mean']:.3f} [{f['p5']:.3f}–{f['p95']:.3f}] |")
    per = report["personalisation"]
    out += ["", f"## Personalisation (RAVDESS actors 21-24; options tuned on {per['tuned_on']}: {per['options']})", "",
            "| corrections k | accuracy on 40 held-out clips | sd over runs |", "|---|---|---|"]
    out += [f"| {k} | {pct(r['accuracy'])} | {pct(r['sd'])} |" for k, r in per["ravdess_test_actors"].items()]
    out += ["", "Ceiling of a class bias (fitted on all 60 clips of each actor and scored on them, an oracle): " +
            "; ".join(f"{split} actors {pct(c['accuracy_without'])} → {pct(c['accuracy_with_oracle_bias'])}"
                      for split, c in per["class_bias_ceiling"].items())]
    return "\n".join(out) + "\n"
