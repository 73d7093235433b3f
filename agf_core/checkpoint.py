"""Checkpoints that carry their own config, and SHA-256 checks for the shipped model files.

A checkpoint is a plain dict saved with torch.save: {"kind", "config", "state_dict", "meta"}; `load` needs
nothing else. Shipped files are listed in `assets/models/SHA256SUMS`; a file whose hash differs is refused.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "models"
MANIFEST = "SHA256SUMS"


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: Path) -> dict[str, str]:
    path = folder / MANIFEST
    if not path.exists():
        return {}
    pairs = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {name: digest for digest, name in pairs}


def _restore_hint(path: Path) -> str:
    return (f"restore it with `git checkout -- {path.name}` in {path.parent} (or a fresh clone), "
            f"or retrain it with `python -m agf_core.train` (see README.md)")


def verify(path: str | Path) -> Path:
    """Raise if `path` is missing or, when its folder has a SHA256SUMS entry for it, its hash differs."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} is missing; {_restore_hint(path)}")
    expected = read_manifest(path.parent).get(path.name)
    if expected is not None and sha256(path) != expected:
        raise ValueError(f"model file {path} is corrupted (SHA-256 differs from {MANIFEST}); "
                         f"{_restore_hint(path)}")
    return path


def save(path: str | Path, kind: str, config: dict, state_dict: dict, meta: dict | None = None,
         extra: dict | None = None) -> Path:
    """`extra`: further top-level entries (tensors, dicts, numbers), e.g. a fine-tuned fusion's branch_tops."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({**(extra or {}), "kind": kind, "config": config, "state_dict": state_dict, "meta": meta or {}}, tmp)
    tmp.replace(path)  # atomic: a stopped run never leaves half a checkpoint
    return path


def load(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Load a checkpoint dict after checking the file; `kind` (e.g. "face") must match if given."""
    path = verify(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or not a torch file
        raise ValueError(f"model file {path} cannot be read ({e}); {_restore_hint(path)}") from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"model file {path} is not an agf_core checkpoint; {_restore_hint(path)}")
    if kind is not None and ckpt.get("kind") != kind:
        raise ValueError(f"model file {path} holds a {ckpt.get('kind')!r} model, expected {kind!r}")
    return ckpt
