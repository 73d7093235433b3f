"""Live-path latency and memory: `python -m benchmarks.latency --out reports/` -> reports/benchmark_latency.json.

1. Per stage, median and p95 (ms): face detect, face crop, face embed (8-frame window), VAD per 0.5 s chunk,
   ASR / audio emotion / text emotion on a 3 s utterance, fusion, charts, reply.
2. End to end: video path capacity (frames/s through detect + crop + embed + window update); end of a 3 s
   utterance -> transcript, fused update and reply; typed text -> fused update and reply.
3. Memory: a simulated session (--session-minutes of content: webcam frames at --fps, microphone chunks with
   an utterance every 10 s) pushed through the pipeline as fast as it goes; RSS sampled each minute of content.
Inputs are real: the face photo in tests/assets and speech synthesised by espeak-ng. Not a test.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import save_report

ROOT = Path(__file__).resolve().parent.parent


def stats(ms: list[float]) -> dict:
    return {"median_ms": round(float(np.median(ms)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "runs": len(ms)}


def timed(fn, repeats: int) -> dict:
    fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return stats(out)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS"))


def speech_48k(text: str) -> np.ndarray:
    """int16 mono 48 kHz speech from espeak-ng."""
    import soundfile as sf

    from agf_core.inputs.audio import resample
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is needed for the speech inputs: apt-get install espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["espeak-ng", "-w", f"{tmp}/s.wav", text], check=True, capture_output=True)
        x, sr = sf.read(f"{tmp}/s.wav", dtype="float32")
    return (resample(x, sr, 48000) * 32000).astype(np.int16)


def webcam_frame() -> np.ndarray:
    import cv2
    photo = cv2.cvtColor(cv2.imread(str(ROOT / "tests/assets/grace_hopper.jpg")), cv2.COLOR_BGR2RGB)
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 64:576] = cv2.resize(photo, (512, 480))
    return frame


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--session-minutes", type=float, default=30.0)
    ap.add_argument("--fps", type=float, default=2.0, help="webcam frames per second of simulated content")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from agf_core.inputs.audio import to_mono_16k
    from agf_core.recognizer import default_recognizer
    from streaming.live.charts import importance_chart, modality_bars_chart, timeline_chart
    from streaming.live.pipeline import LivePipeline
    from streaming.dialogue.reply import ReplyInput, TemplateReply
    from streaming.live.transcriber import WhisperTranscriber
    from streaming.live.utterance import UtteranceSegmenter

    rss_start = rss_mb()
    pipe = LivePipeline(default_recognizer(), WhisperTranscriber(), TemplateReply())
    rec = pipe.recognizer
    frame = webcam_frame()
    crop = rec.face(frame).crop
    sentence = speech_48k("I finally finished the project and I feel great about it.")
    utt16k = to_mono_16k((48000, sentence))[: 3 * 16000]                       # a 3 s utterance
    text = "I finally finished the project and I feel great about it."
    state = pipe.new_state("bench")
    pipe.on_text(state, "Hello there.")
    for _ in range(8):
        state.face.push(frame, 0.0, rec)
    stages = {
        "face_detect_and_crop": timed(lambda: rec.face(frame), args.repeats),
        "face_embed_window8": timed(lambda: rec.video_from_crops([crop] * 8), args.repeats),
        "vad_per_0.5s_chunk": timed(lambda: UtteranceSegmenter().push((48000, sentence[:24000])), args.repeats),
        "asr_3s": timed(lambda: pipe.transcriber(utt16k), max(5, args.repeats // 2)),
        "audio_emotion_3s": timed(lambda: rec.audio((16000, utt16k)), max(5, args.repeats // 2)),
        "text_emotion": timed(lambda: rec.text(text, ["Hello there."]), args.repeats),
        "fusion": timed(lambda: pipe.fuse(state, "typed"), args.repeats),
        "charts": timed(lambda: (timeline_chart(state.session.timeline), importance_chart(state.session.timeline),
                                 modality_bars_chart(state.last.per_modality)), args.repeats),
        "reply": timed(lambda: pipe.reply(ReplyInput(text, "joy", 0.9), state.session.history()), args.repeats),
    }
    # end to end
    t_state = pipe.new_state("video")
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 10:
        t_state.face.push(frame, time.perf_counter() - t0, rec)  # refresh as the live path does
        t_state.face.last_refresh_t = -1e9                               # worst case: embed on every frame
        n += 1
    video_fps = n / (time.perf_counter() - t0)
    from streaming.live.utterance import Utterance
    utt = Utterance(utt16k, 0.0, 3.0)
    end_to_end = {
        "video_path_capacity_fps": round(video_fps, 1),
        "utterance_end_to_reply_3s": timed(lambda: pipe.on_utterance(pipe.new_state(), utt), max(5, args.repeats // 2)),
        "typed_text_to_reply": timed(lambda: pipe.on_text(state, text), args.repeats),
    }
    memory = simulate_session(pipe, frame, sentence, args.session_minutes, args.fps)
    report = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
              "stages": stages, "end_to_end": end_to_end,
              "memory": {"rss_before_models_mb": round(rss_start, 1), **memory}}
    save_report(report, args.out, "benchmark_latency.json")
    return report


def simulate_session(pipe, frame, sentence, minutes: float, fps: float) -> dict:
    """Push `minutes` of content (frames at `fps`, 0.5 s mic chunks, one utterance every 10 s) through one
    session; RSS after each minute of content."""
    state = pipe.new_state("soak")
    noise = np.random.default_rng(0).normal(0, 30, 48000 * 10).astype(np.int16)
    ten_s = noise.copy()
    ten_s[48000: 48000 + len(sentence)] += sentence[: len(ten_s) - 48000]   # speech at 1 s, then silence
    samples, wall0 = [], time.perf_counter()
    for minute in range(int(minutes)):
        for block in range(6):                                             # six 10 s blocks a minute
            for k in range(20):                                            # 0.5 s chunks
                pipe.on_audio(state, (48000, ten_s[k * 24000:(k + 1) * 24000]))
                for _ in range(max(1, int(fps / 2))):
                    pipe.on_frame(state, frame)
                pipe.step(state)                                           # what the session's worker runs
        samples.append(round(rss_mb(), 1))
    slope = float(np.polyfit(np.arange(len(samples)), samples, 1)[0]) if len(samples) > 2 else 0.0
    half = len(samples) // 2
    return {"session_minutes_of_content": minutes, "rss_per_minute_mb": samples,
            "rss_end_mb": samples[-1] if samples else None,
            "rss_trend_mb_per_minute": round(slope, 2),
            "rss_second_half_growth_mb": round(samples[-1] - samples[half], 1) if samples else None,
            "timeline_rows": len(state.session.timeline), "utterances": len(state.session.transcript),
            "wall_seconds": round(time.perf_counter() - wall0, 1)}


if __name__ == "__main__":
    main()
