"""Face detection (MediaPipe Tasks) and the aligned 48x48 grey crop the face CNN expects.

The detector model is BlazeFace short-range, read from `agf_core/weights/face_landmarker.task` (Google's
MediaPipe Face Landmarker bundle, Apache-2.0; SHA-256 checked). Any object with `detect(frame)` can stand
in for the detector (see `FaceDetector`).
"""
from __future__ import annotations

import atexit
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

FACE_BUNDLE = Path(__file__).resolve().parent.parent / "weights" / "face_landmarker.task"
CROP_SIZE = 48


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]          # x, y, width, height in pixels
    score: float
    left_eye: tuple[float, float]           # pixels, the eye on the image's left side
    right_eye: tuple[float, float]

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]


class FaceDetector(Protocol):
    def detect(self, frame: np.ndarray) -> list[Face]: ...


def check_frame(frame: object) -> np.ndarray:
    """Accept RGB uint8 (H, W, 3); raise ValueError naming the bad shape or dtype otherwise."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"a frame must be a numpy array (RGB uint8 HxWx3), got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame dtype {frame.dtype} is not accepted; expected uint8 RGB (H, W, 3)")
    if frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) < 16:
        raise ValueError(f"frame shape {frame.shape} is not accepted; expected (H, W, 3) RGB with H, W >= 16")
    return np.ascontiguousarray(frame)


@dataclass(frozen=True)
class DetectorOptions:
    model_path: Path = FACE_BUNDLE
    min_confidence: float = 0.5
    min_smoothness: float = 0.5   # neighbour-pixel correlation inside the box; noise scores ~0, faces > 0.9


def smoothness(frame: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Correlation of horizontally neighbouring grey pixels inside `box`: natural images are smooth (> 0.9),
    random noise is not (~0). BlazeFace finds "faces" in noise with scores up to 0.64, as high as real faces
    far from the camera, so the score alone cannot tell them apart."""
    x, y, w, h = (max(0, int(v)) for v in box)
    patch = frame[y:y + h, x:x + w].mean(-1)                           # (h, w) grey
    if patch.shape[0] < 2 or patch.shape[1] < 2:
        return 0.0
    a, b = patch[:, :-1].ravel(), patch[:, 1:].ravel()
    if a.std() < 1e-6 or b.std() < 1e-6:
        return 0.0                                                      # a flat box holds no face
    return float(np.corrcoef(a, b)[0, 1])


def detector_model(options: DetectorOptions = DetectorOptions()) -> bytes:
    """The BlazeFace model from the bundle, after its SHA-256 is checked."""
    from agf_core.checkpoint import verify
    path = verify(options.model_path)
    try:
        with zipfile.ZipFile(path) as bundle:
            return bundle.read("face_detector.tflite")
    except (zipfile.BadZipFile, KeyError, OSError) as e:    # truncated, or another file (no manifest to tell)
        raise ValueError(f"face model {path} is not a MediaPipe Face Landmarker bundle holding "
                         f"face_detector.tflite ({e}); restore agf_core/weights/face_landmarker.task "
                         "from a fresh clone") from e


class MediaPipeFaceDetector:
    """MediaPipe Tasks FaceDetector on the BlazeFace model inside the Face Landmarker bundle, in this process.
    The app runs it in a process without network instead (agf_core/inputs/detector_process.py)."""

    def __init__(self, options: DetectorOptions = DetectorOptions(), model: bytes | None = None):
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        model = model if model is not None else detector_model(options)
        self._mp = mp
        self.options = options
        self._lock = threading.Lock()  # one MediaPipe task serves every session's frames
        self._task = vision.FaceDetector.create_from_options(vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=model), min_detection_confidence=options.min_confidence))
        # A task still open at exit prints tracebacks: its dispatcher thread pool is shut down before
        # atexit handlers run, so close at thread-shutdown time (where Python allows it) instead.
        getattr(threading, "_register_atexit", atexit.register)(self.close)

    def detect(self, frame: np.ndarray) -> list[Face]:
        frame = check_frame(frame)
        h, w = frame.shape[:2]
        with self._lock:
            result = self._task.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=frame))
        faces = []
        for d in result.detections:
            b = d.bounding_box
            kp = d.keypoints  # right eye, left eye (the person's), nose, mouth, ears; normalised
            eyes = sorted([(kp[0].x * w, kp[0].y * h), (kp[1].x * w, kp[1].y * h)])
            box = (b.origin_x, b.origin_y, b.width, b.height)
            if smoothness(frame, box) >= self.options.min_smoothness:
                faces.append(Face(box, d.categories[0].score, eyes[0], eyes[1]))
        return faces

    def close(self) -> None:
        if self._task is not None:
            self._task.close()
            self._task = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def largest(faces: list[Face]) -> Face | None:
    return max(faces, key=lambda f: f.area) if faces else None


def align_crop(frame: np.ndarray, face: Face, size: int = CROP_SIZE, margin: float = 1.25) -> np.ndarray:
    """Rotate so the eyes are level, take a square of `margin` x the box around its centre, and return
    a grey uint8 (size, size) crop framed like FER2013's (forehead to chin)."""
    import cv2

    (lx, ly), (rx, ry) = face.left_eye, face.right_eye
    angle = np.degrees(np.arctan2(ry - ly, rx - lx))
    x, y, bw, bh = face.box
    cx, cy = x + bw / 2, y + bh / 2
    side = margin * max(bw, bh)
    scale = size / side
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)                 # rotate about the box centre
    m[:, 2] += (size / 2 - cx, size / 2 - cy)                           # and move it to the crop centre
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return cv2.warpAffine(grey, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
