"""Predict on recorded material: `python -m agf_core.predict --text "..." --audio a.wav --video clip.mp4 |
--image face.jpg --age young --gender female` prints the prediction as JSON.

A video is read with OpenCV: faces from 8 evenly spaced frames, and its audio track through ffmpeg when
ffmpeg is installed (and --audio is not given). Speech is transcribed, as in the live app, so its words count
too (unless --text is given or --no-transcribe). Audio of any length works: the voice is read in 30 s windows.
Exits 1 when nothing could be read (no face, no speech, no text), saying why.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from agf_core.inputs.audio import read_audio
from agf_core.inputs.metadata import VOCAB


def read_image_file(path: str | Path) -> np.ndarray:
    import cv2
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
    ap = argparse.ArgumentParser(prog="python -m agf_core.predict", description=__doc__.splitlines()[0])
    ap.add_argument("--text")
    ap.add_argument("--audio", help="speech file (WAV/FLAC/OGG, any sample rate, any length)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--video", help="video file: faces from 8 frames, plus its audio track")
    group.add_argument("--image", help="a photo with a face")
    for field, values in VOCAB.items():
        ap.add_argument(f"--{field}", choices=values, default="unknown")
    ap.add_argument("--models", help="folder with text.pt, audio.pt, video.pt (default: shipped)")
    ap.add_argument("--no-transcribe", action="store_true", help="do not turn the speech into words")
    ap.add_argument("--asr-model", help="transcription model (default: the live app's)")
    args = ap.parse_args(argv)
    if not (args.text or args.audio or args.video or args.image):
        ap.error("give at least one of --text, --audio, --video, --image")
    from agf_core.recognizer import EmotionRecognizer
    try:
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
