"""One worker thread per live session: takes what the stream handlers queued and runs the pipeline on it,
so that capture never waits for compute (a Gradio stream handler that runs long loses the input that
arrives meanwhile). It sleeps until input arrives and ends when the session closes or goes quiet."""
from __future__ import annotations

import logging
import threading
import time

from .pipeline import LivePipeline
from .state import LiveState

log = logging.getLogger(__name__)


class SessionWorker(threading.Thread):
    def __init__(self, pipeline: LivePipeline, state: LiveState, idle_exit_s: float = 300.0):
        super().__init__(name=f"agf-session-{state.session.session_id}", daemon=True)
        self.pipeline, self.state, self.idle_exit_s = pipeline, state, idle_exit_s

    def run(self) -> None:
        state, last_input = self.state, time.monotonic()
        while not state.closed:
            woke = state.wake.wait(timeout=0.25)
            state.wake.clear()
            if woke:
                last_input = time.monotonic()
            elif state.inbox.frame is None:   # a frame waits only for the face reading's rate limit
                if time.monotonic() - last_input > self.idle_exit_s:
                    break                     # restarted by `ensure_worker` on the next input
                continue
            try:
                self.pipeline.step(state)
            except Exception:  # noqa: BLE001  the worker must outlive any one bad step
                log.exception("session %s: a pipeline step failed", state.session.session_id)
        with state.lock:
            if state.worker is self:
                state.worker = None


def ensure_worker(pipeline: LivePipeline, state: LiveState) -> None:
    """Start the session's worker if it is not running (first input, or after it went idle)."""
    with state.lock:
        if state.closed or (state.worker is not None and state.worker.is_alive()):
            return
        state.worker = SessionWorker(pipeline, state)
        state.worker.start()


def stop_worker(state: LiveState, join_s: float = 0.0) -> bool:
    """End the session's worker (tab closed / session over); queued input is dropped with the session.
    With `join_s`, wait up to that long for its current step to finish; returns whether it has stopped."""
    state.closed = True
    state.wake.set()
    worker = state.worker
    if join_s and worker is not None and worker is not threading.current_thread():
        worker.join(join_s)
        if worker.is_alive():
            log.warning("session %s: the worker did not stop within %.0f s", state.session.session_id, join_s)
            return False
    return True


def finish(pipeline: LivePipeline, state: LiveState, join_s: float = 30.0) -> None:
    """The session is over (ended, tab closed or reloaded): no more input is taken, the worker stops after its
    current step, and what had arrived is processed here (the utterance in progress becomes a turn). Call it
    before the session's end is recorded, so that no row is written after the end."""
    if not stop_worker(state, join_s):
        return  # a step stuck that long: leave the rest rather than race it on the same state
    pipeline.close(state)
    try:
        pipeline.drain(state)
    except Exception:  # noqa: BLE001  the rows so far are written; the end must still be recorded
        log.exception("session %s: processing the last input failed", state.session.session_id)
