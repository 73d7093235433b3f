"""Emotion over time in recorded video and audio, for a whole folder at once.

    agf-analyze interviews/ extra/*.mp4 --out results/            (or: python -m agf_core.analyze ...)
    agf-analyze interviews/ --out results/ --engine ray --workers 8 [--address HEAD:6379]

Per input: a row per --step seconds with the face's reading (the last 8 face frames, as live), the voice and
the words' reading of the utterance under it, the words that began in it with their times, and the fused
reading with the modality weights; written as <name>.parquet, <name>.csv and <name>.provenance.json. Then
combined.parquet/.csv (every finished input) and summary.json. An input finished before (same content, same
settings) is skipped; a bad one is named in the summary and the batch goes on.
Exit status: 0 all inputs analysed, 1 some could not be, 2 bad usage (nothing analysed).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from agf_core.predict import filter_stderr

from . import engines, media, output
from .speech import SpeechOptions
from .timeline import TimelineOptions
from .worker import AnalyzeOptions, Result

log = logging.getLogger("agf_core.analyze")


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, argparse.ArgumentParser]:
    prog = "agf-analyze" if Path(sys.argv[0]).name == "agf-analyze" else "python -m agf_core.analyze"
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", help="media files, folders (searched recursively) or glob patterns")
    ap.add_argument("--out", type=Path, default=Path("agf-analysis"), help="output folder (default: %(default)s)")
    ap.add_argument("--step", type=float, default=1.0, help="seconds per timeline row (default: %(default)s)")
    ap.add_argument("--face-fps", type=float, default=4.0, help="video frames read per second (default: %(default)s)")
    ap.add_argument("--engine", choices=engines.ENGINES, default="local",
                    help="local: this process (default); ray: Ray actors (pip install 'agf-live[batch]')")
    ap.add_argument("--workers", type=int, default=2, help="Ray actors, each with its own models (default: 2)")
    ap.add_argument("--address", help="an existing Ray cluster (HOST:PORT or ray://HOST:10001); default: a local Ray")
    ap.add_argument("--threads", type=int, help="CPU threads per worker (default: all cores; 1 per Ray actor)")
    ap.add_argument("--models", help="folder with text.pt, audio.pt, video.pt (default: shipped)")
    ap.add_argument("--asr-model", default="tiny.en", help="transcription model (default: %(default)s)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    ap.add_argument("--verbose", action="store_true", help="also show the libraries' own logs (LiteRT, MediaPipe)")
    return ap.parse_args(argv), ap


def options_from(args: argparse.Namespace) -> AnalyzeOptions:
    if args.workers < 1 or (args.threads is not None and args.threads < 1):
        raise ValueError(f"--workers {args.workers} / --threads {args.threads} not accepted; accepted: 1 or more")
    if args.address and args.engine != "ray":
        raise ValueError("--address is for --engine ray; add --engine ray or leave out --address")
    return AnalyzeOptions(TimelineOptions(step_s=args.step, face_fps=args.face_fps), SpeechOptions(),
                          args.models, args.asr_model, threads=args.threads)


def check_extras() -> None:
    import importlib.util
    missing = [m for m in ("pyarrow", "tqdm") if importlib.util.find_spec(m) is None]
    if missing:
        raise ValueError(f"agf-analyze needs {' and '.join(missing)}: pip install 'agf-live[analyze]'")


def summarise(out: Path, results: list[Result], problems: list[str]) -> dict:
    """summary.json, the combined table, and one log line per input that was not analysed cleanly."""
    kept = [r.name for r in results if r.status in ("done", "skipped")]
    rows = output.write_combined(out, kept)
    summary = {"done": sum(r.status == "done" for r in results), "skipped": sum(r.status == "skipped" for r in results),
               "failed": [{"input": r.path, "error": r.error} for r in results if r.status == "failed"],
               "notes": {r.path: r.notes for r in results if r.notes}, "not_inputs": problems,
               "combined_rows": rows, "inputs": [vars(r) for r in results]}
    path = output.write_summary(out, summary)
    for p in problems:
        log.warning("skipped %s", p)
    for r in results:
        if r.status == "failed":
            log.warning("failed %s", r.error)
        for note in r.notes:
            log.info("note %s: %s", r.path, note)
    log.info("%d analysed, %d already done (skipped), %d failed; combined table %s: %d rows; summary: %s",
             summary["done"], summary["skipped"], len(summary["failed"]), out / "combined.parquet", rows, path)
    return summary


def main(argv: list[str] | None = None) -> int:
    args, ap = parse(argv)
    if not args.verbose:
        filter_stderr()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        options = options_from(args)
        check_extras()
        media.check_ffmpeg()
        output.check_writable(args.out)
        paths, problems = media.find_inputs(args.inputs)
        if not paths:
            raise ValueError("no media to analyse: " + "; ".join(problems))
    except (ValueError, RuntimeError) as e:
        ap.exit(2, f"error: {e}\n")
    from tqdm import tqdm
    results: list[Result] = []
    with tqdm(total=len(paths), unit="file", desc="inputs", position=0, disable=args.no_progress) as overall:
        def on_result(r: Result) -> None:
            results.append(r)
            if r.status == "failed":
                overall.write(f"failed {r.error}")
            overall.update(1)
        try:
            if args.engine == "ray":
                engines.run_ray(paths, args.out, options, on_result, args.workers, args.address,
                                not args.no_progress)
            else:
                engines.run_local(paths, args.out, options, on_result, bars=not args.no_progress)
        except ValueError as e:     # a Ray address that does not answer, Ray not installed
            ap.exit(2, f"error: {e}\n")
    summary = summarise(args.out, results, problems)
    return 1 if summary["failed"] or problems else 0
