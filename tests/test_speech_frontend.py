import numpy as np
import pytest

from agf_core.models.audio import AudioEncoderConfig, SpeechFrontEnd
from agf_core.inputs.prosody import PROSODY_DIM


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    """A 1.5 s harmonic tone with a rising pitch, a stand-in for a voiced syllable."""
    t = np.arange(24000) / 16000
    f0 = 120 + 40 * t
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    return (0.2 * sum(np.sin(k * phase) / k for k in range(1, 6))).astype(np.float32)


def test_whisper_prosody_appends_prosody_to_the_states(voice):
    pytest.importorskip("faster_whisper")
    both = SpeechFrontEnd(AudioEncoderConfig(frontend="whisper_prosody", normalize_db=-23.0))
    plain = SpeechFrontEnd(AudioEncoderConfig(frontend="whisper", normalize_db=-23.0))
    a, b = both(voice), plain(voice)
    assert both.dim == 384 + PROSODY_DIM and a.shape == (len(b), 384 + PROSODY_DIM)
    assert np.allclose(a[:, :384], b, atol=1e-5)


def test_normalize_db_removes_the_recording_level(voice):
    pytest.importorskip("faster_whisper")
    front = SpeechFrontEnd(AudioEncoderConfig(frontend="whisper_prosody", normalize_db=-23.0))
    a, b = front(voice), front(voice * 0.05)
    assert np.array_equal(a[:, 384:], b[:, 384:]) or np.allclose(a[:, 384:], b[:, 384:], atol=1e-6)
    # int8 Whisper amplifies float rounding a little: equal up to 5 % of the states' mean magnitude
    assert np.abs(a[:, :384] - b[:, :384]).mean() < 0.05 * np.abs(a[:, :384]).mean()
