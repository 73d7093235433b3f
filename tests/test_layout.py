"""The package's shape: the runtime never loads the training code or its dependencies."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys, numpy as np, cv2
from agf_core import EmotionRecognizer
rec = EmotionRecognizer.from_pretrained()
rate = 16000
t = np.arange(rate * 2) / rate
voice = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
face = cv2.cvtColor(cv2.imread("tests/assets/astronaut.png"), cv2.COLOR_BGR2RGB)
out = rec.predict(text="I can't believe we won!", audio=(rate, voice), frames=[face] * 3)
assert set(out.per_modality) == {"text", "audio", "video"}, out.per_modality
# tqdm and matplotlib are not listed: transformers imports tqdm and mediapipe imports matplotlib themselves
# (checked: `import transformers` / `import mediapipe` alone load them); ours must not (see the test below).
banned = ("sklearn", "gradio", "streaming", "plotly")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in banned or m.startswith("agf_core.training"))
print("LOADED", loaded)
"""


def _probe() -> str:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    return next(line for line in done.stdout.splitlines() if line.startswith("LOADED"))


def test_predict_loads_no_training_code_and_no_training_dependencies():
    assert _probe() == "LOADED []"


def test_runtime_modules_do_not_import_training_code_or_its_tools():
    # agf_core/analyze is the batch tool with its own extra ([analyze]: pyarrow, tqdm), not the runtime
    runtime = [p for p in (ROOT / "agf_core").rglob("*.py")
               if not {"training", "analyze"} & set(p.relative_to(ROOT / "agf_core").parts)
               and p.name not in ("train.py", "evaluate.py")]
    assert len(runtime) > 10
    imports = re.compile(r"^\s*(from|import)\s+(agf_core\.training|sklearn|tqdm|matplotlib)\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in runtime if imports.search(p.read_text())]
    assert offenders == []
