"""Checkpoints that carry their own config, and SHA-256 checks for the shipped model files.

A checkpoint is a plain dict saved with torch.save: {"kind", "config", "state_dict", "meta"}; `load` needs
nothing else. Shipped files live in `agf_core/weights/` (package data) and are listed in its `SHA256SUMS`;
a file whose hash differs is refused.
"""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import torch

WEIGHTS = Path(__file__).resolve().parent / "weights"  # shipped models, installed as package data
MANIFEST = "SHA256SUMS"
# Checkpoint kinds saved under an older name: the face model was saved as "face" before "video" named the modality.
KIND_ALIASES = {"face": "video"}


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
    out = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ValueError(f"{path} line {number} ({line.strip()[:60]!r}) is not '<sha256 hex>  <file name>'; "
                             "fix or delete that line (sha256sum writes this format)")
        out[parts[1]] = parts[0]
    return out


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


def check_trained_over(meta: dict, digests: dict[str, str], name: str) -> None:
    """A fusion checkpoint records the SHA-256 of the branch checkpoints it was trained over (meta["branches"]);
    refuse it over any other branch, since its gates and classifier learnt those branches' outputs."""
    trained_on = meta.get("branches")
    if trained_on is None:
        return
    changed = sorted(m for m in digests if trained_on.get(m) != digests[m])
    if changed:
        raise ValueError(f"{name} was trained over other {', '.join(changed)} checkpoint(s) than the ones loaded; "
                         "retrain it (python -m agf_core.train --task fusion), or load without a fusion. If you did not "
                         f"retrain {', '.join(changed)}, the file may be damaged: restore it from a fresh clone")


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
    """Load a checkpoint dict after checking the file; `kind` (e.g. "video") must match if given."""
    path = verify(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or not a torch file; torch's own message runs to many lines
        reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
        reason = ("it does not unpickle as a torch checkpoint" if isinstance(e, pickle.UnpicklingError)
                  else f"{type(e).__name__}: {reason[:160]}")
        raise ValueError(f"model file {path} cannot be read ({reason}); {_restore_hint(path)}") from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"model file {path} is not an agf_core checkpoint; {_restore_hint(path)}")
    if kind is not None and KIND_ALIASES.get(ckpt.get("kind"), ckpt.get("kind")) != KIND_ALIASES.get(kind, kind):
        raise ValueError(f"model file {path} holds a {ckpt.get('kind')!r} model, expected {kind!r}")
    return ckpt
