"""agf-analyze on recordings generated here: a video of the face photo speaking (espeak-ng), speech alone, a
video with neither face nor sound, and broken files. One batch run is shared by the timeline tests."""
import json
import math
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ASSETS, speak

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed (apt-get install ffmpeg)")


def analyze(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agf_core.analyze", "--no-progress", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env={"HF_HUB_OFFLINE": "1",
                          "PATH": "/usr/bin:/bin", "RAY_USAGE_STATS_ENABLED": "0"})


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


def speech_wav(folder: Path, text: str, pause_s: float = 1.5) -> Path:
    """`text` spoken, then `pause_s` of silence, as a 16 kHz WAV."""
    import soundfile as sf
    rate, x = speak(text, folder / "tts.wav", rate=16000)
    path = folder / f"{abs(hash(text))}.wav"
    sf.write(path, np.concatenate([x, np.zeros(int(pause_s * rate), np.int16)]), rate)
    return path


def talking_video(folder: Path, name: str, text: str) -> Path:
    """The face photo for as long as `text` takes to say (and a pause), with that speech as its sound."""
    out = folder / name
    ffmpeg("-loop", 1, "-i", ASSETS / "grace_hopper.jpg", "-i", speech_wav(folder, text), "-vf", "scale=320:-2",
           "-r", 10, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", out)
    return out


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    files = {"talking": talking_video(d, "talking.mp4", "I am so happy to see you again today."),
             "speech": speech_wav(d, "This is terrible, I hate waiting in the rain.")}
    files["blank"] = d / "blank.mp4"            # no face, no sound
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=320x240:d=3", "-r", 10, "-c:v", "libx264", "-pix_fmt", "yuv420p",
           files["blank"])
    files["truncated"] = d / "truncated.mp4"    # the first third of a file: its index (moov) is missing
    files["truncated"].write_bytes(files["talking"].read_bytes()[: files["talking"].stat().st_size // 3])
    files["zero"] = d / "zero.wav"               # a valid header, 0 seconds
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", 0, files["zero"])
    return files


@pytest.fixture(scope="module")
def batch(media, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    done = analyze(*media.values(), "--out", out)
    return done, out, json.loads((out / "summary.json").read_text())


def duration(path: Path) -> float:
    return float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                 str(path)], capture_output=True, text=True).stdout)


def timeline(out: Path, summary: dict, path: Path) -> list[dict]:
    import pyarrow.parquet as pq
    name = next(r["name"] for r in summary["inputs"] if r["path"] == str(path))
    return pq.read_table(out / f"{name}.parquet").to_pylist()


def test_a_bad_file_is_named_in_the_summary_and_the_batch_goes_on(batch, media):
    done, out, summary = batch
    assert done.returncode == 1, done.stderr[-2000:]            # some inputs failed
    failed = {f["input"]: f["error"] for f in summary["failed"]}
    assert set(failed) == {str(media["truncated"]), str(media["zero"])}
    assert "unreadable media" in failed[str(media["truncated"])] and "moov atom" in failed[str(media["truncated"])]
    assert "0 seconds" in failed[str(media["zero"])]
    assert summary["done"] == 3 and f"failed {media['truncated']}" in done.stderr


def test_per_second_rows_with_face_voice_words_and_fused_weights(batch, media):
    _, out, summary = batch
    rows = timeline(out, summary, media["talking"])
    assert len(rows) == math.ceil(duration(media["talking"])) and [r["t_start"] for r in rows] == list(range(len(rows)))
    assert all(r["face_crops"] > 0 and r["face"] is not None for r in rows)
    first = rows[0]
    assert first["voice"] is not None and first["text"] is not None and first["label"] is not None
    weights = [first[f"weight_{m}"] for m in ("text", "audio", "video")]
    assert min(weights) > 0 and sum(weights) == pytest.approx(1.0, abs=1e-5)
    assert sum(first[e] for e in ("neutral", "joy", "sadness", "anger", "fear", "disgust", "surprise")) == \
        pytest.approx(1.0, abs=1e-5)
    last = rows[-1]                                # the pause: the face alone
    assert last["voice"] is None and last["weight_video"] == pytest.approx(1.0) and "audio: no speech" in last["absent"]


def test_words_carry_their_times_and_sit_in_the_row_they_began_in(batch, media):
    _, out, summary = batch
    rows = timeline(out, summary, media["speech"])
    words = [(w, s, e, r["t_start"], r["t_end"]) for r in rows for w, s, e in json.loads(r["word_times"])]
    said = " ".join(w for w, *_ in words).lower()
    assert "terrible" in said and "rain" in said
    assert all(t0 <= s < t1 and s <= e for _, s, e, t0, t1 in words)
    starts = [s for _, s, *_ in words]
    assert starts == sorted(starts) and starts[-1] > 1.0          # spread over the sentence, in order
    assert all(r["face"] is None and "video: no video stream" in r["absent"] for r in rows)


def test_a_video_without_face_or_sound_gives_rows_with_those_modalities_absent(batch, media):
    _, out, summary = batch
    notes = summary["notes"][str(media["blank"])]
    assert "no audio track: voice and words absent" in notes and "no face in any frame: face absent" in notes
    rows = timeline(out, summary, media["blank"])
    assert len(rows) == math.ceil(duration(media["blank"])) and all(r["label"] is None and r["face_crops"] == 0 for r in rows)


def test_the_sidecar_has_the_study_exports_provenance_fields(batch, media):
    from streaming.study.provenance import provenance
    _, out, summary = batch
    name = next(r["name"] for r in summary["inputs"] if r["path"] == str(media["talking"]))
    sidecar = json.loads((out / f"{name}.provenance.json").read_text())
    assert set(provenance("tiny.en", "x", "1")) <= set(sidecar)
    from agf_core.checkpoint import sha256
    assert sidecar["input_sha256"] == sha256(media["talking"]) and sidecar["input_sha256"].startswith(name[-12:])
    assert sidecar["models"]["fusion.pt"] and sidecar["settings"]["timeline"]["step_s"] == 1.0
    import pyarrow.parquet as pq
    combined = pq.read_table(out / "combined.parquet")
    assert combined.num_rows == sum(r["rows"] for r in summary["inputs"] if r["status"] == "done")


def test_a_second_run_skips_what_is_finished(batch, media):
    _, out, _ = batch
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet") if p.name != "combined.parquet"}
    again = analyze(media["talking"], media["speech"], "--out", out)
    summary = json.loads((out / "summary.json").read_text())
    assert again.returncode == 0, again.stderr[-2000:]
    assert (summary["done"], summary["skipped"]) == (0, 2)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet") if p.name != "combined.parquet"} == first


def test_a_folder_without_media_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no media here")
    done = analyze(tmp_path / "empty", tmp_path / "missing", "--out", tmp_path / "out")
    assert done.returncode == 2 and f"{tmp_path / 'empty'}: no media files in it" in done.stderr
    assert f"{tmp_path / 'missing'}: no such file, folder or matching pattern" in done.stderr


def test_an_output_folder_without_write_access_is_refused(tmp_path, media):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = analyze(media["speech"], "--out", blocker / "out")      # a folder cannot be made inside a file
    assert done.returncode == 2 and f"output folder {blocker / 'out'} is not writable" in done.stderr
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if not _can_write(locked):      # root writes anyway: then only the first case applies
        done = analyze(media["speech"], "--out", locked)
        assert done.returncode == 2 and f"output folder {locked} is not writable" in done.stderr


def _can_write(folder: Path) -> bool:
    try:
        (folder / "probe").write_text("")
        return True
    except OSError:
        return False


def test_utterances_are_the_same_however_the_audio_is_cut_into_blocks(tmp_path):
    """Bounded memory: the VAD sees one block at a time, and an utterance across a block edge is found whole."""
    import soundfile as sf
    from agf_core.analyze.speech import segments
    x, rate = sf.read(speech_wav(tmp_path, "Good morning, how are you doing today?", pause_s=1.0), dtype="float32")
    audio = np.concatenate([np.zeros(rate, np.float32), x, x])      # two utterances after a second of silence
    whole = [(round(s, 1), len(a)) for s, a in segments([audio])]
    block = int(0.7 * rate)
    cut = [(round(s, 1), len(a)) for s, a in segments(audio[i:i + block] for i in range(0, len(audio), block))]
    assert len(whole) == 2 and len(cut) == 2
    assert all(abs(a[0] - b[0]) <= 0.1 and abs(a[1] - b[1]) <= 0.1 * rate for a, b in zip(whole, cut))


def test_audio_is_decoded_in_blocks(tmp_path):
    from agf_core.analyze.media import audio_blocks
    path = tmp_path / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=220:sample_rate=16000:duration=12", path)
    sizes = [len(b) for b in audio_blocks(path, block_s=5.0)]
    assert sizes == [80000, 80000, 32000]


def test_a_ray_address_that_does_not_answer_is_refused_in_one_line(tmp_path, media):
    with socket.socket() as s:      # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = analyze(media["speech"], "--out", tmp_path, "--engine", "ray", "--address", f"127.0.0.1:{port}", timeout=60)
    assert done.returncode == 2
    assert f"error: Ray address 127.0.0.1:{port} does not answer" in done.stderr.strip().splitlines()[-1]


def test_a_local_ray_runs_three_videos(tmp_path_factory):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'agf-live[batch]')")
    d = tmp_path_factory.mktemp("ray")
    videos = [talking_video(d, f"v{i}.mp4", text) for i, text in
              enumerate(["Hello there.", "What a lovely day.", "I am not sure about this."])]
    out = d / "out"
    done = analyze(*videos, "--out", out, "--engine", "ray", "--workers", 2)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done"] == 3 and not summary["failed"]
    for v in videos:
        rows = timeline(out, summary, v)
        assert rows and all(r["face_crops"] > 0 for r in rows) and any(r["words"] for r in rows)
