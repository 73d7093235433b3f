"""A long session's memory stays flat: streaming/live/memory.py (measured by benchmarks/browser_memory.py)."""
import asyncio
import time
from types import SimpleNamespace

import pytest

from streaming.live.memory import HeapTrimmer, MallocOptions, cancel_gradio_wait_timers, trim_heap, tune_malloc


def _frames(queue, n: int, timeout: float, signal: bool) -> tuple[list[str], int]:
    """`n` waits as Gradio's stream loop does for each webcam frame; returns their results and the tasks still
    pending afterwards (besides this one)."""
    async def run():
        event = SimpleNamespace(signal=asyncio.Event())
        out = []
        for _ in range(n):
            if signal:
                event.signal.set()
            out.append(await queue.wait_for_event_or_timeout(event, timeout))
        await asyncio.sleep(0)                                   # let the cancellations land
        return out, len(asyncio.all_tasks()) - 1
    return asyncio.run(run())


def test_gradio_frame_waits_leave_no_timer_behind(monkeypatch):
    """Each frame's wait left an asyncio.sleep(time_limit) task pending (an hour for the webcam stream): +1,500
    tasks, coroutines, futures and timer handles in 7 minutes of a live session (issue 22, item 13)."""
    gr = pytest.importorskip("gradio")
    from gradio.queueing import Queue
    assert gr  # the module imported: its Queue is the one the app uses
    monkeypatch.setattr(Queue, "wait_for_event_or_timeout", Queue.__dict__["wait_for_event_or_timeout"])  # restored
    assert cancel_gradio_wait_timers()
    assert _frames(Queue, 50, 3600, signal=True) == (["signal"] * 50, 0)
    assert _frames(Queue, 3, 0.01, signal=False) == (["timeout"] * 3, 0)   # the other way round: no waiter left


def test_the_heap_trimmer_trims_until_stopped():
    assert trim_heap() is True                                  # glibc (Linux): free pages go back
    trimmer = HeapTrimmer(interval_s=0.01).start()
    deadline = time.time() + 30
    while trimmer.trims < 3 and time.time() < deadline:
        time.sleep(0.01)
    trimmer.stop()
    done = trimmer.trims
    time.sleep(0.05)
    assert done >= 3 and trimmer.trims == done
    with pytest.raises(ValueError, match="interval_s=0 is not accepted"):
        HeapTrimmer(interval_s=0)


def test_large_blocks_are_mapped_on_their_own_after_tune_malloc():
    """glibc raises its mmap threshold to the size of the last large block freed, so after one webcam frame the
    next ones came from the arenas, where freed memory stayed (RSS +245 MB/h with trimming alone, issue 22,
    item 13). Tuned, a 1 MiB block is mapped on its own, even after a larger one was freed. Run in a fresh
    process: malloc's settings are process-wide and other tests (models, a server) have moved them."""
    import subprocess
    import sys
    code = """
import numpy as np
from benchmarks.memory_probe import c_heap_mb
from streaming.live.memory import MallocOptions, tune_malloc
assert tune_malloc(MallocOptions())
big = np.ones(4 << 20, np.uint8)       # freed: untuned, this would raise the threshold to 4 MiB
del big
before = c_heap_mb()["mmapped_mb"]
block = np.ones(1 << 20, np.uint8)
grew = c_heap_mb()["mmapped_mb"] - before
del block
back = abs(c_heap_mb()["mmapped_mb"] - before)
print(grew, back)
"""
    from pathlib import Path
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    grew, back = map(float, done.stdout.split())
    assert grew >= 0.9 and back < 0.2                                  # mapped, and given back when freed
