"""The proxy's TLS certificate: the researcher's own (checked before nginx starts, so a missing file is named
rather than left to nginx's log), or a self-signed one made with openssl for a LAN pilot (browsers warn once;
a webcam needs a secure context, which plain HTTP off localhost is not)."""
from __future__ import annotations

import ipaddress
import logging
import shutil
import socket
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)


def check_certificate(cert: str | Path, key: str | Path) -> tuple[Path, Path]:
    """Both files as absolute paths, or FileNotFoundError naming each one that is missing or unreadable."""
    bad = []
    for what, path in (("--cert", Path(cert)), ("--key", Path(key))):
        try:
            with path.open("rb") as f:
                if b"-----BEGIN" not in f.read(65536):
                    bad.append(f"{what} {str(path)!r} is not a PEM file")
        except OSError as e:
            bad.append(f"{what} {str(path)!r}: {e.strerror.lower() if e.strerror else e}")
    if bad:
        raise FileNotFoundError("certificate files: " + "; ".join(bad) +
                                " (give a PEM certificate and its key, or --self-signed for a LAN pilot)")
    return Path(cert).resolve(), Path(key).resolve()


def lan_names() -> list[str]:
    """The names a LAN participant may type: localhost, this machine's host name and its addresses."""
    names = ["localhost", "127.0.0.1", socket.gethostname()]
    try:
        names += [a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:   # the outgoing LAN address (no packet is sent)
        try:
            s.connect(("192.0.2.1", 9))
            names.append(s.getsockname()[0])
        except OSError:
            pass
    return list(dict.fromkeys(names))


def self_signed(folder: Path, names: list[str] | None = None, days: int = 365) -> tuple[Path, Path]:
    """A self-signed certificate for `names` (default: `lan_names()`), made once in `folder` and reused (a
    participant who accepted it once is not asked again)."""
    cert, key = folder / "selfsigned.crt", folder / "selfsigned.key"
    if cert.exists() and key.exists():
        return cert.resolve(), key.resolve()
    if shutil.which("openssl") is None:
        raise FileNotFoundError("openssl is not installed (apt-get install openssl); or give --cert and --key")
    names = names or lan_names()
    alt = ",".join(f"IP:{n}" if _is_ip(n) else f"DNS:{n}" for n in names)
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", str(days),
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=AGF live pilot",
                    "-addext", f"subjectAltName={alt}"], check=True, capture_output=True)
    key.chmod(0o600)
    log.info("self-signed certificate for %s in %s (browsers warn once: accept it to take part)", alt, cert)
    return cert.resolve(), key.resolve()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False
