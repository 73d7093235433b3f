"""Utterance-level voice features that travel across corpora: openSMILE's eGeMAPS v02 functionals (88 values:
pitch, loudness, jitter, shimmer, spectral balance, formants, rate; Eyben et al. 2016) and the mean and std
over time of the Whisper encoder states.

openSMILE (PyPI `opensmile`, the SMILExtract binary ships in the wheel) is free for research and other
non-commercial use (audEERING's licence). When it is missing or fails, `egemaps` returns None and logs why:
the voice branch then reads the Whisper half alone (it is trained for that).
"""
from __future__ import annotations

import functools
import logging
import threading

import numpy as np

from agf_core.inputs.audio import SAMPLE_RATE

log = logging.getLogger(__name__)
EGEMAPS_DIM = 88
MIN_SAMPLES = SAMPLE_RATE // 10   # openSMILE's functionals need a few frames; shorter audio has none
_lock = threading.Lock()          # one openSMILE process object, not safe to share between threads


@functools.lru_cache(maxsize=1)
def _smile():
    import opensmile
    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                           feature_level=opensmile.FeatureLevel.Functionals)


def egemaps(x16k: np.ndarray) -> np.ndarray | None:
    """16 kHz mono float32 (N,) -> eGeMAPS v02 functionals (88,) float32, or None (logged) when openSMILE is
    unavailable, fails, or the audio is under 0.1 s."""
    if len(x16k) < MIN_SAMPLES:
        log.info("eGeMAPS skipped: %d samples, under %d", len(x16k), MIN_SAMPLES)
        return None
    try:
        with _lock:
            values = _smile().process_signal(np.asarray(x16k, np.float32), SAMPLE_RATE).to_numpy()[0]  # (88,)
    except Exception as e:  # missing binary, a wheel without it, a failed run: the feature is absent
        log.warning("eGeMAPS unavailable (%s: %s); the voice reads the Whisper states alone", type(e).__name__, e)
        return None
    if values.shape != (EGEMAPS_DIM,) or not np.isfinite(values).all():
        log.warning("eGeMAPS gave %s values (finite: %s); treated as absent", values.shape, np.isfinite(values).all())
        return None
    return values.astype(np.float32)


def pooled(states: np.ndarray) -> np.ndarray:
    """Frame features (T, D) -> their mean and standard deviation over time (2D,) float32."""
    if len(states) == 0:
        raise ValueError("pooled() needs at least one frame; got (0, D)")
    return np.concatenate([states.mean(0), states.std(0)]).astype(np.float32)
