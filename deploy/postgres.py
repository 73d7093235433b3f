"""A local PostgreSQL server from Debian's binaries, for a pilot on one machine and for the tests: a cluster in a
folder of its own (created on first use, kept afterwards: a study's data outlives the run), reached through a
unix socket in that folder (no TCP port is opened), trust auth for the local user. Run as the `postgres` user
when started by root (initdb refuses root).

    server = LocalPostgres(Path("studies/pilot/postgres"))
    server.start()          # initdb on first use, then pg_ctl start
    server.url              # postgresql+psycopg://postgres@/postgres?host=...&port=...
    server.stop()
"""
from __future__ import annotations

import getpass
import glob
import os
import shutil
import socket
import subprocess
from pathlib import Path


def pg_binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresMissing(RuntimeError):
    """The PostgreSQL binaries (or the driver) are not installed."""


class LocalPostgres:
    def __init__(self, folder: Path, port: int | None = None, fsync: bool = True):
        self.initdb, self.pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
        if not self.initdb or not self.pg_ctl:
            raise PostgresMissing("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
        try:
            import psycopg  # noqa: F401  the store's driver
        except ImportError:
            raise PostgresMissing("the PostgreSQL driver is not installed: pip install 'psycopg[binary]'") from None
        self.root = Path(folder).resolve()
        self.data, self.port, self.fsync = self.root / "data", port or free_port(), fsync
        self.prefix: list[str] = []
        self.user = getpass.getuser()
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PostgresMissing("running as root without runuser: cannot start PostgreSQL as a normal user")
            self.prefix, self.user = [runuser, "-u", "postgres", "--"], "postgres"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@/postgres?host={self.root}&port={self.port}"

    def start(self) -> str:
        """initdb on first use, then start; returns the store URL."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.prefix:
            closed = [str(d) for d in self.root.parents if not os.stat(d).st_mode & 0o001]
            if closed:
                raise RuntimeError(f"PostgreSQL runs as the user postgres, which cannot reach {self.root}: "
                                   f"{closed[0]} is private; choose a run folder elsewhere or chmod o+x {closed[0]}")
            shutil.chown(self.root, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run([self.initdb, "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8"]
                      + ([] if self.fsync else ["--no-sync"]))
        options = f"-p {self.port} -k {self.root} -c listen_addresses=''" + ("" if self.fsync else " -c fsync=off")
        self._run([self.pg_ctl, "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60",
                   "-o", options, "start"])
        return self.url

    def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are cut and everything committed is on disk; `immediate` for throwaway clusters."""
        self._run([self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"])

    def _run(self, cmd: list[str]) -> None:
        out = subprocess.run(self.prefix + cmd, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise RuntimeError(f"{Path(cmd[0]).name} {cmd[-1]} failed: {(out.stderr or out.stdout)[-800:]}{tail}")
