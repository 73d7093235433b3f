"""Readers for the labelled datasets in ../shared/data (see its README): MELD, GoEmotions-Ekman, RAVDESS, FER2013.

Every reader takes the data root (the `--data-root` flag) and a split name, and returns plain Python /
numpy records labelled with indices into `labels.EMOTIONS`. Nothing here is ever copied into the project.
"""
from __future__ import annotations

import csv
import hashlib
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agf_core.labels import EMOTIONS, emotion_index

SPLITS = ("train", "dev", "test")
RAVDESS_ACTORS = {"train": range(1, 17), "dev": range(17, 21), "test": range(21, 25)}
# RAVDESS emotion codes (filename field 3). Calm is merged into neutral, as its README allows.
RAVDESS_EMOTIONS = {1: "neutral", 2: "neutral", 3: "joy", 4: "sadness", 5: "anger", 6: "fear",
                    7: "disgust", 8: "surprise"}
RAVDESS_STATEMENTS = {1: "Kids are talking by the door.", 2: "Dogs are sitting by the door."}
_FER_DIRS = {"train": "train", "dev": "val", "test": "test"}
_MELD_FILES = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
_GOEMO_FILES = {"train": "ekman_train.csv", "dev": "ekman_val.csv", "test": "ekman_test.csv"}
_PUNCT = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": "-",
                        "\u2013": "-", "\u2026": "...", "\u0092": "'", "\u0091": "'", "\u0093": '"',
                        "\u0094": '"', "\u0085": "...", "\u0096": "-", "\u0097": "-", "\u00a0": " "})


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; accepted: {', '.join(SPLITS)}")
    return split


def _dir(root: str | Path, *parts: str) -> Path:
    path = Path(root).joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: pass --data-root pointing at ../shared/data "
                                f"(the folder that holds text/, audio/ and faces/)")
    return path


def normalize_text(text: str) -> str:
    """Straight quotes, no mojibake control bytes, single spaces (MELD uses curly quotes and cp1252 bytes)."""
    text = unicodedata.normalize("NFKC", text.translate(_PUNCT))
    return " ".join(text.split())


@dataclass
class Utterance:
    text: str
    label: int
    speaker: str = ""
    context: list[str] = field(default_factory=list)  # previous turns of the dialogue, oldest first


def read_meld(root: str | Path, split: str, context_turns: int = 2) -> list[Utterance]:
    """MELD utterances in dialogue order; `context` holds up to `context_turns` previous turns."""
    path = _dir(root, "text", "meld", _MELD_FILES[check_split(split)])
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    rows.sort(key=lambda r: (int(r["Dialogue_ID"]), int(r["Utterance_ID"])))
    out: list[Utterance] = []
    history: list[str] = []
    dialogue = None
    for r in rows:
        if r["Dialogue_ID"] != dialogue:
            dialogue, history = r["Dialogue_ID"], []
        text = normalize_text(r["Utterance"])
        out.append(Utterance(text, emotion_index(r["Emotion"]), r["Speaker"],
                             history[-context_turns:] if context_turns else []))
        history.append(text)
    return out


def read_goemotions(root: str | Path, split: str, single_label_only: bool = True) -> list[Utterance]:
    """GoEmotions mapped to Ekman + neutral; multi-label rows are skipped unless `single_label_only=False`
    (then the first listed class in EMOTIONS order is used)."""
    path = _dir(root, "text", "goemotions_ekman", _GOEMO_FILES[check_split(split)])
    out = []
    with open(path, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            hot = [e for e in EMOTIONS if r.get(e, "0") == "1"]
            if not hot or (single_label_only and len(hot) > 1):
                continue
            out.append(Utterance(normalize_text(r["text"]), EMOTIONS.index(hot[0])))
    return out


@dataclass(frozen=True)
class SpeechClip:
    path: Path
    label: int
    actor: int
    gender: str        # RAVDESS: odd actor = male, even = female
    intensity: int     # 1 normal, 2 strong
    transcript: str    # the fixed sentence the actor read (carries no emotion)


def parse_ravdess_name(path: Path) -> SpeechClip:
    """`03-01-EE-II-SS-RR-AA.flac` -> SpeechClip."""
    fields = path.stem.split("-")
    if len(fields) != 7 or not all(f.isdigit() for f in fields):
        raise ValueError(f"{path.name!r} is not a RAVDESS name like 03-01-05-01-02-01-12.flac")
    emotion, intensity, statement, actor = int(fields[2]), int(fields[3]), int(fields[4]), int(fields[6])
    return SpeechClip(path, emotion_index(RAVDESS_EMOTIONS[emotion]), actor,
                      "male" if actor % 2 else "female", intensity, RAVDESS_STATEMENTS[statement])


def read_ravdess(root: str | Path, split: str) -> list[SpeechClip]:
    """Speaker-independent split: actors 01-16 train, 17-20 dev, 21-24 test."""
    base = _dir(root, "audio", "ravdess")
    clips = []
    for actor in RAVDESS_ACTORS[check_split(split)]:
        clips += [parse_ravdess_name(p) for p in sorted((base / f"Actor_{actor:02d}").glob("*.flac"))]
    return clips


def cache_dir() -> Path:
    path = Path(os.environ.get("AGF_CACHE", Path(__file__).resolve().parents[2] / ".cache"))  # the checkout root
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_fer2013(root: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """FER2013 split -> (images uint8 (N, 48, 48) grey, labels int64 (N,)); cached as .npz after the first read."""
    import cv2

    base = _dir(root, "faces", "fer2013", _FER_DIRS[check_split(split)])
    files = sorted(base.glob("*/*.jpg"))
    key = hashlib.sha1("\n".join(str(p) for p in files).encode()).hexdigest()[:12]
    cached = cache_dir() / f"fer2013_{split}_{key}.npz"
    if cached.exists():
        z = np.load(cached)
        return z["images"], z["labels"]
    images = np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in files])  # (N, 48, 48)
    labels = np.array([emotion_index(p.parent.name) for p in files], dtype=np.int64)
    np.savez(cached, images=images, labels=labels)
    return images, labels
