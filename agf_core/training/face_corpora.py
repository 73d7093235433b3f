"""Readers for the face corpora in ../shared/data/faces, as uint8 grey 48x48 crops and labels (N,).

    fer2013    the official split (train / dev = PublicTest / test = PrivateTest), FER2013's own labels
    ferplus    the same images with the FER+ crowd majority (rows without a clear majority are left out)
    taiwanese  29 posed professional performers, split by performer (train / dev / test), 64x64 -> 48x48
    muxspace   in-the-wild LFW / IMFDB photos, one student label each, split by person, 64x64 -> 48x48
The 64x64 crops were made with this project's detector and align_crop, so 48x48 is the live crop's framing.
"""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from agf_core.labels import emotion_index
from agf_core.training.data import _FER_DIRS, _dir, cache_dir, check_split, read_fer2013

FACE_CORPORA = ("fer2013", "ferplus", "taiwanese", "muxspace")
SIZE = 48


def _read_grey(path: Path) -> np.ndarray:
    import cv2
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError(f"{path} is not a readable image")
    return img if img.shape == (SIZE, SIZE) else cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def _labels_csv(folder: Path) -> list[dict]:
    with open(folder / "labels.csv", newline="") as f:
        return list(csv.DictReader(f))


def _cached(name: str, paths: list[Path], labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    key = hashlib.sha1("\n".join(map(str, paths)).encode()).hexdigest()[:12]
    path = cache_dir() / f"faces_{name}_{key}.npz"
    if path.exists():
        with np.load(path) as z:
            return z["images"], z["labels"]
    images = np.stack([_read_grey(p) for p in paths]) if paths else np.zeros((0, SIZE, SIZE), np.uint8)
    out = images, np.array(labels, np.int64)
    np.savez(path, images=out[0], labels=out[1])
    return out


def _rows(root: str | Path, corpus: str, split: str) -> tuple[Path, list[dict]]:
    if corpus == "ferplus":
        rows = [r for r in _labels_csv(_dir(root, "faces", "ferplus"))
                if r["label"] and r["path"].startswith(_FER_DIRS[split] + "/")]
        return _dir(root, "faces", "fer2013"), rows
    base = _dir(root, "faces", corpus)
    return base, [r for r in _labels_csv(base) if r["split_hint"] == split and r["label"]]


def ferplus_rows(root: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """FER+ as rows of `read_faces(root, "fer2013", split)`: (row indices (N,), FER+ labels (N,))."""
    base = _dir(root, "faces", "fer2013", _FER_DIRS[check_split(split)])
    index = {f"{_FER_DIRS[split]}/{p.parent.name}/{p.name}": i for i, p in enumerate(sorted(base.glob("*/*.jpg")))}
    rows = _rows(root, "ferplus", split)[1]
    return np.array([index[r["path"]] for r in rows]), np.array([emotion_index(r["label"]) for r in rows], np.int64)


def read_subjects(root: str | Path, corpus: str, split: str) -> np.ndarray:
    """Who each image of `read_faces(root, corpus, split)` shows (N,) str; Taiwanese and muxspace only."""
    if corpus not in ("taiwanese", "muxspace"):
        raise ValueError(f"{corpus!r} names no subjects; accepted: taiwanese, muxspace")
    return np.array([r["speaker_or_subject"] for r in _rows(root, corpus, check_split(split))[1]])


def read_faces(root: str | Path, corpus: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One face corpus split -> (images uint8 (N, 48, 48), labels int64 (N,)); cached after the first read."""
    if corpus not in FACE_CORPORA:
        raise ValueError(f"unknown face corpus {corpus!r}; accepted: {', '.join(FACE_CORPORA)}")
    check_split(split)
    if corpus == "fer2013":
        return read_fer2013(root, split)
    base, rows = _rows(root, corpus, split)
    return _cached(f"{corpus}_{split}", [base / r["path"] for r in rows], [emotion_index(r["label"]) for r in rows])
