"""Benchmarks: scripts that measure and save their figures (never tests)."""
import json
from pathlib import Path


def save_report(report: dict, out: str | Path, name: str) -> Path:
    """Write `report` as `out/name` (JSON, folders made as needed) and print it."""
    path = Path(out) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return path
