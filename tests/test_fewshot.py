"""Few-shot adaptation (issue 24.4): the adapter, the prompt module, the k-shot sampler, the methods on a
synthetic bed, bad input; the k-shot draw on real corpus labels (needs ../shared/data, else skipped)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agf_core.models.adapter import AdaptedHead, AdapterConfig
from agf_core.training.fewshot import (METHOD_FNS, FewShotOptions, check_k, check_protocol, main, sample_shots,
                                       split_draw)
from agf_core.training.fewshot_beds import Bed


def test_adapter_starts_as_the_identity_so_it_cannot_change_a_prediction_before_training():
    torch.manual_seed(0)
    out = torch.nn.Linear(8, 7)
    head = AdaptedHead(AdapterConfig(dim=8, bottleneck=2), out)
    h = torch.randn(5, 8)
    for mode in (head.train, head.eval):   # dropout inside the bottleneck cannot matter at zero
        mode()
        assert torch.equal(head(h), out(h))
    assert head.out is not out   # the branch's own layer is copied, never trained in place


def test_adapter_refuses_an_output_layer_of_another_width():
    with pytest.raises(ValueError, match="does not fit the adapter"):
        AdaptedHead(AdapterConfig(dim=8), torch.nn.Linear(16, 7))


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    """A one-layer, 16-wide BERT and its tokenizer saved to disk: a TextEncoder built offline in a second."""
    from transformers import BertConfig, BertModel, BertTokenizerFast
    from agf_core.models.text import TextEncoder, TextEncoderConfig
    path = tmp_path_factory.mktemp("tinybert")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "am", "so", "happy", "sad", "you", "hello", "|"]
    (path / "vocab.txt").write_text("\n".join(words + [f"w{i}" for i in range(1200)]))
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=1213, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(path)
    return TextEncoder(TextEncoderConfig(model=str(path), context_turns=2))


def test_prompt_module_shapes_and_only_the_prompt_learns(tiny_encoder):
    from agf_core.models.prompt import PromptConfig, PromptedEncoder
    enc = PromptedEncoder(tiny_encoder, PromptConfig(length=3))
    assert enc.prompt.shape == (3, 16)
    texts, contexts = ["i am so happy", "hello"], [["you"], []]
    out = enc(texts, contexts)
    assert out.shape == (2, 32)
    with torch.no_grad():
        plain = tiny_encoder(texts, contexts)
    assert not torch.allclose(out[:, :16], plain[:, :16])    # the prompt changes the utterance's encoding
    out.sum().backward()
    assert enc.prompt.grad is not None and enc.prompt.grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny_encoder.parameters())
    halves = enc(texts, context_states=torch.ones(2, 16))
    assert halves.shape == (2, 32) and torch.equal(halves[:, 16:], torch.ones(2, 16))
    assert torch.allclose(halves[:, :16], out[:, :16], atol=1e-6)


def test_prompt_length_zero_is_refused(tiny_encoder):
    from agf_core.models.prompt import PromptConfig, PromptedEncoder
    with pytest.raises(ValueError, match="prompt length 0"):
        PromptedEncoder(tiny_encoder, PromptConfig(length=0))


def test_sampler_draws_exactly_k_per_class_reproducibly():
    y = np.repeat(np.arange(4), [12, 3, 20, 7])
    a, b = sample_shots(y, 3, seed=7), sample_shots(y, 3, seed=7)
    assert np.array_equal(a, b)
    assert np.bincount(y[a], minlength=4).tolist() == [3, 3, 3, 3] and len(set(a)) == 12
    assert not np.array_equal(a, sample_shots(y, 3, seed=8))
    assert np.bincount(y[sample_shots(y, 5, seed=0, classes=(0, 2))], minlength=4).tolist() == [5, 0, 5, 0]
    with pytest.raises(ValueError, match="class joy has 3 examples, fewer than k=5"):
        sample_shots(y, 5, seed=0)


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "5"])
def test_bad_k_is_refused_in_one_line(k):
    with pytest.raises(ValueError, match=r"must be a positive int") as e:
        check_k(k)
    assert "\n" not in str(e.value)


def test_unknown_protocol_is_refused_and_the_cli_says_what_is_accepted(capsys):
    with pytest.raises(ValueError, match="'speaker'.*accepted: voice-corpus, voice-person, text-corpus"):
        check_protocol("speaker")
    for bad in (["--shots", "0"], ["--protocols", "speaker"]):
        with pytest.raises(SystemExit):
            main(["--data-root", "nowhere", *bad])
        assert "error:" in capsys.readouterr().err


def synthetic_bed(person: bool = False) -> Bed:
    """Three well separated classes in h; the "branch" always says class 0, mildly (a base that misreads the
    corpus; the shipped corrections nudge, so a mild error is what they can undo)."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    centres = rng.normal(size=(3, 16)) * 3
    h = (centres[y] + rng.normal(size=(90, 16))).astype(np.float32)
    out = torch.nn.Linear(16, 7)
    torch.nn.init.zeros_(out.weight)
    with torch.no_grad():
        out.bias.copy_(torch.tensor([0.5, 0, 0, -9, -9, -9, -9]))
    logits = out(torch.from_numpy(h)).detach().numpy()
    support = np.ones(90, bool) if person else np.arange(90) % 2 == 0
    return Bed("synthetic", h, logits, y, support, ~support if not person else np.zeros(90, bool), (0, 1, 2), out)


def accuracy(bed, scores, query):
    return float((scores.argmax(-1).numpy() == bed.y[query]).mean())


def test_every_method_learns_from_the_shots_where_the_base_cannot():
    bed, opts = synthetic_bed(), FewShotOptions(steps=60)
    shots, query, classes = split_draw(bed, 5, seed=0)
    assert np.bincount(bed.y[shots]).tolist() == [5, 5, 5] and not set(shots) & set(query)
    assert accuracy(bed, METHOD_FNS["zero-shot"](bed, shots, query, opts), query) == pytest.approx(1 / 3)
    assert accuracy(bed, METHOD_FNS["centroid"](bed, shots, query, opts), query) > 0.95
    assert accuracy(bed, METHOD_FNS["adapter"](bed, shots, query, opts), query) > 0.9
    # the shipped personalisation: its neighbour vote finds the corrected moments of the same class
    assert accuracy(bed, METHOD_FNS["corrections"](bed, shots, query, opts, modality="audio"), query) > 0.6


def test_a_person_is_scored_on_the_clips_not_drawn_and_classes_with_too_few_clips_are_left_out():
    bed = synthetic_bed(person=True)
    bed.y[bed.y == 2] = np.r_[np.full(25, 1), np.full(5, 2)]        # class 2: 5 clips, not enough for k=5
    shots, query, classes = split_draw(bed, 5, seed=1)
    assert classes == (0, 1) and len(shots) == 10
    assert set(query) == set(np.flatnonzero(np.isin(bed.y, (0, 1)))) - set(shots)
    assert split_draw(bed, 40, seed=1) is None                        # fewer than two classes left


def test_kshot_draws_on_real_corpus_labels(data_root):
    from agf_core.training.text_corpora import CORPUS_CLASSES, read_text_corpus
    y = np.array([r.label for r in read_text_corpus(data_root, "emorynlp", "train")])
    for k in (1, 5, 10):
        picks = sample_shots(y, k, seed=3, classes=CORPUS_CLASSES["emorynlp"])
        assert np.array_equal(picks, sample_shots(y, k, seed=3, classes=CORPUS_CLASSES["emorynlp"]))
        counts = np.bincount(y[picks], minlength=7)
        assert all(counts[c] == k for c in CORPUS_CLASSES["emorynlp"]) and counts.sum() == 5 * k


def test_the_mean_over_beds_averages_draw_by_draw_and_skips_a_k_some_bed_lacks():
    from agf_core.training.fewshot import mean_over_beds, summary
    rows = [{"protocol": "p", "bed": b, "method": "adapter", "k": k, "draws": 2, "n_query": 10, "units": 1,
             **summary(acc, acc)} for b, k, acc in (("a", 1, [0.2, 0.4]), ("b", 1, [0.6, 0.4]), ("a", 5, [0.9, 0.9]))]
    (mean,) = mean_over_beds(rows)
    assert (mean["bed"], mean["k"], mean["n_query"]) == ("mean of 2", 1, 20)
    assert mean["accuracy_draws"] == pytest.approx([0.4, 0.4]) and mean["accuracy_sd"] == pytest.approx(0.0)
