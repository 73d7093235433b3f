"""Recorded media in: which files, what streams they hold, and their audio and frames decoded by an ffmpeg pipe
in blocks, so a 3-hour file never sits in memory whole.

Every problem is a MediaError with one line that names the file and says what is accepted.
"""
from __future__ import annotations

import glob
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from agf_core.inputs.audio import SAMPLE_RATE

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aac", ".wma", ".aiff", ".aif"}
MEDIA_SUFFIXES = VIDEO_SUFFIXES | AUDIO_SUFFIXES
ACCEPTED = "video or audio that ffmpeg reads (such as mp4, mov, mkv, webm; wav, flac, mp3, m4a)"
MAX_WIDTH = 640          # frames are scaled down to this for the face detector (faces stay well above 48 px)


class MediaError(ValueError):
    """A file that cannot be analysed; the message is one line for the batch summary."""


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    duration_s: float
    has_video: bool
    has_audio: bool
    width: int = 0          # of the decoded frames (after rotation and scaling), 0 without video
    height: int = 0
    audio_s: float = 0.0    # each stream's own length (0: unknown): a shorter decode means a truncated file
    video_s: float = 0.0


def find_inputs(specs: list[str]) -> tuple[list[Path], list[str]]:
    """Files, folders (searched recursively) and glob patterns -> the media files in them, each once, in order;
    and one line for each spec that gave none."""
    found, problems = {}, []
    for spec in specs:
        if glob.has_magic(spec):
            paths = [Path(p) for p in sorted(glob.glob(spec, recursive=True))]
        else:
            paths = [Path(spec)] if Path(spec).exists() else []
        media = []
        for p in paths:
            if p.is_dir():
                media += [f for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in MEDIA_SUFFIXES]
            elif p.is_file():
                media.append(p)     # a named file is tried whatever its suffix: ffprobe decides
        if not paths:
            problems.append(f"{spec}: no such file, folder or matching pattern")
        elif not media:
            problems.append(f"{spec}: no media files in it; accepted: {ACCEPTED}")
        for f in media:
            found.setdefault(f.resolve(), f)
    return list(found.values()), problems


def check_ffmpeg() -> None:
    missing = [t for t in ("ffmpeg", "ffprobe") if shutil.which(t) is None]
    if missing:
        raise RuntimeError(f"{' and '.join(missing)} not found; agf-analyze decodes media with ffmpeg "
                           "(apt-get install ffmpeg)")


def _first_line(text: str, path: Path) -> str:
    """ffmpeg's first error line (the cause; later ones are consequences), without the path it repeats."""
    lines = [re.sub(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*", "", x.strip().replace(f"{path}: ", ""))
             for x in text.strip().splitlines() if x.strip()]
    return lines[0] if lines else "no details"


def probe(path: Path) -> MediaInfo:
    """The streams and length of `path`, by ffprobe; MediaError for unreadable, empty or 0-second media."""
    if not path.is_file() or path.stat().st_size == 0:
        raise MediaError(f"{path}: empty file (0 bytes); accepted: {ACCEPTED}")
    done = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                           str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise MediaError(f"{path}: unreadable media ({_first_line(done.stderr, path)}); accepted: {ACCEPTED}")
    info = json.loads(done.stdout or "{}")
    streams = info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)   # cover art is not a video
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and audio is None:
        raise MediaError(f"{path}: no audio or video stream; accepted: {ACCEPTED}")
    duration = float(info.get("format", {}).get("duration") or 0.0)
    if duration <= 0:
        raise MediaError(f"{path}: 0 seconds of media; accepted: recordings longer than 0 s")
    width, height = _frame_size(video) if video is not None else (0, 0)
    length = lambda s: float(s.get("duration") or 0.0) if s is not None else 0.0  # noqa: E731
    return MediaInfo(path, duration, video is not None, audio is not None, width, height, length(audio), length(video))


def _frame_size(stream: dict) -> tuple[int, int]:
    """The decoded frame size: ffmpeg turns portrait phone videos upright, then we scale to MAX_WIDTH (even)."""
    w, h = int(stream.get("width") or 0), int(stream.get("height") or 0)
    rotation = int(float(stream.get("tags", {}).get("rotate", 0) or 0))
    for side in stream.get("side_data_list", []):
        rotation = int(float(side.get("rotation", rotation) or 0))
    if rotation % 180:
        w, h = h, w
    if w <= 0 or h <= 0:
        raise MediaError(f"video stream without a frame size in {stream.get('codec_name')!r}")
    scale = min(1.0, MAX_WIDTH / w)
    return max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)


class _Pipe:
    """An ffmpeg process writing raw samples or pixels to stdout; its errors go to a temp file (no pipe to fill)."""

    def __init__(self, path: Path, args: list[str]):
        self.path = path
        self.errors = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), *args, "-"], stdout=subprocess.PIPE,
                                     stderr=self.errors)

    def read(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = self.proc.stdout.read(n - len(out))
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def close(self) -> str:
        """Stop ffmpeg; the last error line it wrote ("" when none, or when stopped early on purpose)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.stdout.close()
        code = self.proc.wait()
        self.errors.seek(0)
        text = self.errors.read().decode(errors="replace")
        self.errors.close()
        return _first_line(text, self.path) if code > 0 and text.strip() else ""


def audio_blocks(path: Path, block_s: float = 60.0) -> Iterator[np.ndarray]:
    """The audio track as 16 kHz mono float32 blocks of `block_s` (the last one shorter)."""
    pipe = _Pipe(path, ["-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le"])
    size, got = int(block_s * SAMPLE_RATE) * 4, 0
    try:
        while block := pipe.read(size):
            got += len(block) // 4
            yield np.frombuffer(block[: len(block) // 4 * 4], np.float32)
    finally:
        error = pipe.close()
    if error:
        raise MediaError(f"{path}: the audio stops decoding at {got / SAMPLE_RATE:.1f} s (ffmpeg: {error}); "
                         "the file is truncated or damaged")


def video_frames(info: MediaInfo, fps: float) -> Iterator[tuple[float, np.ndarray]]:
    """(time in s, RGB uint8 (H, W, 3) frame) at `fps`, scaled to `info.width` x `info.height`."""
    pipe = _Pipe(info.path, ["-an", "-vf", f"fps={fps},scale={info.width}:{info.height}",
                  "-f", "rawvideo", "-pix_fmt", "rgb24"])
    size = info.width * info.height * 3
    i = 0
    try:
        while len(block := pipe.read(size)) == size:
            yield i / fps, np.frombuffer(block, np.uint8).reshape(info.height, info.width, 3)   # (H, W, 3)
            i += 1
    finally:
        error = pipe.close()
    if error:
        raise MediaError(f"{info.path}: the video stops decoding at {i / fps:.1f} s (ffmpeg: {error}); "
                         "the file is truncated or damaged")
