"""CPU ms per text prediction of the distillation teacher and students (issue 24.5):
`python -m benchmarks.distill_latency --data-root ../shared/data` -> reports/benchmark_distill.json.

One MELD test utterance with its two previous turns at a time (batch 1, as the live app reads a line), through
each encoder (all-mpnet-base-v2, the stock MiniLM-L6, the shipped MELD fine-tuned MiniLM-L6) and a head of
the report's shape; median and p95 over --rows utterances after a warm-up. The head costs microseconds; the
distillation report (agf_core/training/distill.py) adds up its models' encoders from this file. Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> dict:
    from agf_core.models.head import ClassifierHead, HeadConfig
    from agf_core.training.data import read_meld
    from agf_core.training.distill import ENCODERS, text_encoder
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmark_distill.json")
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = read_meld(args.data_root, "test", 2)[:args.rows]
    report = {"_meta": {"threads": args.threads, "rows": len(rows), "load_average": round(os.getloadavg()[0], 2),
                        "command": "python -m benchmarks.distill_latency --data-root ../shared/data"}}
    for name in ENCODERS:
        enc = text_encoder(name)
        head = ClassifierHead(HeadConfig(input_dim=enc.dim)).eval()
        with torch.no_grad():
            for r in rows[:5]:   # warm-up
                head(enc([r.text], [r.context]))
            ms = []
            for r in rows:
                t0 = time.perf_counter()
                head(enc([r.text], [r.context]))
                ms.append((time.perf_counter() - t0) * 1000)
        report[name] = {"median_ms": round(float(np.median(ms)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
                        "runs": len(ms)}
        print(name, report[name], flush=True)
    args.out.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
