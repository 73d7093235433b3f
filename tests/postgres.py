"""A throwaway PostgreSQL server for tests (deploy/postgres.py in a temp folder, no fsync, stopped and removed
afterwards). Skips where the binaries or the driver are absent."""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from deploy.postgres import LocalPostgres, PostgresMissing


class PostgresServer:
    def __init__(self):
        try:
            self.server = LocalPostgres(Path(tempfile.mkdtemp(prefix="agf-pg-")), fsync=False)
        except PostgresMissing as e:
            pytest.skip(str(e))
        self.root = self.server.root
        self.url = self.server.start()

    def stop(self) -> None:
        try:
            self.server.stop("immediate")
        finally:
            time.sleep(0.2)
            shutil.rmtree(self.root, ignore_errors=True)
