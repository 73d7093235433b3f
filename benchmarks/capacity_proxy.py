"""Capacity through the proxy: K participants over HTTP (benchmarks/http_participant.py: webcam frames every
0.33 s through Gradio's stream, microphone posts every 0.1 s with a spoken sentence every 6 s, the conversation
long-polled), against (a) one demo.py replica on plain HTTP, no proxy, and (b) the pilot of deploy/: two
replicas behind nginx over HTTPS on one PostgreSQL store. Measured per K: end of speech -> the reply reaching
the client (median, p95), requests that were not 2xx.

    nice -n 5 python -m benchmarks.capacity_proxy --participants 1 2 4 6 --seconds 30

Writes reports/benchmark_capacity_proxy.json. Not a test. The participants run in this process, on the same
cores as the servers (as do the browsers of benchmarks/browser.py).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks import save_report
from benchmarks.browser import demo_server, free_port
from benchmarks.http_participant import Participant
from benchmarks.latency import speech_48k

ROOT = Path(__file__).resolve().parent.parent


def media() -> tuple[bytes, np.ndarray, int]:
    import cv2
    photo = cv2.resize(cv2.imread(str(ROOT / "tests/assets/grace_hopper.jpg")), (640, 480))
    jpeg = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
    sentence = speech_48k("I finally finished the project and I feel great about it.")
    loud = np.flatnonzero(np.abs(sentence) > 650)
    sentence = sentence[loud[0]:loud[-1] + 1]                        # speech only: its end is the end of speech
    cycle = np.concatenate([sentence, np.zeros(int(48000 * 6.0) - len(sentence), np.int16)])
    return jpeg, cycle, len(sentence)


def one_participant(url: str, n: int, jpeg: bytes, cycle: np.ndarray, speech_len: int, seconds: float,
                    out: list) -> None:
    p = Participant(url)
    try:
        p.start(f"load{n}")
        frames = threading.Thread(target=p.stream_frames, args=(jpeg, seconds), daemon=True)
        frames.start()
        ends = p.speak(cycle, speech_len, seconds)
        time.sleep(4.0)                                              # the last sentence's reply
        frames.join()
        for end in ends:
            after = [t for t in p.turn_times if t >= end]
            out.append(min(after) - end if after else None)
        p.end()
    except Exception as e:  # noqa: BLE001  a participant that failed is counted, the run goes on
        out.append(f"{type(e).__name__}: {e}")
    finally:
        out.append(dict(p.statuses))
        p.close()


def run(url: str, k: int, seconds: float, kit) -> dict:
    results: list = []
    threads = [threading.Thread(target=one_participant, args=(url, i, *kit, seconds, results)) for i in range(k)]
    for t in threads:
        t.start()
        time.sleep(1.3)                                              # participants do not start in lockstep
    for t in threads:
        t.join()
    lat = [r for r in results if isinstance(r, float)]
    statuses: dict[str, int] = {}
    for r in results:
        if isinstance(r, dict):
            for code, n in r.items():
                statuses[str(code)] = statuses.get(str(code), 0) + n
    return {"participants": k, "utterances": len(lat) + sum(r is None for r in results),
            "no_reply": sum(r is None for r in results),
            "end_of_speech_to_reply_median_s": round(float(np.median(lat)), 3) if lat else None,
            "end_of_speech_to_reply_p95_s": round(float(np.percentile(lat, 95)), 3) if lat else None,
            "requests_by_status": statuses, "failed": [r for r in results if isinstance(r, str)]}


def pilot(replicas: int):
    """deploy.pilot started in a temp run folder: (process, folder, URL)."""
    run_dir = Path(tempfile.mkdtemp(prefix="agf-capacity-"))
    run_dir.chmod(0o755)                                             # PostgreSQL runs as its own user
    port, first = free_port(), 24000 + os.getpid() % 2000
    log = open(run_dir / "pilot.out", "w")
    proc = subprocess.Popen([sys.executable, "-m", "deploy.pilot", "--replicas", str(replicas), "--self-signed",
                             "--run", str(run_dir), "--listen", f"127.0.0.1:{port}", "--first-port", str(first),
                             "--", "--study", "capacity"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    while not (run_dir / "pilot.json").exists():
        if proc.poll() is not None:
            raise RuntimeError(f"the pilot did not start: {(run_dir / 'pilot.out').read_text()[-2000:]}")
        time.sleep(1)
    return proc, run_dir, json.loads((run_dir / "pilot.json").read_text())["url"].rstrip("/")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.capacity_proxy", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports")
    ap.add_argument("--participants", type=int, nargs="+", default=[1, 2, 4, 6])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--replicas", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    kit = media()
    report = {"command": "python -m benchmarks.capacity_proxy " + " ".join(argv or sys.argv[1:]),
              "machine": {"cpu_count": os.cpu_count()}, "seconds_per_run": args.seconds}
    with tempfile.TemporaryDirectory() as tmp, demo_server("--store", f"sqlite:///{tmp}/direct.db") as url:
        report["one_replica_direct_http"] = [run(url, k, args.seconds, kit) for k in args.participants]
    report["load_avg_1m_after_direct"] = os.getloadavg()[0]
    proc, run_dir, url = pilot(args.replicas)
    try:
        report[f"{args.replicas}_replicas_nginx_https_postgresql"] = [run(url, k, args.seconds, kit)
                                                                      for k in args.participants]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
        shutil.rmtree(run_dir, ignore_errors=True)
    report["load_avg_1m_at_end"] = os.getloadavg()[0]
    report["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                      text=True).stdout.strip()
    save_report(report, args.out, "benchmark_capacity_proxy.json")
    return report


if __name__ == "__main__":
    main()
