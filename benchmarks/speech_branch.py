"""Audio branch latency per 3 s utterance on this machine: `python -m benchmarks.speech_branch --checkpoint
runs/audio_multi/best.pt [--data-root ../shared/data] [--threads 2] [--out reports/]` -> prints (and writes
reports/benchmark_speech_branch.json): median and p95 ms of the front end (Whisper encoder, prosody) and of
the whole branch (wave -> probabilities), as `EmotionRecognizer` runs it. Not a test.

The input is a real RAVDESS test clip cut or padded to exactly 3 s when --data-root is given, else 3 s of a
harmonic tone with a moving pitch.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.latency import timed


def utterance(data_root: str | None) -> tuple[np.ndarray, str]:
    if data_root:
        from agf_core.training.audio import read_wave
        from agf_core.training.speech_corpora import read_corpus
        clip = read_corpus(data_root, "ravdess", "test")[0]
        x = read_wave(clip.path)
        return np.pad(x, (0, max(0, 48000 - len(x))))[:48000], clip.path.name
    t = np.arange(48000) / 16000
    phase = 2 * np.pi * np.cumsum(120 + 30 * np.sin(2 * np.pi * 0.5 * t)) / 16000
    return (0.1 * sum(np.sin(k * phase) / k for k in range(1, 6))).astype(np.float32), "synthetic tone"


def main(argv: list[str] | None = None) -> dict:
    from agf_core.branches import AudioBranch
    from agf_core.checkpoint import WEIGHTS
    from agf_core.device import set_threads
    from agf_core.inputs.prosody import prosody_frames
    ap = argparse.ArgumentParser(prog="python -m benchmarks.speech_branch", description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(WEIGHTS / "audio.pt"), help="default: the shipped audio.pt")
    ap.add_argument("--data-root")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--out", help="folder for benchmark_speech_branch.json")
    args = ap.parse_args(argv)
    threads = set_threads(args.threads)
    branch = AudioBranch(args.checkpoint)
    x, source = utterance(args.data_root)
    result = {"checkpoint": args.checkpoint, "frontend": branch.frontend.config.frontend, "threads": threads,
              "input": f"3.0 s, {source}",
              "front_end": timed(lambda: branch.frontend(x), args.repeats),
              "prosody_only": timed(lambda: prosody_frames(x), args.repeats),
              "branch_total": timed(lambda: branch(x), args.repeats)}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "benchmark_speech_branch.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
