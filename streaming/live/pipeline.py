"""The live pipeline: frames, microphone chunks and typed text in; fused updates, transcript and replies out.

`LivePipeline` holds what every session shares (models, options); `LiveState` one participant's session.
Capture never waits for compute: `on_frame` / `on_audio` only put input in the session's inbox and return.
`step` (run by the session's worker thread, streaming/live/worker.py, or called directly in tests) takes the
input out and runs VAD, partial and final transcription, the emotion models, fusion and the reply.
Every stage is timed; a stage that fails marks its modality failed (its last output expires at once) and
the others go on. The participant sees plain language; the details go to the log.
"""
from __future__ import annotations

import logging
import threading
import time
import unicodedata
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from agf_core.inputs.audio import SAMPLE_RATE
from agf_core.inputs.metadata import UNKNOWN, estimate_timbre, with_timbre
from agf_core.labels import check_emotion
from agf_core.models.text import INVISIBLE
from agf_core.branches import BranchOutput
from agf_core.baseline import Baseline, CalibrationError
from agf_core.recognizer import EmotionRecognizer, Prediction
from agf_core.status import NO_FACE, ModalityStatus

from ..dialogue.reply import FALLBACK_TEXT, Reply, ReplyGenerator, ReplyInput
from ..dialogue.suggestions import Suggester, TurnAffect, positive_words
from .charts import MODALITY_NAMES
from .metrics import loudness_envelope, no_metrics
from .reliability import gate_offsets
from .session import SessionState
from .state import Calibrating, Listening, LiveState
from .transcriber import Previewer, Transcriber
from .utterance import Utterance, UtteranceSegmenter, VadOptions, check_chunk
from .video import FaceWindow, VideoOptions

log = logging.getLogger(__name__)
NOTHING_SAID = "nothing said recently"
NOT_CAUGHT = "Sorry, I couldn't catch that. Could you say it again?"
MIC_OFF = "microphone off"
NO_RECENT_FACE = "no face seen in the last few seconds"
CALIBRATING = "Calibrating: relax your face and read the sentence in your normal voice."


@dataclass(frozen=True)
class PipelineOptions:
    video: VideoOptions = VideoOptions()
    vad: VadOptions = VadOptions()
    speech_valid_s: float = 8.0     # an utterance's audio/text emotion counts in fusion this long
    context_turns: int = 2
    suggestions: bool = True        # a reply may add a suggestion for a sustained state (dialogue/suggestions.py)
    latency_window: int = 200       # recent timings kept per stage
    partial_every_s: float = 1.0    # re-decode the growing utterance this often while the person speaks
    partial_min_s: float = 0.6      # the first once it is this long (with the 0.32 s pre-roll); only when no
                                    # audio is waiting (never fall behind)
    partial_retry_s: float = 0.3    # while a preview has under two words (a cut-off first word), re-decode this
                                    # soon: early on the words grow fastest, and a rejected decode costs ~0.15 s;
    partial_retry_for_s: float = 2.5  # only this far into an utterance (noise or mumbling would keep it going)
    face_every_s: float = 0.2       # read the newest webcam frame at most this often (the rest are dropped)
    asr_attempts: int = 2           # a failed transcription is retried once with the same audio
    # Decode the final words as soon as the silence after speech is as long as what an utterance keeps
    # (~0.19 s), while the hangover (0.42 s) decides whether it ended; reused when it did with that audio.
    early_final: bool = True
    max_audio_backlog_s: float = 120.0
    calibration_s: float = 12.0     # the calibration window: time to read the sentence with a relaxed face


@dataclass
class Turn:
    """What one utterance or typed message produced."""
    text: str
    source: str
    prediction: Prediction
    reply: str
    strategy: str = ""      # how the reply answered (streaming/dialogue/reply.py), as logged in the session


class LivePipeline:
    def __init__(self, recognizer: EmotionRecognizer, transcriber: Transcriber, reply: ReplyGenerator,
                 options: PipelineOptions = PipelineOptions(), metrics=no_metrics):
        self.recognizer, self.transcriber, self.reply, self.options = recognizer, transcriber, reply, options
        self.metrics = metrics   # streaming/live/metrics.py: wall-clock events for the browser benchmark
        # the bank is read now: a malformed one stops the start with its file and line
        self.suggester = Suggester() if options.suggestions else None
        # Transcriptions running now, over all sessions: a partial (a preview) is decoded only when none is, so
        # previews never slow anyone's final words when several participants speak at once.
        self._asr_running, self._asr_lock = 0, threading.Lock()
        # beside the session workers: one partial decode at a time (all sessions) and the voice readings
        self._beside = ThreadPoolExecutor(max_workers=3, thread_name_prefix="agf-beside")

    def new_state(self, participant_id: str = "") -> LiveState:
        state = LiveState(SessionState(participant_id=participant_id), FaceWindow(self.options.video))
        state.inbox.max_audio_s = self.options.max_audio_backlog_s
        state.speech_valid_s = self.options.speech_valid_s
        return state

    # ---- capture: called by the browser's stream handlers; never computes -----------------------------
    def on_frame(self, state: LiveState, frame: np.ndarray | None) -> None:
        if frame is not None:
            state.put_frame(state.session.now(), frame)

    def on_audio(self, state: LiveState, chunk: tuple[int, np.ndarray] | None) -> bool:
        """Queue a microphone chunk; False (with a plain notice, details logged) when it is refused."""
        if chunk is None:
            return True
        try:
            rate, x = check_chunk(chunk)
        except ValueError as e:
            self.audio_refused(state, e)
            return False
        state.put_audio(rate, x)
        if self.metrics is not no_metrics:          # the envelope costs a little: only for the benchmark's log
            self.metrics("chunk", state.session.session_id, rate=rate, samples=len(x),
                         peaks=loudness_envelope(x, rate))
        return True

    def audio_refused(self, state: LiveState, error: ValueError) -> None:
        """A chunk `check_chunk` refused: logged with its reason, and a plain notice on the page."""
        log.warning("refused a microphone chunk (session %s): %s", state.session.session_id, error)
        with state.lock:
            state.status["audio"] = ModalityStatus.failed("the microphone sent audio I can't use")
            state.changed()

    def close(self, state: LiveState) -> None:
        """The microphone stopped: the utterance in progress is finished by the worker."""
        state.end_audio()

    # ---- compute: the worker's unit of work ------------------------------------------------------------
    def step(self, state: LiveState) -> list[Turn]:
        """Process what is in the inbox: all audio (never dropped), then the newest frame. Returns the turns
        of the utterances completed. Safe to call from one thread per session."""
        turns = []
        if state.segmenter is None:
            state.segmenter = UtteranceSegmenter(self.options.vad)
        seg = state.segmenter
        for arrived, rate, x in state.take_audio():
            self.metrics("take", state.session.session_id, waited_s=round(time.time() - arrived, 4))
            was_listening = seg.in_speech
            utterances = self._guard(state, "audio", "vad", seg.push, (rate, x)) or []
            for utt in utterances:
                turns += [t for t in [self.on_utterance(state, utt)] if t is not None]
            if seg.in_speech and not was_listening or utterances and seg.in_speech:
                with state.lock:
                    state.listening = Listening(state.session.now())   # "listening…", no words yet
                    state.changed()
                self.metrics("listening", state.session.session_id, onset_s=seg.speech_start_s)
        if state.inbox.end_of_audio:
            with state.lock:
                state.inbox.end_of_audio = False
            for utt in seg.flush():
                turns += [t for t in [self.on_utterance(state, utt)] if t is not None]
            with state.lock:  # the microphone stopped: its last reading no longer speaks for the person
                state.speech.pop("audio", None)
                state.status["audio"] = ModalityStatus.absent(MIC_OFF)
                state.changed()
        self._finish_calibration(state)
        self._partial(state)
        self._early_final(state)
        ending = seg.in_speech and seg.trailing_silence_s > 0   # the hangover: the turn comes first
        if not ending and state.session.now() - state.face_read_at >= self.options.face_every_s:
            frame = state.take_frame()
            if frame is not None:
                state.face_read_at = frame[0]
                self._face(state, *frame)
        return turns

    def drain(self, state: LiveState) -> list[Turn]:
        """Process everything queued (tests and the local app: no worker thread)."""
        turns = self.step(state)
        while state.inbox.audio or state.inbox.end_of_audio:
            turns += self.step(state)
        return turns

    def _partial(self, state: LiveState) -> None:
        """Re-decode the growing utterance (about once a second, sooner while it has under two words), so words
        appear while the person speaks. The decode runs beside the worker, which goes on reading the audio: when
        the person stops, the final words start decoding at once instead of after the preview (the Whisper model
        has two workers)."""
        seg = state.segmenter
        audio = seg.current_audio()
        if audio is None or state.inbox.audio or seg.trailing_silence_s > 0.1:
            return       # nothing to show, behind, or maybe at the end: keep the worker free for the final words
        seconds = len(audio) / SAMPLE_RATE
        # the first preview once the utterance is partial_min_s long, then every partial_every_s (partial_retry_s
        # while it has under two words, early in the utterance)
        few = len(state.listening.partial.split()) < 2 and seconds < self.options.partial_retry_for_s
        every = self.options.partial_retry_s if few else self.options.partial_every_s
        due = state.listening.partial_audio_s == 0.0 or seconds - state.listening.partial_audio_s >= every
        if seconds < self.options.partial_min_s or not due:
            return
        with self._asr_lock:
            if self._asr_running:
                return
            self._asr_running += 1
        with state.lock:
            since, state.listening.partial_audio_s = state.listening.since_s, seconds
        state.partial_job = self._beside.submit(self._partial_words, state, audio, since)

    def _partial_words(self, state: LiveState, audio: np.ndarray, since: float | None) -> None:
        try:
            with self._timed(state, "asr_partial"):
                text = self._transcribe_once(audio, preview=True)
        except Exception:  # noqa: BLE001  a failed partial is only a missed preview; the final one retries
            log.exception("partial transcription failed (session %s)", state.session.session_id)
            return
        finally:
            with self._asr_lock:
                self._asr_running -= 1
        with state.lock:
            if state.listening.since_s != since or state.listening.final or not text:
                return   # the utterance ended meanwhile (its final words show), or no words yet: keep what shows
            state.listening.partial = text
            state.changed()
        self.metrics("partial", state.session.session_id, text=text, audio_s=len(audio) / SAMPLE_RATE)

    def _early_final(self, state: LiveState) -> None:
        """While the hangover runs, read the audio the utterance will have if this silence ends it: its words
        and its voice, so that when the utterance ends only the turn (words, fusion, reply) is left to do."""
        seg = state.segmenter
        if not self.options.early_final or state.inbox.audio or seg.trailing_silence_s == 0.0:
            return
        audio = seg.ending_audio()
        key = (seg.speech_start_s, None if audio is None else len(audio))
        if audio is None or (state.early is not None and state.early[0] == key):
            return
        # the voice is read beside the words, on the other core
        voice = self._beside.submit(self._guard, state, "audio", "audio_emotion", self.recognizer.audio,
                                    (SAMPLE_RATE, audio))
        with self._asr_lock:
            self._asr_running += 1
        try:
            with self._timed(state, "asr"):
                words = self._transcribe_once(audio)
        except Exception:  # noqa: BLE001  the final decode runs as usual
            log.exception("early transcription failed (session %s)", state.session.session_id)
            words = None
        finally:
            with self._asr_lock:
                self._asr_running -= 1
        if words is not None:
            state.early = (key, words, voice.result(), self._read_words(state, words) if words else None)

    def _face(self, state: LiveState, t: float, frame: np.ndarray) -> None:
        refreshed = self._guard(state, "video", "face", state.face.push, frame, t, self.recognizer)
        if refreshed is None:
            return
        with state.lock:
            state.status["video"] = ModalityStatus.ok() if state.face.box is not None \
                else ModalityStatus.absent(NO_FACE)
            if refreshed and state.keep_raw:
                state.raw_faces.append((t, state.face.crops[-1]))
            if refreshed and state.calibrating is not None:
                state.calibrating.faces.append(state.face.output)
            if refreshed:
                self.fuse(state, "video")
            state.changed()

    def on_utterance(self, state: LiveState, utt: Utterance) -> Turn | None:
        now = state.session.now()
        if state.calibrating is not None:          # the calibration sentence: a sample, not a turn
            with state.lock:
                state.calibrating.audio.append(utt.audio)
                state.listening = Listening()
                state.changed()
            return None
        state.session.hear(now - utt.seconds, now)  # the turn's start/end in session seconds (study store)
        if state.keep_raw:
            state.raw_audio.append((now, utt.audio))
        if state.timbre == UNKNOWN:
            state.timbre = estimate_timbre(utt.audio)
        early, state.early = state.early, None
        if early is None or early[0] != (utt.start_s, len(utt.audio)):
            early = None                          # read during the hangover from other audio: read this one
        text = early[1] if early else self._transcribe(state, utt.audio)
        if text:          # the final words show as live words while the emotion models and the reply run
            with state.lock:
                state.listening.partial, state.listening.final = text, True
                state.changed()
        audio_out = early[2] if early and early[2] is not None else \
            self._guard(state, "audio", "audio_emotion", self.recognizer.audio, (SAMPLE_RATE, utt.audio))
        with state.lock:
            if audio_out is not None:
                state.speech["audio"] = (now, audio_out)
                state.status["audio"] = ModalityStatus.ok()
            if text is None:  # transcription failed twice: say so; the voice still counts
                state.notice = NOT_CAUGHT
        turn = None
        if text:
            turn = self._turn(state, text, "speech", early[3] if early else None)
            self.metrics("final", state.session.session_id, text=text, start_s=utt.start_s, end_s=utt.end_s)
        elif audio_out is not None:  # nothing intelligible: the voice still counts
            turn = self._turn(state, "", "speech")
        with state.lock:  # the words are in the conversation now
            state.listening = Listening()
            state.changed()
        return turn

    def _transcribe_once(self, audio: np.ndarray, preview: bool = False) -> str:
        """The words of `audio`; for a preview, the transcriber's cheap pass when it has one (no fallback)."""
        cheap = preview and isinstance(self.transcriber, Previewer)
        text = self.transcriber.preview(audio) if cheap else self.transcriber(audio)
        if not isinstance(text, str):
            raise TypeError(f"the transcriber returned {type(text).__name__}, expected str")
        return text.strip()

    def _transcribe(self, state: LiveState, audio: np.ndarray) -> str | None:
        """The words of an utterance; the same audio is tried again once if the transcriber fails."""
        for attempt in range(1, self.options.asr_attempts + 1):
            with self._asr_lock:
                self._asr_running += 1
            try:
                with self._timed(state, "asr"):
                    return self._transcribe_once(audio)
            except Exception:  # noqa: BLE001  the stream goes on; the participant is asked to repeat
                log.exception("transcription attempt %d failed (session %s)", attempt, state.session.session_id)
            finally:
                with self._asr_lock:
                    self._asr_running -= 1
        with state.lock:
            state.status["text"] = ModalityStatus.failed("speech recognition failed")
            state.speech.pop("text", None)
        return None

    def on_text(self, state: LiveState, text: str | None) -> Turn | None:
        """A typed message; same text path as speech. Runs in the caller's thread (the page's /agf/text
        request, streaming/live/capture.py), so the reply does not wait for the worker or the page's timer.
        None (nothing happens) for a message with no visible characters (see `typed_text`)."""
        text = typed_text(str(text)) if text is not None else ""
        if not text:
            return None
        return self._turn(state, text, "typed")

    def _read_words(self, state: LiveState, text: str) -> tuple[int, BranchOutput | None]:
        """The text model's reading of `text` in the context of the conversation so far, with the number of turns
        that context had (a reading made early is used only if no turn came in between)."""
        with state.lock:
            turns = len(state.session.transcript)
            # only turns the text model can read: one that failed for its text must not fail the next ones
            context = [t for t in (typed_text(u["text"]) for u in state.session.transcript[-self.options.context_turns:])
                       if t]
        return turns, self._guard(state, "text", "text_emotion", self.recognizer.text, text, context)

    def _turn(self, state: LiveState, text: str, source: str, reading: tuple | None = None) -> Turn:
        with state.turn_lock:
            return self._turn_locked(state, text, source, reading)

    def _turn_locked(self, state: LiveState, text: str, source: str, reading: tuple | None) -> Turn:
        words = None  # the text model's reading of these words alone, for the reply
        if text:
            if reading is None or reading[1] is None or reading[0] != len(state.session.transcript):
                reading = self._read_words(state, text)
            out = reading[1]
            if out is not None:
                with state.lock:
                    state.speech["text"] = (state.session.now(), out)
                    state.status["text"] = ModalityStatus.ok()
                words = out.probs
        with state.lock:  # the reading these words produce carries their turn number (one turn at a time here)
            pred = self.fuse(state, source, state.session.next_turn() if text else None)
            history = state.session.history()
        if not text:
            with state.lock:
                state.changed()
            return Turn(text, source, pred, "")
        with self._timed(state, "reply"):
            reply = self._reply(state, ReplyInput.from_prediction(text, pred, words), history)
            reply = self._suggest(state, text, source, pred, words, reply)
        with state.lock:
            state.session.add_turn(text, source, pred.label, reply.text, reply.strategy,
                                   why_no_emotion=unread(pred) if pred.label is None else "",
                                   suggestion=reply.suggestion)
            state.notice = ""
            state.changed()
        return Turn(text, source, pred, reply.text, reply.strategy)

    def _reply(self, state: LiveState, said: ReplyInput, history: list) -> Reply:
        """The reply, or a plain-language fallback when the generator fails (the details go to the log)."""
        try:
            return self.reply(said, history)
        except Exception:  # noqa: BLE001  the participant sees no exception text
            log.exception("reply generator %s failed on %r", type(self.reply).__name__, said.text[:80])
            return Reply(FALLBACK_TEXT, "fallback", "neutral", "reply failed")

    def _suggest(self, state: LiveState, text: str, source: str, pred: Prediction, words, reply: Reply) -> Reply:
        """The reply with a suggestion added when this turn completes a sustained state (dialogue/suggestions.py)."""
        if self.suggester is None:
            return reply
        heard = state.session.heard if source == "speech" else None
        text_va = pred.per_modality_affect.get("text", {}).get("valence")
        turn = TurnAffect(state.session.now(), self.suggester.seconds(text, heard and heard[1] - heard[0]),
                          pred.valence, pred.arousal, positive_words(text, words, text_va))
        found = self.suggester(state.suggestions, turn)
        return reply if found is None else replace(reply, text=f"{reply.text} {found.text}", suggestion=found.state)

    # ---- fusion and corrections ------------------------------------------------------------------------
    def metadata(self, state: LiveState) -> dict[str, str]:
        meta = with_timbre(state.session.metadata, None)
        if meta["timbre"] == UNKNOWN:
            meta["timbre"] = state.timbre
        return meta

    def fuse(self, state: LiveState, source: str, turn: int | None = None) -> Prediction:
        """Combine the freshest output of every modality present now and log it (call under state.lock); `turn`:
        the number of the turn whose words this reading is for."""
        now = state.session.now()
        outs, status = state.readings(now), {}
        if "video" not in outs:   # "ok" from the last frame read, but no face seen lately (frames stopped)
            status["video"] = state.status["video"] if state.status["video"].state != "ok" \
                else ModalityStatus.absent(NO_RECENT_FACE)
        for m in ("audio", "text"):
            if m not in outs:
                failed = state.status[m].state == "failed"
                status[m] = state.status[m] if failed else ModalityStatus.absent(NOTHING_SAID)
        base = state.baseline
        if base is not None and base.owner == state.session.session_id:  # never another session's baseline
            outs = {m: base.apply(m, o) for m, o in outs.items()}
        with self._timed(state, "fusion"):
            trust = gate_offsets(state.session.timeline, now)   # a branch that keeps disagreeing counts less
            pred = self.recognizer.combine(outs, self.metadata(state), status, state.personal, trust)
        if outs:
            state.session.add_prediction(pred, source, now, turn)
        state.last = pred
        return pred

    # ---- a person's baseline (agf_core/baseline.py) ------------------------------------------------------
    def start_calibration(self, state: LiveState) -> None:
        """Start the calibration window: what the person says and shows in the next `calibration_s` seconds is
        their neutral sample (it makes no turn). Any earlier baseline is dropped."""
        with state.lock:
            state.calibrating = Calibrating(state.session.now() + self.options.calibration_s)
            state.baseline, state.calibration_note = None, CALIBRATING
            state.changed()
        state.wake.set()

    def skip_calibration(self, state: LiveState) -> None:
        with state.lock:
            state.calibrating, state.calibration_note = None, "Not calibrated (skipped)."
            state.changed()

    def _finish_calibration(self, state: LiveState) -> None:
        """When the window has closed and no utterance is in progress: the baseline from what it got."""
        cal = state.calibrating
        if cal is None or state.session.now() < cal.until_s or (state.segmenter and state.segmenter.in_speech):
            return
        audio = np.concatenate(cal.audio) if cal.audio else np.zeros(0, np.float32)
        voice = self._guard(state, "audio", "audio_emotion", self.recognizer.audio, (SAMPLE_RATE, audio)) \
            if len(audio) else None
        face = mean_reading(cal.faces)
        parts, notes = {}, []
        for name, kwargs in (("voice", {"voice": voice, "face": None, "face_given": False}),
                             ("face", {"voice": None, "face": face, "voice_given": False})):
            if name == "voice" and not len(audio):
                notes.append("voice not calibrated: no speech was heard")
                continue
            try:
                parts.update(self.recognizer.baseline(state.session.session_id, seconds=len(audio) / SAMPLE_RATE,
                                                      **kwargs).offsets)
            except CalibrationError as e:
                notes.append(f"{name} not calibrated: {e}")
        with state.lock:
            state.calibrating = None
            state.baseline = Baseline(state.session.session_id, parts, len(audio) / SAMPLE_RATE) if parts else None
            done = " and ".join(n for n, m in (("voice", "audio"), ("face", "video")) if m in parts)
            state.calibration_note = " ".join(([f"Calibrated to your neutral {done}."] if done else
                                               ["Not calibrated."]) + [n[0].upper() + n[1:] + "." for n in notes])
            state.session.calibration = {**(state.baseline.to_dict() if state.baseline else {}), "notes": notes}
            log.info("calibration (session %s): %s", state.session.session_id, state.calibration_note)
            state.changed()

    def correct(self, state: LiveState, felt: str, note: str = "") -> dict:
        """"That's not how I feel": log the correction and adapt the fusion for this participant only."""
        check_emotion(felt)
        with state.lock:
            row = state.session.add_correction(felt, note)
            # The smoothed label was shown; the biases learn from the latest fused prediction behind it.
            row["learned_from"] = state.last.label if state.last is not None else ""
            row["adapted"] = state.last is not None and self.recognizer.correct(state.last, felt, state.personal)
            state.session.log_correction(row)
            state.changed()
        return row

    # ---- bookkeeping ---------------------------------------------------------------------------------
    @contextmanager
    def _timed(self, state: LiveState, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            q = state.latency_ms.setdefault(stage, deque(maxlen=self.options.latency_window))
            q.append((time.perf_counter() - t0) * 1000)
            self.metrics("stage", state.session.session_id, stage=stage, seconds=round(q[-1] / 1000, 4))

    def _guard(self, state: LiveState, modality: str, stage: str, fn, *args):
        """Run one stage; on failure mark the modality failed (its last output expires) and return None."""
        try:
            with self._timed(state, stage):
                return fn(*args)
        except Exception:  # noqa: BLE001  a failing stage must not end the stream
            log.exception("stage %s failed (session %s)", stage, state.session.session_id)
            with state.lock:
                state.status[modality] = ModalityStatus.failed(f"{STAGE_NAMES.get(stage, stage)} failed")
                if modality == "video":
                    state.face.expire()
                else:
                    state.speech.pop(modality, None)
                state.changed()
            return None


def mean_reading(readings: list[BranchOutput]) -> BranchOutput | None:
    """The mean of several readings of one modality (embeddings and probabilities averaged); None if none."""
    if not readings:
        return None
    p = np.mean([r.probs for r in readings], 0)                                  # (7,)
    return BranchOutput(np.mean([r.embedding for r in readings], 0), np.log(np.clip(p, 1e-8, 1)).astype(np.float32))


STAGE_NAMES = {"vad": "listening", "face": "face reading", "audio_emotion": "voice reading",
               "text_emotion": "word reading"}


KEEP_FORMAT = {"\u200c", "\u200d"}   # zero-width (non-)joiners: they shape scripts and emoji sequences


def typed_text(text: str) -> str:
    """Text as the models read it: control and format characters (NUL, zero-width spaces, direction marks)
    dropped, every run of white space one space; '' when nothing visible is left."""
    kept = "".join(" " if c.isspace() else c for c in unicodedata.normalize("NFC", text)
                   if c.isspace() or c in KEEP_FORMAT or unicodedata.category(c) not in ("Cc", "Cf", "Cs"))
    kept = " ".join(kept.split())
    return kept if any(unicodedata.category(c) not in INVISIBLE for c in kept) else ""


def unread(pred: Prediction) -> str:
    """Why a prediction has no label, modality by modality ("words: word reading failed; face: no face ...")."""
    return "; ".join(f"{MODALITY_NAMES[m]}: {s.reason or s.state}" for m, s in pred.status.items() if s.state != "ok")


def latency_summary(state: LiveState) -> dict[str, dict[str, float]]:
    """Median and p95 in ms per stage over the recent window."""
    return {k: {"median_ms": round(float(np.median(v)), 1), "p95_ms": round(float(np.percentile(v, 95)), 1)}
            for k, v in list(state.latency_ms.items()) if v}
