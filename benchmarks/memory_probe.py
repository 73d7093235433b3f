"""Runs `demo.py` with a thread that writes, every `--every` seconds, what the server process holds: RSS, the
C heap (glibc mallinfo2: in use against free-but-kept), Python objects by type, and optionally tracemalloc's
largest growths since the `--baseline-after`-th sample (tracing starts then, so loading the models is not
slowed, and only what is allocated after warm-up is traced). For benchmarks/browser_memory.py.

    python -m benchmarks.memory_probe --out probe.jsonl [--every 60] [--tracemalloc] -- <demo.py arguments>
"""
from __future__ import annotations

import argparse
import collections
import ctypes
import gc
import json
import runpy
import sys
import threading
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def proc_kb(pid: int | str = "self", key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def c_heap_mb() -> dict:
    """glibc's view: bytes handed out (in_use) and bytes free inside its arenas (free: fragmentation if it grows)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        m = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {"in_use_mb": round((m.uordblks + m.hblkhd) / 2**20, 1), "free_mb": round(m.fordblks / 2**20, 1),
            "arena_mb": round(m.arena / 2**20, 1), "mmapped_mb": round(m.hblkhd / 2**20, 1)}


def object_counts() -> collections.Counter:
    return collections.Counter(type(o).__name__ for o in gc.get_objects())


def probe(out: Path, every: float, trace: bool, baseline_after: int) -> None:
    first_counts, first_snap, n = None, None, 0
    while True:
        time.sleep(every)
        n += 1
        gc.collect()
        counts = object_counts()
        row = {"t": round(time.time(), 1), "sample": n, "rss_mb": round(proc_kb() / 1024, 1),
               "threads": threading.active_count(), "gc_objects": sum(counts.values()), "c_heap": c_heap_mb()}
        if n == baseline_after:   # tracing starts here: only what is allocated after warm-up is traced
            first_counts = counts
            if trace:
                tracemalloc.start(8)
                first_snap = tracemalloc.take_snapshot()
        if first_counts is not None and n > baseline_after:
            grew = counts.copy()
            grew.subtract(first_counts)
            row["objects_grown_since_baseline"] = dict(grew.most_common(15))
            if first_snap is not None:
                snap = tracemalloc.take_snapshot()
                row["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
                row["tracemalloc_top"] = [f"{s.size_diff / 1024:+.0f} KiB {s.count_diff:+d} {s.traceback.format()[-1]}"
                                          for s in snap.compare_to(first_snap, "lineno")[:12]]
                row["tracemalloc_top_traceback"] = [
                    [f"{s.size_diff / 1024:+.0f} KiB"] + s.traceback.format()[-8:]
                    for s in snap.compare_to(first_snap, "traceback")[:3]]
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")


def main() -> None:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    ap = argparse.ArgumentParser(prog="python -m benchmarks.memory_probe", description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--every", type=float, default=60.0)
    ap.add_argument("--tracemalloc", action="store_true", help="trace Python allocations (slower, more memory)")
    ap.add_argument("--baseline-after", type=int, default=3, help="the sample after which growth is counted")
    args = ap.parse_args(argv[:split])
    threading.Thread(target=probe, args=(Path(args.out), args.every, args.tracemalloc, args.baseline_after),
                     daemon=True, name="memory-probe").start()
    sys.argv = [str(ROOT / "demo.py"), *argv[split + 1:]]
    sys.path.insert(0, str(ROOT))
    runpy.run_path(str(ROOT / "demo.py"), run_name="__main__")


if __name__ == "__main__":
    main()
