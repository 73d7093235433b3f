"""The face detector in a child process that has no network.

MediaPipe's native library tries to upload a usage record to play.googleapis.com when a detector starts and
closes, and has no switch to stop it (streaming/study/privacy.py stops the upload at TLS, but the DNS lookup and the
TCP connection still leave the machine). So the app runs the detector in a child process that, before it
imports anything else, moves into a new network namespace (Linux `unshare`: a down loopback device and no
route anywhere): the attempt fails inside the process and nothing leaves the machine. Frames go to the child
and faces come back over a local socket pair, about 1 ms per 640x480 frame.

The child serves every session's frames, one at a time, so it must never hold them up: sending a frame and
waiting for its faces both time out (a frozen child: `frame_timeout_s`), the child is then killed and a new one
started in the background, and a call that would wait more than `wait_s` for another session's frame, or for
that restart, fails at once (`DetectorBusy`): that face reading is marked failed, and no session's worker, which
also reads its audio, is held up.

Moving needs root (CAP_SYS_ADMIN) or unprivileged user namespaces. Where neither is allowed, the child runs
with the network and says so (`isolated` is False, and a warning is logged); the TLS stop still applies.
"""
from __future__ import annotations

import logging
import pickle
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from agf_core.inputs.face import DetectorOptions, Face, check_frame, detector_model

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent.parent

# Runs first in the child: leave the network while the process is still single-threaded (a user namespace
# can only be entered then), then serve. argv: the socket's file descriptor.
# Ctrl-C reaches the whole process group: the child ignores it (no KeyboardInterrupt traceback) and ends when
# the app closes its socket.
CHILD = """
import ctypes, os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
isolated = libc.unshare(CLONE_NEWNET) == 0 or libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0
sys.path.insert(0, sys.argv[2])
from agf_core.inputs.detector_process import serve
serve(int(sys.argv[1]), isolated)
"""


def quiet_mediapipe() -> None:
    """MediaPipe's tasks pass certifi's CA bundle to their native HTTPS usage uploader; an empty bundle makes
    every such TLS handshake fail verification, so nothing can be uploaded. Model loading does not use it.
    (A missing file behaves the same; a NULL path lets the handshake through, so it is not used.)"""
    try:
        from mediapipe.tasks.python.core import base_options
    except ImportError:
        return
    empty = Path(tempfile.gettempdir()) / "agf-empty-ca-bundle.pem"
    if not empty.exists():
        empty.write_text("")

    class _NoCertificates:
        @staticmethod
        def where() -> str:
            return str(empty)
    base_options.certifi = _NoCertificates


def serve(fd: int, isolated: bool) -> None:
    """The child's loop: (options, model bytes), then frames -> ("ok", faces) or ("error", message)."""
    from agf_core.inputs.face import MediaPipeFaceDetector
    quiet_mediapipe()                           # also where the namespace could not be left
    conn = Connection(fd)
    options, model = conn.recv()
    with MediaPipeFaceDetector(options, model) as detector:
        detector.detect(np.zeros((480, 640, 3), np.uint8))   # the first inference sets up; not on a real frame's clock
        conn.send(("ready", isolated))
        while True:
            try:
                frame = conn.recv()
            except EOFError:
                return                          # the parent closed or died
            if frame is None:
                return
            try:
                conn.send(("ok", detector.detect(frame)))
            except Exception as e:              # noqa: BLE001  a bad frame must not end the process
                conn.send(("error", f"{type(e).__name__}: {e}"))


class DetectorBusy(RuntimeError):
    """The detector is serving another frame (or restarting) for longer than a caller may wait."""


class IsolatedFaceDetector:
    """`FaceDetector` (agf_core/inputs/face.py) served by a child process without network. One child serves
    every session's frames, one at a time; a child that died is restarted (once per frame), one that froze is
    killed and replaced in the background."""

    def __init__(self, options: DetectorOptions = DetectorOptions(), timeout_s: float = 20.0,
                 frame_timeout_s: float = 3.0, wait_s: float = 0.5):
        self.options, self.timeout_s = options, timeout_s      # timeout_s: the child's start (loads MediaPipe)
        self.frame_timeout_s = frame_timeout_s                 # one frame out and its faces back (~1 ms normally)
        self.wait_s = wait_s                                   # the longest a call waits for another's frame
        self._held_since: float | None = None                  # when the frame being served now was taken
        self._model = detector_model(options)        # checked here; the child gets the bytes
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._restarting = False
        self.isolated = False
        with self._lock:
            self._start()

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen([sys.executable, "-c", CHILD, str(theirs.fileno()), str(ROOT)],
                                      pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        self._conn = Connection(ours.detach())
        self._socket_timeout(self.timeout_s)
        self._conn.send((self.options, self._model))
        try:
            kind, self.isolated = self._receive("start", self.timeout_s)
        except TimeoutError as e:
            self._kill()
            raise RuntimeError(str(e)) from None
        self._socket_timeout(self.frame_timeout_s)
        if not self.isolated:
            log.warning("the face detector's process could not leave the network (needs root or user "
                        "namespaces); MediaPipe's usage upload is stopped at TLS only")

    def _socket_timeout(self, seconds: float) -> None:
        """Bound every write and read on the socket (a frame is larger than its buffer, so a child that stops
        reading would block the send forever): past it they fail with OSError."""
        sock = socket.socket(fileno=self._conn.fileno())
        try:
            value = struct.pack("ll", int(seconds), int(seconds % 1 * 1e6))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        finally:
            sock.detach()                            # the Connection keeps the descriptor

    def _receive(self, what: str, timeout_s: float):
        if not self._conn.poll(timeout_s):
            raise TimeoutError(f"the face detector's process did not answer within {timeout_s:g} s ({what})")
        try:
            return self._conn.recv()
        except BlockingIOError:                     # half a message, then nothing (SO_RCVTIMEO): frozen
            raise TimeoutError(f"the face detector's process stopped answering ({what})") from None
        except (EOFError, OSError, pickle.UnpicklingError) as e:
            code = self._proc.poll() if self._proc is not None else None
            self._stop()
            raise RuntimeError(f"the face detector's process stopped (exit code {code}) during {what}") from e

    def detect(self, frame: np.ndarray) -> list[Face]:
        frame = check_frame(frame)
        held = self._held_since
        stuck = held is not None and time.monotonic() - held > self.wait_s   # others already waited that long
        if self._restarting or stuck or not self._lock.acquire(timeout=self.wait_s):
            raise DetectorBusy("the face detector is " + ("restarting" if self._restarting else
                               f"busy with another frame for over {self.wait_s:g} s") + "; this frame is skipped")
        self._held_since = time.monotonic()
        try:
            if self._restarting:
                raise DetectorBusy("the face detector is restarting; this frame is skipped")
            for attempt in (1, 2):                   # a child that died is restarted once, for this frame
                if self._proc is None or self._proc.poll() is not None:
                    self._stop()
                    self._start()
                try:
                    self._conn.send(frame)           # bounded: SO_SNDTIMEO (see _socket_timeout)
                    kind, out = self._receive("a frame", self.frame_timeout_s)
                    break
                except (TimeoutError, BlockingIOError) as e:   # frozen (stopped, stuck): replace it
                    self._restart_in_background()
                    raise RuntimeError(f"the face detector's process did not take or answer a frame within "
                                       f"{self.frame_timeout_s:g} s; it is being restarted") from e
                except (OSError, RuntimeError) as e:
                    self._stop()
                    if attempt == 2:
                        raise RuntimeError(f"the face detector's process failed twice: {e}") from e
        finally:
            self._held_since = None
            self._lock.release()
        if kind == "error":
            raise ValueError(out)
        return out

    def _restart_in_background(self) -> None:
        """Kill the frozen child now and start another beside the callers (call under `_lock`): starting takes
        seconds, which no session's worker may spend waiting; meanwhile calls fail at once."""
        log.warning("the face detector's process (pid %s) froze; killing it and starting another", self.pid)
        self._kill()
        self._restarting = True

        def restart():
            with self._lock:
                try:
                    if self._proc is None:
                        self._start()
                except Exception:  # noqa: BLE001  the next frame tries again
                    log.exception("restarting the face detector's process failed")
                    self._kill()
                finally:
                    self._restarting = False
        threading.Thread(target=restart, name="agf-detector-restart", daemon=True).start()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def _stop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def _kill(self) -> None:
        """End the child at once (SIGKILL also ends a stopped process); no goodbye on a socket it may not read."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        with self._lock:
            self._stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
