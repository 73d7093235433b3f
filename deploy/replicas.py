"""The demo.py replicas of a pilot: one process each on 127.0.0.1:PORT, all on one store, trusting the proxy's
X-Forwarded-For (127.0.0.1) for the researcher lockout. Each writes its log to the run folder; one that stops
on its own is started again (its own start marks its cut-off sessions interrupted in the store)."""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
MAX_RESTARTS = 3


class Replica:
    def __init__(self, index: int, port: int, store: str, run: Path, demo_args: list[str]):
        self.index, self.port, self.run = index, port, run
        self.cmd = [sys.executable, str(ROOT / "demo.py"), "--host", "127.0.0.1", "--port", str(port),
                    "--store", store, "--trusted-proxies", "127.0.0.1", *demo_args]
        self.log_path = run / f"replica-{index + 1}.log"
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    def start(self) -> None:
        self.log = open(self.log_path, "a")
        # its own session: a Ctrl-C in the terminal reaches the pilot alone, which stops everything in order
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "HF_HUB_OFFLINE": "1"}, start_new_session=True)

    def answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def last_line(self) -> str:
        """What the log says went wrong: demo.py's own refusal, else the last error, else its last line (native
        libraries write chatter on exit)."""
        lines = [x for x in self.log_path.read_text(errors="replace").splitlines() if x.strip()]
        for mark in ("python demo.py:", " ERROR ", "Error"):
            found = [x for x in lines if mark in x]
            if found:
                return found[-1]
        return lines[-1] if lines else "(no output)"

    def stop(self, timeout_s: float = 15) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)    # demo.py exits and cleans its temp folder
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_until_up(replicas: list[Replica], timeout_s: float, cancel: threading.Event | None = None) -> None:
    """Every replica answers on its port, or RuntimeError with the last line of the first one that stopped
    (or when `cancel` is set: Ctrl-C while the models load)."""
    deadline = time.monotonic() + timeout_s
    waiting = list(replicas)
    while waiting:
        if cancel is not None and cancel.is_set():
            raise RuntimeError("stopped while the replicas were starting")
        for r in list(waiting):
            if r.answers():
                waiting.remove(r)
                log.info("replica %d answers on 127.0.0.1:%d", r.index + 1, r.port)
            elif not r.alive():
                raise RuntimeError(f"replica {r.index + 1} stopped (exit {r.proc.returncode}): {r.last_line()} "
                                   f"(log: {r.log_path})")
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"replicas {[r.index + 1 for r in waiting]} did not answer within {timeout_s:g} s "
                               f"(logs in {replicas[0].run})")
        time.sleep(0.5)


def restart_stopped(replicas: list[Replica]) -> bool:
    """A replica that stopped on its own is started again, at most MAX_RESTARTS times; True if one was."""
    restarted = False
    for r in replicas:
        if r.proc is None or r.alive():
            continue
        if r.restarts >= MAX_RESTARTS:
            log.error("replica %d stopped again (%s): not restarted; see %s", r.index + 1, r.last_line(), r.log_path)
            r.proc = None
            continue
        r.restarts += 1
        log.warning("replica %d stopped (exit %s): %s; starting it again (%d/%d)", r.index + 1, r.proc.returncode,
                    r.last_line(), r.restarts, MAX_RESTARTS)
        r.start()
        restarted = True
    return restarted
