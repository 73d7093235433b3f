"""Webcam frames -> largest face -> aligned crop -> rolling 8-frame window -> video probabilities.

Frames may arrive at any rate: each is processed when it comes (Gradio drops frames a slow handler cannot
take, so nothing queues), and the window's prediction is refreshed at most every `refresh_s`.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from agf_core.branches import BranchOutput
from agf_core.recognizer import EmotionRecognizer


@dataclass(frozen=True)
class VideoOptions:
    window: int = 8            # crops pooled into one prediction
    refresh_s: float = 0.4     # >= 2.5 Hz updates
    forget_s: float = 1.0      # no face for this long: the video modality is absent
    stale_s: float = 3.0       # no frame at all for this long (camera stopped): the last face's reading goes


@dataclass
class FaceWindow:
    """Rolling window of face crops for one session, with each crop's network features (computed once)."""
    options: VideoOptions = field(default_factory=VideoOptions)
    crops: deque = field(default_factory=deque)
    features: deque = field(default_factory=deque)   # recognizer.face_features of each crop, (2, C) each
    last_face_t: float = -1e9
    last_refresh_t: float = -1e9
    output: BranchOutput | None = None
    box: tuple[int, int, int, int] | None = None

    def push(self, frame: np.ndarray, t: float, recognizer: EmotionRecognizer) -> bool:
        """Detect and crop the largest face in `frame` at time `t` (s); refresh the prediction when due.
        Returns True when a new prediction was made."""
        face = recognizer.face(frame)
        if face is None:
            self.box = None
            if t - self.last_face_t > self.options.forget_s:
                self.crops.clear()
                self.features.clear()
                self.output = None
            return False
        self.box, self.last_face_t = face.box, t
        self.crops.append(face.crop)
        self.features.append(recognizer.face_features(face.crop))   # each frame through the network once
        while len(self.crops) > self.options.window:
            self.crops.popleft()
            self.features.popleft()
        if t - self.last_refresh_t < self.options.refresh_s:
            return False
        self.last_refresh_t = t
        self.output = recognizer.video_from_features(list(self.features))
        return True

    def expire(self) -> None:
        """Forget the window (its stage failed): a stale face must not stand in for the current one."""
        self.crops.clear()
        self.features.clear()
        self.output, self.box = None, None

    @property
    def present(self) -> bool:
        return self.output is not None


def draw_box(frame: np.ndarray, box: tuple[int, int, int, int] | None, label: str = "") -> np.ndarray:
    """A copy of `frame` with the face box (and label) drawn; the frame itself when there is no box."""
    if box is None:
        return frame
    import cv2
    out = frame.copy()
    x, y, w, h = box
    thickness = max(2, frame.shape[1] // 320)
    cv2.rectangle(out, (x, y), (x + w, y + h), (0, 200, 120), thickness)
    if label:
        cv2.putText(out, label, (x, max(20, y - 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 200, 120), 2)
    return out
