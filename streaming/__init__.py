"""The app around the library, in three concerns: `live` (webcam frames and microphone chunks in, fused emotion
updates out, usable without Gradio), `study` (what a researcher keeps and who may read it) and `dialogue` (what
the app says back)."""
from pathlib import Path

# The CSS and reply bank: the checkout's top-level assets/, or inside this package once installed (pyproject.toml).
ASSETS = next(p for p in (Path(__file__).resolve().parent / "assets", Path(__file__).resolve().parent.parent / "assets")
              if p.is_dir())
