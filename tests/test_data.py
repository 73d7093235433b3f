from pathlib import Path

import numpy as np
import pytest

from agf_core.training.data import normalize_text, parse_ravdess_name, read_fer2013, read_meld, read_ravdess
from agf_core.labels import EMOTIONS, emotion_index


def test_label_aliases():
    assert EMOTIONS[emotion_index("happy")] == "joy" and EMOTIONS[emotion_index("Angry")] == "anger"
    assert EMOTIONS[emotion_index("calm")] == "neutral"
    with pytest.raises(ValueError, match="'bored'"):
        emotion_index("bored")


def test_ravdess_filename_fields():
    clip = parse_ravdess_name(Path("Actor_12/03-01-05-02-01-01-12.flac"))
    assert (EMOTIONS[clip.label], clip.actor, clip.gender, clip.intensity) == ("anger", 12, "female", 2)
    assert clip.transcript == "Kids are talking by the door."
    with pytest.raises(ValueError, match="not a RAVDESS name"):
        parse_ravdess_name(Path("hello.flac"))


def test_text_normalisation():
    assert normalize_text("You must\u2019ve had\u00a0 your hands full\u2026") == "You must've had your hands full..."


def test_missing_root_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data-root"):
        read_meld(tmp_path, "test")
    with pytest.raises(ValueError, match="'validation'"):
        read_meld(tmp_path, "validation")


def test_meld_test_counts_and_context(data_root):
    rows = read_meld(data_root, "test")
    counts = np.bincount([r.label for r in rows], minlength=7)
    assert dict(zip(EMOTIONS, counts.tolist())) == {"neutral": 1256, "joy": 402, "sadness": 208, "anger": 345,
                                                    "fear": 50, "disgust": 68, "surprise": 281}
    assert rows[0].context == [] and rows[1].context == [rows[0].text]


def test_ravdess_split_is_speaker_independent(data_root):
    actors = {s: {c.actor for c in read_ravdess(data_root, s)} for s in ("train", "dev", "test")}
    assert actors["test"] == {21, 22, 23, 24} and not actors["train"] & actors["test"]
    assert len(read_ravdess(data_root, "test")) == 240


def test_fer_test_split(data_root):
    x, y = read_fer2013(data_root, "test")
    assert x.shape == (3589, 48, 48) and x.dtype == np.uint8 and np.bincount(y)[5] == 55
