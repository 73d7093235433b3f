"""One study served by several demo.py replicas behind nginx over HTTPS, on one machine (a pilot):

    python -m deploy.pilot --replicas 2 --self-signed -- --study pilot1 --admin-password ...
    python -m deploy.pilot --replicas 2 --cert site.crt --key site.key --store postgresql+psycopg://u:pw@db/agf

Starts PostgreSQL in the run folder (unless --store names one), the replicas on 127.0.0.1 ports, writes the nginx
config from deploy/nginx.conf.template and starts nginx on --listen. Everything after `--` goes to each demo.py.
Ctrl-C (or SIGTERM) stops nginx, the replicas, then PostgreSQL. The run folder keeps the logs, the config, the
certificate and PostgreSQL's data (a later run reuses them); `<run>/pilot.json` says what runs where.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .certificate import check_certificate, self_signed
from .postgres import LocalPostgres
from .proxy import Nginx, render_config
from .replicas import Replica, restart_stopped, wait_until_up

log = logging.getLogger("deploy.pilot")


@dataclass
class PilotOptions:
    replicas: int = 2
    listen: str = "0.0.0.0:8443"         # where participants connect (HTTPS)
    first_port: int = 7861               # replicas on 127.0.0.1:first_port, first_port + 1, ...
    run: Path = Path("studies/pilot")    # logs, nginx config, certificate, PostgreSQL data
    store: str = ""                      # '' = a PostgreSQL server of its own in <run>/postgres
    cert: str = ""
    key: str = ""
    demo_args: list[str] = field(default_factory=list)
    start_timeout_s: float = 300.0       # loading the models takes ~20-60 s a replica on 2 busy cores


class Pilot:
    def __init__(self, options: PilotOptions):
        self.o = options
        self.postgres: LocalPostgres | None = None
        self.replicas: list[Replica] = []
        self.nginx: Nginx | None = None
        self.stopping = threading.Event()

    def start(self) -> str:
        """Everything up; returns the participants' URL. On failure, what started is stopped again."""
        o, run = self.o, self.o.run.resolve()
        run.mkdir(parents=True, exist_ok=True)
        try:
            cert, key = (check_certificate(o.cert, o.key) if o.cert or o.key else self_signed(run / "tls"))
            store = o.store
            if not store:
                self.postgres = LocalPostgres(run / "postgres")
                store = self.postgres.start()
                log.info("PostgreSQL in %s", self.postgres.root)
            ports = [o.first_port + i for i in range(o.replicas)]
            self.nginx = Nginx(run, render_config(ports, o.listen, cert, key, run))
            self.replicas = [Replica(i, p, store, run, o.demo_args) for i, p in enumerate(ports)]
            for r in self.replicas:
                r.start()
            wait_until_up(self.replicas, o.start_timeout_s, self.stopping)
            self.nginx.start(o.listen)
        except BaseException:
            self.stop()
            raise
        host, _, port = o.listen.rpartition(":")
        self.url = f"https://{'localhost' if host in ('', '0.0.0.0') else host}:{port}/"
        self.store, self.cert = store, cert
        self.write_status()
        log.info("participants: %s (%d replicas; the researcher view at %sresearcher)", self.url, o.replicas,
                 self.url)
        return self.url

    def write_status(self) -> None:
        """<run>/pilot.json: what runs where (rewritten when a replica is started again)."""
        (self.o.run / "pilot.json").write_text(json.dumps({
            "url": self.url, "store": _safe(self.store), "certificate": str(self.cert),
            "replicas": [{"port": r.port, "pid": r.proc.pid if r.proc else None, "log": str(r.log_path),
                          "restarts": r.restarts} for r in self.replicas],
            "nginx": {"pid": self.nginx.proc.pid, "config": str(self.nginx.conf)}}, indent=2))

    def supervise(self) -> None:
        """Until stopped: restart a replica that stopped on its own; nginx stopping ends the pilot."""
        while not self.stopping.wait(1.0):
            if restart_stopped(self.replicas):
                self.write_status()
            if self.nginx is not None and not self.nginx.alive():
                log.error("nginx stopped (see %s); stopping the pilot", self.o.run / "nginx-error.log")
                break

    def stop(self) -> None:
        self.stopping.set()
        if self.nginx is not None:
            self.nginx.stop()
        for r in self.replicas:
            r.stop()
        if self.postgres is not None and (self.postgres.data / "postmaster.pid").exists():
            self.postgres.stop("fast")
        log.info("pilot stopped")


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


def parse(argv: list[str] | None) -> PilotOptions:
    ap = argparse.ArgumentParser(prog="python -m deploy.pilot", description=__doc__.splitlines()[0],
                                 epilog="arguments after -- go to each demo.py (e.g. --study, --admin-password)")
    ap.add_argument("--replicas", type=int, default=PilotOptions.replicas)
    ap.add_argument("--listen", default=PilotOptions.listen, help="HOST:PORT for HTTPS (default %(default)s)")
    ap.add_argument("--first-port", type=int, default=PilotOptions.first_port,
                    help="replica i listens on 127.0.0.1:FIRST_PORT+i (default %(default)s)")
    ap.add_argument("--run", type=Path, default=PilotOptions.run, help="run folder (default %(default)s)")
    ap.add_argument("--store", default="", help="SQLAlchemy PostgreSQL URL of the study store (default: start "
                    "PostgreSQL in RUN/postgres)")
    tls = ap.add_mutually_exclusive_group(required=True)
    tls.add_argument("--cert", help="PEM certificate (with --key)")
    tls.add_argument("--self-signed", action="store_true", help="make (once) a self-signed certificate for a LAN")
    ap.add_argument("--key", default="", help="PEM private key of --cert")
    argv, demo_args = _split(argv)
    a = ap.parse_args(argv)
    if not 1 <= a.replicas <= 64:
        ap.error(f"--replicas {a.replicas} is not accepted; use 1 to 64")
    port = a.listen.rpartition(":")[2]
    if not port.isdigit():
        ap.error(f"--listen {a.listen!r} is not accepted; use HOST:PORT or PORT, e.g. 0.0.0.0:8443")
    if a.first_port <= int(port) < a.first_port + a.replicas:
        ap.error(f"--listen port {port} is also a replica's (--first-port {a.first_port}, {a.replicas} replicas); "
                 "choose another")
    if a.cert and not a.key:
        ap.error("--cert needs --key (the certificate's private key)")
    if a.store and not a.store.startswith("postgresql"):
        ap.error(f"--store {a.store.split('@')[-1]!r} is not accepted: several replicas need one PostgreSQL store "
                 "(postgresql+psycopg://user:password@host/db)")
    return PilotOptions(a.replicas, a.listen, a.first_port, a.run, a.store, a.cert or "", a.key, demo_args)


def _split(argv: list[str] | None) -> tuple[list[str], list[str]]:
    import sys
    argv = list(sys.argv[1:] if argv is None else argv)
    return (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    pilot = Pilot(parse(argv))
    signal.signal(signal.SIGTERM, lambda *_: pilot.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: pilot.stopping.set())
    try:
        pilot.start()
    except (FileNotFoundError, RuntimeError) as e:
        raise SystemExit(f"python -m deploy.pilot: {e}") from None
    try:
        pilot.supervise()
    finally:
        pilot.stop()


if __name__ == "__main__":
    main()
