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
