"""What `agf-analyze` writes: per input `<name>.parquet`, `<name>.csv` and `<name>.provenance.json` (written
last, so its presence means the input is finished), then `combined.parquet`/`.csv` and `summary.json`.

`<name>` is the file's stem and the start of its content hash: two recordings both called `interview.mp4`
do not collide, and the same recording moved or renamed is known as done.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

PROVENANCE = ".provenance.json"
_TEXT = {"file", "input_sha256", "face", "voice", "text", "label", "words", "word_times", "transcript", "absent"}


def check_writable(folder: Path) -> None:
    """Create `folder` if needed and prove it can be written, before any work; ValueError naming it if not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".agf-write-test"):
            pass
    except OSError as e:
        raise ValueError(f"output folder {folder} is not writable ({e.strerror or e}); "
                         "accepted: a folder you can write to (--out)") from None


def output_name(path: Path, digest: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)[:80] or "input"
    return f"{stem}-{digest[:12]}"


def finished(folder: Path, name: str, digest: str, settings: dict) -> bool:
    """Whether `name` was completed before, from the same content and with the same settings."""
    sidecar = folder / (name + PROVENANCE)
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return False
    return (meta.get("input_sha256") == digest and meta.get("settings") == settings
            and (folder / f"{name}.parquet").exists() and (folder / f"{name}.csv").exists())


def schema(columns: list[str]):
    import pyarrow as pa
    return pa.schema([(c, pa.string() if c in _TEXT else pa.int64() if c == "face_crops" else pa.float64())
                      for c in columns])


def _atomic(target: Path, write) -> None:
    """`write(tmp_path)` then rename: a crash leaves no half file that looks finished."""
    tmp = target.with_name(f".{target.name}.part")
    write(tmp)
    os.replace(tmp, target)


def write_input(folder: Path, name: str, rows: list[dict], sidecar: dict) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    table = pa.Table.from_pylist(rows, schema=schema(list(rows[0])))
    _atomic(folder / f"{name}.parquet", lambda p: pq.write_table(table, p))
    _atomic(folder / f"{name}.csv", lambda p: pacsv.write_csv(table, p))
    _atomic(folder / (name + PROVENANCE), lambda p: p.write_text(json.dumps(sidecar, indent=2)))


def write_combined(folder: Path, names: list[str]) -> int:
    """Every finished input's table, one after the other, into combined.parquet and .csv (one input in memory
    at a time); returns the number of rows."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    tables = [folder / f"{n}.parquet" for n in names if (folder / f"{n}.parquet").exists()]
    if not tables:
        return 0
    first = pq.read_schema(tables[0])
    total = 0
    with (pq.ParquetWriter(folder / ".combined.parquet.part", first) as pw,
          pacsv.CSVWriter(folder / ".combined.csv.part", first) as cw):
        for path in tables:
            table = pq.read_table(path).cast(first)
            pw.write_table(table)
            cw.write_table(table)
            total += table.num_rows
    os.replace(folder / ".combined.parquet.part", folder / "combined.parquet")
    os.replace(folder / ".combined.csv.part", folder / "combined.csv")
    return total


def write_summary(folder: Path, summary: dict) -> Path:
    path = folder / "summary.json"
    _atomic(path, lambda p: p.write_text(json.dumps(summary, indent=2)))
    return path

