"""The shipped fusion (agf_evidence, models/variants.py) trained on cross-fitted branch outputs: every
reading it learns from comes from a branch that never saw that speaker (issue 23, item 4).

    python -m agf_core.training.voice_recipe --data-root ../shared/data --out runs/voice     # LOCO voice outputs
    python -m agf_core.training.fusion.crossfit --data-root ../shared/data --voice runs/voice --out runs/fusion_cf
        -> runs/fusion_cf/best.pt (the shippable fusion.pt), runs/fusion_cf/report.json

Beds (no data set here has words, voice and face of one moment with one label):
  av     RAVDESS face and voice of the same clip (../shared/data/aligned/ravdess_au). Voice: the voice network
         trained without RAVDESS (leave-one-corpus-out). Face: OpenFace action units through a logistic
         regression fitted on the other actors (6 folds of 4 actors) - a stand-in for the live face network,
         which needs video that this set does not have. No words (RAVDESS's two fixed sentences carry none).
         Fusion trained on actors 1-20, scored on actors 21-24.
  words  MELD and EmoryNLP utterances read by the shipped text branch, the voice and face each absent (40 %),
         neutral (40 %: a neutral clip or face of someone else, as when a person speaks calmly with a still
         face) or agreeing (20 %: same label). Label: the utterance's. Fusion trained on the dev splits, scored
         on the test splits (voices and faces from the matching splits).
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
from agf_core.labels import EMOTIONS, MODALITIES, NUM_EMOTIONS, emotion_index
from agf_core.models.variants import VariantConfig, build, trainable_parameters
from agf_core.training.data import RAVDESS_EMOTIONS, _dir
from agf_core.training.features import cached
from agf_core.training.fusion.pools import FusionSet
from agf_core.training.loop import seed_everything, warmup_cosine
from agf_core.training.losses import group_balanced_weights
from agf_core.inputs.metadata import UNKNOWN, VOCAB

log = logging.getLogger(__name__)
NEUTRAL = emotion_index("neutral")
TEST_ACTORS = range(21, 25)
FOLDS = [range(a, a + 4) for a in range(1, 25, 4)]


def _logp(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, 1e-6, 1)).astype(np.float32)


def au_face_outputs(data_root: str) -> dict[str, np.ndarray]:
    """RAVDESS clips' face readings from action units, cross-fitted by actor: {id, actor, y, logp (N, 7)}."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    with np.load(_dir(data_root, "aligned", "ravdess_au") / "ravdess_au_mfcc.npz") as z:
        ids, au = z["ids"], z["au"].astype(np.float64)
    fields = np.array([i.split("-") for i in ids]).astype(int)
    actor = fields[:, 6]
    y = np.array([emotion_index(RAVDESS_EMOTIONS[e]) for e in fields[:, 2]])
    logp = np.zeros((len(y), NUM_EMOTIONS), np.float32)
    for fold in FOLDS:
        test = np.isin(actor, fold)
        scale = StandardScaler().fit(au[~test])
        clf = LogisticRegression(C=0.1, max_iter=2000, class_weight="balanced").fit(scale.transform(au[~test]), y[~test])
        p = np.zeros((test.sum(), NUM_EMOTIONS))
        p[:, clf.classes_] = clf.predict_proba(scale.transform(au[test]))
        logp[test] = _logp(p)
    return {"id": ids, "actor": actor, "y": y, "logp": logp}


def loco_voice(voice_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    """The voice network's leave-one-corpus-out outputs (voice_recipe.py): {corpus: {logp, y, speaker, name}}."""
    with np.load(voice_dir / "loco_outputs.npz") as z:
        out: dict[str, dict] = {}
        for key in z.files:
            corpus, field = key.split("_", 1)
            out.setdefault(corpus, {})[field] = z[key]
    return out


def text_outputs(data_root: str, corpus: str, split: str) -> dict[str, np.ndarray]:
    """The shipped text branch on a dialogue corpus split (with context): {y, logp}; cached."""
    from agf_core.branches import TextBranch
    from agf_core.training.data import read_meld
    from agf_core.training.text_corpora import read_emorynlp
    path = checkpoint.WEIGHTS / "text.pt"

    def compute():
        branch = TextBranch(path)
        reader = read_meld if corpus == "meld" else read_emorynlp
        rows = reader(data_root, split, branch.encoder.config.context_turns)
        _, logp = branch.batch([r.text for r in rows], [r.context for r in rows])
        return {"y": np.array([r.label for r in rows]), "logp": logp.astype(np.float32)}
    return cached(f"crossfit_text_{corpus}_{split}", {"text": checkpoint.sha256(path)}, compute)


def face_outputs(data_root: str, split: str, video: Path) -> dict[str, np.ndarray]:
    """The face network (`video`) on a FER2013 split, seen and mirrored averaged: {y, logp}; cached."""
    from agf_core.training.face_corpora import read_faces
    from agf_core.training.face_recipe import load_net, top_probs, trunk_features

    def compute():
        net = load_net(video)
        images, y = read_faces(data_root, "fer2013", split)
        return {"y": y, "logp": _logp(top_probs(net, trunk_features(net, images)))}
    return cached(f"crossfit_face_fer2013_{split}", {"video": checkpoint.sha256(video)}, compute)


def _meta(n: int, gender: np.ndarray | None = None) -> np.ndarray:
    unknown = np.array([VOCAB[f].index(UNKNOWN) for f in VOCAB])
    meta = np.tile(unknown, (n, 1))
    if gender is not None:
        meta[:, 1] = gender
    return meta


def _fusion_set(logp: dict[str, np.ndarray], mask: np.ndarray, y: np.ndarray, meta: np.ndarray, bed: str
                ) -> FusionSet:
    n = len(y)
    h = {m: np.zeros((n, 1), np.float32) for m in MODALITIES}  # the evidence fusion reads no embeddings
    full = {m: logp.get(m, np.zeros((n, NUM_EMOTIONS), np.float32)) for m in MODALITIES}
    return FusionSet(h, full, mask, meta, y, {"bed": np.full(n, bed)})


def av_bed(face: dict, voice: dict, actors) -> FusionSet:
    """Aligned RAVDESS clips of `actors`: face (action units) + voice (never heard RAVDESS), both present."""
    row = {name.replace(".flac", "")[3:]: i for i, name in enumerate(voice["name"])}  # "01-EE-..-AA" -> voice row
    keep = np.flatnonzero(np.isin(face["actor"], list(actors)))
    vi = np.array([row[face["id"][i][3:]] for i in keep])
    y = face["y"][keep]
    if not (voice["y"][vi] == y).all():
        raise ValueError("RAVDESS face and voice rows disagree on labels: the id mapping is wrong")
    gender = np.where(face["actor"][keep] % 2 == 1, VOCAB["gender"].index("male"), VOCAB["gender"].index("female"))
    mask = np.tile([False, True, True], (len(keep), 1))
    return _fusion_set({"audio": voice["logp"][vi], "video": face["logp"][keep]}, mask, y, _meta(len(keep), gender), "av")


def _partner(pool_y: np.ndarray, want: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each wanted label, a random pool row with that label (-1 where the pool has none)."""
    out = np.full(len(want), -1)
    for c in np.unique(want):
        items = np.flatnonzero(pool_y == c)
        rows = np.flatnonzero(want == c)
        if len(items):
            out[rows] = rng.choice(items, len(rows))
    return out


def words_bed(text: dict, voices: dict, faces: dict, rng: np.random.Generator) -> FusionSet:
    """Utterances with the voice and face each absent, neutral or agreeing (see the module doc)."""
    y, n = text["y"], len(text["y"])
    logp, mask = {"text": text["logp"]}, np.zeros((n, 3), bool)
    mask[:, 0] = True
    for j, (m, pool) in enumerate((("audio", voices), ("video", faces)), start=1):
        kind = rng.choice(3, n, p=[0.4, 0.4, 0.2])                     # absent, neutral, agreeing
        want = np.where(kind == 1, NEUTRAL, y)
        idx = _partner(pool["y"], want, rng)
        present = (kind > 0) & (idx >= 0)
        logp[m] = np.where(present[:, None], pool["logp"][np.maximum(idx, 0)], 0).astype(np.float32)
        mask[:, j] = present
    return _fusion_set(logp, mask, y, _meta(n), "words")


def voice_pool(voice: dict[str, dict], test: bool, data_root: str) -> dict[str, np.ndarray]:
    """LOCO voice outputs of every corpus, from the test speakers (test=True) or the others."""
    from agf_core.training.speech_corpora import read_corpus
    ys, lps = [], []
    for corpus, d in voice.items():
        test_names = {c.path.name for c in read_corpus(data_root, corpus, "test")} if corpus != "tess" else set()
        rows = np.array([(name in test_names) == test for name in d["name"]])
        ys.append(d["y"][rows]), lps.append(d["logp"][rows])
    return {"y": np.concatenate(ys), "logp": np.concatenate(lps)}


NATURAL = ("words",)   # beds whose class frequencies are kept; the others are class-balanced


def train(sets: list[FusionSet], config: VariantConfig, epochs: int = 40, seed: int = 0) -> torch.nn.Module:
    """Each bed the same total weight, classes balanced within it (but in NATURAL beds); cross-entropy + gate
    supervision."""
    seed_everything(seed)
    model = build(config)
    data = FusionSet.concat(sets)
    natural = np.isin(data.info["bed"], NATURAL)   # one class there: its rows weigh the same
    w = torch.from_numpy(group_balanced_weights(data.info["bed"], np.where(natural, -1, data.y))).float()
    logp = {m: torch.from_numpy(v) for m, v in data.logp.items()}
    h = {m: torch.from_numpy(v) for m, v in data.h.items()}
    mask, meta, y = torch.from_numpy(data.mask), torch.from_numpy(data.meta).long(), torch.from_numpy(data.y)
    batch, steps = 256, int(np.ceil(len(y) / 256))
    optim = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda i: warmup_cosine(i, epochs * steps, steps))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        for i in range(steps):
            b = order[i * batch:(i + 1) * batch]
            lp, hh = {m: v[b] for m, v in logp.items()}, {m: v[b] for m, v in h.items()}
            logits, _ = model(hh, lp, mask[b], meta[b])
            loss = (torch.nn.functional.cross_entropy(logits, y[b], reduction="none") * w[b]).sum() / w[b].sum()
            loss = loss + config.gate_supervision * model.gate_loss(hh, lp, mask[b], meta[b], y[b])
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
    return model.eval()


@torch.no_grad()
def fused(model: torch.nn.Module, s: FusionSet) -> tuple[np.ndarray, np.ndarray]:
    logits, a = model({m: torch.from_numpy(v) for m, v in s.h.items()},
                      {m: torch.from_numpy(v) for m, v in s.logp.items()},
                      torch.from_numpy(s.mask), torch.from_numpy(s.meta).long())
    return logits.softmax(-1).numpy(), a.numpy()


def _ci(correct: np.ndarray, rng: np.random.Generator, draws: int = 1000) -> list[float]:
    means = [correct[rng.integers(0, len(correct), len(correct))].mean() for _ in range(draws)]
    return [round(100 * float(np.percentile(means, q)), 1) for q in (2.5, 97.5)]


def score_bed(model: torch.nn.Module, s: FusionSet) -> dict:
    """Fused vs each branch alone vs the plain average vs the oracle (any present branch right)."""
    p, a = fused(model, s)
    rng = np.random.default_rng(0)
    right = {m: s.logp[m].argmax(1) == s.y for m in MODALITIES}
    present = {m: s.mask[:, i] for i, m in enumerate(MODALITIES)}
    avg = sum(np.exp(s.logp[m]) * present[m][:, None] for m in MODALITIES)
    out = {"n": int(len(s)), "fused": round(100 * float((p.argmax(1) == s.y).mean()), 1),
           "fused_95ci": _ci(p.argmax(1) == s.y, rng),
           "average": round(100 * float((avg.argmax(1) == s.y).mean()), 1),
           "oracle": round(100 * float(np.any([right[m] & present[m] for m in MODALITIES], 0).mean()), 1),
           "weights": {m: round(float(a[present[m], i].mean()), 3) for i, m in enumerate(MODALITIES) if present[m].any()}}
    for m in MODALITIES:
        if present[m].all():
            out[f"{m}_alone"] = round(100 * float(right[m].mean()), 1)
    return out


def markdown(report: dict) -> str:
    """reports/fusion_crossfit.md: fused vs each branch vs the plain average vs the oracle, per bed and seed."""
    lines = ["# The shipped fusion on cross-fitted branch outputs (issue 23)", "",
             "`python -m agf_core.training.fusion.crossfit --data-root ../shared/data --voice runs/voice "
             "--out runs/fusion_cf` (agf_core/training/fusion/crossfit.py says how each bed is made). Accuracy %, "
             "7-way; every branch reading comes from a branch that never saw that speaker.", ""]
    beds = list(next(iter(report["seeds"].values())))
    for bed in beds:
        lines += [f"## {bed}", "", "| seed | n | fused [95 % CI] | text alone | voice alone | face alone | "
                  "average | oracle | mean weights |", "|---|---|---|---|---|---|---|---|---|"]
        for seed, rows in report["seeds"].items():
            r = rows[bed]
            alone = [str(r.get(f"{m}_alone", "–")) for m in MODALITIES]
            lines.append(f"| {seed} | {r['n']} | **{r['fused']}** {r['fused_95ci']} | " + " | ".join(alone)
                         + f" | {r['average']} | {r['oracle']} | "
                         + ", ".join(f"{m} {w:.2f}" for m, w in r["weights"].items()) + " |")
        lines.append("")
    lines.append(f"Parameters: {report['parameters']}. Shipped: seed {next(iter(report['seeds']))}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m agf_core.training.fusion.crossfit", description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--voice", required=True, type=Path, help="a voice_recipe output folder (loco_outputs.npz)")
    ap.add_argument("--video", type=Path, default=checkpoint.WEIGHTS / "video.pt")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rng = np.random.default_rng(0)
    face, voice = au_face_outputs(args.data_root), loco_voice(args.voice)
    words = {split: [words_bed(text_outputs(args.data_root, c, split), voice_pool(voice, split == "test", args.data_root),
                               face_outputs(args.data_root, split, args.video), rng) for c in ("meld", "emorynlp")]
             for split in ("dev", "test")}
    train_sets = [av_bed(face, voice["ravdess"], range(1, 21)), *words["dev"]]
    tests = {"av (RAVDESS actors 21-24, face + voice)": av_bed(face, voice["ravdess"], TEST_ACTORS),
             "words (MELD test)": words["test"][0], "words (EmoryNLP test)": words["test"][1]}
    config = VariantConfig.of("agf_evidence")
    report = {"variant": "agf_evidence", "config": asdict(config), "seeds": {}}
    models = []
    for seed in args.seeds:
        models.append(train(train_sets, config, seed=seed))
        report["seeds"][seed] = {name: score_bed(models[-1], s) for name, s in tests.items()}
        log.info("seed %d: %s", seed, report["seeds"][seed])
    report["parameters"] = trainable_parameters(models[0])
    model = models[0]
    digests = {m: checkpoint.sha256(checkpoint.WEIGHTS / f"{m}.pt") for m in ("text", "audio")} | \
              {"video": checkpoint.sha256(args.video)}
    checkpoint.save(args.out / "best.pt", "fusion", asdict(config), model.state_dict(),
                    {"variant": "agf_evidence", "trained_with": digests, "seed": args.seeds[0],
                     "train": "cross-fitted branch outputs: RAVDESS actors 1-20 face (action units) + voice (LOCO); "
                              "MELD and EmoryNLP dev utterances with absent / neutral / agreeing voice and face",
                     "test": report["seeds"][args.seeds[0]]})
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    (args.out / "fusion_crossfit.md").write_text(markdown(report))
    return report


if __name__ == "__main__":
    main()
