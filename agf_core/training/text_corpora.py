"""Readers for every text corpus in ../shared/data, mapped onto the seven classes, with train/dev/test splits.

Each reader returns `data.Utterance` records (text, label index, speaker, previous turns as context where the
corpus is a dialogue). Where a corpus ships no split of its own, a fixed split by a hash of the text is used,
so a sentence never lands in two splits and the split does not depend on file order:

    corpus      splits                                        dropped (no match among the seven)
    meld        its train / dev / test                        -
    emorynlp    its train / dev / test, context by scene      Peaceful, Powerful
    goemotions  its ekman train / val / test, single-label    multi-label rows
    carer       its train / validation / test                 love (kept as joy: CARER's love is affection)
    isear       hash split 80 / 10 / 10                       shame, guilt
    xed         hash split 80 / 10 / 10, single-label rows    anticipation, trust
    semeval     its train hashed 90 / 10 into train / dev;    anticipation, love, optimism, pessimism, trust
                its dev file is the test split                 (rows keep only the six basic labels)
"""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from agf_core.labels import EMOTIONS
from agf_core.training.data import Utterance, _dir, check_split, normalize_text, read_goemotions, read_meld

TEXT_CORPORA = ("meld", "emorynlp", "goemotions", "carer", "isear", "xed", "semeval")
# The classes each corpus can carry (indices into EMOTIONS): metrics are taken over these.
CORPUS_CLASSES: dict[str, tuple[int, ...]] = {
    "meld": tuple(range(7)), "goemotions": tuple(range(7)), "xed": tuple(range(7)),
    "emorynlp": tuple(EMOTIONS.index(e) for e in ("neutral", "joy", "sadness", "anger", "fear")),
    "carer": tuple(EMOTIONS.index(e) for e in ("joy", "sadness", "anger", "fear", "surprise")),
    "isear": tuple(EMOTIONS.index(e) for e in ("joy", "sadness", "anger", "fear", "disgust")),
    "semeval": tuple(EMOTIONS.index(e) for e in ("joy", "sadness", "anger", "fear", "disgust", "surprise")),
}
_EMORY = {"Neutral": "neutral", "Joyful": "joy", "Scared": "fear", "Mad": "anger", "Sad": "sadness"}
_CARER = {"sadness": "sadness", "joy": "joy", "love": "joy", "anger": "anger", "fear": "fear", "surprise": "surprise"}
_ISEAR = {"joy": "joy", "fear": "fear", "anger": "anger", "sadness": "sadness", "disgust": "disgust"}
_XED = {1: "anger", 3: "disgust", 4: "fear", 5: "joy", 6: "sadness", 7: "surprise"}
_SEMEVAL = ("anger", "disgust", "fear", "joy", "sadness", "surprise")
_CARER_FILES = {"train": "train.jsonl", "dev": "validation.jsonl", "test": "test.jsonl"}


def check_corpus(corpus: str) -> str:
    if corpus not in TEXT_CORPORA:
        raise ValueError(f"unknown text corpus {corpus!r}; accepted: {', '.join(TEXT_CORPORA)}")
    return corpus


def hash_split(text: str, parts: tuple[tuple[str, int], ...] = (("train", 80), ("dev", 10), ("test", 10))) -> str:
    """The split a text falls in, from the MD5 of its normalised form (stable across runs and machines)."""
    bucket = int(hashlib.md5(text.lower().encode()).hexdigest(), 16) % sum(n for _, n in parts)
    for name, n in parts:
        if bucket < n:
            return name
        bucket -= n
    raise AssertionError("unreachable")


def _single(labels: set[str]) -> int | None:
    return EMOTIONS.index(labels.pop()) if len(labels) == 1 else None


def read_emorynlp(root: str | Path, split: str, context_turns: int = 2) -> list[Utterance]:
    """EmoryNLP (Friends), in scene order; Peaceful and Powerful rows are dropped but stay in the context."""
    path = _dir(root, "text", "emorynlp", f"emorynlp_{check_split(split)}_final.csv")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    scene = lambda r: (int(r["Season"]), int(r["Episode"]), int(r["Scene_ID"]))  # noqa: E731
    rows.sort(key=lambda r: (scene(r), int(r["Utterance_ID"])))
    out, history, current = [], [], None
    for r in rows:
        if scene(r) != current:
            current, history = scene(r), []
        text = normalize_text(r["Utterance"])
        if r["Emotion"] in _EMORY:
            out.append(Utterance(text, EMOTIONS.index(_EMORY[r["Emotion"]]), r["Speaker"],
                                 history[-context_turns:] if context_turns else []))
        history.append(text)
    return out


def read_carer(root: str | Path, split: str) -> list[Utterance]:
    path = _dir(root, "text", "carer", _CARER_FILES[check_split(split)])
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [Utterance(normalize_text(r["text"]), EMOTIONS.index(_CARER[r["label_text"]])) for r in rows]


def read_isear(root: str | Path, split: str) -> list[Utterance]:
    path = _dir(root, "text", "isear", "isear.csv")
    with open(path, encoding="utf-8", newline="") as f:  # its README says latin-1; the file is valid UTF-8
        rows = list(csv.DictReader(f, delimiter="|"))
    out = []
    for r in rows:
        text = normalize_text((r.get("SIT") or "").replace("á", " "))  # ISEAR pads its texts with 'á'
        if r.get("Field1") in _ISEAR and text and hash_split(text) == check_split(split):
            out.append(Utterance(text, EMOTIONS.index(_ISEAR[r["Field1"]])))
    return out


def read_xed(root: str | Path, split: str) -> list[Utterance]:
    """XED English subtitles: single-label rows after dropping anticipation and trust, plus its neutral lines."""
    base = _dir(root, "text", "xed")
    check_split(split)
    out = []
    with open(base / "en-annotated.tsv", encoding="utf-8") as f:
        for line in f:
            text, _, codes = line.rstrip("\n").rpartition("\t")
            labels = {_XED[int(c)] for c in codes.split(",") if c.strip().isdigit() and int(c) in _XED}
            label, text = _single(labels), normalize_text(text)
            if label is not None and text and hash_split(text) == split:
                out.append(Utterance(text, label))
    with open(base / "neu_en.txt", encoding="utf-8") as f:
        for line in f:
            text = normalize_text(line.partition("\t")[2])
            if text and hash_split(text) == split:
                out.append(Utterance(text, EMOTIONS.index("neutral")))
    return out


def read_semeval(root: str | Path, split: str) -> list[Utterance]:
    """SemEval-2018 E-c tweets with exactly one of the six basic labels; test = its dev file."""
    name = "2018-E-c-En-dev.txt" if check_split(split) == "test" else "2018-E-c-En-train.txt"
    path = _dir(root, "text", "semeval2018_ec", name)
    out = []
    with open(path, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            text = normalize_text(r["Tweet"])
            label = _single({e for e in _SEMEVAL if r.get(e) == "1"})
            if label is None or not text:
                continue
            if split != "test" and hash_split(text, (("train", 90), ("dev", 10))) != split:
                continue
            out.append(Utterance(text, label))
    return out


def read_text_corpus(root: str | Path, corpus: str, split: str, context_turns: int = 2) -> list[Utterance]:
    """One split of one corpus; dialogue corpora (MELD, EmoryNLP) carry up to `context_turns` previous turns."""
    corpus = check_corpus(corpus)
    if corpus == "meld":
        return read_meld(root, split, context_turns)
    if corpus == "emorynlp":
        return read_emorynlp(root, split, context_turns)
    if corpus == "goemotions":
        return read_goemotions(root, split)
    return {"carer": read_carer, "isear": read_isear, "xed": read_xed, "semeval": read_semeval}[corpus](root, split)
