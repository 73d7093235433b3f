import numpy as np
import pytest

from agf_core.inputs.audio import SAMPLE_RATE, rms_db
from agf_core.training.augment import (AugmentOptions, add_noise_snr, band_limit, codec_like, mu_law, noise, normalize_rms,
                              pitch_shift, random_augment, reverb, room_impulse, speed, time_stretch)
from agf_core.inputs.prosody import PROSODY_DIM, prosody_frames

SR = SAMPLE_RATE


def sine(hz: float, seconds: float = 2.0, amp: float = 0.3) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


def peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[spec.argmax()])


def power_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2)))


@pytest.mark.parametrize("factor", [0.9, 1.0, 1.1])
def test_speed_scales_length_and_pitch(factor):
    y = speed(sine(220), factor)
    assert len(y) == round(2 * SR / factor) and y.dtype == np.float32
    assert abs(peak_hz(y) - 220 * factor) < 2


@pytest.mark.parametrize("rate", [0.9, 1.1])
def test_time_stretch_keeps_pitch(rate):
    y = time_stretch(sine(440), rate)
    assert len(y) == round(2 * SR / rate)
    assert abs(peak_hz(y) - 440) < 2


@pytest.mark.parametrize("semitones", [-2.0, 1.5])
def test_pitch_shift_keeps_length(semitones):
    y = pitch_shift(sine(220), semitones)
    assert len(y) == 2 * SR
    assert abs(peak_hz(y) - 220 * 2 ** (semitones / 12)) < 2


@pytest.mark.parametrize("kind", ["white", "pink", "brown"])
@pytest.mark.parametrize("snr", [0.0, 5.0, 20.0])
def test_noise_at_exact_snr(kind, snr):
    x = sine(300)
    y = add_noise_snr(x, snr, np.random.default_rng(0), kind)
    assert len(y) == len(x)
    assert power_db(x) - power_db(y.astype(np.float64) - x) == pytest.approx(snr, abs=1e-3)


def test_coloured_noise_spectra():
    rng = np.random.default_rng(1)
    lo_hi = {}
    for kind in ("white", "pink", "brown"):
        spec = np.abs(np.fft.rfft(noise(SR * 4, kind, rng))) ** 2
        f = np.fft.rfftfreq(SR * 4, 1 / SR)
        lo_hi[kind] = spec[(f > 100) & (f < 200)].mean() / spec[(f > 3000) & (f < 6000)].mean()
    assert 0.7 < lo_hi["white"] < 1.4 and lo_hi["pink"] > 10 and lo_hi["brown"] > 10 * lo_hi["pink"]


def test_reverb_same_length_and_level_with_a_decaying_tail():
    x = sine(500)
    y = reverb(x, 0.5, np.random.default_rng(0))
    assert len(y) == len(x) and rms_db(y) == pytest.approx(rms_db(x), abs=0.01)
    h = room_impulse(0.5, np.random.default_rng(0))
    assert len(h) == SR // 2 and h[0] == 1.0
    early, late = power_db(h[1:SR // 20]), power_db(h[-SR // 20:])
    assert early - late > 40     # ~60 dB over rt60: the last 50 ms is far quieter than the first


def test_band_limit_is_a_telephone_band():
    assert power_db(band_limit(sine(1000))) == pytest.approx(power_db(sine(1000)), abs=0.1)
    mid = slice(SR // 4, -SR // 4)      # away from the filter's edge transients
    assert power_db(sine(6000)) - power_db(band_limit(sine(6000))[mid]) > 40
    assert power_db(sine(100)) - power_db(band_limit(sine(100))[mid]) > 20
    with pytest.raises(ValueError, match="3400 - 300|need 0 < low < high"):
        band_limit(sine(100), 3400, 300)


def test_codec_like_removes_the_upper_band():
    x = sine(1000) + sine(6000)
    y = codec_like(x)
    assert len(y) == len(x)
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / SR)
    assert spec[np.abs(f - 6000) < 20].sum() < 1e-3 * spec[np.abs(f - 1000) < 20].sum()
    q = mu_law(np.linspace(-1, 1, 10000), bits=8)
    assert len(np.unique(q)) <= 256 and np.abs(q - np.linspace(-1, 1, 10000)).max() < 0.05


def test_normalize_rms_hits_the_target():
    assert rms_db(normalize_rms(sine(300, amp=0.01), -23.0)) == pytest.approx(-23.0, abs=1e-3)
    silent = np.zeros(100, np.float32)
    assert np.array_equal(normalize_rms(silent), silent)


def test_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="'pinkish'"):
        noise(10, "pinkish", np.random.default_rng(0))
    with pytest.raises(ValueError, match="speed factor 9"):
        speed(sine(100), 9)
    with pytest.raises(ValueError, match="rt60 5"):
        room_impulse(5, np.random.default_rng(0))


def test_random_augment_is_reproducible_and_bounded():
    x = sine(200)
    a = random_augment(x, np.random.default_rng(3))
    b = random_augment(x, np.random.default_rng(3))
    assert np.array_equal(a, b) and np.isfinite(a).all() and np.abs(a).max() <= 1
    assert abs(len(a) - len(x)) <= len(x) * 0.12
    plain = random_augment(x, np.random.default_rng(0), AugmentOptions(0, (1, 1), 0, 0, 0, (0.2, 0.2), 0, 0,
                                                                       (10.0,), (-20.0, -20.0)))
    assert rms_db(plain) == pytest.approx(-20.0, abs=1e-3) and len(plain) == len(x)


def test_prosody_tracks_pitch_and_level_free():
    x = np.concatenate([sine(150, 1.0), np.zeros(SR // 2, np.float32), sine(300, 1.0)])
    feats = prosody_frames(x)
    assert feats.shape == ((len(x) // 160 + 2) // 2, PROSODY_DIM) and feats.dtype == np.float32
    voiced = feats[:, 2] > 0
    st = feats[voiced, 3] * 12                              # semitones re 100 Hz
    assert np.median(st[: len(st) // 3]) == pytest.approx(12 * np.log2(1.5), abs=0.3)
    assert np.median(st[-len(st) // 3:]) == pytest.approx(12 * np.log2(3.0), abs=0.3)
    assert not voiced[60:65].any()                          # the silence in the middle
    assert np.allclose(prosody_frames(x * 0.1), feats, atol=1e-4)   # independent of the recording level
    assert prosody_frames(x, 10).shape == (10, PROSODY_DIM)
