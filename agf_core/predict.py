"""Predict the emotion in recorded material (words, speech, a face photo or a video) and print the prediction
as JSON on stdout.

    agf-predict --text "We won!" --image face.jpg --age young --gender female
    agf-predict --audio speech.wav          (or: python -m agf_core.predict ...)

A video is read with OpenCV: faces from 8 evenly spaced frames, and its audio track through ffmpeg when
ffmpeg is installed (and --audio is not given). Speech is transcribed, as in the live app, so its words count
too (unless --text is given or --no-transcribe). Audio of any length works: the voice is read in 30 s windows.
Exit status: 0 with the prediction, 1 when nothing could be read (no face, no speech, no text; it says why),
2 on bad usage or an unreadable file. stderr holds only what to read; --verbose adds the libraries' own logs.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from agf_core.inputs.audio import read_audio
from agf_core.inputs.metadata import VOCAB


# What native libraries and the loading bar write straight to the stderr file descriptor: LiteRT's INFO lines,
# glog INFO/WARNING lines (MediaPipe, also from the face detector's child process), OpenCV warnings, and
# transformers' "Loading weights" bar. Hidden unless --verbose; every other line is kept.
NATIVE_NOISE = re.compile(r"^(INFO: |WARNING: Logging before InitGoogle|[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\] |"
                          r"\[ (INFO|WARN):|Loading weights)")


@contextmanager
def quiet_stderr(verbose: bool = False):
    """Route file descriptor 2 (this process and the children it starts) through a file while the models load
    and run, then write back the lines a user must read (errors, warnings from this code)."""
    if verbose:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            sys.stderr.write("".join(x for x in _lines(caught.read().decode(errors="replace")) if not _noise(x)))
            sys.stderr.flush()


def filter_stderr() -> None:
    """For a long run with live progress bars: from now on this process's Python writes (bars, log lines) go
    straight to the terminal, and what native code and child processes write to file descriptor 2 passes
    through a thread that drops the native noise line by line."""
    import threading
    if getattr(filter_stderr, "on", False):
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1, errors="replace")
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def pump():
        pending = b""
        while chunk := os.read(read, 1 << 16):
            *lines, pending = re.split(rb"(?<=\n)", pending + chunk)
            kept = [x for x in lines if not _noise(x.decode(errors="replace"))]
            if kept:
                os.write(terminal, b"".join(kept))

    threading.Thread(target=pump, daemon=True, name="stderr-filter").start()
    filter_stderr.on = True


def _lines(text: str) -> list[str]:
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _noise(line: str) -> bool:
    """A line of native noise; a progress bar redraws itself with carriage returns within one line."""
    parts = [p for p in line.rstrip("\n").split("\r") if p]
    return bool(parts) and all(NATIVE_NOISE.match(p) for p in parts)


def prog_name() -> str:
    """How the user ran it: the `agf-predict` script or `python -m agf_core.predict`."""
    return "agf-predict" if Path(sys.argv[0]).name == "agf-predict" else "python -m agf_core.predict"


def read_image_file(path: str | Path) -> np.ndarray:
    import cv2
    if not Path(path).is_file():   # OpenCV would print a warning of its own first
        raise ValueError(f"cannot read image file {path}: no such file; accepted: JPEG, PNG, BMP")
    img = cv2.imread(str(path))
    if img is None:
        raise ValueError(f"cannot read image file {path}; accepted: JPEG, PNG, BMP")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_video_frames(path: str | Path, count: int = 8) -> list[np.ndarray]:
    """`count` evenly spaced RGB frames of a video file."""
    import cv2
    cap = cv2.VideoCapture(str(path))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    if not cap.isOpened() or total <= 0:
        raise ValueError(f"cannot read video file {path}; accepted: any container OpenCV reads (MP4, AVI, WebM)")
    frames = []
    for i in np.linspace(0, total - 1, count).round().astype(int):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(i))
        ok, frame = cap.read()
        if ok:
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def read_video_audio(path: str | Path) -> tuple[int, np.ndarray] | None:
    """The audio track as 16 kHz mono via ffmpeg; None when ffmpeg is absent or the video has no audio."""
    if shutil.which("ffmpeg") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "audio.wav"
        done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", "16000", str(wav)],
                              capture_output=True)
        if done.returncode != 0 or not wav.exists():
            return None
        return read_audio(wav)


def main(argv: list[str] | None = None) -> int:
    """The CLI; returns the exit status (0: printed a prediction) for `sys.exit` (the `agf-predict` script).
    Exits 1 when nothing could be read, 2 on bad usage or an unreadable file."""
    ap = argparse.ArgumentParser(prog=prog_name(), description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text")
    ap.add_argument("--audio", help="speech file (WAV/FLAC/OGG, 8-192 kHz, any length)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--video", help="video file: faces from 8 frames, plus its audio track")
    group.add_argument("--image", help="a photo with a face")
    for field, values in VOCAB.items():
        ap.add_argument(f"--{field}", choices=values, default="unknown")
    ap.add_argument("--models", help="folder with text.pt, audio.pt, video.pt (default: shipped)")
    ap.add_argument("--no-transcribe", action="store_true", help="do not turn the speech into words")
    ap.add_argument("--asr-model", help="transcription model (default: the live app's)")
    ap.add_argument("--verbose", action="store_true", help="also show the libraries' own logs on stderr "
                    "(LiteRT, MediaPipe, OpenCV, the loading bar)")
    args = ap.parse_args(argv)
    if not (args.text or args.audio or args.video or args.image):
        ap.error("give at least one of --text, --audio, --video, --image")
    try:
        with quiet_stderr(args.verbose):   # the models' native logs; this code's own errors still show
            from agf_core.recognizer import EmotionRecognizer
            audio = read_audio(args.audio) if args.audio else None
            frames = None
            if args.video:
                frames = read_video_frames(args.video)
                audio = audio or read_video_audio(args.video)
            elif args.image:
                frames = [read_image_file(args.image)]
            rec = EmotionRecognizer.from_pretrained(args.models)
            text = args.text
            if text is None and audio is not None and not args.no_transcribe:
                text = rec.transcribe(audio, args.asr_model) or None
            out = rec.predict(text=text, audio=audio, frames=frames or None,
                              metadata={"age": args.age, "gender": args.gender, "timbre": args.timbre})
    except (ValueError, FileNotFoundError) as e:
        ap.exit(2, f"error: {e}\n")
    result = {**out.to_dict(), "transcript": text if text != args.text else None}
    json.dump(result, sys.stdout, indent=2)
    print()
    if out.label is None:
        ap.exit(1, "error: nothing to read: " + "; ".join(f"{m}: {r}" for m, r in out.absent.items()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
