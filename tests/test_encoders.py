"""Encoders on tiny configurations built offline."""
import numpy as np
import pytest
import torch

from agf_core.models.audio import AudioNet, AudioNetConfig, SpeechFrontEnd, AudioEncoderConfig, pad_frames
from agf_core.models.text import TextEncoder, TextEncoderConfig, check_text
from agf_core.models.video import FaceNet, FaceNetConfig, pool_window


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from transformers import BertConfig, BertModel, BertTokenizerFast
    folder = tmp_path_factory.mktemp("tiny_bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "am", "happy", "sad", "you", "!", "."]
    (folder / "vocab.txt").write_text("\n".join(vocab))
    BertTokenizerFast(str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(folder)
    return str(folder)


def test_text_encoder_with_context(tiny_bert):
    enc = TextEncoder(TextEncoderConfig(model=tiny_bert, context_turns=2))
    x = enc.encode(["i am happy !", "i am sad ."], [["you am sad"], []])
    assert x.shape == (2, 32) and enc.dim == 32
    assert np.abs(x[0, 16:]).sum() > 0 and np.abs(x[1, 16:]).sum() == 0   # no context -> zero half
    no_ctx = TextEncoder(TextEncoderConfig(model=tiny_bert, context_turns=0)).encode(["i am happy !"])
    np.testing.assert_allclose(no_ctx[0], x[0, :16], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", ["", "   \n", None, 3])
def test_bad_text_is_named(bad):
    with pytest.raises(ValueError, match="text"):
        check_text(bad)


def test_audio_net_ignores_padding():
    torch.manual_seed(0)
    for layers in (0, 2):
        net = AudioNet(AudioNetConfig(input_dim=8, frontend_layers=layers, channels=16, hidden=8)).eval()
        short = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
        long = np.random.default_rng(1).normal(size=(90, 8)).astype(np.float32)
        x, mask = pad_frames([short, long])
        emb, logits = net(x, mask)
        alone = net(*pad_frames([short]))[1]
        assert emb.shape == (2, 8) and logits.shape == (2, 7)
        if layers == 0:  # strided convs see the padding at the edge; without them the result is exact
            torch.testing.assert_close(alone[0], logits[0], rtol=1e-4, atol=1e-5)


def test_logmel_frontend_and_unknown_frontend():
    frames = SpeechFrontEnd(AudioEncoderConfig(frontend="logmel"))(np.zeros(16000, np.float32))
    assert frames.shape == (98, 64)
    with pytest.raises(ValueError, match="'mfcc'"):
        SpeechFrontEnd(AudioEncoderConfig(frontend="mfcc"))


def test_face_net_and_window_pooling():
    net = FaceNet(FaceNetConfig(channels=(4, 8), embed_dim=8)).eval()
    emb, logits = net(torch.rand(8, 1, 48, 48))
    assert emb.shape == (8, 8) and logits.shape == (8, 7)
    mask = torch.tensor([[True] * 3 + [False] * 5])
    pooled_emb, logp = pool_window(emb[None], logits[None], mask)
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(1))
    # masked frames do not count
    alone_emb, _ = pool_window(emb[None, :3], logits[None, :3])
    torch.testing.assert_close(pooled_emb, alone_emb)
    # a confident frame outweighs a flat one
    sharp, flat = torch.tensor([[8.0, 0, 0, 0, 0, 0, 0]]), torch.zeros(1, 7)
    _, logp = pool_window(torch.zeros(1, 2, 8), torch.stack([sharp, flat], 1))
    assert logp.exp()[0, 0] > 0.6
