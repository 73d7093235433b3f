"""Password checks for the researcher view: constant-time comparison, and a cooling-off period for a client
that fails too often (`max_failures` wrong passwords within `window_s` lock it out for `lockout_s`, the right
password included). Failed attempts are logged with the client's address and count, never the password.

    gate = PasswordGate(password)
    gate.check(given, client="203.0.113.7")   # True, or raises LoginRefused with a message for the page

Failures are also counted for the account (the view's one password) over every address: `max_account_failures`
of them within `window_s` lock every client out for `lockout_s`, so guessing from many addresses gets no more
tries than `max_account_failures` per window (at the price of locking the researcher out meanwhile).

A client is its IP address as the server sees it. uvicorn replaces that address with the `X-Forwarded-For`
header of a request from a trusted proxy, by default any local one, and under `--share` or behind a local proxy
every request comes from 127.0.0.1: anyone could then claim a new address per guess. `trust_proxies` makes the
trusted proxies exactly those the researcher names (`--trusted-proxies`, default none). Counts are per server
process.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

log = logging.getLogger(__name__)


ACCOUNT = ""        # the key of the account's count (every address together); no address is empty
TOO_MANY_FOR_VIEW = "Too many wrong passwords for the researcher view from all addresses"


class LoginRefused(PermissionError):
    """A wrong password, or a client locked out; the message is for the page."""


@dataclass(frozen=True)
class LockoutOptions:
    max_failures: int = 5          # wrong passwords ...
    window_s: float = 600.0        # ... within this many seconds ...
    lockout_s: float = 900.0       # ... refuse every attempt from that client for this long
    failure_delay_s: float = 1.0   # each wrong password also waits this long (slows guessing further)
    max_clients: int = 10_000      # clients remembered at once (the oldest are forgotten)
    max_account_failures: int = 10  # wrong passwords from all clients together within window_s: all locked out

    def __post_init__(self):
        for name in ("max_failures", "max_account_failures"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} is not accepted: use 1 or more")
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
        left = self.locked_for(ACCOUNT)
        if left:
            log.warning("researcher view: attempt from %s refused, the view is locked for %.0f s more", client, left)
            raise LoginRefused(f"{TOO_MANY_FOR_VIEW}: try again in {_minutes(left)}.")
        if hmac.compare_digest(str(given or "").encode(), self._password):
            with self._lock:
                self._failures.pop(client, None)
                self._failures.pop(ACCOUNT, None)
            return True
        n, locked = self._fail(client, self.options.max_failures)
        total, view_locked = self._fail(ACCOUNT, self.options.max_account_failures)
        log.warning("researcher view: wrong password from %s (%d in the last %.0f min)%s; %d from all addresses",
                    client, n, self.options.window_s / 60,
                    f"; locked out for {self.options.lockout_s:.0f} s" if locked else "", total)
        if view_locked:
            log.warning("researcher view: %d wrong passwords from all addresses; every address locked out for "
                        "%.0f s", total, self.options.lockout_s)
        self.sleep(self.options.failure_delay_s)
        if locked:
            raise LoginRefused(f"Wrong password. Too many wrong passwords from your address: try again in "
                               f"{_minutes(self.options.lockout_s)}.")
        if view_locked:
            raise LoginRefused(f"Wrong password. {TOO_MANY_FOR_VIEW}: try again in "
                               f"{_minutes(self.options.lockout_s)}.")
        raise LoginRefused("Wrong password.")

    def _fail(self, client: str, limit: int) -> tuple[int, bool]:
        """Record a failure of `client` (an address, or ACCOUNT for all of them); returns its failures within the
        window and whether it is now locked out (at `limit` failures)."""
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
            if n >= limit:
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


def trusted_proxies(value: str) -> str:
    """`--trusted-proxies`: comma-separated addresses or networks of the proxies whose `X-Forwarded-For` names the
    client ('' for none); returned normalised, or ValueError naming the bad entry."""
    out = []
    for item in (v.strip() for v in value.split(",")):
        if not item:
            continue
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"--trusted-proxies entry {item!r} is not accepted: use IP addresses or networks "
                             "separated by commas (e.g. 127.0.0.1 or 10.0.0.0/8), or nothing for none") from None
    return ",".join(out)


def trust_proxies(value: str) -> str:
    """Make uvicorn (started by Gradio's launch, which passes no setting of its own) believe `X-Forwarded-For`
    only from these proxies. Call before launch. Returns the normalised list."""
    proxies = trusted_proxies(value)
    # uvicorn reads FORWARDED_ALLOW_IPS when the server is configured; unset, it trusts 127.0.0.1 and ::1.
    # An empty value trusts no one (its only entry, "", matches no address).
    os.environ["FORWARDED_ALLOW_IPS"] = proxies
    return proxies
