import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    return subprocess.run([sys.executable, "-m", "agf_core.predict", *args], cwd=ROOT, capture_output=True,
                          text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, timeout=300)


def test_predict_cli_prints_json_for_text_and_image():
    done = run("--text", "I'm so happy for you!", "--image", "tests/assets/astronaut.png", "--gender", "female")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out["per_modality"]) == {"text", "video"}
    assert out["metadata"]["gender"] == "female"


def test_predict_cli_names_bad_files():
    done = run("--image", "no/such.png")
    assert done.returncode == 2 and "cannot read image file no/such.png" in done.stderr
    assert run().returncode == 2


def test_predict_cli_reads_a_video_with_its_audio_track(tmp_path):
    import shutil

    import pytest
    from conftest import speak
    import soundfile as sf

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    rate, samples = speak("What a lovely surprise this is.", tmp_path / "tts.wav")
    sf.write(tmp_path / "speech.wav", samples, rate)
    video = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-loop", "1", "-i", str(ROOT / "tests/assets/astronaut.png"),
                    "-i", str(tmp_path / "speech.wav"), "-t", "2", "-r", "10", "-vf", "scale=320:320",
                    "-pix_fmt", "yuv420p", "-shortest", str(video)], check=True)
    done = run("--video", str(video))
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)["per_modality"]) == {"audio", "video"}
