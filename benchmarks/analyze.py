"""agf-analyze throughput and memory: the same generated videos (the face photo speaking espeak-ng sentences with
pauses) through the plain engine and through a local Ray with 1 and 2 workers. Per run: wall time (Ray start and
model loading included), inputs per minute, media seconds analysed per wall second, the mean analysis time of
one input (from the sidecars, loading excluded), and each worker's peak memory (VmHWM of its process plus the
face detector's child process, read every 0.5 s from /proc).

    nice -n 5 python -m benchmarks.analyze --out reports/ --videos 6 --seconds 20
    nice -n 5 python -m benchmarks.analyze --out reports/ --videos 0 --runs --long-minutes 1 30 \
        --niceness-probe --name benchmark_analyze_long.json

Writes reports/benchmark_analyze.json (--name). With --long-minutes: one long video of each length (a sentence
every 30 s) through the plain engine, for peak memory by length; with --niceness-probe: a matmul loop in the
driver and in a local Ray worker at Ray's default worker niceness and at 0. Not a test: nothing here asserts on
time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import save_report

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ["I am so happy to see you again today.", "This is terrible, I hate waiting in the rain.",
             "What a surprise, I did not expect you here.", "I am not sure this is going to work."]


def make_video(folder: Path, i: int, seconds: float) -> Path:
    """The face photo for `seconds`, saying sentences with a 1.5 s pause after each."""
    parts = []
    for k in range(64):
        wav = folder / f"s{i}_{k}.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), SENTENCES[(i + k) % len(SENTENCES)]], check=True)
        parts += ["-i", str(wav)]
        if (k + 1) * 4.0 >= seconds:
            break
    n = len(parts) // 2
    pads = "".join(f"[{j + 1}:a]apad=pad_dur=1.5[a{j}];" for j in range(n))
    concat = "".join(f"[a{j}]" for j in range(n)) + f"concat=n={n}:v=0:a=1,atrim=0:{seconds}[a]"
    out = folder / f"video{i}.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-t", str(seconds), "-i",
                    str(ROOT / "tests/assets/grace_hopper.jpg"), *parts, "-filter_complex", pads + concat,
                    "-map", "0:v", "-map", "[a]", "-vf", "scale=640:-2", "-r", "25", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-t", str(seconds), str(out)], check=True)
    return out


def long_video(folder: Path, minutes: float) -> Path:
    """`minutes` of the face photo at 4 fps with a sentence every 30 s: memory must not grow with the length."""
    wav, padded = folder / "sentence.wav", folder / "sentence30.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), SENTENCES[0]], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-af", "apad=whole_dur=30", str(padded)], check=True)
    out = folder / f"long{minutes:g}.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-framerate", "4", "-i",
                    str(ROOT / "tests/assets/grace_hopper.jpg"), "-stream_loop", "-1", "-i", str(padded),
                    "-map", "0:v", "-map", "1:a", "-vf", "scale=320:-2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-t", str(minutes * 60), str(out)], check=True)
    return out


def _matmul_s() -> float:
    import torch
    x = torch.randn(800, 800)
    t = time.perf_counter()
    for _ in range(20):
        x @ x
    return time.perf_counter() - t


def niceness_probe() -> dict:
    """The same matmul loop in this process and in a local Ray worker at Ray's default niceness and at 0 (Ray reads
    RAY_worker_niceness when it starts, so each setting gets its own Ray in a child process)."""
    code = ("import os, ray; ray.init(num_cpus=1, include_dashboard=False, logging_level=40); "
            "from benchmarks.analyze import _matmul_s; "
            "print(ray.get(ray.remote(_matmul_s).remote()), ray.get(ray.remote(lambda: os.nice(0)).remote()))")
    out = {"driver_s": round(_matmul_s(), 2), "driver_nice": os.nice(0)}
    for setting in ("default", "0"):
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT)}
        if setting == "0":
            env["RAY_worker_niceness"] = "0"
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
        seconds, nice = done.stdout.split()[-2:]
        out[f"ray_worker_niceness_{setting}"] = {"seconds": round(float(seconds), 2), "nice": int(nice)}
    return out


def _status(pid: int) -> dict[str, str]:
    try:
        return dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    except OSError:
        return {}


def _peak_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM, kept by the kernel: no peak falls between samples)."""
    return int(_status(pid).get("VmHWM", "0 kB").split()[0]) / 1024


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def workers(cli_pid: int, engine: str) -> list[int]:
    """The processes that hold models: the CLI process itself, or Ray's analyzer actors (run no other Ray meanwhile)."""
    if engine != "ray":
        return [cli_pid]
    return [int(p.name) for p in Path("/proc").glob("[0-9]*") if _name(int(p.name)).startswith("ray::QuietAnalyzer")]


def worker_mb(pid: int) -> float:
    """A worker's peak and its children's: the face detector's process, not ffmpeg, and not a child caught between
    fork and exec (still a copy of the worker, whose shared pages would be counted twice)."""
    me = _name(pid)
    return _peak_mb(pid) + sum(_peak_mb(c) for c in _children(pid) if _name(c) not in ("", me)
                               and not _name(c).startswith(("ffmpeg", "ffprobe")))


def run(videos: list[Path], out: Path, engine: str, n_workers: int) -> dict:
    args = [sys.executable, "-m", "agf_core.analyze", "--no-progress", *map(str, videos), "--out", str(out),
            "--engine", engine]
    args += ["--workers", str(n_workers), "--threads", "1"] if engine == "ray" else ["--threads", "2"]
    peaks: dict[int, float] = {}
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"})
    stop = threading.Event()

    def sample():
        while not stop.wait(0.5):
            for pid in workers(proc.pid, engine):
                peaks[pid] = max(peaks.get(pid, 0.0), worker_mb(pid))
    threading.Thread(target=sample, daemon=True).start()
    err = proc.communicate()[1]
    wall = time.perf_counter() - started
    stop.set()
    summary = json.loads((out / "summary.json").read_text())
    analysed = [json.loads(p.read_text()) for p in out.glob("*.provenance.json")]
    media_s = sum(a["duration_s"] for a in analysed)
    per_input = sum(a["seconds_to_analyse"] for a in analysed) / max(1, len(analysed))
    return {"engine": engine, "workers": n_workers, "inputs": len(videos), "done": summary["done"],
            "failed": len(summary["failed"]), "exit_code": proc.returncode, "wall_s": round(wall, 1),
            "inputs_per_min": round(60 * summary["done"] / wall, 2), "media_s_per_wall_s": round(media_s / wall, 3),
            "analysis_s_per_input": round(per_input, 1), "media_s_per_input": round(media_s / max(1, len(analysed)), 1),
            # the n largest: a process Ray renames while it is being set up can be caught once with a smaller size
            "worker_peak_mb": sorted((round(v) for v in peaks.values()), reverse=True)[:n_workers],
            "other_sampled_mb": sorted((round(v) for v in peaks.values()), reverse=True)[n_workers:],
            "stderr_tail": err[-300:]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "reports")
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each generated video")
    ap.add_argument("--name", default="benchmark_analyze.json", help="report file name in --out")
    ap.add_argument("--runs", nargs="*", default=["local:1", "ray:1", "ray:2"], help="engine:workers")
    ap.add_argument("--niceness-probe", action="store_true", help="also a matmul loop in Ray workers by niceness")
    ap.add_argument("--long-minutes", nargs="*", type=float, default=[],
                    help="also one long video of each length through the plain engine (peak memory by length)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        videos = [make_video(tmp, i, args.seconds) for i in range(args.videos)]
        results = []
        for spec in args.runs:
            engine, n = spec.split(":")
            results.append(run(videos, tmp / f"out-{engine}-{n}", engine, int(n)))
            print(json.dumps(results[-1]), flush=True)
            shutil.rmtree(tmp / f"out-{engine}-{n}")
        for minutes in args.long_minutes:
            results.append({"long_minutes": minutes, **run([long_video(tmp, minutes)], tmp / f"long{minutes:g}",
                                                           "local", 1)})
            print(json.dumps(results[-1]), flush=True)
        if args.niceness_probe:
            results.append({"niceness_probe": niceness_probe()})
    report = {"command": "nice -n 5 python -m benchmarks.analyze " + " ".join(argv or sys.argv[1:]),
              "machine": f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), shared with other "
                         "jobs (load during the run in 'load_after')",
              "videos": args.videos, "seconds_each": args.seconds, "runs": results,
              "load_after": os.getloadavg()}
    save_report(report, args.out, args.name)
    return report


if __name__ == "__main__":
    main()
