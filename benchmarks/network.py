"""Every network connection the app's processes attempt during a browser session, from the kernel's side.

    python -m benchmarks.network --out reports/ [--seconds 30]

Runs `python demo.py` under `strace -f -e trace=connect` (the server and every process it starts, the face
detector's included), drives a session in headless Chromium (webcam, microphone, typed text; the kit of
benchmarks/browser.py), stops the server, and sorts every connect() to an IP address: loopback, or outbound,
and for outbound whether the kernel let it leave (a connect that fails with ENETUNREACH in a process without
network sends no packet). Writes reports/network.json. Needs strace and the browser kit (chromium, ffmpeg,
espeak-ng, sox). Not a test: tests/test_telemetry.py checks the detector's part as behaviour.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

from benchmarks import save_report
from benchmarks.browser import ROOT, demo_server, launch, make_media, missing_tools, start_session, start_streams

# connect(5, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("1.2.3.4")}, 16) = -1 ENETUNREACH (...)
CONNECT = re.compile(r'connect\(\d+, \{sa_family=(AF_INET6?), sin6?_port=htons\((\d+)\), '
                     r'(?:sin_addr=inet_addr\("([^"]+)"\)|.*?inet_pton\(AF_INET6, "([^"]+)")')


def is_loopback(address: str) -> bool:
    return address.startswith("127.") or address in ("::1", "::ffff:127.0.0.1")


def connections(trace: str) -> list[dict]:
    out = []
    for line in trace.splitlines():
        m = CONNECT.search(line)
        if m is None:
            continue
        address = m.group(3) or m.group(4)
        result = line.rsplit("=", 1)[-1].strip()
        out.append({"address": address, "port": int(m.group(2)), "loopback": is_loopback(address),
                    "result": result.split()[1] if result.startswith("-1") else "ok",
                    "pid": line.split()[0]})
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.network", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports")
    ap.add_argument("--seconds", type=float, default=30.0, help="how long the webcam and microphone stream")
    ap.add_argument("--work", default="/tmp/agf_network_bench")
    args = ap.parse_args(argv)
    if missing_tools() or not shutil.which("strace"):
        raise SystemExit("needs strace, chromium, ffmpeg, espeak-ng and sox (apt-get install ...)")
    from playwright.sync_api import sync_playwright
    work = Path(args.work)
    y4m, wav, _ = make_media(work)
    trace = work / "strace.log"
    trace.unlink(missing_ok=True)
    prefix = ["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(trace)]
    with demo_server(prefix=prefix) as url, sync_playwright() as p:
        browser = launch(p, y4m, wav)
        page = browser.new_context(permissions=["camera", "microphone"]).new_page()
        start_session(page, url, "net")
        start_streams(page, webcam=True)
        box = page.get_by_placeholder("Say something and press Enter")
        box.fill("Checking what leaves this machine.")
        box.press("Enter")
        time.sleep(args.seconds)
        browser.close()
    seen = connections(trace.read_text())
    outbound = [c for c in seen if not c["loopback"]]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    report = {"commit": commit.strip(), "seconds_streamed": args.seconds,
              "connects_total": len(seen), "connects_loopback": len(seen) - len(outbound),
              "connects_outbound": len(outbound),
              "outbound_that_could_leave": [c for c in outbound if c["result"] != "ENETUNREACH"],
              "outbound_by_destination_and_result": {f"{a}:{p} {r}": n for (a, p, r), n in
                                                     Counter((c["address"], c["port"], c["result"])
                                                             for c in outbound).items()}}
    save_report(report, args.out, "network.json")
    return report


if __name__ == "__main__":
    main()
