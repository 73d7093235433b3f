"""Live multimodal emotion recognition in the browser: `python demo.py [--share --auth U:P] [--store URL]`.

Layout and wiring only: the live path is `streaming.live.pipeline.LivePipeline`, the models `agf_core`, the study
(store, consent, exports) `streaming.study.study.Study`, what touches disk and network `streaming.study.privacy`.
Each handler takes the session's `LiveState` (kept in gr.State, one per browser tab) and returns what the
page shows; none of them raises into the stream. Every event is private (not an API endpoint) and checks
that the state belongs to the calling browser (`streaming.study.access.owned`).
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every default model ships offline
# The [demo] extra: `pip install .` alone gives the library and agf-predict, not the app's packages.
for _name in ("gradio", "sqlalchemy", "pyarrow"):
    if importlib.util.find_spec(_name) is None:
        raise SystemExit(f"the demo needs {_name}, which is not installed: pip install 'agf-live[demo]' "
                         "(or pip install -r requirements.txt in a checkout)")
from streaming.study.privacy import disable_telemetry  # noqa: E402

disable_telemetry()  # before gradio is imported: analytics read their switch at import

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from agf_core.models.audio import PACKAGED_WHISPER, check_whisper_model  # noqa: E402
from agf_core.transcriber import TranscriberOptions  # noqa: E402
from agf_core.labels import EMOTIONS, MODALITIES  # noqa: E402
from agf_core.inputs.metadata import VOCAB  # noqa: E402
from streaming.live.charts import MODALITY_NAMES, importance_chart, modality_bars_chart, timeline_chart  # noqa: E402
from streaming.live.plane import plane_chart  # noqa: E402
from streaming.live.pipeline import LivePipeline, PipelineOptions, latency_summary  # noqa: E402
from streaming.live.state import Listening, LiveState  # noqa: E402
from streaming import ASSETS  # noqa: E402
from streaming.live.capture import CaptureRoutes  # noqa: E402
from streaming.dialogue.conversation import conversation_html, live_words_html  # noqa: E402
from streaming.live.memory import HeapTrimmer, cancel_gradio_wait_timers, tune_malloc  # noqa: E402
from streaming.live.metrics import MetricsLog, no_metrics  # noqa: E402
from streaming.study.access import AccessMiddleware, owned, owner_of  # noqa: E402
from streaming.study.lockout import trust_proxies, trusted_proxies  # noqa: E402
from streaming.study.privacy import CONSENT_VERSION, PrivacyOptions, PrivateTemp, consent_text  # noqa: E402
from streaming.study.provenance import provenance  # noqa: E402
from streaming.study.researcher import DISMISS_TOASTS, build_researcher_view, links  # noqa: E402
from streaming.study.retention import RetentionSweeper  # noqa: E402
from streaming.study.store import DEFAULT_URL, DEMO_URL, StudyStore  # noqa: E402
from streaming.study.study import Study, StudyOptions  # noqa: E402
from streaming.live.worker import ensure_worker, finish, stop_worker  # noqa: E402

log = logging.getLogger("demo")
PRIVATE = {"api_visibility": "private"}
# A participant's mistake (no consent, no session yet): a message on the page, no traceback in the server's log.
user_error = partial(gr.Error, print_exception=False)  # the page's own events only: no API endpoint, not in the API docs
WEBCAM = {"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}}   # the camera's getUserMedia constraints
# Gradio's webcam shows a preview but streams nothing until its own Record button is pressed: said next to it,
# or a participant sees their face and a headline "waiting for your face".
WEBCAM_HINT = ("**Your face is read only while the camera records:** click the camera box above, then press the red "
               "**Record** button under the picture to start the face reading.")


@dataclass(frozen=True)
class DemoOptions:
    """What the command line chooses; `make_pipeline` turns it into the models every session shares."""
    asr_model: str = TranscriberOptions.model
    reply_model: str = ""
    reply_endpoint: str = ""
    metrics_log: str = ""       # a file for wall-clock live-path events (benchmarks/browser.py); off when ""
    # CPU threads per model call. One: each session's worker, the ASR and (on a test machine) the browser each
    # want a core, and two threads per call oversubscribe two cores: end of speech -> reply on the page went
    # from 1.52 to 0.98 s median in the browser benchmark at 4632718 (both ~0.7 s low: the benchmark then
    # placed sentences by their position in the wav, see benchmarks/browser.py).
    threads: int = 1
    suggestions: bool = True    # replies may add a suggestion for a sustained state; --no-suggestions turns it off


def make_pipeline(options: DemoOptions = DemoOptions()) -> LivePipeline:
    """Models load once per process and are shared by every session."""
    from agf_core.device import set_threads
    from agf_core.recognizer import default_recognizer
    set_threads(options.threads)  # before the ASR loads: it takes torch's thread count
    from streaming.dialogue.reply import GeneratorReply, TemplateReply
    from streaming.live.transcriber import WhisperTranscriber
    reply = (GeneratorReply(options.reply_model, options.reply_endpoint, os.environ.get("AGF_REPLY_API_KEY", ""))
             if options.reply_model or options.reply_endpoint else TemplateReply())
    metrics = MetricsLog(options.metrics_log) if options.metrics_log else no_metrics
    return LivePipeline(default_recognizer(), WhisperTranscriber(TranscriberOptions(model=options.asr_model)), reply,
                        PipelineOptions(suggestions=options.suggestions), metrics=metrics)


# ---- rendering ---------------------------------------------------------------------------------------
UNCERTAIN_BELOW = 0.40   # the shown label's smoothed probability under which the page says "uncertain"
STATE_WORDS = {"ok": "on", "absent": "off", "failed": "not working"}


def status_line(state: LiveState) -> str:
    """Each modality in plain words, then the fusion and latency for the curious."""
    parts = []
    for m in MODALITIES:
        s = state.status[m]
        parts.append(f"{MODALITY_NAMES[m]}: {s.state}" + (f" ({s.reason})" if s.reason else ""))
    box = state.inbox
    if box.audio_s > 1.0:
        parts.append(f"catching up on {box.audio_s:.0f} s of speech")
    if box.audio_lost_s:
        parts.append(f"{box.audio_lost_s:.0f} s of speech could not be processed")
    lat = latency_summary(state)
    timing = " · ".join(f"{k} {v['median_ms']:.0f} ms" for k, v in lat.items())
    fusion = f"fusion: {state.last.fusion}" if state.last is not None else ""
    if state.personal.active:
        fusion += f", adapted to you ({len(state.personal.corrections)} correction(s))"
    calibration = f"{state.calibration_note}\n\n" if state.calibration_note else ""
    return calibration + " | ".join(parts) + (f"\n\n{fusion}" if fusion else "") + (f"\n\nmedian latency: {timing}" if timing else "")


NO_READING = "### Right now: no reading (nothing from your face, voice or words at the moment)"


def headline(state: LiveState) -> str:
    """The smoothed, hysteresis label: the one the timeline records as shown, with its confidence; "no reading"
    once no modality has a reading (failed, gone, or too old: the smoothed value is not shown past them)."""
    smoother = state.session.smoother
    if smoother.probs is None:
        return "### Right now: waiting for your face, voice or words"
    if not state.readings(state.session.now()):
        return NO_READING
    p = float(smoother.probs[EMOTIONS.index(smoother.label)])
    n = len(state.personal.corrections)   # say so: a reading that moved after a correction is not a new feeling
    adjusted = f" · adjusted by your {n} correction{'s' if n > 1 else ''}" if n else ""
    if p < UNCERTAIN_BELOW:
        return f"### Right now: uncertain (perhaps {smoother.label}, {p:.0%}){adjusted}"
    return f"### Right now: {smoother.label} ({p:.0%}){adjusted}"


CHARTS_EVERY_S = 1.0   # the charts change slowly: at most once a second


def view(state: LiveState, charts: bool = True) -> tuple:
    """Headline, notice, timeline, valence-arousal plane, importance, per-modality bars and status; with
    `charts=False` the four figures are left as they are on the page. (The live words and the conversation reach the page through
    /agf/view, streaming/live/capture.py.)"""
    with state.lock:                # a snapshot; the charts are built after, so the worker never waits on them
        text = headline(state), state.notice
        state.shown_headline = text[0]
        status = status_line(state)
        if charts:                  # only a full view is "rendered": a lighter one is followed by the figures
            state.rendered, state.charts_at = state.version, time.monotonic()
            rows = list(state.session.timeline)
            per_modality = dict(state.last.per_modality) if state.last is not None else {}
    figures = (timeline_chart(rows), plane_chart(rows), importance_chart(rows), modality_bars_chart(per_modality)) \
        if charts else (gr.skip(),) * 4
    return (*text, *figures, status)


N_VIEW = 7


def _ready(state: LiveState | None) -> bool:
    return state is not None and state.session.consent


CONSENT_LABEL = "Consent and privacy: please read, then tick and start"
CONSENT_GIVEN = "Consent given: click here to read it again (or to start a new session)"


# ---- handlers ----------------------------------------------------------------------------------------
def start_session(pipeline: LivePipeline, study: Study, capture: CaptureRoutes, consent: bool,
                  participant_id: str, state: LiveState | None, keep_raw: bool = False,
                  request: gr.Request | None = None):
    """Consent given: a new session, opened in the study store with the consent record. The participant and
    condition IDs may come from the link (`?pid=P01&condition=A`); a typed participant ID wins."""
    if not consent:
        raise user_error("Please tick the consent box to start: capture stays off until you do.")
    query = dict(request.query_params) if request is not None else {}
    owner = owner_of(request)
    if request is not None and not owner:
        raise user_error("This page needs its cookie to keep your session private: allow cookies and reload.")
    if state is not None:
        finish(pipeline, state)
        if state.session.sink is not None:
            study.end(state, latency_summary(state))  # a second Start in the same tab: the first session ends
    state = pipeline.new_state()
    state.session.consent = True
    try:
        study.begin(state, (participant_id or "").strip() or query.get("pid", ""), query.get("condition", ""),
                    bool(keep_raw), owner, request.session_hash if request is not None else "")
    except ValueError as e:
        raise gr.Error(str(e), print_exception=False) from e
    token = capture.register(state)       # the page's microphone and typed text post with it (streaming/live/capture.py)
    who = f" for participant {state.session.participant_id}" if state.session.participant_id else ""
    linked = query.get("pid", "").strip()
    if linked and state.session.participant_id and state.session.participant_id != linked:
        who += f" (the ID you typed replaces {linked} from your link)"
    return (state, gr.update(visible=True), f"Session {state.session.session_id}{who} started.",
            gr.Timer(active=True), f'<span data-token="{token}"></span>',
            gr.update(open=False, label=CONSENT_GIVEN)) + view(state)


def link_participant(request: gr.Request | None = None):
    """On page load: the participant ID from the link (`?pid=P05`) in the ID field, so the page shows the ID the
    session will use; the field's note says where it came from."""
    pid = (dict(request.query_params).get("pid", "") if request is not None else "").strip()
    if not pid:
        return gr.update()
    return gr.update(value=pid, info=f"From your link: {pid}. Type another ID to replace it.")


def on_frame(pipeline: LivePipeline, frame: np.ndarray | None, state: LiveState | None) -> None:
    """A webcam frame: queued for the session's worker; returns at once (the page refreshes on its timer)."""
    if _ready(state) and frame is not None:
        pipeline.on_frame(state, frame)
        ensure_worker(pipeline, state)


def refresh(state: LiveState | None):
    """The page's timer: a new view when the session changed since the last one (or its headline aged into
    "no reading" with nothing new), else nothing."""
    if not _ready(state):
        return (gr.skip(),) * N_VIEW
    with state.lock:
        if state.version == state.rendered and headline(state) == state.shown_headline:
            return (gr.skip(),) * N_VIEW
    return view(state, charts=time.monotonic() - state.charts_at >= CHARTS_EVERY_S)


CALIBRATION_PROMPT = ("**Optional, 12 s:** press Calibrate, relax your face and read aloud in your normal voice: "
                      "*\"The weather report said it would be cloudy in the afternoon, with a light wind from the "
                      "west.\"* Your later readings are then taken relative to your own neutral face and voice.")


def on_calibrate(pipeline: LivePipeline, state: LiveState | None) -> None:
    if _ready(state):
        pipeline.start_calibration(state)


def on_skip_calibration(pipeline: LivePipeline, state: LiveState | None) -> None:
    if _ready(state):
        pipeline.skip_calibration(state)


def on_metadata(age: str, gender: str, timbre: str, state: LiveState | None):
    if state is not None:
        state.session.set_metadata({k: v for k, v in (("age", age), ("gender", gender), ("timbre", timbre))
                                    if v != "unknown"})
    return state


def on_correction(pipeline: LivePipeline, felt: str, note: str, state: LiveState | None):
    if not _ready(state):
        raise user_error("Start the session first (consent above).")
    if felt not in EMOTIONS:
        raise user_error(f"Pick the emotion you feel: one of {', '.join(EMOTIONS)}.")
    row = pipeline.correct(state, felt, note)
    adapted = (f" The fusion now adapts to you ({len(state.personal.corrections)} correction(s), this session only)."
               if row["adapted"] else "")
    # the choice and the note reset, so the next correction is a new explicit choice
    return f"Noted: shown {row['shown']}, you feel {felt}. Thank you.{adapted}", None, ""


def on_export(study: Study, state: LiveState | None, request: gr.Request | None = None):
    """The session from the study store as JSON, CSV and Parquet (+ raw media when opted in): one-time links
    for this browser, deleted after the download, after a few minutes, or when the session ends."""
    if state is None or state.session.sink is None:
        raise user_error("Nothing to export: start a session first.")
    return links(study.export(state, owner_of(request)))


def on_end(pipeline: LivePipeline, study: Study, state: LiveState | None):
    if state is None or state.session.sink is None:
        raise user_error("No session to end.")
    finish(pipeline, state)  # what was said up to the click is answered and stored before the end is
    study.end(state, latency_summary(state))
    state.session.consent = False  # capture stops being processed
    return gr.update(visible=False), f"Session {state.session.session_id} ended. Thank you.", gr.Timer(active=False)


def on_withdraw(study: Study, confirm: bool, state: LiveState | None):
    if state is None or state.session.sink is None:
        raise user_error("No session to withdraw from.")
    if not confirm:
        raise user_error("Tick 'Yes, delete everything from this session' first.")
    stop_worker(state, join_s=30.0)  # its step in progress finishes first: no row is written after the delete
    n = study.withdraw(state)
    state.session.consent = False
    release(state)
    return (gr.update(visible=False), f"Withdrawn: this session and all its data ({n} records) were deleted.",
            gr.Timer(active=False))


def release(state: LiveState | None) -> None:
    """Free a closed session's worker and buffers (face crops, audio in progress, timeline)."""
    if state is not None:
        stop_worker(state)
        state.face.crops.clear()
        state.session.timeline.clear()


def on_unload(pipeline: LivePipeline, study: Study, request: gr.Request):
    """A tab closed or reloaded: the input its session received is processed, then the session is marked
    interrupted in the store (everything already written stays)."""
    state = study.unload(request.session_hash, partial(finish, pipeline), latency_summary)
    if state is not None:
        stop_worker(state)  # also when it had ended before: its worker may have restarted on a late frame


# ---- layout ------------------------------------------------------------------------------------------
def build(pipeline: LivePipeline, study: Study | None = None, admin_password: str = "",
          capture: CaptureRoutes | None = None) -> gr.Blocks:
    """The page, wired to `pipeline` (tests pass one with fake models) and `study` (default: an in-memory
    store); with `admin_password`, the researcher view at /researcher. The microphone's audio and typed text arrive
    through `capture`'s routes (serve them with `launch(app_kwargs={"routes": capture.routes()})`)."""
    study = study or Study(StudyStore("sqlite://"))
    capture = capture or CaptureRoutes(pipeline)
    with gr.Blocks(title="AGF live emotion", analytics_enabled=False) as demo:
        # Gradio deletes a tab's state 60 min after it disconnects; the callback releases its buffers then.
        state = gr.State(None, delete_callback=release)
        gr.Markdown("# How do you come across?\nFace, voice and words, fused live by Adaptive Gated Fusion.")
        # open until a session starts, then one line (the conversation stays above the fold); click to re-read
        with gr.Accordion(CONSENT_LABEL, open=True, elem_id="consent") as consent_box:
            gr.Markdown(consent_text(study.options.privacy, detector_offline=pipeline.recognizer.detector_offline,
                                     suggestions=pipeline.suggester is not None))
            with gr.Row():
                consent = gr.Checkbox(label="I agree to take part", value=False)
                keep_raw = gr.Checkbox(label="Keep my raw audio and face crops in the study store", value=False)
                participant = gr.Textbox(label="Participant ID (optional)", max_lines=1)
                start = gr.Button("Start session", variant="primary")
        started = gr.Markdown(elem_id="started")
        with gr.Column(visible=False) as live:
            with gr.Row():
                with gr.Column(scale=1):
                    # Gradio asks the camera for up to 1920x1440 and sends every streamed frame as a JPEG of that
                    # size; the face crop is 48x48, so 640x480 is plenty and far lighter for both ends.
                    webcam = gr.Image(sources=["webcam"], streaming=True, label="Webcam", type="numpy",
                                      elem_id="webcam", webcam_options=gr.WebcamOptions(constraints=WEBCAM))
                    gr.Markdown(WEBCAM_HINT, elem_id="webcam-hint")
                    mic = gr.Button("Start microphone", elem_id="mic-button")
                    gr.HTML("", elem_id="mic-notice")        # filled by assets/capture.html
                    token = gr.HTML("", elem_id="capture-token", container=False)
                    gr.Markdown(CALIBRATION_PROMPT, elem_id="calibration-prompt")
                    with gr.Row():
                        calibrate = gr.Button("Calibrate (12 s)", elem_id="calibrate-button", size="sm")
                        skip_calibration = gr.Button("Skip", elem_id="skip-calibration", size="sm")
                    with gr.Row():
                        age = gr.Dropdown(list(VOCAB["age"]), value="unknown", label="Age group")
                        gender = gr.Dropdown(list(VOCAB["gender"]), value="unknown", label="Gender")
                        timbre = gr.Dropdown(list(VOCAB["timbre"]), value="unknown",
                                             label="Voice timbre (unknown = estimate from voice)")
                with gr.Column(scale=2):
                    gr.HTML("", elem_id="device-notice")     # filled by assets/devices.html in the browser
                    head = gr.Markdown(elem_id="headline")
                    gr.HTML(live_words_html(Listening()), elem_id="live-words")   # kept live by assets/capture.html
                    notice = gr.Markdown(elem_id="notice")
                    timeline = gr.HTML(timeline_chart([]), elem_id="timeline")      # inline SVG: see charts.py
                    with gr.Row():
                        plane = gr.HTML(plane_chart([]), elem_id="plane", min_width=260)  # valence-arousal: plane.py
                        with gr.Column(min_width=260):
                            importance = gr.HTML(importance_chart([]), elem_id="importance")
                            bars = gr.HTML(modality_bars_chart({}), elem_id="bars")
            with gr.Row():
                with gr.Column(scale=2):
                    gr.HTML(conversation_html([], []), elem_id="chat")         # kept live by assets/capture.html
                    gr.Textbox(label="Type instead", placeholder="Say something and press Enter",
                               elem_id="typed")            # Enter posts to /agf/text (assets/capture.html)
                    gr.HTML("", elem_id="typed-notice", container=False)
                with gr.Column(scale=1):
                    felt = gr.Dropdown(list(EMOTIONS), value=None, label="That's not how I feel. I feel…")
                    note = gr.Textbox(label="Note (optional)", max_lines=2)
                    correct = gr.Button("Send correction")
                    corrected = gr.Markdown()
                    export = gr.Button("Export session (JSON, CSV, Parquet)", elem_id="export-button")
                    files = gr.HTML(elem_id="export-files")
                    end = gr.Button("End session")
                    confirm = gr.Checkbox(label="Yes, delete everything from this session", value=False)
                    withdraw = gr.Button("Withdraw and delete my data", variant="stop")
            status = gr.Markdown(elem_id="status")
        # The page refreshes from the session on this timer; the streams only queue input (see worker.py).
        timer = gr.Timer(0.25, active=False)
        outs = [head, notice, timeline, plane, importance, bars, status]
        quiet = {"show_progress": "hidden", **PRIVATE}
        # owned(): every handler gets the request and refuses a state of another browser (streaming/study/access.py)
        start.click(owned(partial(start_session, pipeline, study, capture)), [consent, participant, state, keep_raw],
                    [state, live, started, timer, token, consent_box] + outs,
                    **quiet).success(None, js=DISMISS_TOASTS)
        # 3 frames a second: the worker reads at most 5 and dropped most of 5 (benchmarks/capacity.py), while
        # each frame costs the page an encode and the server a decode (browser benchmark: 1.21 -> 0.96 s median)
        webcam.stream(owned(partial(on_frame, pipeline)), [webcam, state], None, stream_every=0.33,
                      time_limit=3600, concurrency_limit=None, **quiet)
        mic.click(None, js="() => window.agfMic.toggle()")       # recorded in the page, posted losslessly
        timer.tick(owned(refresh), [state], outs, concurrency_limit=None, **quiet)
        calibrate.click(owned(partial(on_calibrate, pipeline)), [state], None, **PRIVATE)
        skip_calibration.click(owned(partial(on_skip_calibration, pipeline)), [state], None, **PRIVATE)
        for meta in (age, gender, timbre):
            meta.change(owned(on_metadata), [age, gender, timbre, state], [state], **PRIVATE)
        correct.click(owned(partial(on_correction, pipeline)), [felt, note, state], [corrected, felt, note],
                      **PRIVATE)
        export.click(owned(partial(on_export, study)), [state], [files], **PRIVATE)
        end.click(owned(partial(on_end, pipeline, study)), [state], [live, started, timer], **PRIVATE).success(
            lambda: gr.update(open=True, label=CONSENT_LABEL), None, [consent_box], **PRIVATE)
        withdraw.click(owned(partial(on_withdraw, study)), [confirm, state], [live, started, timer],
                       **PRIVATE).success(lambda: gr.update(open=True, label=CONSENT_LABEL), None, [consent_box],
                                          **PRIVATE)

        demo.load(link_participant, None, [participant], **PRIVATE)

        def unload(request: gr.Request):
            on_unload(pipeline, study, request)
        demo.unload(unload)
    if admin_password:
        researcher = build_researcher_view(study.store, admin_password, study.desk)  # built outside, or it renders twice
        with demo.route("Researcher", "/researcher", show_in_navbar=False):
            researcher.render()
    return demo


def asr_model_arg(value: str) -> str:
    """--asr-model: a packaged Whisper name or a CTranslate2 folder; anything else is refused here, before any
    model loads (a hub name would need the network)."""
    try:
        return check_whisper_model(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def threads_arg(value: str) -> int:
    n = int(value) if value.isdigit() else 0
    if not 1 <= n <= 256:
        raise argparse.ArgumentTypeError(f"--threads {value!r} is not accepted; use a whole number from 1 to 256")
    return n


def proxies_arg(value: str) -> str:
    try:
        return trusted_proxies(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_auth(pairs: list[str]) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        user, sep, password = pair.partition(":")
        if not sep or not user or not password:
            raise SystemExit(f"--auth {pair!r} is not accepted: use USER:PASSWORD (repeat for more users)")
        out.append((user, password))
    return out


def log_launch(share: bool, share_url: str | None, local_url: str, admin_password: str) -> None:
    """One line from the app where Gradio's own message misleads or there is none: a share link that could not
    be made (Gradio says to "set share=True in launch()"), and a researcher view that is off (a bare 404)."""
    if share and not share_url:
        log.warning("--share: no public link could be created (is this machine offline?); the page is served at "
                    "%s only", local_url)
    if not admin_password:
        log.info("the researcher view (/researcher) is off: set AGF_ADMIN_PASSWORD or --admin-password to enable it")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python demo.py", description=__doc__.splitlines()[0])
    ap.add_argument("--share", action="store_true", help="create a public Gradio link (for remote studies; "
                    "use with --auth)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--auth", action="append", default=[], metavar="USER:PASSWORD",
                    help="protect the participant page with a login (repeatable)")
    ap.add_argument("--admin-password", default=os.environ.get("AGF_ADMIN_PASSWORD", ""),
                    help="enables the researcher view at /researcher (default: env AGF_ADMIN_PASSWORD)")
    ap.add_argument("--store", default=os.environ.get("AGF_STORE"),
                    help=f"SQLAlchemy URL of the study store (default {DEFAULT_URL} with --study, {DEMO_URL} "
                    "without; postgresql+psycopg://user:pw@host/db for several replicas)")
    ap.add_argument("--study", help="study ID the sessions are filed under (without it: study 'demo', in "
                    f"{DEMO_URL} unless --store says otherwise)")
    ap.add_argument("--condition", default="", help="condition when the link gives none (?condition=...)")
    ap.add_argument("--retention-days", type=float, default=0.0,
                    help="delete sessions from the store after this many days (default 0: keep)")
    ap.add_argument("--export-ttl", type=float, default=300.0,
                    help="seconds a participant's export link works (one download)")
    ap.add_argument("--reply-model", default="", help="transformers text-generation model id, or the model name "
                    "at --reply-endpoint (default: offline template replies)")
    ap.add_argument("--reply-endpoint", default="", help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1 "
                    "(key in AGF_REPLY_API_KEY)")
    ap.add_argument("--asr-model", default=TranscriberOptions.model, type=asr_model_arg,
                    help=f"speech-to-text model: {' or '.join(PACKAGED_WHISPER)} (offline, from PyPI packages; "
                    "see reports/asr_wer.md) or a CTranslate2 Whisper folder (one holding model.bin)")
    ap.add_argument("--threads", type=threads_arg, default=DemoOptions.threads,
                    help="CPU threads per model call (default 1; see DemoOptions)")
    ap.add_argument("--tune-malloc", action="store_true",
                    help="map large blocks on their own and cap glibc's arenas: less memory growth in long sessions "
                         "(real browser session: +174 MB/h against +245 with the default trimming alone) but end of "
                         "speech -> words on the page 1.03 s median instead of 0.74 (benchmarks/browser.py)")
    ap.add_argument("--trusted-proxies", default=os.environ.get("AGF_TRUSTED_PROXIES", ""), type=proxies_arg,
                    help="comma-separated addresses of reverse proxies whose X-Forwarded-For names the client "
                    "(default: none, so a client cannot pick its own address to dodge the researcher lockout)")
    ap.add_argument("--no-suggestions", action="store_true",
                    help="replies never add a suggestion (a pause, a walk) for a sustained low or tense state; the "
                         "consent text says which")
    ap.add_argument("--metrics-log", default="", help="write live-path timings (no audio, no images) to this "
                    "JSON-lines file, for benchmarks/browser.py")
    args = ap.parse_args(argv)
    if args.tune_malloc:   # before the models load and the server's threads start (streaming/live/memory.py)
        tune_malloc()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.study:   # a casual run must not show up in a study's researcher view
        args.study, args.store = "demo", args.store or DEMO_URL
        log.info("without --study: sessions are filed under study 'demo' in %s", args.store.split("@")[-1])
    args.store = args.store or DEFAULT_URL
    auth = parse_auth(args.auth)
    if args.share and not auth:
        log.warning("--share without --auth: anyone with the link can open the participant page")
    privacy = PrivacyOptions(export_ttl_s=args.export_ttl, retention_days=args.retention_days)
    temp = PrivateTemp(privacy)  # before any component is built: they read GRADIO_TEMP_DIR
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a stopped server still cleans its temp folder
    try:
        store = StudyStore(args.store)
    except RuntimeError as e:   # e.g. a PostgreSQL server that does not answer: the URL, password hidden
        raise SystemExit(f"python demo.py: {e}") from None
    if n := store.mark_interrupted():   # PostgreSQL: only the sessions of replicas no longer running
        log.info("%d session(s) from an earlier run marked interrupted (their rows are kept)", n)
    try:
        pipeline = make_pipeline(DemoOptions(args.asr_model, args.reply_model, args.reply_endpoint,
                                             args.metrics_log, args.threads, not args.no_suggestions))
    except (ValueError, FileNotFoundError, ImportError, RuntimeError) as e:   # a missing or damaged model file
        log.debug("loading the models failed", exc_info=True)
        raise SystemExit(f"python demo.py: cannot load the models: {e}") from None
    capture = CaptureRoutes(pipeline)
    reply = type(pipeline.reply).__name__ + (f" ({args.reply_model})" if args.reply_model else "") \
        + (", suggestions off" if args.no_suggestions else ", suggestions on")   # the sessions' provenance says which
    study = Study(store, StudyOptions(args.study, args.condition, privacy),
                  provenance(args.asr_model, reply, CONSENT_VERSION))
    if args.retention_days:  # now and periodically, for as long as the server runs
        RetentionSweeper(study, temp).start()
    # a long session's memory stays flat: the C heap's free pages go back, Gradio's frame waits leave no
    # timers behind (streaming/live/memory.py; benchmarks/browser_memory.py)
    HeapTrimmer().start()
    cancel_gradio_wait_timers()
    demo = build(pipeline, study, args.admin_password, capture)
    trust_proxies(args.trusted_proxies)   # before launch: uvicorn reads it when Gradio starts the server
    log.info("temp folder %s; exports in %s; store %s", temp.path, study.desk.root, args.store.split("@")[-1])
    demo.queue(default_concurrency_limit=4).launch(
        prevent_thread_lock=True,   # to say what happened to the share link; block_thread() below
        server_name=args.host, server_port=args.port, share=args.share, auth=auth or None,
        css_paths=[ASSETS / "style.css"], head_paths=[ASSETS / "devices.html", ASSETS / "capture.html"],
        footer_links=["gradio", "settings"],
        app_kwargs={"routes": capture.routes(),
                    "middleware": [Middleware(AccessMiddleware, desk=study.desk, secure=args.share)]})
    log_launch(args.share, demo.share_url, demo.local_url, args.admin_password)
    demo.block_thread()


if __name__ == "__main__":
    main()
