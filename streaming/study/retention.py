"""Retention while the server runs: sessions older than the researcher's `--retention-days` are deleted from the
study store, with their export folders, and the private temp folders are swept, at start and then every
`interval_s` (a background thread, independent of any page being open).

    sweeper = RetentionSweeper(study, temp).start()   # sweeps now, then periodically
    sweeper.sweep(now=...)                              # one sweep (tests pass the time)
    sweeper.close()                                     # stops the thread; also at exit

A session still running in this server is never cut off: it is deleted by the first sweep after it ends. The
interval is 1/24 of the retention (a session outlives its retention by at most ~4 %), at least a minute and at
most an hour.
"""
from __future__ import annotations

import atexit
import logging
import threading
from datetime import datetime

from .privacy import PrivateTemp, remove_stale
from .study import Study

log = logging.getLogger(__name__)

MIN_INTERVAL_S, MAX_INTERVAL_S = 60.0, 3600.0


def retention_interval_s(retention_days: float) -> float:
    """How often to sweep for a retention of `retention_days` (> 0)."""
    if retention_days <= 0:
        raise ValueError(f"retention_days={retention_days!r} is not accepted: a periodic sweep needs more than 0 days")
    return min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, retention_days * 86400 / 24))


class RetentionSweeper:
    """Deletes `study`'s sessions past the retention and sweeps the temp folders, every `interval_s` seconds."""

    def __init__(self, study: Study, temp: PrivateTemp | None = None, interval_s: float | None = None):
        self.study, self.temp = study, temp
        self.days = study.options.privacy.retention_days
        self.interval_s = retention_interval_s(self.days) if interval_s is None else interval_s
        if self.interval_s <= 0:
            raise ValueError(f"interval_s={interval_s!r} is not accepted: use a positive number of seconds")
        self.deleted = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self, now: datetime | None = None) -> list[str]:
        """One pass; returns the IDs of the sessions deleted."""
        gone = self.study.store.delete_older_than(self.days, now=now, keep=self.study.live_sessions())
        for sid in gone:
            self.study.desk.close_session(sid)
        self.study.desk.expire()
        if self.temp is not None:
            self.temp.sweep()
            remove_stale(self.temp.root)  # folders of servers killed since this one started
        if gone:
            log.info("retention: %d session(s) older than %g days deleted", len(gone), self.days)
        self.deleted += len(gone)
        return gone

    def start(self) -> "RetentionSweeper":
        self._safe_sweep()  # at start too: the server may have been down past some sessions' retention
        self._thread = threading.Thread(target=self._run, name="agf-retention", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        log.info("retention: sessions deleted %g days after they started, checked every %.0f s",
                 self.days, self.interval_s)
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._safe_sweep()

    def _safe_sweep(self) -> None:
        try:
            self.sweep()
        except Exception:  # noqa: BLE001  a database briefly away must not end the sweeps
            log.exception("retention sweep failed; retried in %.0f s", self.interval_s)

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the thread (a sweep in progress finishes first)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
