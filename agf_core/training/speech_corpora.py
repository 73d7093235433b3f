"""Readers for the five emotional-speech corpora in ../shared/data/audio, behind one record type.

    ravdess  acted English, 24 actors, 7 classes (calm -> neutral); actors 01-16 train, 17-20 dev, 21-24 test
    tess     acted English, 2 female speakers (OAF, YAF), 7 classes; no speaker-independent split, so all of
             it is "train", and it is tested leave-one-speaker-out
    urdu     spontaneous Urdu TV talk shows, 29 speakers, 4 classes (no fear, disgust, surprise); the
             project's speaker-independent split below
    emovo    acted Italian, 6 actors, 7 classes; train f1 f2 m1 m2, test f3 m3 (no dev: selection uses the
             other corpora's dev speakers)
    indian   Indian EmoSpeech Command: one keyword per clip, phone recordings, 107 speakers, 4 classes
             (neutral, anger, fear, joy); train / dev / test by speaker (labels.csv's split_hint)
EMOVO and Indian EmoSpeech are read from their labels.csv (path, label, speaker_or_subject, split_hint).

A training set is named by a spec string: `ravdess`, `tess`, `urdu`, or `tess:OAF` (one speaker of a corpus).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agf_core.training.data import _dir, check_split, read_ravdess
from agf_core.labels import EMOTIONS, emotion_index

CORPORA = ("ravdess", "tess", "urdu", "emovo", "indian")
LABELLED_CSV = {"emovo": "emovo", "indian": "indian_emospeech"}   # corpus -> folder under audio/
TESS_SPEAKERS = ("OAF", "YAF")
TESS_EMOTIONS = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "joy", "neutral": "neutral",
                 "ps": "surprise", "sad": "sadness"}
URDU_EMOTIONS = {"A": "anger", "H": "joy", "N": "neutral", "S": "sadness"}
URDU_SPEAKERS = {"test": ("SM2", "SM7", "SM24", "SM20", "SF9", "SM21"),
                 "dev": ("SM1", "SF6", "SM23", "SF11", "SM22", "SM3")}
# The classes each corpus has (indices into EMOTIONS); the rest are "dropped" for that corpus.
CORPUS_CLASSES = {"ravdess": tuple(range(len(EMOTIONS))), "tess": tuple(range(len(EMOTIONS))),
                  "urdu": tuple(sorted(emotion_index(e) for e in URDU_EMOTIONS.values())),
                  "emovo": tuple(range(len(EMOTIONS))),
                  "indian": tuple(sorted(emotion_index(e) for e in ("neutral", "anger", "fear", "joy")))}


@dataclass(frozen=True)
class CorpusClip:
    path: Path
    label: int          # index into labels.EMOTIONS
    corpus: str         # one of CORPORA
    speaker: str        # "Actor_07", "OAF", "SM24"


def _check_corpus(corpus: str) -> str:
    if corpus not in CORPORA:
        raise ValueError(f"unknown speech corpus {corpus!r}; accepted: {', '.join(CORPORA)}")
    return corpus


def parse_tess_name(path: Path) -> CorpusClip:
    """`OAF_back_angry.flac` -> CorpusClip (speaker OAF, anger)."""
    parts = path.stem.split("_")
    if len(parts) != 3 or parts[0] not in TESS_SPEAKERS or parts[2] not in TESS_EMOTIONS:
        raise ValueError(f"{path.name!r} is not a TESS name like OAF_back_angry.flac "
                         f"(speakers {TESS_SPEAKERS}, emotions {tuple(TESS_EMOTIONS)})")
    return CorpusClip(path, emotion_index(TESS_EMOTIONS[parts[2]]), "tess", parts[0])


def parse_urdu_name(path: Path) -> CorpusClip:
    """`SM24_F3_S05.flac` -> CorpusClip (speaker SM24, sadness)."""
    parts = path.stem.split("_")
    if len(parts) != 3 or parts[0][:2] not in ("SM", "SF") or parts[2][:1] not in URDU_EMOTIONS:
        raise ValueError(f"{path.name!r} is not a URDU name like SM24_F3_S05.flac "
                         f"(emotion letter one of {tuple(URDU_EMOTIONS)})")
    return CorpusClip(path, emotion_index(URDU_EMOTIONS[parts[2][0]]), "urdu", parts[0])


def urdu_split(speaker: str) -> str:
    for split, speakers in URDU_SPEAKERS.items():
        if speaker in speakers:
            return split
    return "train"


def read_tess(root: str | Path, speakers: tuple[str, ...] = TESS_SPEAKERS) -> list[CorpusClip]:
    """TESS clips of the given speakers (both by default), sorted by file name."""
    bad = set(speakers) - set(TESS_SPEAKERS)
    if bad:
        raise ValueError(f"unknown TESS speaker(s) {sorted(bad)}; accepted: {', '.join(TESS_SPEAKERS)}")
    clips = [parse_tess_name(p) for p in sorted(_dir(root, "audio", "tess").glob("*.flac"))]
    return [c for c in clips if c.speaker in speakers]


def read_urdu(root: str | Path, split: str) -> list[CorpusClip]:
    """URDU clips of a speaker-independent split (test and dev speakers in URDU_SPEAKERS, train the rest)."""
    check_split(split)
    clips = [parse_urdu_name(p) for p in sorted(_dir(root, "audio", "urdu").glob("*.flac"))]
    return [c for c in clips if urdu_split(c.speaker) == split]


def read_labelled_csv(root: str | Path, corpus: str, split: str) -> list[CorpusClip]:
    """A corpus shipped with labels.csv (EMOVO, Indian EmoSpeech): the clips whose split_hint is `split`."""
    import csv
    check_split(split)
    base = _dir(root, "audio", LABELLED_CSV[corpus])
    with open(base / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [CorpusClip(base / r["path"], emotion_index(r["label"]), corpus, r["speaker_or_subject"])
            for r in rows if r["split_hint"] == split]


def read_ravdess_clips(root: str | Path, split: str) -> list[CorpusClip]:
    return [CorpusClip(c.path, c.label, "ravdess", f"Actor_{c.actor:02d}") for c in read_ravdess(root, split)]


def read_corpus(root: str | Path, corpus: str, split: str) -> list[CorpusClip]:
    """One corpus's split. TESS has only "train" (all of it); its speakers are tested one at a time with
    `read_spec(root, "tess:YAF")`."""
    _check_corpus(corpus)
    if corpus == "ravdess":
        return read_ravdess_clips(root, split)
    if corpus == "urdu":
        return read_urdu(root, split)
    if corpus in LABELLED_CSV:
        return read_labelled_csv(root, corpus, split)
    if check_split(split) != "train":
        raise ValueError(f"TESS has no {split!r} split (two speakers only); accepted: train, or a "
                         f"speaker spec such as tess:YAF")
    return read_tess(root)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """`tess:OAF` -> ("tess", "OAF"); `urdu` -> ("urdu", None)."""
    corpus, _, speaker = spec.partition(":")
    _check_corpus(corpus)
    if speaker and corpus != "tess":
        raise ValueError(f"speaker subsets are only defined for TESS (tess:OAF, tess:YAF); got {spec!r}")
    if speaker and speaker not in TESS_SPEAKERS:
        raise ValueError(f"unknown TESS speaker in {spec!r}; accepted: {', '.join(TESS_SPEAKERS)}")
    return corpus, speaker or None


def read_spec(root: str | Path, spec: str, split: str = "train") -> list[CorpusClip]:
    """The clips a spec names: a corpus split, or one TESS speaker (all of that speaker's clips)."""
    corpus, speaker = parse_spec(spec)
    if speaker:
        return read_tess(root, (speaker,))
    return read_corpus(root, corpus, split)
