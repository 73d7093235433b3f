"""MediaPipe 1.2.2's native usage logger, caught in the act: the detector runs in a private mount namespace whose
/etc/hosts sends play.googleapis.com to a local TLS server, and MediaPipe's CA bundle trusts that server (as
certifi trusts the real one). Alone, the library POSTs its usage record to /log when the task closes; after the
app's `disable_telemetry()` it connects and starts a TLS handshake, which fails, and sends no request; in the
app's detector process (agf_core/inputs/detector_process.py) it cannot even connect. Needs root (unshare, port
443), openssl and mediapipe; skips otherwise."""
import os
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ADDRESS = ("127.0.0.2", 443)
CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[3])
    from mediapipe.tasks.python.core import base_options
    class Probe:                            # as with the real server: the bundle trusts its certificate
        @staticmethod
        def where():
            return sys.argv[2]
    base_options.certifi = Probe
    if sys.argv[1] == "app":                # what demo.py does before anything else
        from streaming.study.privacy import disable_telemetry
        disable_telemetry()
    import numpy as np
    from agf_core.inputs.detector_process import IsolatedFaceDetector
    from agf_core.inputs.face import MediaPipeFaceDetector
    detector = IsolatedFaceDetector if sys.argv[1] == "isolated" else MediaPipeFaceDetector
    with detector() as d:                   # the usage record is uploaded when the task closes
        d.detect(np.zeros((64, 64, 3), np.uint8))
        assert sys.argv[1] != "isolated" or d.isolated
""")


@pytest.fixture(scope="module")
def fake_logger(tmp_path_factory):
    """A TLS server posing as play.googleapis.com; yields (CA file, hosts file, events it saw)."""
    pytest.importorskip("mediapipe")
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("openssl"):
        pytest.skip("needs root, unshare and openssl (a private /etc/hosts and port 443)")
    d = tmp_path_factory.mktemp("tls")
    run = lambda *a: subprocess.run(a, cwd=d, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "1", "-subj", "/CN=probe CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
        "-subj", "/CN=play.googleapis.com")
    (d / "ext.cnf").write_text("subjectAltName=DNS:play.googleapis.com\n")
    run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "srv.pem", "-days", "1", "-extfile", "ext.cnf")
    (d / "hosts").write_text(f"127.0.0.1 localhost\n{ADDRESS[0]} play.googleapis.com\n")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "srv.pem", d / "srv.key")
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(ADDRESS)
    except OSError as e:
        pytest.skip(f"cannot listen on {ADDRESS}: {e}")
    server.listen(5)
    events: list[str] = []
    idle = threading.Event()
    idle.set()

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            idle.clear()
            events.append("connect")
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(10)
                    data = tls.recv(65536)
                    events.append(data.split(b"\r\n", 1)[0].decode("latin-1") if data else "closed")
            except (OSError, ssl.SSLError):
                events.append("handshake failed")
            idle.set()
    threading.Thread(target=serve, daemon=True).start()
    yield d / "ca.pem", d / "hosts", events, idle
    server.close()


def _detector_in_namespace(mode: str, ca: Path, hosts: Path, idle: threading.Event) -> None:
    script = f'mount --bind {hosts} /etc/hosts && exec "$0" -c "$1" {mode} {ca} {ROOT}'
    out = subprocess.run(["unshare", "-m", "sh", "-c", script, sys.executable, CHILD], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    idle.wait(30)  # the server has finished with the last connection


def test_mediapipe_uploads_usage_unless_the_app_stops_it(fake_logger):
    ca, hosts, events, idle = fake_logger
    _detector_in_namespace("trusting", ca, hosts, idle)
    assert "POST /log HTTP/1.1" in events, events      # the harness reaches the uploader: the check below means something
    events.clear()
    _detector_in_namespace("app", ca, hosts, idle)
    assert not any(e.startswith("POST") for e in events), events   # a connection and a failed handshake at most
    print("with disable_telemetry():", events)
    events.clear()
    _detector_in_namespace("isolated", ca, hosts, idle)   # the app's detector: its process has no network
    assert events == [], events
