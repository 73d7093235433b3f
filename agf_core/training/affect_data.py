"""Valence-arousal data: EmoBank sentences (rated 1-5) and the NRC-VAD lexicon (words rated 0-1), both read
into the project's [-1, 1] scale.

    text/emobank/emobank.csv       id, split (train|dev|test), V, A, D, text     CC BY-SA 4.0
    lexicons/nrc_vad/NRC-VAD-Lexicon.txt   Word, Valence, Arousal, Dominance (tab-separated)   research use
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agf_core.training.data import check_split, normalize_text

WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


@dataclass
class RatedTexts:
    text: list[str]
    va: np.ndarray      # (N, 2) float32 valence, arousal in [-1, 1]: (rating - 3) / 2


def read_emobank(root: str | Path, split: str) -> RatedTexts:
    """EmoBank's own split; its 1-5 ratings mapped to [-1, 1] with 3 (the scale's middle) at 0."""
    check_split(split)
    path = Path(root) / "text" / "emobank" / "emobank.csv"
    if not path.is_file():
        raise FileNotFoundError(f"EmoBank not found at {path}; pass --data-root pointing at the shared data folder")
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == split and r["text"].strip()]
    texts = [normalize_text(r["text"]) for r in rows]
    keep = [i for i, t in enumerate(texts) if t.strip()]
    va = np.array([[float(rows[i]["V"]), float(rows[i]["A"])] for i in keep], np.float32)
    return RatedTexts([texts[i] for i in keep], (va - 3.0) / 2.0)


def read_nrc_vad(root: str | Path) -> dict[str, tuple[float, float]]:
    """word -> (valence, arousal) in [-1, 1] (2 * x - 1 of the lexicon's 0-1 values)."""
    path = Path(root) / "lexicons" / "nrc_vad" / "NRC-VAD-Lexicon.txt"
    if not path.is_file():
        raise FileNotFoundError(f"the NRC-VAD lexicon is not at {path}; pass --data-root pointing at the shared data")
    out = {}
    with open(path, encoding="utf-8") as f:
        next(f)  # header: Word Valence Arousal Dominance
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 4:
                out[parts[0].lower()] = (2 * float(parts[1]) - 1, 2 * float(parts[2]) - 1)
    return out


def lexicon_va(texts: list[str], lexicon: dict[str, tuple[float, float]]) -> np.ndarray:
    """The lexicon baseline: the mean valence and arousal of a sentence's words found in the lexicon, (N, 2);
    (0, 0) for a sentence with none."""
    out = np.zeros((len(texts), 2), np.float32)
    for i, t in enumerate(texts):
        hits = [lexicon[w] for w in WORD.findall(t.lower()) if w in lexicon]
        if hits:
            out[i] = np.mean(hits, 0)
    return out
