"""Predict on recorded material: `python -m agf_core.predict --text "..." --audio a.wav --video clip.mp4 |
--image face.jpg --age young --gender female` prints the prediction as JSON.

A video is read with OpenCV: faces from 8 evenly spaced frames, and its audio track through ffmpeg when
ffmpeg is installed (and --audio is not given).
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

from .metadata import VOCAB


def read_audio_file(path: str | Path) -> tuple[int, np.ndarray]:
    import soundfile as sf
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"audio file {path} not found")
    try:
        x, sr = sf.read(path, dtype="float32", always_2d=False)
    except Exception as e:
        raise ValueError(f"cannot read audio file {path} ({e}); accepted: WAV, FLAC, OGG") from e
    return int(sr), x


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
        return read_audio_file(wav)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m agf_core.predict", description=__doc__.splitlines()[0])
    ap.add_argument("--text")
    ap.add_argument("--audio", help="speech file (WAV/FLAC/OGG, any sample rate)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--video", help="video file: faces from 8 frames, plus its audio track")
    group.add_argument("--image", help="a photo with a face")
    for field, values in VOCAB.items():
        ap.add_argument(f"--{field}", choices=values, default="unknown")
    ap.add_argument("--models", help="folder with text.pt, audio.pt, face.pt (default: shipped)")
    args = ap.parse_args(argv)
    if not (args.text or args.audio or args.video or args.image):
        ap.error("give at least one of --text, --audio, --video, --image")
    from .recognizer import EmotionRecognizer
    try:
        audio = read_audio_file(args.audio) if args.audio else None
        frames = None
        if args.video:
            frames = read_video_frames(args.video)
            audio = audio or read_video_audio(args.video)
        elif args.image:
            frames = [read_image_file(args.image)]
        rec = EmotionRecognizer.from_pretrained(args.models)
        out = rec.predict(text=args.text, audio=audio, frames=frames,
                          metadata={"age": args.age, "gender": args.gender, "timbre": args.timbre}).to_dict()
    except ValueError as e:
        ap.exit(2, f"error: {e}\n")
    json.dump(out, sys.stdout, indent=2)
    print()
    return out


if __name__ == "__main__":
    main()
