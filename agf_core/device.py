"""Device, dtype and thread count decided in one place."""
from __future__ import annotations

import os

import torch

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_threads(n: int | None = None) -> int:
    """Use `n` CPU threads (default: AGF_THREADS or all cores); returns the number set."""
    n = n or int(os.environ.get("AGF_THREADS", "0")) or (os.cpu_count() or 1)
    torch.set_num_threads(n)
    return n
