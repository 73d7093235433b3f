"""An optional log of live-path events with wall-clock times, one JSON object per line, for measuring what a
participant lives (benchmarks/browser.py matches these against what appears in the page). Off by default;
`python demo.py --metrics-log FILE` turns it on. It holds timings and transcripts, never audio or images."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path


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
