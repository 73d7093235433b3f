"""A throwaway PostgreSQL server for tests: Debian's binaries, a cluster in a temp folder, a free port, the
unix socket in that folder, trust auth for the local user. Run as the `postgres` user when the tests run as
root (initdb refuses root). Skips where the binaries are absent."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self):
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not initdb or not pg_ctl:
            pytest.skip("PostgreSQL binaries not found (apt-get install postgresql)")
        pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]'")
        self.pg_ctl = pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="agf-pg-"))
        self.data, self.port = self.root / "data", _free_port()
        self.prefix: list[str] = []
        self.user = os.environ.get("USER", "postgres")
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("running as root without runuser: cannot start postgres as a normal user")
            shutil.chown(self.root, "postgres", "postgres")
            self.prefix, self.user = [runuser, "-u", "postgres", "--"], "postgres"
        else:
            import getpass
            self.user = getpass.getuser()
        self._run([initdb, "-D", str(self.data), "-A", "trust", "-U", self.user, "--no-sync", "-E", "UTF8"])
        self._run([pg_ctl, "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60", "-o",
                   f"-p {self.port} -k {self.root} -c listen_addresses='' -c fsync=off", "start"])
        self.url = f"postgresql+psycopg://{self.user}@/postgres?host={self.root}&port={self.port}"

    def _run(self, cmd: list[str]) -> None:
        out = subprocess.run(self.prefix + cmd, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:2])} failed: {out.stderr[-1500:]}")

    def stop(self) -> None:
        try:
            self._run([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            time.sleep(0.2)
            shutil.rmtree(self.root, ignore_errors=True)
