"""Server memory over one long live session as a participant lives it, with the real models: headless Chromium
with a fake camera (a face photo) and a fake microphone (espeak-ng sentences with pauses, looping: an utterance
every ~4 s) against `python demo.py` (run under benchmarks/memory_probe.py), a typed message every 2 minutes.
Samples the server's RSS (and its face-detector child's) every minute and fits the slope after warm-up.

    nice -n 10 python -m benchmarks.browser_memory --minutes 30 [--tracemalloc] [--out reports/]

Writes reports/benchmark_browser_memory.json: RSS per minute, the slope in MB/h after `--warmup` minutes, and
the probe's view from inside the server (C heap in use / free, Python objects grown by type, tracemalloc top
growths when asked). benchmarks/session_memory.py is the same question with fake models and no server.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.browser import demo_server, launch, make_media, missing_tools, start_session, start_streams
from benchmarks.memory_probe import proc_kb

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("benchmarks.browser_memory")


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def slope_mb_per_h(samples: list[dict], key: str, warmup_min: float) -> float | None:
    xs = [(s["minute"], s[key]) for s in samples if s["minute"] >= warmup_min and s.get(key) is not None]
    if len(xs) < 3:
        return None
    m, y = np.array(xs, dtype=float).T
    return round(float(np.polyfit(m, y, 1)[0]) * 60, 1)


def server_pid() -> int:
    """This process's child running benchmarks/memory_probe.py (the server)."""
    for pid in children(os.getpid()):
        if b"benchmarks.memory_probe" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    raise RuntimeError("the server process was not found among this process's children")


def measure(minutes: float, work: Path, trace: bool) -> dict:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
    work.mkdir(parents=True, exist_ok=True)
    probe_out = work / "probe.jsonl"
    probe_out.unlink(missing_ok=True)
    y4m, wav, _ = make_media(work)
    runner = ("-m", "benchmarks.memory_probe", "--out", str(probe_out), "--every", "60",
              *(["--tracemalloc"] if trace else []), "--")
    samples: list[dict] = []
    # the models load slowly on a busy machine
    with demo_server("--store", f"sqlite:///{work}/study.db", runner=runner, timeout_s=900,
                     log_path=work / "server.log") as url, sync_playwright() as p:
        pid = server_pid()
        browser = launch(p, y4m, wav)
        page = browser.new_context(permissions=["camera", "microphone"],
                                   viewport={"width": 1400, "height": 1800}).new_page()
        start_session(page, url, "memory")
        start_streams(page, webcam=True)
        t0 = time.time()
        samples.append(sample(pid, page, 0))
        for minute in range(1, int(minutes) + 1):
            if minute % 2 == 0:
                try:
                    box = page.get_by_placeholder("Say something and press Enter")
                    box.fill(f"Typed message number {minute}, I feel quite good today.", timeout=10_000)
                    box.press("Enter", timeout=10_000)
                except PlaywrightError as e:    # a busy page: the sample still counts, the message is skipped
                    log.warning("minute %d: no typed message (%s)", minute, str(e).splitlines()[0])
            time.sleep(max(0.0, t0 + minute * 60 - time.time()))
            samples.append(sample(pid, page, minute))
            log.info("minute %d: server RSS %.1f MB, child %.1f MB, %d turns", minute, samples[-1]["rss_mb"],
                     samples[-1]["children_rss_mb"], samples[-1]["turns_on_page"])
        samples[-1]["microphone"] = page.evaluate("({captured: window.agfMic.captured, sent: window.agfMic.sent})")
        browser.close()
    probe = [json.loads(line) for line in probe_out.read_text().splitlines()] if probe_out.exists() else []
    return {"samples": samples, "probe": probe}


def sample(pid: int, page, minute: int) -> dict:
    turns = page.evaluate("document.querySelectorAll('#chat [data-testid=user]').length")
    kids = children(pid)
    return {"minute": minute, "t": round(time.time(), 1), "rss_mb": round(proc_kb(pid) / 1024, 1),
            "children_rss_mb": round(sum(proc_kb(k) for k in kids) / 1024, 1), "turns_on_page": turns}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.browser_memory", description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0, help="minutes left out of the slope (models, caches)")
    ap.add_argument("--tracemalloc", action="store_true", help="trace the server's Python allocations")
    ap.add_argument("--out", default="reports")
    ap.add_argument("--name", default="benchmark_browser_memory.json")
    ap.add_argument("--work", default="", help="scratch folder (default: a new temporary one)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if missing_tools():
        raise SystemExit(f"needs {', '.join(missing_tools())} (apt-get install chromium ffmpeg espeak-ng sox)")
    work = Path(args.work or tempfile.mkdtemp(prefix="agf_browser_memory_"))
    result = measure(args.minutes, work, args.tracemalloc)
    s = result["samples"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    report = {"commit": commit.strip(), "machine": {"cpu_count": os.cpu_count(), "load_avg_1m_at_end": os.getloadavg()[0]},
              "minutes": args.minutes, "warmup_minutes": args.warmup, "tracemalloc": args.tracemalloc,
              "rss_slope_after_warmup_mb_per_h": slope_mb_per_h(s, "rss_mb", args.warmup),
              "children_rss_slope_after_warmup_mb_per_h": slope_mb_per_h(s, "children_rss_mb", args.warmup),
              "rss_at_warmup_mb": next((x["rss_mb"] for x in s if x["minute"] >= args.warmup), None),
              "rss_final_mb": s[-1]["rss_mb"], "turns_on_page": s[-1]["turns_on_page"], **result}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / args.name).write_text(json.dumps(report, indent=1))
    log.info("RSS slope after minute %g: %s MB/h (final %.1f MB, %d turns) -> %s", args.warmup,
             report["rss_slope_after_warmup_mb_per_h"], report["rss_final_mb"], report["turns_on_page"],
             out / args.name)
    return report


if __name__ == "__main__":
    main()
