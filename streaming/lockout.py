"""Password checks for the researcher view: constant-time comparison, and a cooling-off period for a client
that fails too often (`max_failures` wrong passwords within `window_s` lock it out for `lockout_s`, the right
password included). Failed attempts are logged with the client's address and count, never the password.

    gate = PasswordGate(password)
    gate.check(given, client="203.0.113.7")   # True, or raises LoginRefused with a message for the page

A client is its IP address as the server sees it: behind a proxy or `--share` tunnel every participant may
share one address, so a lockout there locks everyone out for `lockout_s` (the researcher included). Counts are
per server process.
"""
from __future__ import annotations

import hmac
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

log = logging.getLogger(__name__)


class LoginRefused(PermissionError):
    """A wrong password, or a client locked out; the message is for the page."""


@dataclass(frozen=True)
class LockoutOptions:
    max_failures: int = 5          # wrong passwords ...
    window_s: float = 600.0        # ... within this many seconds ...
    lockout_s: float = 900.0       # ... refuse every attempt from that client for this long
    failure_delay_s: float = 1.0   # each wrong password also waits this long (slows guessing further)
    max_clients: int = 10_000      # clients remembered at once (the oldest are forgotten)

    def __post_init__(self):
        if self.max_failures < 1:
            raise ValueError(f"max_failures={self.max_failures!r} is not accepted: use 1 or more")
        for name in ("window_s", "lockout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)!r} is not accepted: use a positive number of seconds")
        if self.failure_delay_s < 0:
            raise ValueError(f"failure_delay_s={self.failure_delay_s!r} is not accepted: use 0 or more seconds")


class PasswordGate:
    """One password, checked per client; `clock` (seconds, monotonic) and `sleep` are injectable for tests."""

    def __init__(self, password: str, options: LockoutOptions = LockoutOptions(), clock=time.monotonic,
                 sleep=time.sleep):
        if not password:
            raise ValueError("the researcher view needs a password (--admin-password or AGF_ADMIN_PASSWORD)")
        self._password = password.encode()   # bytes: compare_digest refuses non-ASCII str
        self.options, self.clock, self.sleep = options, clock, sleep
        self._failures: OrderedDict[str, deque] = OrderedDict()   # client -> times of its recent failures
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked_for(self, client: str) -> float:
        """Seconds until `client` may try again (0 when it may now)."""
        with self._lock:
            left = self._locked_until.get(client, 0.0) - self.clock()
            if left <= 0:
                self._locked_until.pop(client, None)
            return max(0.0, left)

    def check(self, given: str | None, client: str) -> bool:
        """True for the right password from a client not locked out; otherwise raises LoginRefused."""
        left = self.locked_for(client)
        if left:
            log.warning("researcher view: attempt from %s refused, locked out for %.0f s more", client, left)
            raise LoginRefused(f"Too many wrong passwords from your address: try again in {_minutes(left)}.")
        if hmac.compare_digest(str(given or "").encode(), self._password):
            with self._lock:
                self._failures.pop(client, None)
            return True
        n, locked = self._fail(client)
        log.warning("researcher view: wrong password from %s (%d in the last %.0f min)%s", client, n,
                    self.options.window_s / 60, f"; locked out for {self.options.lockout_s:.0f} s" if locked else "")
        self.sleep(self.options.failure_delay_s)
        if locked:
            raise LoginRefused(f"Wrong password. Too many wrong passwords from your address: try again in "
                               f"{_minutes(self.options.lockout_s)}.")
        raise LoginRefused("Wrong password.")

    def _fail(self, client: str) -> tuple[int, bool]:
        """Record a failure; returns the client's failures within the window and whether it is now locked out."""
        now, o = self.clock(), self.options
        with self._lock:
            times = self._failures.pop(client, None) or deque()
            times.append(now)
            while times and times[0] <= now - o.window_s:
                times.popleft()
            self._failures[client] = times          # most recent last: the oldest clients are forgotten first
            while len(self._failures) > o.max_clients:
                self._failures.popitem(last=False)
            n = len(times)
            if n >= o.max_failures:
                if len(self._locked_until) >= o.max_clients:   # keep only the lockouts still running
                    self._locked_until = {c: t for c, t in self._locked_until.items() if t > now}
                self._locked_until[client] = now + o.lockout_s
                self._failures.pop(client, None)    # a fresh count after the cooling-off period
                return n, True
            return n, False


def _minutes(seconds: float) -> str:
    m = max(1, round(seconds / 60))
    return f"{m} minute{'s' if m != 1 else ''}"


def client_of(request) -> str:
    """The client's address from a gr.Request ('unknown' when the server cannot tell)."""
    client = getattr(request, "client", None)
    return str(getattr(client, "host", "") or "unknown")
