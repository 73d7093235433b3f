"""An optional log of live-path events with wall-clock times, one JSON object per line, for measuring what a
participant lives (benchmarks/browser.py matches these against what appears in the page). Off by default;
`python demo.py --metrics-log FILE` turns it on. It holds timings, transcripts and the microphone's loudness
every 20 ms (where speech starts and ends in what the server received), never audio or images."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np

ENVELOPE_S = 0.02                   # one loudness value per 20 ms of microphone audio


class MetricsLog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file = open(self.path, "a", buffering=1, encoding="utf-8")   # line-buffered: survives a kill

    def __call__(self, event: str, session: str, **fields) -> None:
        line = json.dumps({"event": event, "wall": time.time(), "session": session, **fields})
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._file.close()


def no_metrics(event: str, session: str, **fields) -> None:
    """The default: nothing is logged."""


def loudness_envelope(samples: np.ndarray, rate: int) -> list[float]:
    """Peak |amplitude| (0-1) of each 20 ms of a microphone chunk (the last frame may be shorter)."""
    full_scale = {np.int16: 2.0 ** 15, np.int32: 2.0 ** 31}.get(samples.dtype.type, 1.0)
    x = np.abs(samples.astype(np.float32) / full_scale)
    if x.ndim == 2:
        x = x.max(1)
    step = max(1, int(rate * ENVELOPE_S))
    return [round(float(x[i:i + step].max()), 3) for i in range(0, len(x), step)]
