"""Provenance: which code and which model files produced a result, so it can be traced and redone.

    provenance(asr_model="tiny.en")
    -> {"app_version": "git 1a2b3c4 (dirty)", "package_version": "0.4.0", "models": {"text.pt": "8f2a...", ...},
        "shipped_sums_ok": true, "asr_model": "tiny.en", "python": "3.12.3", "platform": "Linux-..."}

The SHA-256 of every file in `agf_core/weights/SHA256SUMS` is computed from the file actually on disk (and
compared with the listed sum), plus the packaged text-encoder and Whisper model files when those are the ones
loaded. Hashing happens once per process (cached). The study exports (streaming) and `agf-analyze` share these
fields; the study adds its reply generator and consent version.
"""
from __future__ import annotations

import functools
import logging
import platform
import subprocess
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path

from agf_core.checkpoint import WEIGHTS, read_manifest, sha256

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def app_version() -> dict[str, str]:
    """The git commit of the checkout when there is one (with '-dirty' for local changes), else the package's."""
    try:
        version = importlib_metadata.version("agf-live")
    except importlib_metadata.PackageNotFoundError:
        version = ""
    if not version:
        import tomllib
        try:
            version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
        except (OSError, KeyError, ValueError):
            version = "unknown"
    commit = ""
    if (ROOT / ".git").exists():
        try:
            commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
                                    capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = ""
    return {"app_version": f"git {commit}" if commit else f"package {version}", "package_version": version,
            "git_commit": commit}


@functools.lru_cache(maxsize=8)
def model_hashes(extra: tuple[str, ...] = ()) -> dict:
    """SHA-256 of each shipped weight file (checked against SHA256SUMS) and of each extra model file/folder."""
    listed = read_manifest(WEIGHTS)
    files = {name: sha256(WEIGHTS / name) for name in listed if (WEIGHTS / name).exists()}
    mismatched = sorted(n for n in listed if files.get(n) != listed[n])
    if mismatched:
        log.warning("model files differ from SHA256SUMS: %s", ", ".join(mismatched))
    for item in extra:
        p = Path(item)
        for f in sorted(p.rglob("*") if p.is_dir() else [p]):
            if f.is_file() and not f.name.startswith("."):
                # keyed by the owning folder too: two packages both ship a 'model/config.json'
                files[f"{p.parent.name}/{p.name}/{f.relative_to(p)}" if p.is_dir() else p.name] = sha256(f)
    return {"models": files, "shipped_sums_ok": not mismatched, "mismatched": mismatched}


def loaded_model_paths(asr_model: str) -> tuple[str, ...]:
    """The packaged text encoder and Whisper folders, when those are what the app loads."""
    paths = []
    try:
        from agf_core.models.text import DEFAULT_TEXT_MODEL, resolve_model_path
        paths.append(resolve_model_path(DEFAULT_TEXT_MODEL))
    except ImportError:
        pass
    try:
        from agf_core.models.audio import whisper_model_path
        p = whisper_model_path(asr_model)
        if Path(p).exists():
            paths.append(p)
    except ImportError:
        pass
    return tuple(paths)


def provenance(asr_model: str) -> dict:
    """The code, the model files and the platform that made a result."""
    return {**app_version(), **model_hashes(loaded_model_paths(asr_model)), "asr_model": asr_model,
            "python": sys.version.split()[0], "platform": platform.platform()}
