"""Keeping the server's memory flat over a long session (benchmarks/browser_memory.py measures it).

Two things grew with a session's length rather than with what it keeps (issue 22, item 13; measured from inside
the server by benchmarks/memory_probe.py, minutes 3-10 of a real browser session):

- The C heap: memory glibc kept free inside its arenas grew 143 -> 206 MB while memory in use grew 18 MB.
  Large short-lived buffers (a 1280x720 webcam frame is 2.7 MB, three a second; audio posts; model
  activations) are freed by many threads into per-thread arenas, and glibc keeps the freed pages. Trimming
  alone (`malloc_trim` every 30 s) did not stop it: RSS still grew ~6 MB a minute, the arenas' size with it,
  memory in use flat. `tune_malloc` maps large blocks on their own (returned when freed) and caps the
  arenas; `HeapTrimmer` still hands back whole free pages every `interval_s`.
- Gradio's streaming events: each webcam frame's wait (`Queue.wait_for_event_or_timeout`) left its losing
  `asyncio.sleep(time_limit)` task pending, three a second, each kept until the stream's time limit (an hour
  here): +1,500 coroutines, tasks, futures and timer handles in 7 minutes. `cancel_gradio_wait_timers`
  cancels the loser.
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        return libc
    except (OSError, AttributeError):   # not glibc (musl, macOS): nothing to trim
        return None


M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8   # mallopt parameters (glibc's malloc.h)


@dataclass(frozen=True)
class MallocOptions:
    # Blocks this large or larger are mapped on their own and unmapped when freed (a frame, an utterance, model
    # activations), instead of being carved from an arena; fixing it also stops glibc raising it on its own
    # (up to 32 MB) after the first large free, which is what let the frames land in the arenas.
    mmap_threshold: int = 256 * 1024
    # Arenas at most: each thread that allocates gets its own arena up to 8 per core, and free memory in one
    # serves no other (13 threads here: Gradio's, the session workers, the ASR's).
    arena_max: int = 2


def tune_malloc(options: MallocOptions = MallocOptions()) -> bool:
    """Set glibc's malloc for a long-running server; call early, before the threads start. False without glibc."""
    libc = _libc()
    if libc is None:
        return False
    ok = libc.mallopt(M_MMAP_THRESHOLD, options.mmap_threshold) == 1
    return libc.mallopt(M_ARENA_MAX, options.arena_max) == 1 and ok


def trim_heap() -> bool:
    """Return the C heap's whole free pages to the system; False where there is no glibc malloc_trim."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


class HeapTrimmer:
    """A daemon thread that calls `trim_heap` every `interval_s` (a trim walks the arenas: a few ms)."""

    def __init__(self, interval_s: float = 30.0):
        if not interval_s > 0:
            raise ValueError(f"interval_s={interval_s!r} is not accepted; use a positive number of seconds")
        self.interval_s, self.trims = interval_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heap-trimmer", daemon=True)

    def start(self) -> "HeapTrimmer":
        if _libc() is None:
            log.info("no glibc malloc_trim here: the C heap is not trimmed")
            return self
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            trim_heap()
            self.trims += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


async def _wait_for_event_or_timeout(event, timeout: float) -> str:
    """Gradio's Queue.wait_for_event_or_timeout, with the task that lost cancelled instead of left pending."""
    from gradio.queueing import Queue
    tasks = [asyncio.create_task(Queue.wait_for_event(event)), asyncio.create_task(Queue.timeout(timeout))]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
    result = [d.result() for d in done]
    event.signal.clear()
    return result[0]


def cancel_gradio_wait_timers() -> bool:
    """Replace Gradio's Queue.wait_for_event_or_timeout (see the module's docstring); False when this Gradio
    has no such method (a later version may have fixed or renamed it: then nothing is changed)."""
    from gradio.queueing import Queue
    if not hasattr(Queue, "wait_for_event_or_timeout") or not hasattr(Queue, "timeout"):
        log.info("gradio.queueing.Queue has no wait_for_event_or_timeout: not patched")
        return False
    Queue.wait_for_event_or_timeout = staticmethod(_wait_for_event_or_timeout)
    return True
