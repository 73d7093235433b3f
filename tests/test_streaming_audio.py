"""Microphone path pieces: utterance segmentation on synthesised speech with silences, transcription.
Replies are tested in tests/test_reply.py."""
import numpy as np
import pytest

from agf_core.inputs.audio import resample, to_mono_16k
from conftest import speak
from streaming.live.utterance import UtteranceSegmenter, VadOptions


def _chunks(x48k_int16, size=24000):
    return [(48000, x48k_int16[i:i + size]) for i in range(0, len(x48k_int16), size)]


@pytest.fixture(scope="module")
def two_sentences(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vad")
    rng = np.random.default_rng(0)
    silence = lambda s: rng.normal(0, 60, int(48000 * s)).astype(np.int16)  # noqa: E731  (room noise)
    _, a = speak("Hello, how are you today?", folder / "a.wav")
    _, b = speak("I feel great, thanks for asking.", folder / "b.wav")
    parts = [silence(1.0), a, silence(1.5), b, silence(1.2)]
    bounds = np.cumsum([0] + [len(p) for p in parts]) / 48000
    return np.concatenate(parts), bounds


def test_two_sentences_give_two_utterances_in_place(two_sentences):
    pcm, bounds = two_sentences
    seg = UtteranceSegmenter()
    out = [u for c in _chunks(pcm) for u in seg.push(c)] + seg.flush()
    assert len(out) == 2
    for u, (start, end) in zip(out, [(bounds[1], bounds[2]), (bounds[3], bounds[4])]):
        # espeak's files end in silence, so the speech itself ends before `end`
        assert start - 0.5 < u.start_s < start + 0.1 and start + 1.0 < u.end_s < end + 0.8
        assert u.audio.dtype == np.float32 and not u.clipped


def test_chunk_size_does_not_matter(two_sentences):
    pcm, _ = two_sentences
    results = []
    for size in (4800, 24000, 50000):
        seg = UtteranceSegmenter()
        results.append([round(u.start_s, 2) for c in _chunks(pcm, size) for u in seg.push(c)])
    assert results[0] == results[1] == results[2]


def test_silence_and_clicks_give_nothing():
    seg = UtteranceSegmenter()
    quiet = np.zeros(48000 * 3, np.int16)
    click = quiet.copy()
    click[48000:48000 + 480] = 20000            # 10 ms click
    assert [u for c in _chunks(np.concatenate([quiet, click])) for u in seg.push(c)] + seg.flush() == []


def test_long_speech_is_cut_and_clipping_flagged():
    t = np.arange(48000 * 4) / 48000
    loud = (np.sign(np.sin(2 * np.pi * 200 * t)) * 32767).astype(np.int16)   # clipped square wave
    seg = UtteranceSegmenter(VadOptions(detector="energy", max_seconds=1.5))   # Silero: a square wave is no voice
    out = [u for c in _chunks(loud) for u in seg.push(c)]
    assert len(out) >= 2 and all(u.seconds <= 1.6 for u in out) and out[0].clipped


@pytest.mark.parametrize("chunk, match", [
    ((48000, np.zeros(100, np.uint8)), "uint8"),
    ((10, np.zeros(24000, np.int16)), "rate 10 is not accepted; accepted: whole numbers of Hz from 8000 to 192000"),
    ((2**63, np.zeros(100, np.int16)), "rate 9223372036854775808 is not accepted; accepted: .* 8000 to 192000"),
    ((48000, np.zeros(48000 * 11, np.int16)), r"chunk of 11.00 s \(528000 samples at 48000 Hz\) is too long"),
    # the length is the problem here, not the rate (issue 22, item 11)
    ((8000, np.zeros(8000 * 11, np.int16)), r"chunk of 11.00 s \(88000 samples at 8000 Hz\) is too long; "
                                            "accepted: at most 10 s")])
def test_bad_chunk_is_named(chunk, match):
    with pytest.raises(ValueError, match=match):
        UtteranceSegmenter().push(chunk)


@pytest.mark.parametrize("detector", ["silero", "energy"])
def test_every_sample_is_counted_and_both_detectors_find_the_sentences(two_sentences, detector):
    pcm, bounds = two_sentences
    seg = UtteranceSegmenter(VadOptions(detector=detector))
    out = [u for c in _chunks(pcm, 12000) for u in seg.push(c)] + seg.flush()
    assert seg.samples_in == len(pcm) and abs(seg.seconds_in - len(pcm) / 48000) < 1e-9
    assert len(out) == 2


def test_speech_onset_is_seen_before_the_utterance_ends(two_sentences):
    pcm, bounds = two_sentences
    seg = UtteranceSegmenter()
    onsets = []
    for c in _chunks(pcm, 4800):                                  # 0.1 s chunks
        seg.push(c)
        if seg.in_speech and (not onsets or onsets[-1] is None):
            onsets.append(seg.speech_start_s)
            assert seg.current_audio() is not None
        elif not seg.in_speech and onsets and onsets[-1] is not None:
            onsets.append(None)
    starts = [o for o in onsets if o is not None]
    assert len(starts) == 2 and abs(starts[0] - bounds[1]) < 0.4


def test_whisper_transcribes_synthesised_speech(speech):
    from streaming.live.transcriber import WhisperTranscriber
    text = WhisperTranscriber()(to_mono_16k(speech)).lower()
    assert "so happy" in text and "see you" in text


def test_resample_round_trip_keeps_length():
    x = np.random.default_rng(0).normal(size=48000).astype(np.float32)
    assert len(resample(x, 48000, 16000)) == 16000


def test_a_resampler_alive_at_shutdown_prints_no_nanobind_leak_report():
    """A session's microphone resampler (soxr, a nanobind extension) still held at exit, as a live session's
    worker holds it when the server stops: nanobind would print a "leaked" report on stderr."""
    import subprocess
    import sys
    from pathlib import Path
    code = """
import threading, time
import numpy as np
from streaming.live.utterance import StreamResampler
def hold():
    r = StreamResampler(48000)
    r(np.zeros(4800, np.int16))
    time.sleep(60)
threading.Thread(target=hold, daemon=True).start()
time.sleep(0.5)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "leaked" not in done.stderr, done.stderr
