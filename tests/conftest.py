import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a failed hub lookup otherwise retries for ~25 s

ASSETS = Path(__file__).parent / "assets"
DATA_ROOT = Path(os.environ.get("AGF_DATA_ROOT", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not (DATA_ROOT / "README.md").exists():
        pytest.skip(f"../shared/data not found at {DATA_ROOT} (set AGF_DATA_ROOT)")
    return DATA_ROOT


@pytest.fixture(scope="session")
def face_photo() -> np.ndarray:
    import cv2
    return cv2.cvtColor(cv2.imread(str(ASSETS / "grace_hopper.jpg")), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="session")
def smiling_photo() -> np.ndarray:
    import cv2
    return cv2.cvtColor(cv2.imread(str(ASSETS / "astronaut.png")), cv2.COLOR_BGR2RGB)


def speak(text: str, path: Path, rate: int = 48000) -> tuple[int, np.ndarray]:
    """Speech synthesised by espeak-ng, as (rate, int16 mono); skips the test when espeak-ng is absent."""
    import soundfile as sf
    from agf_core.inputs.audio import resample

    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    subprocess.run([exe, "-w", str(path), text], check=True, capture_output=True)
    x, sr = sf.read(path, dtype="float32")
    return rate, (resample(x, sr, rate) * 32767).astype(np.int16)


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> tuple[int, np.ndarray]:
    return speak("I am so happy to see you again today.", tmp_path_factory.mktemp("tts") / "s.wav")


@pytest.fixture(scope="session")
def recognizer():
    from agf_core.recognizer import default_recognizer
    return default_recognizer()


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server for the study store's tests (skips where postgres is not installed)."""
    from postgres import PostgresServer
    server = PostgresServer()
    yield server.url
    server.stop()
