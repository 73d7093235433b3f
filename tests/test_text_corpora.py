"""Text corpora readers (need ../shared/data, else skipped), hash splits and the multi-corpus recipe's parts."""
from __future__ import annotations

import numpy as np
import pytest

from agf_core.labels import EMOTIONS
from agf_core.training.text_corpora import (CORPUS_CLASSES, TEXT_CORPORA, check_corpus, hash_split,
                                            read_text_corpus)


def test_hash_split_is_stable_and_covers_the_parts():
    texts = [f"sentence number {i}" for i in range(3000)]
    splits = [hash_split(t) for t in texts]
    assert splits == [hash_split(t) for t in texts]
    share = {s: splits.count(s) / len(texts) for s in ("train", "dev", "test")}
    assert 0.75 < share["train"] < 0.85 and 0.07 < share["dev"] < 0.13 and 0.07 < share["test"] < 0.13
    assert hash_split("Hello there") == hash_split("hello there")   # case does not move a text across splits


def test_unknown_corpus_is_named():
    with pytest.raises(ValueError, match="'reddit'.*accepted: meld"):
        check_corpus("reddit")


@pytest.mark.parametrize("corpus", TEXT_CORPORA)
def test_every_corpus_reads_with_only_its_classes_and_disjoint_splits(data_root, corpus):
    splits = {s: read_text_corpus(data_root, corpus, s) for s in ("train", "dev", "test")}
    for rows in splits.values():
        assert rows and all(r.text for r in rows)
        assert {r.label for r in rows} <= set(CORPUS_CLASSES[corpus])
    if corpus not in ("meld", "emorynlp", "goemotions", "carer"):   # the hash-split ones never share a text
        texts = {s: {r.text.lower() for r in rows} for s, rows in splits.items()}
        assert not texts["train"] & texts["test"] and not texts["dev"] & texts["test"]


def test_dialogue_corpora_carry_previous_turns(data_root):
    rows = read_text_corpus(data_root, "emorynlp", "dev")
    assert any(r.context for r in rows) and all(len(r.context) <= 2 for r in rows)
    assert EMOTIONS.index("fear") in {r.label for r in rows}   # Scared -> fear


def test_text_summary_compares_loco_with_the_meld_only_model():
    from agf_core.training.text_cross_corpus import summary

    def row(name, trained, wf1):
        return {"name": name, "train_corpora": trained,
                "beds": {c: {"weighted_f1": wf1.get(c, 0.5)} for c in TEXT_CORPORA}}
    rows = [row("shipped", ["meld"], {"carer": 0.3, "xed": 0.4}),
            row("runs/text_cc/loco_no_carer", [c for c in TEXT_CORPORA if c != "carer"], {"carer": 0.45}),
            row("runs/text_cc/loco_no_xed", [c for c in TEXT_CORPORA if c != "xed"], {"xed": 0.35}),
            row("runs/text_cc/multi", list(TEXT_CORPORA), {"carer": 0.8, "xed": 0.6})]
    s = summary(rows)
    assert s["loco_weighted_f1"] == {"carer": 0.45, "xed": 0.35}
    assert s["loco_beats_meld_only"] == {"carer": True, "xed": False}
    assert s["multi"]["multi"]["beats_meld_only"]["carer"] and s["multi"]["multi"]["beats_meld_only"]["meld"]  # 0.5 >= 0.5
    assert abs(s["multi"]["multi"]["other_mean_weighted_f1"] - np.mean([0.5, 0.5, 0.8, 0.5, 0.6, 0.5])) < 1e-9


def test_capped_keeps_order_and_size():
    from agf_core.training.text_recipe import CAPS, capped
    rows = list(range(CAPS["dev"] * 3))
    kept = capped(rows, "dev")
    assert len(kept) == CAPS["dev"] and kept == sorted(kept) and kept == capped(rows, "dev")
    assert capped(rows[:5], "dev") == rows[:5]


def test_encode_sorted_gives_the_same_encodings_as_file_order():
    from agf_core.branches import TextBranch
    from agf_core.checkpoint import WEIGHTS
    from agf_core.training.data import Utterance
    from agf_core.training.text_recipe import encode_sorted
    branch = TextBranch(WEIGHTS / "text.pt")
    rows = [Utterance("I am so happy today, everything went right and the sun is out.", 1),
            Utterance("No.", 0, context=["Are you coming?"]), Utterance("What a terrible, awful day.", 2)]
    direct = np.concatenate([branch.encodings([r.text], [r.context]) for r in rows])
    np.testing.assert_allclose(encode_sorted(branch, rows, size=2), direct, atol=1e-4)


def test_the_cross_corpus_baseline_must_be_a_meld_only_model(tmp_path):
    from agf_core.checkpoint import WEIGHTS
    from agf_core.training.text_cross_corpus import check_baseline
    with pytest.raises(FileNotFoundError, match="git show 667ed6e:agf_core/weights/text.pt"):
        check_baseline(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="trained on meld, emorynlp.*not MELD only"):
        check_baseline(WEIGHTS / "text.pt")   # the shipped head is multi-corpus
