"""The fusion family's test beds: a fit, a select and a test FusionSet each, split by person.

    aligned   REAL: RAVDESS face and voice of the same clip (../shared/data/aligned/ravdess_au). Face: the
              clip's 35 OpenFace action units + their reading by a logistic regression cross-fitted by actor
              (fit rows: 4 folds inside actors 1-16; select and test rows: fitted on actors 1-16). Voice: the
              clip's 259 MFCC statistics + the live voice network's reading of the audio-only take, from the
              network trained without RAVDESS (leave-one-corpus-out). One vector per modality, so MulT sees
              one-token sequences. No words (RAVDESS's two fixed sentences carry none).
    frames    the aligned bed with the voice as its Whisper tiny.en frames (8 segments, each with the voice
              network's reading): MulT attends over the audio frames of real aligned data.
    tuples    CONSTRUCTED: label-paired tuples (a MELD utterance, a RAVDESS clip, a FER2013 face of the same
              label, labels uniform): words (8 segments of MiniLM word-piece states + the shipped text
              branch's reading), audio frames (as `frames`), face views (the face network's trunk as seen and
              mirrored + its reading). The items never met; only the label joins them.
    evidence  the shipped fusion's own beds (crossfit.py): each modality is only its branch's reading (7
              log-probabilities). Fit on RAVDESS actors 1-20 (face + voice) and MELD/EmoryNLP dev (words with
              absent / neutral / agreeing voice and face), test on actors 21-24, MELD test, EmoryNLP test.
              Only a strategy that reads evidence can run over the live branches, so this bed decides what
              ships.

Actors: fit 1-16, select 17-20, test 21-24 (aligned, frames, tuples' voices). Every input is standardised
with the fit rows' mean and sd.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agf_core import checkpoint
from agf_core.labels import MODALITIES, NUM_EMOTIONS, emotion_index
from agf_core.inputs.metadata import VOCAB
from agf_core.training.data import RAVDESS_EMOTIONS, _dir
from agf_core.training.fusion.pools import FusionSet
from agf_core.training.fusion import crossfit, sequences

BEDS = ("aligned", "frames", "tuples", "evidence")
REAL = ("aligned", "frames")
ACTORS = {"fit": range(1, 17), "select": range(17, 21), "test": range(21, 25)}
TUPLES = {"fit": 6000, "select": 1500, "test": 3000}
DESCRIPTIONS = {
    "aligned": "REAL aligned data: RAVDESS face and voice of the same clip, actors 1-16 fit, 17-20 select, 21-24 "
               "test. Face = 35 OpenFace action units + their reading by a logistic regression cross-fitted by "
               "actor; voice = 259 MFCC statistics + the live voice network's reading (trained without RAVDESS). "
               "One vector per modality: MulT attends over one-token sequences here. No words.",
    "frames": "REAL aligned data, as `aligned` but the voice is its Whisper tiny.en frames (8 segments of the clip, "
              "each with the voice network's reading): MulT attends over 8 audio steps and 1 face step.",
    "tuples": "CONSTRUCTED label-paired tuples (labels uniform): a MELD utterance (8 segments of MiniLM word-piece "
              "states + the shipped text branch's reading), a RAVDESS clip (8 Whisper segments + the voice network's "
              "reading) and a FER2013 face (the face network's trunk as seen and mirrored + its reading) of the same "
              "label. Fit: halves of MELD dev and FER2013 val, RAVDESS 1-16 (6,000 tuples); select: the other halves, "
              "17-20 (1,500); test: MELD test, RAVDESS 21-24, FER2013 test (3,000). The items never met.",
    "evidence": "The shipped fusion's own beds (crossfit.py, same draws): each modality is only its branch's reading "
                "(7 log-probabilities), as over the live branches. Fit: RAVDESS actors 1-20 (face action-unit "
                "reading + voice) and MELD/EmoryNLP dev utterances with the voice and face each absent, neutral or "
                "agreeing; no select split (last of 40 epochs). Test: actors 21-24, MELD test, EmoryNLP test.",
}


@dataclass
class Bed:
    name: str
    fit: FusionSet
    select: FusionSet | None          # None: trained for a fixed number of epochs (the evidence bed)
    test: dict[str, FusionSet]        # one or more test sets by name
    modalities: tuple[str, ...]       # the modalities this bed has
    steps: dict[str, int] = field(default_factory=dict)   # sequence length per modality

    @property
    def dims(self) -> tuple[int, ...]:
        return tuple(self.fit.h[m].shape[-1] for m in MODALITIES)


def check_bed(name: object) -> str:
    if name not in BEDS:
        raise ValueError(f"unknown fusion bed {name!r}; accepted: {', '.join(BEDS)}")
    return name


def _standardise(parts: dict[str, np.ndarray], fit_rows: np.ndarray) -> np.ndarray:
    """Concatenate named feature blocks (N, [T,] D_i) along the last axis, each standardised on fit_rows."""
    out = []
    for x in parts.values():
        ref = x[fit_rows].reshape(-1, x.shape[-1])
        out.append((x - ref.mean(0)) / (ref.std(0) + 1e-6))
    return np.concatenate(out, -1).astype(np.float32)


def _with_steps(reading: np.ndarray, steps: int) -> np.ndarray:
    """A branch reading (N, 7) repeated at every step of a sequence (N, T, 7) (T = 0: left as it is)."""
    return reading if steps == 0 else np.repeat(reading[:, None], steps, 1)


def au_readings(au: np.ndarray, y: np.ndarray, actor: np.ndarray) -> np.ndarray:
    """Action units -> a face reading (N, 7) log-probabilities that never saw the clip's actor: fit rows
    from 4 folds of 4 actors inside 1-16, the other rows from a regression fitted on actors 1-16."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    out = np.zeros((len(y), NUM_EMOTIONS), np.float32)
    fit = np.isin(actor, list(ACTORS["fit"]))
    folds = [(fit & ~np.isin(actor, f), np.isin(actor, f)) for f in (range(a, a + 4) for a in range(1, 17, 4))]
    for train, rows in folds + [(fit, ~fit)]:
        scale = StandardScaler().fit(au[train])
        clf = LogisticRegression(C=0.1, max_iter=2000, class_weight="balanced").fit(scale.transform(au[train]), y[train])
        p = np.zeros((rows.sum(), NUM_EMOTIONS))
        p[:, clf.classes_] = clf.predict_proba(scale.transform(au[rows]))
        out[rows] = np.log(np.clip(p, 1e-6, 1))
    return out


def _voice_rows(names: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Rows of `names` ("03-01-EE-..-AA.flac") matching aligned ids ("01-01-EE-..-AA")."""
    row = {n.replace(".flac", "")[3:]: i for i, n in enumerate(names)}
    return np.array([row[i[3:]] for i in ids])


def aligned_bed(data_root: str, voice_dir: Path, frames: bool = False) -> Bed:
    with np.load(_dir(data_root, "aligned", "ravdess_au") / "ravdess_au_mfcc.npz") as z:
        ids, au, mfcc = z["ids"], z["au"].astype(np.float64), z["mfcc"].astype(np.float64)
    fields = np.array([i.split("-") for i in ids]).astype(int)
    actor, y = fields[:, 6], np.array([emotion_index(RAVDESS_EMOTIONS[e]) for e in fields[:, 2]])
    voice = crossfit.loco_voice(voice_dir)["ravdess"]
    vi = _voice_rows(voice["name"], ids)
    if not (voice["y"][vi] == y).all():
        raise ValueError("RAVDESS face and voice rows disagree on labels: the id mapping is wrong")
    fit_rows = np.isin(actor, list(ACTORS["fit"]))
    face_lp, voice_lp = au_readings(au, y, actor), voice["logp"][vi]
    if frames:
        seq = sequences.ravdess_audio_frames(data_root)
        audio = _standardise({"frames": seq["frames"][_voice_rows(seq["name"], ids)],
                              "reading": _with_steps(voice_lp, sequences.SEGMENTS)}, fit_rows)
    else:
        audio = _standardise({"mfcc": mfcc, "reading": voice_lp}, fit_rows)
    video = _standardise({"au": au, "reading": face_lp}, fit_rows)
    n = len(y)
    mask = np.tile([False, True, True], (n, 1))
    meta = crossfit._meta(n, np.where(actor % 2 == 1, VOCAB["gender"].index("male"), VOCAB["gender"].index("female")))
    s = FusionSet({"text": np.zeros((n, 1), np.float32), "audio": audio, "video": video},
                  {"text": np.zeros((n, NUM_EMOTIONS), np.float32), "audio": voice_lp, "video": face_lp},
                  mask, meta, y, {"actor": actor, "bed": np.full(n, "av")})
    part = {k: s.select(np.flatnonzero(np.isin(actor, list(a)))) for k, a in ACTORS.items()}
    return Bed("frames" if frames else "aligned", part["fit"], part["select"], {"RAVDESS actors 21-24": part["test"]},
               ("audio", "video"), {"audio": sequences.SEGMENTS if frames else 1, "video": 1})


def _draw(labels: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(len(y), int)
    for c in np.unique(y):
        out[y == c] = rng.choice(np.flatnonzero(labels == c), (y == c).sum())
    return out


def tuples_bed(data_root: str, voice_dir: Path) -> Bed:
    """Label-paired tuples; fit and select draw from halves of MELD dev / FER2013 val and RAVDESS 1-16 / 17-20."""
    video = checkpoint.WEIGHTS / "video.pt"
    text = {s: (sequences.meld_word_states(data_root, s), crossfit.text_outputs(data_root, "meld", s)) for s in ("dev", "test")}
    face = {s: (sequences.fer_face_views(data_root, s), crossfit.face_outputs(data_root, s, video)) for s in ("dev", "test")}
    for name, pools in (("MELD", text), ("FER2013", face)):
        if any(not (a["y"] == b["y"]).all() for a, b in pools.values()):
            raise ValueError(f"{name} sequences and readings are not in the same row order")
    seq = sequences.ravdess_audio_frames(data_root)
    voice = crossfit.loco_voice(voice_dir)["ravdess"]
    vi = _voice_rows(voice["name"], np.array(["01" + n.replace(".flac", "")[2:] for n in seq["name"]]))
    v_actor = np.array([int(n.replace(".flac", "").split("-")[6]) for n in seq["name"]])
    halves = {"fit": lambda n: (np.arange(n) // 25) % 2 == 0, "select": lambda n: (np.arange(n) // 25) % 2 == 1}
    rng = np.random.default_rng(11)
    sets = {}
    for part, n in TUPLES.items():
        split = "test" if part == "test" else "dev"
        (tw, tr), (fv, fr) = text[split], face[split]
        t_ok = np.ones(len(tr["y"]), bool) if part == "test" else halves[part](len(tr["y"]))
        f_ok = np.ones(len(fr["y"]), bool) if part == "test" else halves[part](len(fr["y"]))
        v_ok = np.isin(v_actor, list(ACTORS[part]))
        y = rng.integers(NUM_EMOTIONS, size=n)
        ti = np.flatnonzero(t_ok)[_draw(tr["y"][t_ok], y, rng)]
        fi = np.flatnonzero(f_ok)[_draw(fr["y"][f_ok], y, rng)]
        si = np.flatnonzero(v_ok)[_draw(voice["y"][vi][v_ok], y, rng)]
        sets[part] = (ti, fi, si, y, split)
    return _tuple_sets(sets, text, face, seq["frames"], voice["logp"][vi], v_actor)


def _tuple_sets(sets: dict, text: dict, face: dict, frames: np.ndarray, voice_lp: np.ndarray, v_actor: np.ndarray) -> Bed:
    raw = {}
    for part, (ti, fi, si, y, split) in sets.items():
        (tw, tr), (fv, fr) = text[split], face[split]
        raw[part] = {"text": (tw["words"][ti], tr["logp"][ti]), "audio": (frames[si], voice_lp[si]),
                     "video": (fv["views"][fi], fr["logp"][fi]), "y": y, "actor": v_actor[si]}
    order = list(sets)
    out = {}
    fit_rows = np.zeros(sum(len(raw[p]["y"]) for p in order), bool)
    fit_rows[:len(raw["fit"]["y"])] = True
    h = {}
    for m in MODALITIES:
        x = np.concatenate([raw[p][m][0] for p in order])
        lp = np.concatenate([raw[p][m][1] for p in order])
        h[m] = (_standardise({"x": x, "reading": _with_steps(lp, x.shape[1])}, fit_rows), lp)
    start = 0
    for p in order:
        n = len(raw[p]["y"])
        rows = slice(start, start + n)
        gender = np.where(raw[p]["actor"] % 2 == 1, VOCAB["gender"].index("male"), VOCAB["gender"].index("female"))
        out[p] = FusionSet({m: h[m][0][rows] for m in MODALITIES}, {m: h[m][1][rows] for m in MODALITIES},
                           np.ones((n, 3), bool), crossfit._meta(n, gender), raw[p]["y"],
                           {"actor": raw[p]["actor"], "bed": np.full(n, "tuples")})
        start += n
    return Bed("tuples", out["fit"], out["select"], {"tuples (MELD test + RAVDESS 21-24 + FER2013 test)": out["test"]},
               MODALITIES, {"text": sequences.SEGMENTS, "audio": sequences.SEGMENTS, "video": 2})


def _evidence_inputs(s: FusionSet) -> FusionSet:
    """The crossfit sets hold no embeddings: each modality's input is its reading (zeros where absent)."""
    s.h = {m: np.where(s.mask[:, [i]], s.logp[m], 0).astype(np.float32) for i, m in enumerate(MODALITIES)}
    return s


def evidence_bed(data_root: str, voice_dir: Path) -> Bed:
    """crossfit.py's beds exactly (same draws, seed 0), so agf_evidence here is the shipped recipe."""
    rng = np.random.default_rng(0)
    face, voice = crossfit.au_face_outputs(data_root), crossfit.loco_voice(voice_dir)
    video = checkpoint.WEIGHTS / "video.pt"
    words = {split: [crossfit.words_bed(crossfit.text_outputs(data_root, c, split),
                                        crossfit.voice_pool(voice, split == "test", data_root),
                                        crossfit.face_outputs(data_root, split, video), rng) for c in ("meld", "emorynlp")]
             for split in ("dev", "test")}
    fit = FusionSet.concat([crossfit.av_bed(face, voice["ravdess"], range(1, 21)), *words["dev"]])
    tests = {"av (RAVDESS actors 21-24, face + voice)": crossfit.av_bed(face, voice["ravdess"], crossfit.TEST_ACTORS),
             "words (MELD test)": words["test"][0], "words (EmoryNLP test)": words["test"][1]}
    return Bed("evidence", _evidence_inputs(fit), None, {k: _evidence_inputs(v) for k, v in tests.items()}, MODALITIES,
               {m: 1 for m in MODALITIES})


def load_bed(name: str, data_root: str, voice_dir: Path) -> Bed:
    name = check_bed(name)
    if name in REAL:
        return aligned_bed(data_root, voice_dir, frames=name == "frames")
    return tuples_bed(data_root, voice_dir) if name == "tuples" else evidence_bed(data_root, voice_dir)
