"""The fusion study's data: frozen-branch outputs cached once per dataset split, and the two test beds.

No dataset here has text, speech and face of the same moment with an emotion label, so (DESIGN.md section 7):

(a) RAVDESS: each clip's speech + its transcript from the project's own ASR (Whisper tiny.en) + metadata
    (gender from the actor number, timbre estimated from the voice, age unknown); no face. The transcript
    is one of two fixed neutral sentences, so the text carries no emotion.
(b) Label-paired tuples: for a label y, a MELD utterance, a RAVDESS clip and a FER2013 face of label y, each
    drawn from the same split (train with train, test with test). A face "window" is 8 jittered copies of
    one still image (corruption.jitter_window). The metadata is the RAVDESS speaker's.

Every pool holds, per item and condition, the branch embedding h (256,) and log-probabilities (7,), keyed
in the cache by the SHA-256 of the branch checkpoints, so retraining a branch recomputes its pool.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agf_core import checkpoint
from agf_core.training.corruption import AUDIO_CONDITIONS, FACE_CORRUPTIONS, asr_errors, corrupt_window, degrade_audio, jitter_window
from agf_core.training.data import check_split, read_fer2013, read_meld, read_ravdess
from agf_core.training.features import cached
from agf_core.labels import EMOTIONS, MODALITIES, NUM_EMOTIONS
from agf_core.inputs.metadata import UNKNOWN, VOCAB, estimate_timbre

ASR_ERROR_RATE = 0.3          # word error rate of the "ASR errors" text corruption
FACE_POOL_PER_CLASS = {"train": 450, "dev": 200, "test": None}  # None = every image of the split
FACE_CORRUPTED_PER_CLASS = {"train": 300, "dev": 200, "test": 100}


@dataclass
class Branches:
    """The three frozen branches and the SHA-256 of their checkpoint files (the pools' cache key)."""
    text: object
    audio: object
    video: object
    digests: dict[str, str]

    @classmethod
    def load(cls, folder: Path = checkpoint.WEIGHTS, text: str = "text.pt", audio: str = "audio.pt",
             video: str = "video.pt") -> "Branches":
        from agf_core.branches import TextBranch, VideoBranch, audio_branch
        paths = {"text": folder / text, "audio": folder / audio, "video": folder / video}
        return cls(TextBranch(paths["text"]), audio_branch(paths["audio"]), VideoBranch(paths["video"]),
                   {k: checkpoint.sha256(p) for k, p in paths.items()})


def ravdess_transcripts(data_root: str, split: str, asr_model: str | None = None) -> np.ndarray:
    """The project's ASR on every clean clip of a RAVDESS split, (N,) str; cached (~0.4 s a clip)."""
    from agf_core.training.audio import read_wave
    from agf_core.transcriber import TranscriberOptions, WhisperTranscriber
    options = TranscriberOptions(**({"model": asr_model} if asr_model else {}))

    def compute():
        asr = WhisperTranscriber(options)
        return {"text": np.array([asr(read_wave(c.path)) for c in read_ravdess(data_root, split)])}
    return cached(f"ravdess_asr_{check_split(split)}", {"options": repr(options)}, compute)["text"]


def speech_inputs(data_root: str, split: str, encode_audio):
    """What speech_pool encodes, in a fixed order and with fixed noise (seed 1): the RAVDESS clips,
    `encode_audio(wave)` of every clip under every AUDIO_CONDITION [C][N] (one wave in memory at a time), the
    ASR transcripts clean and with ASR errors [2][N], and each voice's timbre."""
    from agf_core.training.audio import read_wave
    clips = read_ravdess(data_root, split)
    rng = np.random.default_rng(1)
    waves = [read_wave(c.path) for c in clips]
    audio = [[encode_audio(degrade_audio(w, cond, rng)) for w in waves] for cond in AUDIO_CONDITIONS]
    transcripts = [t or "..." for t in ravdess_transcripts(data_root, split)]
    noisy = [asr_errors(t, ASR_ERROR_RATE, rng) for t in transcripts]
    return clips, audio, (transcripts, noisy), [estimate_timbre(w) for w in waves]


def pool_key(pool: str, split: str, branches: Branches) -> dict:
    """What a split's cached pool depends on: the checkpoints of the branches that make it and how its rows
    are made."""
    if pool == "speech":
        return {"audio": branches.digests["audio"], "text": branches.digests["text"],
                "conditions": str(AUDIO_CONDITIONS), "asr_error_rate": ASR_ERROR_RATE}
    if pool == "text":
        return {"text": branches.digests["text"], "asr_error_rate": ASR_ERROR_RATE}
    if pool == "face":
        return {"video": branches.digests["video"], "per_class": FACE_POOL_PER_CLASS[split],
                "corrupted": FACE_CORRUPTED_PER_CLASS[split], "kinds": FACE_CORRUPTIONS}
    raise ValueError(f"unknown pool {pool!r}; accepted: speech, text, face")


def speech_pool(data_root: str, split: str, branches: Branches) -> dict[str, np.ndarray]:
    """RAVDESS split -> per clip: y, actor, gender/timbre ids; audio h/logp under every AUDIO_CONDITION
    (C, N, ...); text h/logp of the ASR transcript, clean and with simulated ASR errors (2, N, ...)."""
    def compute():
        clips, audio, texts, timbre = speech_inputs(data_root, split, branches.audio.logp)
        text = [branches.text.batch(list(ts)) for ts in texts]
        return {"y": np.array([c.label for c in clips]), "actor": np.array([c.actor for c in clips]),
                "gender": np.array([VOCAB["gender"].index(c.gender) for c in clips]),
                "timbre": np.array([VOCAB["timbre"].index(t) for t in timbre]),
                "audio_h": np.array([[h for h, _ in row] for row in audio], np.float32),
                "audio_logp": np.array([[lp for _, lp in row] for row in audio], np.float32),
                "text_h": np.stack([h for h, _ in text]), "text_logp": np.stack([lp for _, lp in text])}
    return cached(f"fusion_speech_{check_split(split)}", pool_key("speech", split, branches), compute)


def text_inputs(data_root: str, split: str, context_turns: int):
    """What text_pool encodes: MELD labels, utterances clean and with ASR errors (seed 2), and contexts."""
    rows = read_meld(data_root, split, context_turns)
    rng = np.random.default_rng(2)
    texts = [r.text for r in rows]
    noisy = [asr_errors(t, ASR_ERROR_RATE, rng) for t in texts]
    return np.array([r.label for r in rows]), (texts, noisy), [r.context for r in rows]


def text_pool(data_root: str, split: str, branches: Branches) -> dict[str, np.ndarray]:
    """MELD split (with dialogue context) -> y; h/logp clean and with simulated ASR errors (2, N, ...)."""
    def compute():
        y, texts, contexts = text_inputs(data_root, split, branches.text.encoder.config.context_turns)
        out = [branches.text.batch(ts, contexts) for ts in texts]
        return {"y": y, "h": np.stack([h for h, _ in out]), "logp": np.stack([lp for _, lp in out])}
    return cached(f"fusion_text_{check_split(split)}", pool_key("text", split, branches), compute)


def _per_class(y: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    if n is None:
        return np.arange(len(y))
    return np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:n] for c in range(NUM_EMOTIONS)]))


def face_inputs(data_root: str, split: str):
    """What face_pool encodes (seed 3): FER2013 labels of the kept images, their clean jittered windows
    (N, 8, 48, 48), the class-balanced subset `corrupt_index` (M,) and its windows under each FACE_CORRUPTION
    [K] (M, 8, 48, 48)."""
    check_split(split)
    images, labels = read_fer2013(data_root, split)
    rng = np.random.default_rng(3)
    keep = _per_class(labels, FACE_POOL_PER_CLASS[split], rng)
    windows = np.stack([jitter_window(images[i], rng) for i in keep])           # (N, 8, 48, 48)
    sub = _per_class(labels[keep], FACE_CORRUPTED_PER_CLASS[split], rng)
    bad = [np.stack([corrupt_window(windows[i], kind, rng) for i in sub]) for kind in FACE_CORRUPTIONS]
    return labels[keep], windows, sub, bad


def face_pool(data_root: str, split: str, branches: Branches) -> dict[str, np.ndarray]:
    """FER2013 split -> y; h/logp of a clean jittered window per image; and for a class-balanced subset,
    windows under each FACE_CORRUPTION (K, M, ...) with `corrupt_index` (M,) into the clean rows."""
    check_split(split)

    def compute():
        y, windows, sub, bad = face_inputs(data_root, split)
        h, logp = branches.video.windows(windows)
        bad = [branches.video.windows(w) for w in bad]
        return {"y": y, "h": h, "logp": logp, "corrupt_index": sub,
                "corrupt_h": np.stack([b[0] for b in bad]), "corrupt_logp": np.stack([b[1] for b in bad])}
    return cached(f"fusion_face_{split}", pool_key("face", split, branches), compute)


@dataclass
class FusionSet:
    """A table of fusion inputs: N rows, each with whichever modalities are present.

    h[m] (N, 256) and logp[m] (N, 7) per modality (zeros where absent), mask (N, 3) in MODALITIES order,
    meta (N, 3) metadata ids (age, gender, timbre), y (N,), and `info` columns that say how each row was
    made (audio condition, face corruption, text corruption, actor, ...) for the analyses.
    """
    h: dict[str, np.ndarray]
    logp: dict[str, np.ndarray]
    mask: np.ndarray
    meta: np.ndarray
    y: np.ndarray
    info: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    def select(self, rows: np.ndarray) -> "FusionSet":
        return FusionSet({k: v[rows] for k, v in self.h.items()}, {k: v[rows] for k, v in self.logp.items()},
                         self.mask[rows], self.meta[rows], self.y[rows], {k: v[rows] for k, v in self.info.items()})

    def with_mask(self, present: tuple[str, ...]) -> "FusionSet":
        """The same rows with only the modalities in `present` (a missing-modality condition)."""
        keep = np.array([m in present for m in MODALITIES])
        out = self.select(np.arange(len(self)))
        out.mask = out.mask & keep[None]
        if not out.mask.any(1).all():
            raise ValueError(f"some rows have none of {present} present")
        return out

    @staticmethod
    def concat(sets: list["FusionSet"]) -> "FusionSet":
        cat = lambda key: {k: np.concatenate([getattr(s, key)[k] for s in sets]) for k in getattr(sets[0], key)}  # noqa: E731
        info_keys = set.intersection(*(set(s.info) for s in sets))
        return FusionSet(cat("h"), cat("logp"), np.concatenate([s.mask for s in sets]),
                         np.concatenate([s.meta for s in sets]), np.concatenate([s.y for s in sets]),
                         {k: np.concatenate([s.info[k] for s in sets]) for k in info_keys})


def _meta_ids(gender: np.ndarray, timbre: np.ndarray) -> np.ndarray:
    age = np.full_like(gender, VOCAB["age"].index(UNKNOWN))
    return np.stack([age, gender, timbre], 1)


def ravdess_set(speech: dict[str, np.ndarray], condition: int = 0, text_noisy: bool = False,
                video_dim: int | None = None) -> FusionSet:
    """Test bed (a): every clip with its transcript, audio under AUDIO_CONDITIONS[condition], no face (zeros
    of `video_dim`, by default the audio embedding's width)."""
    n, d = len(speech["y"]), video_dim or speech["audio_h"].shape[-1]
    t = int(text_noisy)
    return FusionSet(
        {"text": speech["text_h"][t], "audio": speech["audio_h"][condition], "video": np.zeros((n, d), np.float32)},
        {"text": speech["text_logp"][t], "audio": speech["audio_logp"][condition],
         "video": np.zeros((n, NUM_EMOTIONS), np.float32)},
        np.tile([True, True, False], (n, 1)), _meta_ids(speech["gender"], speech["timbre"]), speech["y"],
        {"source": np.zeros(n, int), "audio_condition": np.full(n, condition), "face_corruption": np.full(n, -1),
         "actor": speech["actor"], "gender": speech["gender"], "timbre": speech["timbre"]})


def _draw(labels: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each wanted label y[i], the index of a random item of `labels` with that label."""
    out = np.empty(len(y), int)
    for c in np.unique(y):
        rows, items = np.flatnonzero(y == c), np.flatnonzero(labels == c)
        if not len(items):
            raise ValueError(f"no item labelled {EMOTIONS[c]!r} in this pool; tuples need every emotion")
        out[rows] = rng.choice(items, len(rows))
    return out


def tuple_set(text: dict, speech: dict, face: dict, n: int, rng: np.random.Generator,
              audio_condition: int | None = 0, face_corruption: int | None = -1, text_noisy: bool | None = False
              ) -> FusionSet:
    """Test bed (b): n label-paired tuples, labels uniform over the 7 emotions.
    audio_condition: an index into AUDIO_CONDITIONS, or None for a random one per row (40% clean);
    face_corruption: -1 clean, an index into FACE_CORRUPTIONS, or None for random (40% corrupted);
    text_noisy: False, True, or None for random (30% with ASR errors)."""
    y = rng.integers(NUM_EMOTIONS, size=n)
    ti, si = _draw(text["y"], y, rng), _draw(speech["y"], y, rng)
    c_audio = (np.where(rng.random(n) < 0.4, 0, rng.integers(1, len(AUDIO_CONDITIONS), n))
               if audio_condition is None else np.full(n, audio_condition))
    t_noisy = (rng.random(n) < 0.3).astype(int) if text_noisy is None else np.full(n, int(text_noisy))
    if face_corruption is None:
        c_face = np.where(rng.random(n) < 0.6, -1, rng.integers(len(FACE_CORRUPTIONS), size=n))
    else:
        c_face = np.full(n, face_corruption)
    # A clean face comes from the whole pool, a corrupted one from the corrupted subset.
    clean = c_face < 0
    fi = _draw(face["y"], y, rng)
    ci = _draw(face["y"][face["corrupt_index"]], y, rng)
    k = np.maximum(c_face, 0)
    face_h = np.where(clean[:, None], face["h"][fi], face["corrupt_h"][k, ci])
    face_lp = np.where(clean[:, None], face["logp"][fi], face["corrupt_logp"][k, ci])
    return FusionSet(
        {"text": text["h"][t_noisy, ti], "audio": speech["audio_h"][c_audio, si], "video": face_h},
        {"text": text["logp"][t_noisy, ti], "audio": speech["audio_logp"][c_audio, si], "video": face_lp},
        np.ones((n, 3), bool), _meta_ids(speech["gender"][si], speech["timbre"][si]), y,
        {"source": np.ones(n, int), "audio_condition": c_audio, "face_corruption": c_face,
         "actor": speech["actor"][si], "gender": speech["gender"][si], "timbre": speech["timbre"][si]})


def drop_modalities(s: FusionSet, rng: np.random.Generator, keep_all: float = 0.4,
                    drop_meta: float = 0.3) -> FusionSet:
    """Training augmentation: each row keeps all its modalities with probability `keep_all`, else a random
    non-empty subset of them; each metadata field is set to unknown with probability `drop_meta`."""
    out = s.select(np.arange(len(s)))
    for i in np.flatnonzero(rng.random(len(s)) >= keep_all):
        present = np.flatnonzero(out.mask[i])
        k = rng.integers(1, len(present) + 1)
        out.mask[i] = False
        out.mask[i, rng.choice(present, k, replace=False)] = True
    unknown = np.array([VOCAB[f].index(UNKNOWN) for f in VOCAB])
    out.meta = np.where(rng.random(out.meta.shape) < drop_meta, unknown[None], out.meta)
    return out


def training_set(pools: dict, rng: np.random.Generator, n_tuples: int, ravdess_repeats: int = 2) -> FusionSet:
    """One epoch of training rows: n_tuples random corrupted tuples (b) + every RAVDESS clip of the pools (a)
    `ravdess_repeats` times under random audio conditions (per clip) and text noise (one draw per audio
    condition and repeat: the clips of that condition all get ASR errors or none), then modality and metadata
    dropout."""
    speech = pools["speech"]
    rav = []
    for _ in range(ravdess_repeats):
        conds = np.where(rng.random(len(speech["y"])) < 0.4, 0, rng.integers(1, len(AUDIO_CONDITIONS), len(speech["y"])))
        parts = [ravdess_set(speech, int(c), bool(rng.random() < 0.3), pools["face"]["h"].shape[-1])
                 .select(np.flatnonzero(conds == c))
                 for c in np.unique(conds)]
        rav.append(FusionSet.concat(parts))
    tuples = tuple_set(pools["text"], speech, pools["face"], n_tuples, rng, None, None, None)
    return drop_modalities(FusionSet.concat([tuples, *rav]), rng)


# The halves of the dev pools: the fusion is fitted on one and selected on the other (see fusion_recipe.py).
FIT_ACTORS = (17, 18)


def half_pools(pools: dict, part: str) -> dict[str, dict[str, np.ndarray]]:
    """Split a split's pools in two disjoint halves, part "fit" or "select": RAVDESS by actor (17-18 | 19-20),
    MELD by alternating blocks of 25 utterances (mostly whole dialogues), FER2013 by alternating images."""
    if part not in ("fit", "select"):
        raise ValueError(f"part {part!r} must be fit or select")
    fit = part == "fit"
    speech, text, face = pools["speech"], pools["text"], pools["face"]
    s_rows = np.isin(speech["actor"], FIT_ACTORS) == fit
    t_rows = ((np.arange(len(text["y"])) // 25) % 2 == 0) == fit
    f_rows = (np.arange(len(face["y"])) % 2 == 0) == fit
    c_keep = f_rows[face["corrupt_index"]]
    new_index = np.cumsum(f_rows) - 1                       # old pool row -> row in the half
    return {
        "speech": {k: (v[:, s_rows] if v.ndim == 3 else v[s_rows]) for k, v in speech.items()},
        "text": {"y": text["y"][t_rows], "h": text["h"][:, t_rows], "logp": text["logp"][:, t_rows]},
        "face": {"y": face["y"][f_rows], "h": face["h"][f_rows], "logp": face["logp"][f_rows],
                 "corrupt_index": new_index[face["corrupt_index"][c_keep]],
                 "corrupt_h": face["corrupt_h"][:, c_keep], "corrupt_logp": face["corrupt_logp"][:, c_keep]},
    }


def load_pools(data_root: str, split: str, branches: Branches) -> dict[str, dict[str, np.ndarray]]:
    return {"speech": speech_pool(data_root, split, branches), "text": text_pool(data_root, split, branches),
            "face": face_pool(data_root, split, branches)}
