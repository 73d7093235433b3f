"""Latency and memory of the agf_core branches on this machine: `python -m benchmarks.library --out reports/`.

Measures (median and p95 over --repeats runs, after a warm-up): text per utterance (with context),
face detection per 640x480 frame, face crop -> embedding, 8-frame window -> video probabilities,
audio per 3 s utterance (front end + network), and process RSS with every model loaded.
Writes reports/benchmark_library.json. Not a test: nothing here asserts on time.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

from benchmarks import save_report

ROOT = Path(__file__).resolve().parent.parent


def timed(fn, repeats: int) -> dict:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": round(float(np.median(times)), 2), "p95_ms": round(float(np.percentile(times, 95)), 2),
            "runs": repeats}


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.library", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import cv2
    import torch

    from agf_core.recognizer import EmotionRecognizer

    torch.set_num_threads(args.threads)
    rss0 = rss_mb()
    rec = EmotionRecognizer.from_pretrained()
    photo = cv2.cvtColor(cv2.imread(str(ROOT / "tests/assets/grace_hopper.jpg")), cv2.COLOR_BGR2RGB)
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 64:576] = cv2.resize(photo, (512, 480))                   # a webcam-sized frame with a face
    crop = rec.face(frame).crop
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    speech_like = (0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t)) +
                   0.02 * rng.normal(size=t.size)).astype(np.float32)   # 3 s, 16 kHz
    results = {
        "text_per_utterance": timed(lambda: rec.text("I can't believe you did that for me!", ["Hi.", "Look!"]),
                                    args.repeats),
        "face_detect_and_crop_per_frame_640x480": timed(lambda: rec.face(frame), args.repeats),
        "face_crop_to_embedding": timed(lambda: rec.video_from_crops([crop]), args.repeats),
        "video_window_8_frames_end_to_end": timed(lambda: rec.video([frame] * 8), max(5, args.repeats // 3)),
        "audio_per_3s_utterance": timed(lambda: rec.audio((16000, speech_like)), max(5, args.repeats // 3)),
    }
    outs = {"text": rec.text("I can't believe you did that for me!"), "audio": rec.audio((16000, speech_like)),
            "video": rec.video_from_crops([crop])}
    meta = {"age": "unknown", "gender": "unknown", "timbre": "unknown"}
    results[f"fusion_3_modalities ({rec.fusion})"] = timed(lambda: rec.combine(outs, meta), args.repeats)
    rec.predict(text="hello there", audio=(16000, speech_like), frames=[frame])
    report = {"machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "platform": platform.platform()},
              "latency": results,
              "memory": {"rss_before_models_mb": round(rss0, 1), "rss_all_models_loaded_mb": round(rss_mb(), 1)}}
    save_report(report, args.out, "benchmark_library.json")
    return report


if __name__ == "__main__":
    main()
