"""The voice branch from utterance-level features: pooled Whisper states + openSMILE eGeMAPS."""
import logging

import numpy as np
import pytest
import torch

from agf_core.inputs import paralinguistic
from agf_core.inputs.paralinguistic import EGEMAPS_DIM, egemaps, pooled
from agf_core.models.voice import VoiceNet, VoiceNetConfig


def test_pooled_is_mean_then_std_and_refuses_no_frames():
    states = np.arange(12, dtype=np.float32).reshape(4, 3)
    out = pooled(states)
    assert out.shape == (6,) and np.allclose(out[:3], states.mean(0)) and np.allclose(out[3:], states.std(0))
    with pytest.raises(ValueError, match=r"\(0, D\)"):
        pooled(np.zeros((0, 3), np.float32))


def test_egemaps_of_speech_has_88_finite_values(speech):
    from agf_core.inputs.audio import to_mono_16k
    values = egemaps(to_mono_16k(speech))
    assert values.shape == (EGEMAPS_DIM,) and np.isfinite(values).all()
    assert egemaps(np.zeros(100, np.float32)) is None                 # under 0.1 s: no functionals


def test_egemaps_failing_is_absent_with_a_logged_reason(monkeypatch, caplog):
    def broken():
        raise FileNotFoundError("SMILExtract binary missing")
    monkeypatch.setattr(paralinguistic, "_smile", broken)
    with caplog.at_level(logging.WARNING):
        assert egemaps(np.zeros(16000, np.float32)) is None
    assert "SMILExtract binary missing" in caplog.text


def test_voice_net_shapes_and_an_absent_egemaps_half_reads_as_the_mean():
    net = VoiceNet(VoiceNetConfig()).eval()
    x = torch.randn(4, net.config.input_dim)                          # (B, 856)
    has = torch.tensor([True, True, False, False])
    h, logits = net(x, has)
    assert h.shape == (4, 256) and logits.shape == (4, 7)
    z = net.standardize(x, has)
    assert torch.all(z[2:, net.config.whisper_dim:] == 0) and torch.all(z[:2, net.config.whisper_dim:] != 0)
    x2 = x.clone()
    x2[2:, net.config.whisper_dim:] = 1e6                             # whatever stands there is ignored
    assert torch.allclose(net(x2, has)[1][2:], logits[2:])


def test_the_shipped_voice_reads_speech_with_and_without_egemaps(recognizer, speech, monkeypatch):
    from agf_core.branches import VoiceBranch
    audio = recognizer.branches[1]
    assert isinstance(audio, VoiceBranch) and audio.neutral_probs is not None
    with_eg = recognizer.audio(speech)
    monkeypatch.setattr(paralinguistic, "_smile", lambda: (_ for _ in ()).throw(RuntimeError("no openSMILE")))
    without = recognizer.audio(speech)
    for out in (with_eg, without):
        assert out.embedding.shape == (256,) and np.isclose(out.probs.sum(), 1.0, atol=1e-5)
    assert not np.allclose(with_eg.logp, without.logp)
