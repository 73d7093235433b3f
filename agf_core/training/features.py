"""Frozen-encoder features computed once per dataset split and cached in .cache/ (never committed)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import numpy as np

from agf_core.training.data import cache_dir


def cache_path(name: str, key: dict) -> Path:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return cache_dir() / f"{name}_{digest}.npz"


def cached(name: str, key: dict, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Return `compute()`'s arrays, loading them from .cache/<name>_<hash>.npz when already computed."""
    path = cache_path(name, key)
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    arrays = compute()
    np.savez(path, **arrays)
    return arrays
