"""Live results from a local camera and microphone, without a browser: `python -m streaming.live.local`.

Reads the camera with OpenCV and the microphone with sounddevice (needs PortAudio: `apt-get install
libportaudio2`), runs the same `LivePipeline` as the web demo, and prints one line per update.
Without a camera or a microphone it says so and uses what is there; with neither it exits with code 2.
"""
from __future__ import annotations

import argparse
import os
import queue
import sys
import time


def open_camera(index: int):
    import cv2
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        return None
    ok, _ = cap.read()
    return cap if ok else None


def open_microphone(chunks: "queue.Queue", rate: int = 48000):
    try:
        import sounddevice as sd
        sd.query_devices(kind="input")
    except Exception as e:  # noqa: BLE001  no PortAudio, or no input device
        print(f"no microphone: {e}", file=sys.stderr)
        return None
    stream = sd.InputStream(samplerate=rate, channels=1, dtype="int16", blocksize=rate // 2,
                            callback=lambda data, frames, t, status: chunks.put((rate, data[:, 0].copy())))
    stream.start()
    return stream


def describe(pred) -> str:
    weights = " ".join(f"{m}={w:.2f}" for m, w in pred.weights.items())
    return f"{pred.label:<9} {pred.confidence:.2f}  weights: {weights}  absent: {pred.absent or '-'}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m streaming.live.local", description=__doc__.splitlines()[0])
    ap.add_argument("--camera", type=int, default=0, help="OpenCV camera index")
    ap.add_argument("--fps", type=float, default=8.0)
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0 = until Ctrl-C)")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # a missing camera is reported once, below
    chunks: queue.Queue = queue.Queue(maxsize=64)
    cam, mic = open_camera(args.camera), open_microphone(chunks)
    if cam is None:
        print(f"no camera at index {args.camera}", file=sys.stderr)
    if cam is None and mic is None:
        print("error: neither a camera nor a microphone is available; nothing to do", file=sys.stderr)
        return 2
    import cv2

    from agf_core.recognizer import default_recognizer
    from streaming.live.pipeline import LivePipeline
    from streaming.dialogue.reply import TemplateReply
    from streaming.live.transcriber import WhisperTranscriber

    pipe = LivePipeline(default_recognizer(), WhisperTranscriber(), TemplateReply())
    state = pipe.new_state("local")
    state.session.consent = True
    start = time.time()
    try:
        while not args.seconds or time.time() - start < args.seconds:
            if cam is not None:
                ok, bgr = cam.read()
                if ok:
                    pipe.on_frame(state, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            while not chunks.empty():
                pipe.on_audio(state, chunks.get_nowait())
            rows = len(state.session.timeline)
            for turn in pipe.step(state):          # no browser here: this loop is the session's worker
                print(f"[{state.session.now():7.1f}s] said   \"{turn.text}\"  {describe(turn.prediction)}")
                print(f"{'':10} reply  {turn.reply}")
            if len(state.session.timeline) > rows and state.last is not None:
                print(f"[{state.session.now():7.1f}s] now    {describe(state.last)}")
            time.sleep(1 / args.fps)
    except KeyboardInterrupt:
        pass
    finally:
        if cam is not None:
            cam.release()
        if mic is not None:
            mic.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
