"""The live pipeline: frames, microphone chunks and typed text in; fused updates, transcript and replies out.

`LivePipeline` holds what is shared (models, options); `LiveState` holds one participant's session.
Every stage is timed, and a stage that raises marks its modality unavailable with the reason while the
others go on: nothing the participant said is dropped, and the stream never dies.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from agf_core.branches import BranchOutput
from agf_core.inputs.audio import SAMPLE_RATE
from agf_core.inputs.metadata import UNKNOWN, estimate_timbre, with_timbre
from agf_core.labels import MODALITIES
from agf_core.personalization import Personalization
from agf_core.recognizer import EmotionRecognizer, Prediction
from agf_core.status import NO_FACE, ModalityStatus

from .reply import FALLBACK_TEXT, Reply, ReplyGenerator, ReplyInput
from .session import SessionState
from .transcriber import Transcriber
from .utterance import Utterance, UtteranceSegmenter, VadOptions
from .video import FaceWindow, VideoOptions

log = logging.getLogger(__name__)
NOTHING_SAID = "nothing said recently"
WAITING = ModalityStatus.absent("waiting")


@dataclass(frozen=True)
class PipelineOptions:
    video: VideoOptions = VideoOptions()
    vad: VadOptions = VadOptions()
    speech_valid_s: float = 8.0     # an utterance's audio/text emotion counts in fusion this long
    context_turns: int = 2
    latency_window: int = 200       # recent timings kept per stage


@dataclass
class LiveState:
    """One participant's live session (kept in gr.State)."""
    session: SessionState = field(default_factory=SessionState)
    face: FaceWindow = field(default_factory=FaceWindow)
    segmenter: UtteranceSegmenter = field(default_factory=UtteranceSegmenter)
    speech: dict[str, tuple[float, BranchOutput]] = field(default_factory=dict)  # modality -> (t, output)
    status: dict[str, ModalityStatus] = field(default_factory=lambda: {m: WAITING for m in MODALITIES})
    timbre: str = UNKNOWN           # estimated from the voice
    latency_ms: dict[str, deque] = field(default_factory=dict)
    last: Prediction | None = None
    keep_raw: bool = False          # the participant opted in to keeping raw audio and face crops
    raw_audio: list = field(default_factory=list)   # (t, 16 kHz float32 utterance)
    raw_faces: list = field(default_factory=list)   # (t, 48x48 uint8 crop) at each window refresh
    personal: Personalization = field(default_factory=Personalization)  # learnt from this participant only


@dataclass
class Turn:
    """What one utterance or typed message produced."""
    text: str
    source: str
    prediction: Prediction
    reply: str
    strategy: str = ""      # how the reply answered (streaming/reply.py), as logged in the session


class LivePipeline:
    def __init__(self, recognizer: EmotionRecognizer, transcriber: Transcriber, reply: ReplyGenerator,
                 options: PipelineOptions = PipelineOptions()):
        self.recognizer, self.transcriber, self.reply, self.options = recognizer, transcriber, reply, options

    def new_state(self, participant_id: str = "") -> LiveState:
        o = self.options
        return LiveState(SessionState(participant_id=participant_id), FaceWindow(o.video), UtteranceSegmenter(o.vad))

    @contextmanager
    def _timed(self, state: LiveState, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            q = state.latency_ms.setdefault(stage, deque(maxlen=self.options.latency_window))
            q.append((time.perf_counter() - t0) * 1000)

    def _guard(self, state: LiveState, modality: str, stage: str, fn, *args):
        """Run one stage; on failure mark the modality failed (its last output expires) and return None."""
        try:
            with self._timed(state, stage):
                out = fn(*args)
            return out
        except Exception:  # noqa: BLE001  a failing stage must not end the stream
            log.exception("stage %s failed (session %s)", stage, state.session.session_id)
            state.status[modality] = ModalityStatus.failed(f"{stage} failed")
            if modality == "video":
                state.face.expire()
            else:
                state.speech.pop(modality, None)
            return None

    def metadata(self, state: LiveState) -> dict[str, str]:
        meta = with_timbre(state.session.metadata, None)
        if meta["timbre"] == UNKNOWN:
            meta["timbre"] = state.timbre
        return meta

    def fuse(self, state: LiveState, source: str) -> Prediction:
        """Combine the freshest output of every modality present now and log it to the timeline."""
        now = state.session.now()
        outs, status = {}, {}
        if state.face.present:
            outs["video"] = state.face.output
        else:
            status["video"] = state.status["video"]
        for m in ("audio", "text"):
            t, out = state.speech.get(m, (None, None))
            if out is not None and now - t <= self.options.speech_valid_s:
                outs[m] = out
            else:
                failed = state.status[m].state == "failed"
                status[m] = state.status[m] if failed else ModalityStatus.absent(NOTHING_SAID)
        with self._timed(state, "fusion"):
            pred = self.recognizer.combine(outs, self.metadata(state), status, state.personal)
        if outs:
            state.session.add_prediction(pred, source, now)
        state.last = pred
        return pred

    # ---- inputs -------------------------------------------------------------------------------------
    def on_frame(self, state: LiveState, frame: np.ndarray) -> Prediction | None:
        """A webcam frame; returns a fused update when the video window refreshed."""
        if frame is None:
            return None
        t = state.session.now()
        refreshed = self._guard(state, "video", "face", state.face.push, frame, t, self.recognizer)
        if refreshed is None:
            return None
        state.status["video"] = ModalityStatus.ok() if state.face.box is not None else ModalityStatus.absent(NO_FACE)
        if refreshed and state.keep_raw:
            state.raw_faces.append((t, state.face.crops[-1]))
        return self.fuse(state, "video") if refreshed else None

    def on_audio(self, state: LiveState, chunk: tuple[int, np.ndarray]) -> list[Turn]:
        """A microphone chunk; returns the turns of the utterances it completed."""
        if chunk is None:
            return []
        utterances = self._guard(state, "audio", "vad", state.segmenter.push, chunk) or []
        return [turn for u in utterances if (turn := self.on_utterance(state, u)) is not None]

    def on_utterance(self, state: LiveState, utt: Utterance) -> Turn | None:
        now = state.session.now()
        state.session.hear(now - utt.seconds, now)  # the turn's start/end in session seconds (study store)
        if state.keep_raw:
            state.raw_audio.append((now, utt.audio))
        if state.timbre == UNKNOWN:
            state.timbre = estimate_timbre(utt.audio)
        audio_out = self._guard(state, "audio", "audio_emotion", self.recognizer.audio, (SAMPLE_RATE, utt.audio))
        if audio_out is not None:
            state.speech["audio"] = (now, audio_out)
            state.status["audio"] = ModalityStatus.ok()
        text = self._guard(state, "text", "asr", self.transcriber, utt.audio)
        if text is None:
            text = ""
        if not text.strip():  # nothing intelligible: the voice still counts
            return self._turn(state, "", "speech") if audio_out is not None else None
        return self._turn(state, text, "speech")

    def on_text(self, state: LiveState, text: str) -> Turn | None:
        """A typed message; same text path as speech."""
        if text is None or not str(text).strip():
            return None
        return self._turn(state, str(text).strip(), "typed")

    def _turn(self, state: LiveState, text: str, source: str) -> Turn:
        words = None  # the text model's reading of these words alone, for the reply
        if text:
            context = [u["text"] for u in state.session.transcript[-self.options.context_turns:]]
            out = self._guard(state, "text", "text_emotion", self.recognizer.text, text, context)
            if out is not None:
                state.speech["text"] = (state.session.now(), out)
                state.status["text"] = ModalityStatus.ok()
                words = out.probs
        pred = self.fuse(state, source)
        emotion = pred.label or "neutral"
        if not text:
            return Turn(text, source, pred, "")
        with self._timed(state, "reply"):
            reply = self._reply(state, ReplyInput.from_prediction(text, pred, words))
        state.session.add_turn(text, source, emotion, reply.text, reply.strategy)
        return Turn(text, source, pred, reply.text, reply.strategy)

    def _reply(self, state: LiveState, said: ReplyInput) -> Reply:
        """The reply, or a plain-language fallback when the generator fails (the details go to the log)."""
        try:
            return self.reply(said, state.session.history())
        except Exception:  # noqa: BLE001  the participant sees no exception text
            log.exception("reply generator %s failed on %r", type(self.reply).__name__, said.text[:80])
            return Reply(FALLBACK_TEXT, "fallback", "neutral", "reply failed")

    def correct(self, state: LiveState, felt: str, note: str = "") -> dict:
        """"That's not how I feel": log the correction and adapt the fusion for this participant only."""
        row = state.session.add_correction(felt, note)
        # The smoothed label was shown; the biases learn from the latest fused prediction behind it.
        row["learned_from"] = state.last.label if state.last is not None else ""
        row["adapted"] = state.last is not None and self.recognizer.correct(state.last, felt, state.personal)
        state.session.log_correction(row)
        return row

    def close(self, state: LiveState) -> list[Turn]:
        """End of the microphone stream: process the utterance still in progress."""
        return [turn for u in state.segmenter.flush() if (turn := self.on_utterance(state, u)) is not None]


def latency_summary(state: LiveState) -> dict[str, dict[str, float]]:
    """Median and p95 in ms per stage over the recent window."""
    return {k: {"median_ms": round(float(np.median(v)), 1), "p95_ms": round(float(np.percentile(v, 95)), 1)}
            for k, v in state.latency_ms.items() if v}
