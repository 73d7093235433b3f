"""The README's Python examples run as written (in a folder holding the speech.wav and face.jpg they read)."""
import re
import shutil
from pathlib import Path

from conftest import ASSETS, speak

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_library_example_runs(tmp_path, monkeypatch, capsys):
    import soundfile as sf
    rate, samples = speak("I can't believe we won the final today!", tmp_path / "tts.wav")
    sf.write(tmp_path / "speech.wav", samples, rate)
    shutil.copy(ASSETS / "grace_hopper.jpg", tmp_path / "face.jpg")
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "the README has no python example"
    monkeypatch.chdir(tmp_path)
    for i, code in enumerate(blocks):
        scope = {}
        exec(compile(code, f"<README.md python example {i + 1}>", "exec"), scope)
    out = scope["out"]
    assert set(out.per_modality) == {"text", "audio", "video"}
    heard = scope["heard"]
    assert "won" in heard.transcript.lower() and set(heard.per_modality) == {"audio", "text"}
    assert capsys.readouterr().out.rstrip().endswith("True")      # the correction moved this user's reading
