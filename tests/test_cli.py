import json

import numpy as np
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


def entry_point(*args):
    """As the installed `agf-predict` runs it: `sys.exit(main())`."""
    code = f"import sys; from agf_core.predict import main; sys.exit(main({list(args)!r}))"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, timeout=300)


def test_agf_predict_exits_0_with_json_on_stdout_1_when_nothing_to_read_2_on_bad_usage(tmp_path):
    import cv2
    done = entry_point("--text", "I'm so happy for you!")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["label"] == "joy" and "'label'" not in done.stderr   # no dict on stderr
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.zeros((240, 320, 3), np.uint8))
    done = entry_point("--image", str(blank))
    assert done.returncode == 1 and "nothing to read" in done.stderr
    assert entry_point().returncode == 2 and entry_point("--image", "no/such.png").returncode == 2


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
    out = json.loads(done.stdout)
    assert set(out["per_modality"]) == {"audio", "video", "text"}       # its speech is transcribed, as live
    assert "surprise" in out["transcript"].lower()


def test_predict_cli_reads_audio_longer_than_whisper_window(tmp_path):
    import soundfile as sf
    from conftest import speak
    rate, samples = speak("I am really happy today.", tmp_path / "tts.wav", rate=16000)
    long = np.concatenate([samples, np.zeros(rate * 2, np.int16)] * 12)   # ~45 s
    assert len(long) / rate > 40
    sf.write(tmp_path / "long.wav", long, rate)
    done = run("--audio", str(tmp_path / "long.wav"))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out["per_modality"]) == {"audio", "text"} and out["transcript"].lower().count("happy") >= 10


def test_predict_cli_says_when_nothing_can_be_read(tmp_path):
    import cv2
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.zeros((240, 320, 3), np.uint8))
    done = run("--image", str(blank))
    assert done.returncode == 1 and "nothing to read: video: no face found" in done.stderr
    assert json.loads(done.stdout)["label"] is None


def test_predict_cli_names_a_models_folder_missing_a_file(tmp_path):
    done = run("--text", "hello", "--models", str(tmp_path))
    assert done.returncode == 2 and "text.pt is missing" in done.stderr and "Traceback" not in done.stderr


def test_train_and_evaluate_name_a_missing_data_root_in_one_line():
    for module in ("agf_core.train", "agf_core.evaluate"):
        done = subprocess.run([sys.executable, "-m", module, "--task", "face", "--data-root", "no/such/folder",
                               "--out", "x"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
        assert done.returncode == 2 and "'no/such/folder' is not a folder" in done.stderr
        assert "Traceback" not in done.stderr


def test_train_names_text_corpora_it_cannot_fine_tune_on(tmp_path):
    def train(*args):
        return subprocess.run([sys.executable, "-m", "agf_core.train", "--data-root", str(tmp_path), "--out",
                               str(tmp_path / "run"), *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    done = train("--task", "text", "--finetune", "--corpora", "meld", "friends")
    assert done.returncode == 1 and "unknown text corpus 'friends'; accepted: meld, emorynlp" in done.stderr
    done = train("--task", "text", "--corpora", "meld", "emorynlp")          # the frozen-encoder head: no --corpora
    assert done.returncode == 1 and "--corpora is only accepted with --task audio or --task text --finetune" \
        in done.stderr
    assert not (tmp_path / "run").exists()


def test_predict_cli_refuses_an_asr_model_it_cannot_load_offline(tmp_path):
    """A hub name ('small') went to the Hugging Face hub; a folder without model.bin gave a traceback
    (issue 22, item 12). Both are refused in one line, before any model is looked up."""
    import soundfile as sf
    t = np.arange(16000) / 16000
    sf.write(tmp_path / "tone.wav", (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 16000)
    (tmp_path / "empty").mkdir()
    for model, said in (("small", "'small' is not accepted"), (str(tmp_path / "empty"), "a folder without model.bin")):
        done = run("--audio", str(tmp_path / "tone.wav"), "--asr-model", model)
        assert done.returncode == 2 and said in done.stderr, done.stderr
        assert "accepted: tiny.en, base, or a CTranslate2 Whisper folder holding model.bin" in done.stderr
        assert "Traceback" not in done.stderr and _error_lines(done) == 1


def _error_lines(done) -> int:
    """Lines of stderr that say "error" (model loading prints progress lines there too)."""
    return sum("error" in line.lower() for line in done.stderr.splitlines())


def test_train_and_evaluate_answer_an_empty_data_root_and_a_bad_checkpoint_in_one_line(tmp_path):
    """An empty --data-root (train --task video) and an image given as --checkpoint gave tracebacks (issue 22,
    item 12)."""
    def cli(module, *args):
        return subprocess.run([sys.executable, "-m", module, "--data-root", str(tmp_path), *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=300,
                              env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    done = cli("agf_core.train", "--task", "video", "--out", str(tmp_path / "run"))
    assert done.returncode == 2 and "faces/fer2013/train not found: pass --data-root" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and _error_lines(done) == 1
    done = cli("agf_core.evaluate", "--task", "video", "--checkpoint", "tests/assets/astronaut.png",
               "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "astronaut.png cannot be read (it does not unpickle" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and _error_lines(done) == 1


def test_agf_demo_without_the_demo_extra_says_what_to_install():
    for missing in ("gradio", "sqlalchemy"):
        code = f"import sys; sys.modules[{missing!r}] = None; from demo import main; main()"   # as `agf-demo` does
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"needs {missing}" in done.stderr and "pip install 'agf-live[demo]'" in done.stderr


def test_predict_help_names_the_program_and_says_what_it_does():
    as_script = subprocess.run([sys.executable, "-c", "import sys; sys.argv[0] = '/venv/bin/agf-predict'; "
                                "from agf_core.predict import main; sys.exit(main())", "--help"],
                               cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert as_script.returncode == 0 and as_script.stdout.startswith("usage: agf-predict ")
    assert "usage: python -m" not in as_script.stdout
    description = as_script.stdout.split("\n\n")[1]
    assert description.rstrip().endswith(".") and "print the prediction" in description     # a whole sentence
    assert "--verbose" in as_script.stdout
    assert run("--help").stdout.startswith("usage: python -m agf_core.predict ")


def test_predict_stderr_holds_only_what_the_user_must_read(tmp_path):
    done = run("--text", "What a lovely day!", "--image", "tests/assets/astronaut.png")
    assert done.returncode == 0 and done.stderr == "", done.stderr          # no LiteRT INFO, no loading bar
    assert json.loads(done.stdout)["label"]
    missing = run("--image", "no/such.png")
    assert missing.returncode == 2 and missing.stderr.strip().splitlines() == \
        ["error: cannot read image file no/such.png: no such file; accepted: JPEG, PNG, BMP"]   # no OpenCV WARN
    verbose = run("--text", "What a lovely day!", "--verbose")
    assert verbose.returncode == 0 and "INFO" in verbose.stderr                # the libraries' own lines
