"""Memory of one live session over 30 simulated minutes, fed at the real rate's counts: 10 webcam frames and
4 microphone chunks (0.25 s, 48 kHz) per simulated second, a spoken sentence every 10 s, a typed message every
minute, through LivePipeline with the study store attached (SQLite file). The branches are fakes returning
fixed outputs (the shipped fusion combines them), so the run takes minutes, not half an hour; the session
clock is simulated. Prints and saves the process RSS every simulated minute.

    python -m benchmarks.session_memory --minutes 30 --out reports/benchmark_session_memory.json
    python -m benchmarks.session_memory --no-store     # the rows stay in memory: what the sink avoids
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
log = logging.getLogger("benchmarks.session_memory")
FPS, CHUNKS_PER_S, CHUNK = 10, 4, 12000


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class FakeBranches:
    """The real recognizer's fusion over fixed branch outputs (computed once from real inputs)."""

    def __init__(self, recognizer, face_photo: np.ndarray, speech16k: np.ndarray):
        self.r = recognizer
        self.crop = recognizer.face(face_photo)
        self.video_out = recognizer.video_from_crops([self.crop.crop] * 8)
        self.features = recognizer.face_features(self.crop.crop)
        self.audio_out = recognizer.audio((16000, speech16k))
        self.text_out = recognizer.text("I passed my exam today")

    def face(self, frame):
        return self.crop

    def video_from_crops(self, crops):
        return self.video_out

    def face_features(self, crop):
        return self.features

    def video_from_features(self, features):
        return self.video_out

    def audio(self, audio):
        return self.audio_out

    def text(self, text, context=None):
        return self.text_out

    def __getattr__(self, name):  # combine, correct, fusion ...
        return getattr(self.r, name)


def speech_16k() -> np.ndarray:
    """A spoken sentence (espeak-ng) or, without it, a 2 s voiced tone."""
    try:
        import soundfile as sf
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["espeak-ng", "-w", f"{d}/s.wav", "I passed my exam today, I am so happy."],
                           check=True, capture_output=True)
            x, sr = sf.read(f"{d}/s.wav", dtype="float32")
        from agf_core.inputs.audio import resample
        return resample(x, sr, 16000)
    except (OSError, subprocess.CalledProcessError):
        t = np.arange(32000) / 16000
        return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def run(minutes: float, store_url: str | None) -> dict:
    import cv2
    from agf_core.inputs.audio import resample
    from agf_core.recognizer import default_recognizer
    from streaming.live.pipeline import LivePipeline
    from streaming.dialogue.reply import TemplateReply
    from streaming.study.store import StudyStore
    from streaming.study.study import Study

    photo = cv2.cvtColor(cv2.imread(str(Path(__file__).parent.parent / "tests/assets/grace_hopper.jpg")),
                         cv2.COLOR_BGR2RGB)
    speech = speech_16k()
    rec = FakeBranches(default_recognizer(), cv2.resize(photo, (640, 480)), speech)
    pipe = LivePipeline(rec, lambda audio: "I passed my exam today", TemplateReply())
    state = pipe.new_state()
    clock = {"t": 0.0}
    state.session.now = lambda: round(clock["t"], 3)   # simulated session time
    study = None
    if store_url:
        study = Study(StudyStore(store_url))
        study.begin(state, "BENCH", "", keep_raw=False)
    frame = cv2.resize(photo, (640, 480))
    # 10 s of microphone: the sentence, then silence, at 48 kHz int16
    cycle = np.zeros(480000, np.int16)
    s48 = (resample(speech, 16000, 48000) * 32767).astype(np.int16)
    cycle[48000:48000 + len(s48)] = s48[:480000 - 48000]
    samples, t0 = [], time.time()
    for second in range(int(minutes * 60)):
        for k in range(CHUNKS_PER_S):
            clock["t"] = second + k / CHUNKS_PER_S
            off = ((second % 10) * CHUNKS_PER_S + k) * CHUNK
            pipe.on_audio(state, (48000, cycle[off:off + CHUNK]))
        for k in range(FPS):
            clock["t"] = second + k / FPS
            pipe.on_frame(state, frame)
            pipe.step(state)
        if second % 60 == 30:
            pipe.on_text(state, f"typed message at {second} s")
        if second % 60 == 59:
            if study is not None:
                study.store.flush()
            gc.collect()
            samples.append({"minute": (second + 1) // 60, "rss_mb": round(rss_mb(), 1),
                            "timeline_in_memory": len(state.session.timeline),
                            "transcript_in_memory": len(state.session.transcript),
                            "updates": state.session.counts["timeline"], "turns": state.session.counts["turns"]})
            log.info("minute %d: RSS %.1f MB, %d timeline rows in memory (%d written)", samples[-1]["minute"],
                     samples[-1]["rss_mb"], samples[-1]["timeline_in_memory"], samples[-1]["updates"])
    stored = len(study.store.rows("timeline", state.session.session_id)) if study else None
    base = samples[min(1, len(samples) - 1)]["rss_mb"]   # after the first minute: models and caches warm
    return {"minutes": minutes, "store": store_url or "none (rows kept in memory)", "fps": FPS,
            "chunks_per_s": CHUNKS_PER_S, "frames": int(minutes * 60 * FPS),
            "chunks": int(minutes * 60 * CHUNKS_PER_S), "timeline_rows_written": samples[-1]["updates"],
            "timeline_rows_in_store": stored, "turns": samples[-1]["turns"],
            "rss_after_minute_1_mb": base, "rss_final_mb": samples[-1]["rss_mb"],
            "rss_growth_mb": round(samples[-1]["rss_mb"] - base, 1), "wall_s": round(time.time() - t0, 1),
            "per_minute": samples, "machine": platform.platform()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--no-store", action="store_true", help="no study store: every row stays in memory")
    ap.add_argument("--out", default="reports/benchmark_session_memory.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as d:
        result = run(args.minutes, None if args.no_store else f"sqlite:///{d}/bench.db")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    log.info("RSS growth over %g simulated minutes: %.1f MB (%d updates, %d turns) -> %s", args.minutes,
             result["rss_growth_mb"], result["timeline_rows_written"], result["turns"], args.out)


if __name__ == "__main__":
    main()
