"""nginx in front of the replicas: the config written from `nginx.conf.template` into the run folder, and the
server run in the foreground (`daemon off`) so the pilot owns it and stops it."""
from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "nginx.conf.template"
STOPPED_PAGE = HERE / "stopped.html"
STOPPED_MESSAGE = ("The server running your session stopped. Everything you said until then is saved. "
                   "Reload the page to start again.")


def nginx_binary() -> str | None:
    """nginx from PATH, or Debian's /usr/sbin/nginx (not on a normal user's PATH)."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def replica_name(i: int) -> str:
    return f"r{i + 1}"


def render_config(ports: list[int], listen: str, cert: Path, key: str | Path, run: Path,
                  template: Path = TEMPLATE) -> str:
    """The nginx config for replicas on 127.0.0.1:`ports`, TLS on `listen` ("HOST:PORT" or "PORT")."""
    addrs = [f"127.0.0.1:{p}" for p in ports]
    names = [replica_name(i) for i in range(len(ports))]
    # max_fails=0 for a pinned browser: its replica is always tried (and, gone, answered by the stopped page)
    upstreams = "\n".join(f"    upstream agf_{n} {{ server {a} max_fails=0; }}" for n, a in zip(names, addrs))
    fill = {
        "run": str(run), "html": str(run / "html"), "listen": listen, "cert": str(cert), "key": str(key),
        "upstreams": upstreams,
        "servers": "\n".join(f"        server {a} max_fails=1 fail_timeout=10s;" for a in addrs),
        "routes": "\n".join(f"        {n} agf_{n};" for n in names),
        "served": "\n".join(f'        "~{re.escape(a)}$" {n};' for n, a in zip(names, addrs)),
    }
    text = template.read_text()
    for k, v in fill.items():
        text = text.replace("{{" + k + "}}", v)
    if "{{" in text:
        raise ValueError(f"{template}: unfilled placeholder {text[text.index('{{'):].split('}}')[0]}}}}}")
    return text


class Nginx:
    """`nginx -c <run>/nginx.conf -g 'daemon off;'`, checked with `nginx -t` first."""

    def __init__(self, run: Path, config: str):
        self.binary = nginx_binary()
        if self.binary is None:
            raise FileNotFoundError("nginx is not installed: apt-get install nginx")
        self.run = run
        (run / "html").mkdir(parents=True, exist_ok=True)
        shutil.copy(STOPPED_PAGE, run / "html" / "agf-stopped.html")
        (run / "html" / "agf-stopped.json").write_text(json.dumps({"error": STOPPED_MESSAGE}))
        self.conf = run / "nginx.conf"
        self.conf.write_text(config)
        self.proc: subprocess.Popen | None = None

    def _cmd(self, *extra: str) -> list[str]:
        return [self.binary, "-p", str(self.run), "-c", str(self.conf), "-g", "daemon off;", *extra]

    def start(self, listen: str, timeout_s: float = 20.0) -> None:
        """Started and accepting connections on `listen` ("HOST:PORT"), or RuntimeError with nginx's words."""
        check = subprocess.run(self._cmd("-t"), capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused {self.conf}: {check.stderr.strip().splitlines()[-2:]}")
        self.log = open(self.run / "nginx.out", "w")
        self.proc = subprocess.Popen(self._cmd(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        host, _, port = listen.rpartition(":")
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection((host if host not in ("", "0.0.0.0", "*") else "127.0.0.1", int(port)),
                                         timeout=1).close()
                return
            except OSError:
                if not self.alive() or time.monotonic() > deadline:
                    self.stop()
                    errors = (self.run / "nginx-error.log").read_text(errors="replace").strip().splitlines()
                    raise RuntimeError(f"nginx did not start on {listen}: {errors[-1] if errors else '(no log)'}")
                time.sleep(0.2)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)      # fast: a graceful stop would wait for hour-long streams
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
