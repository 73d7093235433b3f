"""One participant's live session: what arrived (the inbox), what the models made of it, what the page shows.

The browser's stream handlers only put input here (`LiveState.put_audio`, `put_frame`) and return; the
session's worker (streaming/live/worker.py) takes it out and runs the models; the page refreshes from it.
Every field the worker and the handlers share is read and written under `lock`.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from agf_core.baseline import Baseline
from agf_core.branches import BranchOutput
from agf_core.inputs.metadata import UNKNOWN
from agf_core.labels import MODALITIES
from agf_core.personalization import Personalization
from agf_core.recognizer import Prediction
from agf_core.status import ModalityStatus

from ..dialogue.suggestions import SuggestionState
from .session import SessionState
from .utterance import UtteranceSegmenter
from .video import FaceWindow

WAITING = ModalityStatus.absent("waiting")


@dataclass
class Inbox:
    """Input waiting for the worker. Audio is never dropped below `max_audio_s` of backlog; only the newest
    video frame is kept (a frame the worker had no time for is replaced, counted in `frames_dropped`)."""
    max_audio_s: float = 120.0
    audio: deque = field(default_factory=deque)          # (arrival wall time, rate, samples)
    audio_s: float = 0.0                                 # backlog in seconds
    audio_lost_s: float = 0.0                            # only beyond max_audio_s: shown, never silent
    end_of_audio: bool = False                           # the microphone stopped: flush the utterance
    frame: tuple[float, np.ndarray] | None = None        # (session seconds, RGB frame)
    frame_at: float = -1e9                               # session seconds the newest frame arrived
    frames_in: int = 0
    frames_dropped: int = 0
    samples_in: int = 0                                  # every audio sample the browser delivered
    seconds_in: float = 0.0


@dataclass
class Listening:
    """The utterance in progress, as the page shows it while the person speaks."""
    since_s: float | None = None     # session seconds of speech onset; None when not listening
    partial: str = ""                # words decoded so far
    partial_audio_s: float = 0.0     # how much of the utterance the partial covers
    final: bool = False              # `partial` is the ended utterance's words, shown while its reply is made


@dataclass
class Calibrating:
    """A calibration in progress (LivePipeline.start_calibration): what its window heard and saw."""
    until_s: float                                   # session seconds when the window closes
    audio: list = field(default_factory=list)        # 16 kHz utterances heard in it
    faces: list = field(default_factory=list)        # face window readings (BranchOutput) made in it


@dataclass
class LiveState:
    """One participant's live session (kept in gr.State, one per browser tab; never global)."""
    session: SessionState = field(default_factory=SessionState)
    face: FaceWindow = field(default_factory=FaceWindow)
    segmenter: UtteranceSegmenter | None = None      # made by the worker: only the worker touches it
    partial_job: Future | None = None  # the partial decode running beside the worker, if any
    # ((start s, samples), words, voice reading): the utterance read during the hangover (worker only)
    early: tuple | None = None
    inbox: Inbox = field(default_factory=Inbox)
    listening: Listening = field(default_factory=Listening)
    speech: dict[str, tuple[float, BranchOutput]] = field(default_factory=dict)  # modality -> (t, output)
    speech_valid_s: float = 8.0      # a voice or words reading counts this long (PipelineOptions.speech_valid_s)
    status: dict[str, ModalityStatus] = field(default_factory=lambda: {m: WAITING for m in MODALITIES})
    notice: str = ""                 # a plain-language message for the participant ("I couldn't catch that")
    timbre: str = UNKNOWN            # estimated from the voice
    latency_ms: dict[str, deque] = field(default_factory=dict)
    last: Prediction | None = None
    keep_raw: bool = False           # the participant opted in to keeping raw audio and face crops
    raw_audio: list = field(default_factory=list)   # (t, 16 kHz float32 utterance)
    raw_faces: list = field(default_factory=list)   # (t, 48x48 uint8 crop) at each window refresh
    personal: Personalization = field(default_factory=Personalization)  # learnt from this participant only
    calibrating: Calibrating | None = None
    baseline: Baseline | None = None   # this participant's neutral (agf_core/baseline.py), this session's only
    calibration_note: str = ""         # what the page says about the calibration
    suggestions: SuggestionState = field(default_factory=SuggestionState)  # this session's turns' affect
    version: int = 0                 # bumped on every change the page shows
    rendered: int = -1               # the version the page last got
    shown_headline: str = ""         # the headline the page last got (it can age with no new version)
    charts_at: float = -1e9          # when the page last got its figures (time.monotonic)
    face_read_at: float = -1e9       # session seconds of the last webcam frame the worker read
    closed: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # One turn at a time (typed in the page's handler, spoken in the worker): each reply sees the turns
    # before it, and the transcript keeps their order. Held for the text model and the reply, never for ASR.
    turn_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    wake: threading.Event = field(default_factory=threading.Event, repr=False)
    worker: object | None = field(default=None, repr=False)

    def changed(self) -> None:
        self.version += 1

    def readings(self, now: float) -> dict[str, BranchOutput]:
        """Modality -> its output, for those with a reading now: the face window's while frames keep coming
        (a stopped camera's last face must not stand in for a present one), a voice or words within
        speech_valid_s (call under `lock`)."""
        outs = {m: out for m, (t, out) in self.speech.items() if out is not None and now - t <= self.speech_valid_s}
        if self.face.output is not None and now - self.inbox.frame_at <= self.face.options.stale_s:
            outs["video"] = self.face.output
        return outs

    def put_audio(self, rate: int, samples: np.ndarray) -> None:
        with self.lock:
            box = self.inbox
            seconds = len(samples) / rate
            box.samples_in += len(samples)
            box.seconds_in += seconds
            while box.audio and box.audio_s + seconds > box.max_audio_s:   # only when the worker is stuck
                _, r, x = box.audio.popleft()
                box.audio_s -= len(x) / r
                box.audio_lost_s += len(x) / r
            box.audio.append((time.time(), rate, samples))
            box.audio_s += seconds
        self.wake.set()

    def put_frame(self, t: float, frame: np.ndarray) -> None:
        with self.lock:
            box = self.inbox
            box.frames_in += 1
            if box.frame is not None:
                box.frames_dropped += 1
            box.frame, box.frame_at = (t, frame), t
        self.wake.set()

    def end_audio(self) -> None:
        with self.lock:
            self.inbox.end_of_audio = True
        self.wake.set()

    def take_audio(self) -> list[tuple[float, int, np.ndarray]]:
        with self.lock:
            chunks = list(self.inbox.audio)
            self.inbox.audio.clear()
            self.inbox.audio_s = 0.0
            return chunks

    def take_frame(self) -> tuple[float, np.ndarray] | None:
        with self.lock:
            frame, self.inbox.frame = self.inbox.frame, None
            return frame
