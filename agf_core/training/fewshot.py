"""Few-shot learning for a new corpus or a new person (issue 24.4): k labelled examples per class adapt a
frozen branch, four ways side by side, repeated over draws of the k shots (mean ± sd).

    zero-shot    the frozen branch as it is (the reference the others must beat)
    centroid     nearest class centroid of the shots, cosine over the frozen branch embeddings h
    corrections  the shipped personalisation (agf_core/personalization.py: a class bias fitted on the
                 corrections + the neighbour vote), fed the shots as a user's corrections, over the branch's
                 output alone (the fusion with one modality present; BranchAsFusion below)
    adapter      a residual bottleneck on h + the branch's output layer (models/adapter.py), trained on the shots
    prompt       text only: learned vectors prepended to the frozen MiniLM's input (models/prompt.py) + the head;
                 the prompt enters the utterance's pass, the context half stays the frozen encoding

Beds and what each base saw: fewshot_beds.py. Hyper-parameters are fixed in FewShotOptions, not tuned on
any query set (a few-shot user has no dev set).

    python -m agf_core.training.fewshot --data-root ../shared/data --out reports/
        -> reports/fusion_fewshot.json / .md
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from agf_core.labels import EMOTIONS, MODALITIES, NUM_EMOTIONS
from agf_core.models.adapter import AdaptedHead, AdapterConfig
from agf_core.models.prompt import PromptConfig, PromptedEncoder
from agf_core.personalization import Correction, Personalization, fit_biases, personal_logits
from agf_core.training.fewshot_beds import MELD_ONLY_TEXT, Bed, text_bed, voice_corpus_beds, voice_person_beds
from agf_core.training.metrics import restricted_report

log = logging.getLogger(__name__)
KS = (1, 5, 10)
PROTOCOLS = ("voice-corpus", "voice-person", "text-corpus")
METHODS = ("zero-shot", "centroid", "corrections", "adapter", "prompt")


@dataclass(frozen=True)
class FewShotOptions:
    shots: tuple[int, ...] = KS
    draws: int = 5
    adapter: AdapterConfig = AdapterConfig()
    steps: int = 100              # full-batch Adam steps on the shots (adapter and head)
    lr: float = 3e-3
    weight_decay: float = 1e-2
    prompt: PromptConfig = PromptConfig()
    prompt_steps: int = 30        # each step runs the transformer forward and back over the shots
    prompt_lr: float = 3e-3
    text_corpora: tuple[str, ...] = ("emorynlp", "isear")   # Friends dialogue (as MELD) and self-reported events
    text_query: int = 600         # test texts scored per draw (prompt tuning re-encodes them every draw)
    seed: int = 0


def check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k {k!r} must be a positive int (shots per class), e.g. one of {KS}")
    return k


def check_protocol(name: str) -> str:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown few-shot protocol {name!r}; accepted: {', '.join(PROTOCOLS)}")
    return name


def sample_shots(y: np.ndarray, k: int, seed: int, classes: tuple[int, ...] | None = None) -> np.ndarray:
    """Indices into y: exactly k rows of every class in `classes` (default: those present), drawn without
    replacement, reproducible by seed, sorted."""
    check_k(k)
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    picks = []
    for c in sorted(np.unique(y) if classes is None else classes):
        rows = np.flatnonzero(y == c)
        if len(rows) < k:
            raise ValueError(f"class {EMOTIONS[c]} has {len(rows)} examples, fewer than k={k}")
        picks.append(rng.choice(rows, k, replace=False))
    return np.sort(np.concatenate(picks)) if picks else np.zeros(0, int)


def split_draw(bed: Bed, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]] | None:
    """(shot rows, query rows, classes) of one draw; None where fewer than two classes have enough clips.
    A bed without query rows (a person) scores its clips not drawn, over classes with more than k clips."""
    pool = np.flatnonzero(bed.support)
    person = not bed.query.any()
    counts = {c: int((bed.y[pool] == c).sum()) for c in bed.classes}
    classes = tuple(c for c in bed.classes if counts[c] > k or (not person and counts[c] >= k))
    if len(classes) < 2:
        return None
    shots = pool[sample_shots(bed.y[pool], k, seed, classes)]
    if person:
        query = np.setdiff1d(np.flatnonzero(np.isin(bed.y, classes)), shots)
    else:
        query = np.flatnonzero(bed.query & np.isin(bed.y, classes))
    return shots, query, classes


# ------------------------------------------------------------------------------------------------ methods
def zero_shot(bed: Bed, shots, query, opts) -> torch.Tensor:
    return bed.logp(torch.from_numpy(bed.logits[query]), query)


def centroid(bed: Bed, shots, query, opts) -> torch.Tensor:
    h = torch.nn.functional.normalize(torch.from_numpy(bed.h), dim=-1)                 # (N, D)
    y = torch.from_numpy(bed.y[shots])
    scores = torch.full((len(query), NUM_EMOTIONS), -1e4)
    for c in y.unique():
        mean = torch.nn.functional.normalize(h[shots][y == c].mean(0), dim=-1)         # (D,)
        scores[:, c] = h[query] @ mean / 0.1                                            # cosine / temperature
    return scores


class BranchAsFusion(torch.nn.Module):
    """The fusion with one modality present and nothing learnt on top: the branch's log-probabilities as
    logits (+ the class bias personalisation fits), all the weight on that modality. Lets the shipped
    personalisation run on a branch whose embeddings the shipped fusion was not trained on (LOCO bases)."""

    def __init__(self, modality: str):
        super().__init__()
        self.j = MODALITIES.index(modality)
        self.modality = modality

    def forward(self, h, logp, mask, meta, gate_bias=None, class_bias=None):
        logits = logp[self.modality] + (0 if class_bias is None else class_bias)       # (B, 7)
        weights = torch.nn.functional.one_hot(torch.full((len(logits),), self.j), len(MODALITIES)).float()
        return logits, weights                                                          # (B, 7), (B, M)


def corrections(bed: Bed, shots, query, opts, modality: str = "audio") -> torch.Tensor:
    model = BranchAsFusion(modality)
    base = bed.logp(torch.from_numpy(bed.logits), np.arange(len(bed.y))).numpy()       # (N, 7)
    person = Personalization()
    person.corrections = [Correction({modality: bed.h[i]}, {modality: base[i]}, np.zeros(3), int(bed.y[i]))
                          for i in shots]
    person.gate_bias, person.class_bias = fit_biases(model, person.corrections, person.options)
    h = {m: torch.zeros(len(query), bed.h.shape[1]) for m in MODALITIES}
    logp = {m: torch.zeros(len(query), NUM_EMOTIONS) for m in MODALITIES}
    h[modality], logp[modality] = torch.from_numpy(bed.h[query]), torch.from_numpy(base[query])
    mask = torch.zeros(len(query), len(MODALITIES), dtype=torch.bool)
    mask[:, model.j] = True
    with torch.no_grad():
        return personal_logits(model, h, logp, mask, torch.zeros(len(query), 3, dtype=torch.long), person)[0]


def train_steps(params: list, loss_fn, steps: int, lr: float, weight_decay: float) -> None:
    """Full-batch AdamW on the shots; `params`: tensors or parameter groups (a group may set its own lr)."""
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        loss = loss_fn()
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()


def adapter(bed: Bed, shots, query, opts: FewShotOptions, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    head = AdaptedHead(replace(opts.adapter, dim=bed.h.shape[1]), bed.out).train()
    h, y = torch.from_numpy(bed.h[shots]), torch.from_numpy(bed.y[shots])
    train_steps(list(head.parameters()), lambda: torch.nn.functional.nll_loss(bed.logp(head(h), shots), y),
                opts.steps, opts.lr, opts.weight_decay)
    with torch.no_grad():
        return bed.logp(head.eval()(torch.from_numpy(bed.h[query])), query)


def prompt(bed: Bed, shots, query, opts: FewShotOptions, seed: int = 0) -> torch.Tensor:
    """Prompt tuning: the learned vectors and a copy of the branch head trained on the shots' texts."""
    if bed.branch is None:
        raise ValueError(f"bed {bed.name!r} has no text encoder: prompt tuning runs on text beds only")
    torch.manual_seed(seed)
    encoder = PromptedEncoder(bed.branch.encoder, PromptConfig(opts.prompt.length, seed))
    head = copy.deepcopy(bed.branch.head).train()
    ctx = torch.from_numpy(bed.context_x)                                               # (N, H)
    texts = [bed.rows[i].text for i in shots]
    y = torch.from_numpy(bed.y[shots])
    groups = [{"params": [encoder.prompt], "lr": opts.prompt_lr}, {"params": list(head.parameters())}]
    # the encoder stays in eval mode (no dropout): only the prompt and the head learn
    train_steps(groups, lambda: torch.nn.functional.cross_entropy(head(encoder(texts, context_states=ctx[shots]))[1], y),
                opts.prompt_steps, opts.lr, opts.weight_decay)
    head.eval()
    with torch.no_grad():
        out = [head(encoder([bed.rows[i].text for i in part], context_states=ctx[part]))[1]
               for part in np.array_split(query, max(1, len(query) // 64))]
    return torch.cat(out).log_softmax(-1)                                               # (Q, 7)


METHOD_FNS = {"zero-shot": zero_shot, "centroid": centroid, "corrections": corrections, "adapter": adapter,
              "prompt": prompt}


# ------------------------------------------------------------------------------------------------ protocol
@dataclass
class Tally:
    """Predictions of one method at one k over a group of beds, per draw."""
    y: dict = field(default_factory=dict)        # draw -> [arrays]
    p: dict = field(default_factory=dict)
    classes: set = field(default_factory=set)
    beds: set = field(default_factory=set)

    def add(self, draw: int, y: np.ndarray, scores: torch.Tensor, classes, bed: str) -> None:
        masked = torch.full_like(scores, -1e9)
        masked[:, list(classes)] = scores[:, list(classes)]           # (Q, 7) restricted to the bed's classes
        self.y.setdefault(draw, []).append(y)
        self.p.setdefault(draw, []).append(masked.softmax(-1).numpy())
        self.classes |= set(classes)
        self.beds.add(bed)

    def row(self) -> dict:
        reps = [restricted_report(np.concatenate(self.y[d]), np.concatenate(self.p[d]), tuple(sorted(self.classes)))
                for d in sorted(self.y)]
        acc, f1 = [r["accuracy"] for r in reps], [r["macro_f1"] for r in reps]
        return {"draws": len(reps), "n_query": int(np.mean([r["n"] for r in reps])), "units": len(self.beds),
                **summary(acc, f1)}


def summary(acc: list[float], f1: list[float]) -> dict:
    sd = lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0  # noqa: E731
    return {"accuracy_mean": float(np.mean(acc)), "accuracy_sd": sd(acc), "macro_f1_mean": float(np.mean(f1)),
            "macro_f1_sd": sd(f1), "accuracy_draws": [float(a) for a in acc], "macro_f1_draws": [float(f) for f in f1]}


def mean_over_beds(rows: list[dict]) -> list[dict]:
    """Per (method, k): the beds' per-draw scores averaged draw by draw, then mean ± sd over draws; only
    where every bed has the row (a k that some bed cannot supply is left out)."""
    beds = sorted({r["bed"] for r in rows})
    out = []
    for m, k in dict.fromkeys((r["method"], r["k"]) for r in rows):
        cells = [r for r in rows if r["method"] == m and r["k"] == k]
        if len(beds) < 2 or len(cells) != len(beds) or len({r["draws"] for r in cells}) != 1:
            continue
        acc = np.mean([r["accuracy_draws"] for r in cells], 0)
        f1 = np.mean([r["macro_f1_draws"] for r in cells], 0)
        out.append({"protocol": cells[0]["protocol"], "bed": f"mean of {len(beds)}", "method": m, "k": k,
                    "draws": cells[0]["draws"], "n_query": int(sum(r["n_query"] for r in cells)),
                    "units": int(sum(r["units"] for r in cells)), **summary(list(acc), list(f1))})
    return out


def run_beds(protocol: str, beds: list[Bed], group_of, methods: tuple[str, ...], opts: FewShotOptions,
             modality: str) -> list[dict]:
    """Every method at every k over every draw; one row per (group of beds, method, k)."""
    tallies: dict[tuple, Tally] = {}
    for k in opts.shots:
        for draw in range(opts.draws):
            for bed in beds:
                split = split_draw(bed, k, seed=opts.seed * 1000 + draw)
                if split is None:
                    continue
                shots, query, classes = split
                for m in methods:
                    kw = ({"modality": modality} if m == "corrections" else
                          {"seed": draw} if m in ("adapter", "prompt") else {})
                    scores = METHOD_FNS[m](bed, shots, query, opts, **kw)                  # (Q, 7)
                    tally = tallies.setdefault((group_of(bed), m, k), Tally())
                    tally.add(draw, bed.y[query], scores, classes, bed.name)
            log.info("%s k=%d draw %d done", protocol, k, draw)
    rows = [{"protocol": protocol, "bed": g, "method": m, "k": k, **t.row()} for (g, m, k), t in tallies.items()]
    return rows + mean_over_beds(rows)


def run(protocol: str, data_root: str, opts: FewShotOptions, runs: Path,
        text_base: Path = MELD_ONLY_TEXT) -> list[dict]:
    check_protocol(protocol)
    for k in opts.shots:
        check_k(k)
    if protocol == "voice-corpus":
        return run_beds(protocol, voice_corpus_beds(data_root, runs), lambda b: b.name, METHODS[:4], opts, "audio")
    if protocol == "voice-person":
        return run_beds(protocol, voice_person_beds(data_root), lambda b: b.name.split("/")[0], METHODS[:4], opts,
                        "audio")
    beds = [text_bed(data_root, c, text_base, opts.text_query, opts.seed) for c in opts.text_corpora]
    return run_beds(protocol, beds, lambda b: b.name, METHODS, opts, "text")


# ------------------------------------------------------------------------------------------------ report
BASES = {"voice-corpus": "VoiceNet trained by voice_recipe on the other four speech corpora's train speakers "
                         "(never the held-out corpus); shots: the held-out corpus's train speakers (TESS: OAF); "
                         "query: its dev + test speakers (TESS: YAF)",
         "voice-person": "the shipped audio.pt (trained on the train speakers of all five corpora), on each test "
                         "speaker of RAVDESS, URDU, EMOVO, Indian EmoSpeech; shots and query from the same speaker, "
                         "classes with more than k of their clips",
         "text-corpus": "the MELD-only text branch (the shipped MELD fine-tuned MiniLM + its MELD-only head, "
                        "never trained on the held-out corpus); shots: its train split; query: a fixed subset of "
                        "its test split. EmoryNLP is Friends dialogue like MELD (new annotators and label scheme, "
                        "same show); ISEAR (self-reported emotional events) is a new domain"}
COMMAND = "python -m agf_core.training.fewshot --data-root ../shared/data --out reports/"


def markdown(report: dict) -> str:
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    lines = ["# Few-shot: a new corpus or a new person from k examples per class (issue 24.4)", "",
             f"`{report['command']}` ({report['options']['draws']} draws of the shots per k; mean ± sd over draws "
             "of the query accuracy and macro-F1, %, predictions restricted to the bed's classes). Methods: "
             "zero-shot (the frozen base), centroid (nearest class centroid of the shots, cosine on the branch "
             "embedding), corrections (the shipped personalisation fed the shots as corrections), adapter "
             "(residual bottleneck + output layer on the frozen embedding), prompt (learned vectors prepended to "
             "the frozen MiniLM + head; text only). `units`: beds pooled in the row (speakers for voice-person).", ""]
    for protocol in PROTOCOLS:
        rows = [r for r in report["rows"] if r["protocol"] == protocol]
        if not rows:
            continue
        lines += [f"## {protocol}", "", f"Base: {BASES[protocol]}.", "",
                  "| bed | method | " + " | ".join(f"k={k} acc" for k in report["options"]["shots"])
                  + " | " + " | ".join(f"k={k} macro-F1" for k in report["options"]["shots"]) + " |",
                  "|---|---|" + "---|" * 2 * len(report["options"]["shots"])]
        for bed in dict.fromkeys(r["bed"] for r in rows):
            for m in METHODS:
                cells = {r["k"]: r for r in rows if r["bed"] == bed and r["method"] == m}
                if not cells:
                    continue
                fmt = lambda key, k: (f"{pct(cells[k][key + '_mean'])} ± {pct(cells[k][key + '_sd'])}"  # noqa: E731
                                      if k in cells else "n/a")
                lines.append(f"| {bed} | {m} | " + " | ".join(fmt("accuracy", k) for k in report["options"]["shots"])
                             + " | " + " | ".join(fmt("macro_f1", k) for k in report["options"]["shots"]) + " |")
        lines.append("")
    lines += ["JSON structure (`reports/fusion_fewshot.json`): `{command, options, bases, rows}`; each row "
              "`{protocol, bed, method, k, draws, n_query, units, accuracy_mean, accuracy_sd, macro_f1_mean, "
              "macro_f1_sd, accuracy_draws, macro_f1_draws}` (fractions, not %; `*_draws`: one value per draw). "
              "`bed` \"mean of N\": the N beds' scores averaged draw by draw. A k that a bed cannot supply (too "
              "few clips of a class) has no row."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    from agf_core.device import set_threads
    from agf_core.training.data import cache_dir
    ap = argparse.ArgumentParser(prog="python -m agf_core.training.fewshot", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), help=f"any of {', '.join(PROTOCOLS)}")
    ap.add_argument("--shots", nargs="+", type=int, default=list(KS))
    ap.add_argument("--draws", type=int, default=FewShotOptions.draws)
    ap.add_argument("--text-corpora", nargs="+", default=list(FewShotOptions.text_corpora))
    ap.add_argument("--text-base", type=Path, default=MELD_ONLY_TEXT,
                    help="a text checkpoint that never saw the corpus")
    ap.add_argument("--runs", type=Path, help="where the leave-one-corpus-out voice bases are kept (default: the "
                                              "cache's runs/fewshot)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    try:
        protocols = [check_protocol(p) for p in args.protocols]
        shots = tuple(check_k(k) for k in args.shots)
    except ValueError as e:
        ap.error(str(e))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    set_threads(args.threads)
    opts = FewShotOptions(shots=shots, draws=args.draws, text_corpora=tuple(args.text_corpora))
    runs = args.runs or cache_dir().parent / "runs" / "fewshot"
    runs.mkdir(parents=True, exist_ok=True)
    rows = [r for p in protocols for r in run(p, args.data_root, opts, runs, args.text_base)]
    report = {"command": COMMAND if protocols == list(PROTOCOLS) else COMMAND + " --protocols " + " ".join(protocols),
              "options": asdict(opts), "bases": {p: BASES[p] for p in protocols}, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fusion_fewshot.json").write_text(json.dumps(report, indent=1))
    (args.out / "fusion_fewshot.md").write_text(markdown(report))
    return report


if __name__ == "__main__":
    main()
