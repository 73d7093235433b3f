"""Valence-arousal heads (agf_core/models/affect.py) fitted on the shipped branches' embeddings, and measured.

    python -m agf_core.training.affect_recipe --data-root ../shared/data
        -> agf_core/weights/affect.pt (--out), reports/valence_arousal.json (--report)

- text: ridge from h_text (the text branch's embedding over its MiniLM encoder) to EmoBank's valence and
  arousal, EmoBank's own split (train fits, dev picks the ridge strength, test reports); beside it the NRC-VAD
  lexicon baseline (mean word valence and arousal).
- voice and face: the corpora are categorical, so each class is placed at the NRC-VAD values of its emotion
  word (agf_core/affect.py LANDMARKS) and the ridge regresses h_audio / h_video onto those places (corpora
  and classes balanced as in the categorical recipes). Their r on test splits measures how well the class
  places are recovered; RAVDESS intensity (normal vs strong, held-out actors 21-24, emotional clips) checks
  arousal against a label the heads never saw.
Every head is linear and fitted in closed form: the run is deterministic.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.affect import landmark_targets
from agf_core.branches import TextBranch, VoiceBranch
from agf_core.checkpoint import WEIGHTS
from agf_core.labels import EMOTIONS
from agf_core.training.affect_data import lexicon_va, read_emobank, read_nrc_vad
from agf_core.training.features import cached
from agf_core.training.losses import group_balanced_weights

log = logging.getLogger(__name__)
LAMBDAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
FACE_CORPORA = ("fer2013", "taiwanese", "muxspace")  # FER+ relabels FER2013's images: not a corpus of its own


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def ridge(x: np.ndarray, y: np.ndarray, w: np.ndarray | None, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Weighted ridge on standardised inputs, folded back: x (N, D), y (N, 2), w (N,) -> W (2, D), b (2,)."""
    w = np.ones(len(x)) if w is None else w / w.mean()
    mu = (w[:, None] * x).sum(0) / w.sum()                                     # (D,)
    sd = np.sqrt((w[:, None] * (x - mu) ** 2).sum(0) / w.sum()) + 1e-6         # (D,)
    z = (x - mu) / sd                                                          # (N, D)
    ym = (w[:, None] * y).sum(0) / w.sum()                                     # (2,)
    a = (z * w[:, None]).T @ z + lam * np.eye(z.shape[1])                      # (D, D)
    coef = np.linalg.solve(a, (z * w[:, None]).T @ (y - ym))                   # (D, 2)
    weight = (coef / sd[:, None]).T                                            # (2, D)
    return weight.astype(np.float32), (ym - weight @ mu).astype(np.float32)


def predict(head: tuple[np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    return np.clip(x @ head[0].T + head[1], -1, 1)                             # (N, 2)


def rs(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    return {"r_valence": pearson(pred[:, 0], target[:, 0]), "r_arousal": pearson(pred[:, 1], target[:, 1]), "n": len(pred)}


def fit_selected(train: tuple, dev: list[tuple]) -> tuple[tuple[np.ndarray, np.ndarray], float, float]:
    """Ridge on train (x, y, w) with the strength that gives the best mean dev r (valence and arousal)."""
    best = None
    for lam in LAMBDAS:
        head = ridge(*train, lam)
        score = float(np.nanmean([[rs(predict(head, x), y)[k] for k in ("r_valence", "r_arousal")] for x, y in dev]))
        log.info("lambda %g: dev mean r %.3f", lam, score)
        if best is None or score > best[2]:
            best = (head, lam, score)
    return best


# ---- text ---------------------------------------------------------------------------------------------
def text_embeddings(root: str, branch: TextBranch, text_sha: str) -> dict[str, tuple]:
    """EmoBank split -> (h_text (N, 256), valence-arousal (N, 2), texts, the encoder's pooled utterance (N, 384));
    the encoder's output cached."""
    out = {}
    for split in ("train", "dev", "test"):
        data = read_emobank(root, split)
        z = cached(f"affect_emobank_{split}", {"text": text_sha, "n": len(data.text), "first": data.text[:20]},
                   lambda: {"enc": branch.encodings(data.text)})
        with torch.no_grad():
            h, _ = branch.head(torch.from_numpy(z["enc"]))                     # (N, 256)
        out[split] = (h.numpy(), data.va, data.text, z["enc"][:, :branch.encoder.hidden])   # + the utterance half
    return out


def fit_text(root: str, branch: TextBranch, text_sha: str) -> tuple[tuple, dict]:
    sets = text_embeddings(root, branch, text_sha)
    head, lam, dev = fit_selected((sets["train"][0], sets["train"][1], None), [sets["dev"][:2]])
    lexicon = read_nrc_vad(root)
    report = {"data": "EmoBank (own split: train fits, dev selects, test reports); ratings (x - 3) / 2",
              "lambda": lam, "dev_mean_r": dev,
              "test": rs(predict(head, sets["test"][0]), sets["test"][1]),
              "lexicon_baseline_test": rs(lexicon_va(sets["test"][2], lexicon), sets["test"][1]),
              "lexicon_coverage_test": float(np.mean(np.abs(lexicon_va(sets["test"][2], lexicon)).sum(1) > 0))}
    # not shipped, for comparison: the same ridge on the encoder's own pooled output instead of h_text
    enc, lam_enc, _ = fit_selected((sets["train"][3], sets["train"][1], None), [(sets["dev"][3], sets["dev"][1])])
    report["encoder_output_test"] = {**rs(predict(enc, sets["test"][3]), sets["test"][1]), "lambda": lam_enc}
    return head, report


# ---- voice --------------------------------------------------------------------------------------------
@torch.no_grad()
def voice_embeddings(branch: VoiceBranch, x: np.ndarray, has: np.ndarray) -> np.ndarray:
    z = branch.net.standardize(torch.from_numpy(x), torch.from_numpy(has))    # (N, 856)
    return branch.net.mlp(z)[0].numpy()                                        # (N, 256)


def fit_voice(root: str, branch: VoiceBranch) -> tuple[tuple, dict]:
    from agf_core.training.speech_corpora import read_corpus
    from agf_core.training.voice_features import all_splits
    sets = all_splits(root)
    emb = {k: voice_embeddings(branch, s.x, s.has_egemaps) for k, s in sets.items()}
    train = [k for k in sets if k[1] == "train"]
    y = np.concatenate([sets[k].y for k in train])
    w = group_balanced_weights(np.concatenate([sets[k].corpus for k in train]), y)
    dev = [(emb[k], landmark_targets(sets[k].y)) for k in sets if k[1] == "dev"]
    head, lam, dev_r = fit_selected((np.concatenate([emb[k] for k in train]), landmark_targets(y), w), dev)
    report = {"data": "5 speech corpora' train splits, each class at its NRC-VAD landmark; corpora and classes "
                      "balanced", "lambda": lam, "dev_mean_r": dev_r,
              "test": {f"{c}:{s}": rs(predict(head, emb[(c, s)]), landmark_targets(sets[(c, s)].y))
                       for c, s in sets if s == "test"}}
    probs = {k: _expected(branch, sets[k]) for k in sets if k[1] == "test"}
    report["category_expectation_test"] = {f"{c}:{s}": rs(p, landmark_targets(sets[(c, s)].y)) for (c, s), p in probs.items()}
    clips = read_corpus(root, "ravdess", "test")
    report["ravdess_intensity"] = intensity_check(predict(head, emb[("ravdess", "test")])[:, 1], clips)
    report["ravdess_intensity_category_expectation"] = intensity_check(probs[("ravdess", "test")][:, 1], clips)
    return head, report


@torch.no_grad()
def _expected(branch: VoiceBranch, s) -> np.ndarray:
    """The comparison without a head: sum_c p_c * landmark_c from the branch's own probabilities, (N, 2)."""
    _, logp = branch.net(torch.from_numpy(s.x), torch.from_numpy(s.has_egemaps))
    return logp.exp().numpy() @ landmark_targets(np.arange(len(EMOTIONS)))


def intensity_check(arousal: np.ndarray, clips) -> dict:
    """RAVDESS's intensity field (01 normal, 02 strong; neutral clips have only normal) against predicted
    arousal on the emotional clips: point-biserial r, means, and AUC (P(strong > normal))."""
    level = np.array([int(c.path.stem.split("-")[3]) for c in clips])
    emotion = np.array([int(c.path.stem.split("-")[2]) for c in clips])
    keep = emotion > 2                                                          # not neutral, not calm
    a, strong = arousal[keep], level[keep] == 2
    hi, lo = a[strong], a[~strong]
    auc = float((hi[:, None] > lo[None]).mean() + 0.5 * (hi[:, None] == lo[None]).mean())
    return {"clips": int(keep.sum()), "r_point_biserial": pearson(a, strong.astype(float)),
            "mean_arousal_normal": float(lo.mean()), "mean_arousal_strong": float(hi.mean()), "auc": auc,
            "actors": sorted({c.speaker for c in clips})}


# ---- face ---------------------------------------------------------------------------------------------
@torch.no_grad()
def face_embeddings(net, g: np.ndarray) -> np.ndarray:
    """Trunk features (N, 2, C) -> h_video (N, 256), seen and mirrored averaged (a one-frame window)."""
    n, v, c = g.shape
    emb, _ = net.top(torch.from_numpy(g).reshape(n * v, c))
    return emb.view(n, v, -1).mean(1).numpy()


def fit_face(root: str, video_path: Path) -> tuple[tuple, dict]:
    from agf_core.training.face_recipe import feature_sets, load_net
    net = load_net(video_path)
    sets = {k: v for k, v in feature_sets(root, net, checkpoint.sha256(video_path)).items() if k[0] in FACE_CORPORA}
    emb = {k: face_embeddings(net, g) for k, (g, _) in sets.items()}
    train = [k for k in sets if k[1] == "train"]
    y = np.concatenate([sets[k][1] for k in train])
    w = group_balanced_weights(np.concatenate([np.full(len(sets[k][1]), k[0]) for k in train]), y)
    dev = [(emb[k], landmark_targets(sets[k][1])) for k in sets if k[1] == "dev"]
    head, lam, dev_r = fit_selected((np.concatenate([emb[k] for k in train]), landmark_targets(y), w), dev)
    report = {"data": f"{', '.join(FACE_CORPORA)} train splits, each class at its NRC-VAD landmark; corpora and "
                      "classes balanced", "lambda": lam, "dev_mean_r": dev_r,
              "test": {f"{c}:test": rs(predict(head, emb[(c, "test")]), landmark_targets(sets[(c, "test")][1]))
                       for c in FACE_CORPORA}}
    return head, report


def main(argv: list[str] | None = None) -> dict:
    from agf_core.branches import audio_branch
    from agf_core.device import set_threads
    ap = argparse.ArgumentParser(prog="python -m agf_core.training.affect_recipe", description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--weights", default=str(WEIGHTS), help="the folder with the branches the heads read")
    ap.add_argument("--out", default=str(WEIGHTS / "affect.pt"))
    ap.add_argument("--report", default="reports/valence_arousal.json")
    ap.add_argument("--threads", type=int)
    argv = sys.argv[1:] if argv is None else argv
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    set_threads(args.threads)
    folder = Path(args.weights)
    paths = {m: folder / f"{m}.pt" for m in ("text", "audio", "video")}
    digests = {m: checkpoint.sha256(p) for m, p in paths.items()}
    heads, report = {}, {"command": "python -m agf_core.training.affect_recipe " + " ".join(argv or [])}
    heads["text"], report["text"] = fit_text(args.data_root, TextBranch(paths["text"]), digests["text"])
    heads["audio"], report["audio"] = fit_voice(args.data_root, audio_branch(paths["audio"]))
    heads["video"], report["video"] = fit_face(args.data_root, paths["video"])
    state = {f"heads.{m}.{k}": torch.from_numpy(v) for m, (w, b) in heads.items() for k, v in (("weight", w), ("bias", b))}
    checkpoint.save(args.out, "affect", {"dims": {m: int(w.shape[1]) for m, (w, _) in heads.items()}}, state,
                    {"branches": digests, "report": report})
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    log.info("saved %s and %s", args.out, args.report)
    return report


if __name__ == "__main__":
    main()
