from pathlib import Path

import numpy as np
import pytest

from agf_core.training.cross_corpus import RUNS, TEST_BEDS, bed_status, corpus_restricted
from agf_core.labels import EMOTIONS
from agf_core.training.speech_corpora import (CORPUS_CLASSES, URDU_SPEAKERS, parse_spec, parse_tess_name, parse_urdu_name,
                                     read_corpus, read_spec, read_tess, read_urdu)
from agf_core.training.speech_recipe import balanced_batch, random_crop


def counts(clips) -> dict[str, int]:
    n = np.bincount([c.label for c in clips], minlength=len(EMOTIONS))
    return {e: int(k) for e, k in zip(EMOTIONS, n) if k}


def test_tess_and_urdu_names():
    c = parse_tess_name(Path("YAF_chalk_ps.flac"))
    assert (c.speaker, EMOTIONS[c.label], c.corpus) == ("YAF", "surprise", "tess")
    c = parse_urdu_name(Path("SM24_F3_S05.flac"))
    assert (c.speaker, EMOTIONS[c.label], c.corpus) == ("SM24", "sadness", "urdu")
    with pytest.raises(ValueError, match="'OAF_back_bored.flac'"):
        parse_tess_name(Path("OAF_back_bored.flac"))
    with pytest.raises(ValueError, match="'XX1_F1_A01.flac'"):
        parse_urdu_name(Path("XX1_F1_A01.flac"))


def test_specs():
    assert parse_spec("tess:OAF") == ("tess", "OAF") and parse_spec("urdu") == ("urdu", None)
    with pytest.raises(ValueError, match="'meld'"):
        parse_spec("meld")
    with pytest.raises(ValueError, match="only defined for TESS"):
        parse_spec("urdu:SM2")
    with pytest.raises(ValueError, match="'tess:ZZZ'"):
        parse_spec("tess:ZZZ")


def test_bed_status():
    assert bed_status("urdu_test", ("ravdess", "tess")) == "held-out corpus"
    assert bed_status("urdu_test", ("urdu",)) == "unseen speakers"
    assert bed_status("tess_YAF", ("ravdess", "tess:OAF")) == "unseen speakers"
    assert bed_status("tess_YAF", ("tess",)) == "seen speakers"
    assert bed_status("tess_all", ("tess:OAF",)) == "seen speakers"
    assert all(bed_status(f"tess_{sp}", RUNS[f"loso_tess_{o}"]) == "unseen speakers"
               for sp, o in (("YAF", "OAF"), ("OAF", "YAF")))
    assert set(TEST_BEDS) >= {"ravdess_test", "urdu_test", "tess_OAF", "tess_YAF"}


def test_restricted_report_ignores_absent_classes():
    y = np.array([0, 1, 2, 3])
    probs = np.full((4, 7), 0.01)
    probs[np.arange(4), y] = 0.2
    probs[:, 4] = 0.5                                          # fear: absent from URDU
    assert corpus_restricted(y, probs, "urdu")["accuracy"] == 1.0


def test_balanced_batch_and_crop():
    rng = np.random.default_rng(0)
    groups = [np.arange(0, 10), np.arange(10, 1000), np.arange(1000, 1003)]
    idx = np.concatenate([balanced_batch(groups, 48, rng) for _ in range(50)])
    per = [np.isin(idx, g).sum() for g in groups]
    assert per == [800, 800, 800]
    idx = np.concatenate([balanced_batch(groups, 48, rng, [1.0, 0.5, 1.5]) for _ in range(10)])
    assert [np.isin(idx, g).sum() for g in groups] == [160, 80, 240]
    x = np.arange(100 * 3, dtype=np.float32).reshape(100, 3)
    crops = [random_crop(x, rng, 1.0) for _ in range(20)]
    assert all(50 <= len(c) <= 100 and np.array_equal(c, x[int(c[0, 0]) // 3:][:len(c)]) for c in crops)
    assert random_crop(x, rng, 0.0) is x


def test_urdu_split_counts(data_root):
    test = read_urdu(data_root, "test")
    assert len(test) == 112 and counts(test) == {"neutral": 18, "joy": 28, "sadness": 38, "anger": 28}
    assert len(read_urdu(data_root, "dev")) == 60 and len(read_urdu(data_root, "train")) == 228
    speakers = {s: {c.speaker for c in read_urdu(data_root, s)} for s in ("train", "dev", "test")}
    assert speakers["test"] == set(URDU_SPEAKERS["test"]) and speakers["dev"] == set(URDU_SPEAKERS["dev"])
    assert not speakers["train"] & (speakers["dev"] | speakers["test"])
    assert {c.label for c in read_corpus(data_root, "urdu", "train")} == set(CORPUS_CLASSES["urdu"])


def test_tess_counts_and_label_map(data_root):
    clips = read_tess(data_root)
    assert len(clips) == 1400 and counts(clips) == {e: 200 for e in EMOTIONS}
    yaf = read_spec(data_root, "tess:YAF")
    assert len(yaf) == 700 and {c.speaker for c in yaf} == {"YAF"}
    surprise = [c for c in clips if c.path.stem.endswith("_ps")]
    assert {EMOTIONS[c.label] for c in surprise} == {"surprise"}
    with pytest.raises(ValueError, match="TESS has no 'test' split"):
        read_corpus(data_root, "tess", "test")


def test_ravdess_clips_through_the_common_reader(data_root):
    clips = read_corpus(data_root, "ravdess", "train")
    assert len(clips) == 960 and {c.speaker for c in clips} == {f"Actor_{a:02d}" for a in range(1, 17)}
    assert counts(clips)["neutral"] == 192          # neutral + calm, 16 actors x (4 + 8)


def test_cross_corpus_flag_is_audio_or_text_only(tmp_path):
    from agf_core.training.evaluate import main
    with pytest.raises(SystemExit, match="only accepted with --task audio or text"):
        main(["--task", "video", "--cross-corpus", "--data-root", str(tmp_path)])


def test_summary_compares_loco_with_single_corpus_models():
    from agf_core.training.cross_corpus import LOCO_BED, summary

    def row(name, specs, acc):
        beds = {b: {"accuracy": acc.get(b, 0.0), "status": bed_status(b, specs)} for b in TEST_BEDS}
        return {"name": f"runs/x/{name}", "beds": beds}
    rows = [row("loco_no_urdu", RUNS["loco_no_urdu"], {"urdu_test": 0.40}),
            row("ravdess_only", RUNS["ravdess_only"], {"urdu_test": 0.30, "tess_all": 0.2}),
            row("tess_only", RUNS["tess_only"], {"urdu_test": 0.45}),
            row("loso_tess_OAF", RUNS["loso_tess_OAF"], {"tess_YAF": 0.6})]
    s = summary(rows)["runs/x"]
    assert s["loco_accuracy"] == {"urdu": 0.40} and s["loco_mean"] == 0.40
    assert s["single_corpus_on_held_out"]["urdu"] == {"ravdess_only": 0.30, "tess_only": 0.45}
    assert s["loco_beats_every_single_corpus"] == {"urdu": False}
    assert s["tess_leave_one_speaker_out"] == {"YAF": 0.6} and set(LOCO_BED) == {"ravdess", "urdu", "tess"}
