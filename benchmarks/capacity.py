"""How many participants one machine serves: K simulated participants stream at real rate into their own
sessions (webcam frames at 10 fps, 0.1 s microphone posts with a spoken sentence every 6 s), each served by
its session worker as in the app. Measured per K: end of speech -> final transcript + reply in the session
(handler level, no browser), median and p95, and the share of webcam frames dropped.

    python -m benchmarks.capacity --out reports/ --participants 1 2 3 4 6 --seconds 40

Writes reports/benchmark_capacity.json. Not a test. The browser adds the page's refresh (0.25 s timer).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks import save_report
from benchmarks.latency import speech_48k

ROOT = Path(__file__).resolve().parent.parent
POST_S = 0.1


def participant(pipe, frame, sentence, seconds: float, results: list, stop: threading.Event) -> None:
    from streaming.live.worker import ensure_worker, stop_worker
    state = pipe.new_state("load")
    state.session.consent = True
    gap = np.zeros(int(48000 * (6.0 - len(sentence) / 48000)), np.int16)
    cycle = np.concatenate([sentence, gap])                          # a sentence every 6 s
    step, n_post, t0 = int(48000 * POST_S), 0, time.monotonic()
    speech_end_at = []                                               # wall time each sentence's end was posted
    while time.monotonic() - t0 < seconds and not stop.is_set():
        i = (n_post * step) % len(cycle)
        pipe.on_audio(state, (48000, cycle[i:i + step]))
        if i <= len(sentence) < i + step:
            speech_end_at.append(time.monotonic() - (i + step - len(sentence)) / 48000)
        pipe.on_frame(state, frame)
        pipe.on_frame(state, frame)                                  # 10 fps
        ensure_worker(pipe, state)
        n_post += 1
        time.sleep(max(0.0, t0 + n_post * POST_S - time.monotonic()))
    time.sleep(4.0)                                                  # let the last utterance finish
    done = [r["t"] for r in state.session.replies]                   # session seconds of each reply
    started = state.session.started
    replies_wall = [started + t for t in done]
    for end in speech_end_at:
        wall_end = end - time.monotonic() + time.time()
        after = [r for r in replies_wall if r >= wall_end]
        results.append(min(after) - wall_end if after else None)
    box = state.inbox
    results.append({"frames_in": box.frames_in, "frames_dropped": box.frames_dropped,
                    "audio_lost_s": box.audio_lost_s})
    stop_worker(state)


def run(pipe, frame, sentence, k: int, seconds: float) -> dict:
    results: list = []
    stop = threading.Event()
    threads = [threading.Thread(target=participant, args=(pipe, frame, sentence, seconds, results, stop))
               for _ in range(k)]
    for t in threads:
        t.start()
        time.sleep(1.3)                                              # participants do not start in lockstep
    for t in threads:
        t.join()
    lat = [r for r in results if isinstance(r, float)]
    missed = sum(r is None for r in results)
    frames = [r for r in results if isinstance(r, dict)]
    fin, drop = sum(f["frames_in"] for f in frames), sum(f["frames_dropped"] for f in frames)
    return {"participants": k, "utterances": len(lat) + missed, "no_reply": missed,
            "end_of_speech_to_reply_median_s": round(float(np.median(lat)), 3) if lat else None,
            "end_of_speech_to_reply_p95_s": round(float(np.percentile(lat, 95)), 3) if lat else None,
            "frames_dropped_share": round(drop / fin, 3) if fin else None,
            "audio_lost_s": sum(f["audio_lost_s"] for f in frames)}


def main(argv: list[str] | None = None) -> dict:
    import cv2
    ap = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports")
    ap.add_argument("--participants", type=int, nargs="+", default=[1, 2, 3, 4, 6])
    ap.add_argument("--seconds", type=float, default=40.0)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from demo import make_pipeline
    pipe = make_pipeline()
    photo = cv2.cvtColor(cv2.imread(str(ROOT / "tests/assets/grace_hopper.jpg")), cv2.COLOR_BGR2RGB)
    frame = cv2.resize(photo, (640, 480))
    sentence = speech_48k("I finally finished the project and I feel great about it.")
    loud = np.flatnonzero(np.abs(sentence) > 650)
    sentence = sentence[loud[0]:loud[-1] + 1]                        # speech only: its end is the end of speech
    rows = [run(pipe, frame, sentence, k, args.seconds) for k in args.participants]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    ok = [r["participants"] for r in rows if r["end_of_speech_to_reply_p95_s"] is not None
          and r["end_of_speech_to_reply_p95_s"] <= 1.5 and not r["no_reply"]]
    report = {"machine": {"cpu_count": os.cpu_count(), "load_avg_1m_at_end": os.getloadavg()[0]},
              "commit": commit.strip(), "seconds_per_run": args.seconds, "runs": rows,
              "participants_at_p95_le_1.5s": max(ok) if ok else 0}
    save_report(report, args.out, "benchmark_capacity.json")
    return report


if __name__ == "__main__":
    main()
