"""Live multimodal emotion recognition in the browser: `python demo.py [--share] [--host H] [--port P]`.

Layout and wiring only: the live path is `streaming.pipeline.LivePipeline`, the models `agf_core`.
Each handler takes the session's `LiveState` (kept in gr.State, one per browser tab) and returns what the
page shows; none of them raises into the stream.
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every default model ships offline

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from agf_core.models.audio import PACKAGED_WHISPER  # noqa: E402
from agf_core.transcriber import TranscriberOptions  # noqa: E402
from agf_core.labels import EMOTIONS, MODALITIES  # noqa: E402
from agf_core.inputs.metadata import VOCAB  # noqa: E402
from streaming.charts import MODALITY_NAMES, importance_figure, modality_bars_figure, timeline_figure  # noqa: E402
from streaming.pipeline import LivePipeline, latency_summary  # noqa: E402
from streaming.state import LiveState  # noqa: E402
from streaming import ASSETS  # noqa: E402
from streaming.capture import MicrophoneRoutes  # noqa: E402
from streaming.metrics import MetricsLog, no_metrics  # noqa: E402
from streaming.worker import ensure_worker, stop_worker  # noqa: E402

log = logging.getLogger("demo")
CONSENT = """**Before you start.** This demo estimates emotions from your face (webcam), voice and words
(microphone), and what you type. Frames and audio are processed in memory on this server and are **not
stored** unless you tick "keep my raw audio and face crops" below (then they are added to your export);
the timeline, transcript, replies and your corrections are kept for this session only, until you export
them or close the tab. The estimates are
what a model reads from expressions, not what you feel, and can be wrong."""


@dataclass(frozen=True)
class DemoOptions:
    """What the command line chooses; `make_pipeline` turns it into the models every session shares."""
    asr_model: str = TranscriberOptions.model
    reply_model: str = ""
    reply_endpoint: str = ""
    metrics_log: str = ""       # a file for wall-clock live-path events (benchmarks/browser.py); off when ""


def make_pipeline(options: DemoOptions = DemoOptions()) -> LivePipeline:
    """Models load once per process and are shared by every session."""
    from agf_core.recognizer import default_recognizer
    from streaming.reply import GeneratorReply, TemplateReply
    from streaming.transcriber import WhisperTranscriber
    reply = (GeneratorReply(options.reply_model, options.reply_endpoint, os.environ.get("AGF_REPLY_API_KEY", ""))
             if options.reply_model or options.reply_endpoint else TemplateReply())
    metrics = MetricsLog(options.metrics_log) if options.metrics_log else no_metrics
    return LivePipeline(default_recognizer(), WhisperTranscriber(TranscriberOptions(model=options.asr_model)), reply,
                        metrics=metrics)


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
    return " | ".join(parts) + (f"\n\n{fusion}" if fusion else "") + (f"\n\nmedian latency: {timing}" if timing else "")


def headline(state: LiveState) -> str:
    """The smoothed, hysteresis label: the one the timeline records as shown, with its confidence."""
    smoother = state.session.smoother
    if smoother.probs is None:
        return "### Right now: waiting for your face, voice or words"
    p = float(smoother.probs[EMOTIONS.index(smoother.label)])
    if p < UNCERTAIN_BELOW:
        return f"### Right now: uncertain (perhaps {smoother.label}, {p:.0%})"
    return f"### Right now: {smoother.label} ({p:.0%})"


def live_words(state: LiveState) -> str:
    """What is being said right now: "listening…" from speech onset, then the words decoded so far."""
    if state.listening.since_s is None:
        return ""
    partial = state.listening.partial
    return "🎙️ **listening…**" + (f" _{partial}_" if partial else "")


def chat_messages(state: LiveState) -> list[dict]:
    out = []
    for said, reply in zip(state.session.transcript, state.session.replies):
        out.append({"role": "user", "content": f"{said['text']}  _({said['source']}, {said['emotion']})_"})
        out.append({"role": "assistant", "content": reply["text"]})
    return out


def view(state: LiveState) -> tuple:
    """Headline, live words, notice, timeline, importance, per-modality bars, chat and status."""
    with state.lock:
        state.rendered = state.version
        rows = list(state.session.timeline)
        per_modality = state.last.per_modality if state.last is not None else {}
        return (headline(state), live_words(state), state.notice, timeline_figure(rows), importance_figure(rows),
                modality_bars_figure(per_modality), chat_messages(state), status_line(state))


N_VIEW = 8


def _ready(state: LiveState | None) -> bool:
    return state is not None and state.session.consent


# ---- handlers ----------------------------------------------------------------------------------------
def start_session(pipeline: LivePipeline, microphone: MicrophoneRoutes, consent: bool, participant_id: str,
                  state: LiveState | None, keep_raw: bool = False):
    if not consent:
        raise gr.Error("Please tick the consent box to start: capture stays off until you do.")
    if state is not None:
        stop_worker(state)
    state = pipeline.new_state(participant_id.strip())
    state.session.consent = True
    state.keep_raw = bool(keep_raw)
    token = microphone.register(state)          # the page's microphone posts with it (streaming/capture.py)
    return (state, gr.update(visible=True), f"Session {state.session.session_id} started.",
            gr.Timer(active=True), f'<span data-token="{token}"></span>') + view(state)


def on_frame(pipeline: LivePipeline, frame: np.ndarray | None, state: LiveState | None) -> None:
    """A webcam frame: queued for the session's worker; returns at once (the page refreshes on its timer)."""
    if _ready(state) and frame is not None:
        pipeline.on_frame(state, frame)
        ensure_worker(pipeline, state)


def refresh(state: LiveState | None):
    """The page's timer: a new view when the session changed since the last one, else nothing."""
    if not _ready(state) or state.version == state.rendered:
        return (gr.skip(),) * N_VIEW
    return view(state)


def on_text(pipeline: LivePipeline, text: str, state: LiveState | None):
    if not _ready(state):
        raise gr.Error("Start the session first (consent above).")
    pipeline.on_text(state, text)
    return ("",) + view(state)


def on_metadata(age: str, gender: str, timbre: str, state: LiveState | None):
    if state is not None:
        state.session.metadata = {k: v for k, v in (("age", age), ("gender", gender), ("timbre", timbre))
                                  if v != "unknown"}
    return state


def on_correction(pipeline: LivePipeline, felt: str, note: str, state: LiveState | None):
    if not _ready(state):
        raise gr.Error("Start the session first (consent above).")
    if felt not in EMOTIONS:
        raise gr.Error(f"Pick the emotion you feel: one of {', '.join(EMOTIONS)}.")
    row = pipeline.correct(state, felt, note)
    adapted = (f" The fusion now adapts to you ({len(state.personal.corrections)} correction(s), this session only)."
               if row["adapted"] else "")
    # the choice and the note reset, so the next correction is a new explicit choice
    return f"Noted: shown {row['shown']}, you feel {felt}. Thank you.{adapted}", None, ""


def on_export(state: LiveState | None):
    if state is None:
        raise gr.Error("Nothing to export yet: start a session first.")
    folder = Path(tempfile.mkdtemp(prefix=f"agf_{state.session.session_id}_"))
    stem = f"session_{state.session.participant_id or 'anon'}_{state.session.session_id}"
    (folder / f"{stem}.json").write_text(state.session.to_json())
    (folder / f"{stem}_timeline.csv").write_text(state.session.timeline_csv())
    files = [folder / f"{stem}.json", folder / f"{stem}_timeline.csv"]
    if state.keep_raw:  # only with the participant's opt-in at the start of the session
        import soundfile as sf
        for i, (t, audio) in enumerate(state.raw_audio):
            files.append(folder / f"{stem}_utterance{i:03d}_t{t:.1f}s.wav")
            sf.write(files[-1], audio, 16000)
        if state.raw_faces:
            files.append(folder / f"{stem}_faces.npz")
            np.savez_compressed(files[-1], t=np.array([t for t, _ in state.raw_faces]),
                                crops=np.stack([c for _, c in state.raw_faces]))
    return [str(f) for f in files]


def release(state: LiveState | None) -> None:
    """Free a closed session's worker and buffers (face crops, audio in progress, timeline)."""
    if state is not None:
        stop_worker(state)
        state.face.crops.clear()
        state.session.timeline.clear()


# ---- layout ------------------------------------------------------------------------------------------
def build(pipeline: LivePipeline, microphone: MicrophoneRoutes | None = None) -> gr.Blocks:
    """The page, wired to `pipeline` (tests pass one with fake models). The microphone's audio arrives through
    `microphone`'s route (serve it with `launch(app_kwargs={"routes": microphone.routes()})`)."""
    microphone = microphone or MicrophoneRoutes(pipeline)
    with gr.Blocks(title="AGF live emotion") as demo:
        # Gradio deletes a tab's state 60 min after it disconnects; the callback releases its buffers then.
        state = gr.State(None, delete_callback=release)
        gr.Markdown("# How do you come across?\nFace, voice and words, fused live by Adaptive Gated Fusion.")
        with gr.Group(elem_id="consent"):
            gr.Markdown(CONSENT)
            with gr.Row():
                consent = gr.Checkbox(label="I agree to take part", value=False)
                keep_raw = gr.Checkbox(label="Keep my raw audio and face crops for export", value=False)
                participant = gr.Textbox(label="Participant ID (optional)", max_lines=1)
                start = gr.Button("Start session", variant="primary")
            started = gr.Markdown()
        with gr.Column(visible=False) as live:
            with gr.Row():
                with gr.Column(scale=1):
                    webcam = gr.Image(sources=["webcam"], streaming=True, label="Webcam", type="numpy",
                                      elem_id="webcam")
                    mic = gr.Button("🎙️ Start microphone", elem_id="mic-button")
                    gr.HTML("", elem_id="mic-notice")        # filled by assets/microphone.html
                    token = gr.HTML("", elem_id="capture-token", container=False)
                    with gr.Row():
                        age = gr.Dropdown(list(VOCAB["age"]), value="unknown", label="Age group")
                        gender = gr.Dropdown(list(VOCAB["gender"]), value="unknown", label="Gender")
                        timbre = gr.Dropdown(list(VOCAB["timbre"]), value="unknown",
                                             label="Voice timbre (unknown = estimate from voice)")
                with gr.Column(scale=2):
                    gr.HTML("", elem_id="device-notice")     # filled by assets/devices.html in the browser
                    head = gr.Markdown(elem_id="headline")
                    words = gr.Markdown(elem_id="live-words")
                    notice = gr.Markdown(elem_id="notice")
                    timeline = gr.Plot(label="Timeline", elem_id="timeline")
                    with gr.Row():
                        importance = gr.Plot(label="Modality importance", elem_id="importance")
                        bars = gr.Plot(label="Per modality", elem_id="bars")
            with gr.Row():
                with gr.Column(scale=2):
                    chat = gr.Chatbot(label="Conversation", height=300, elem_id="chat")
                    text = gr.Textbox(label="Type instead", placeholder="Say something and press Enter")
                with gr.Column(scale=1):
                    felt = gr.Dropdown(list(EMOTIONS), value=None, label="That's not how I feel. I feel…")
                    note = gr.Textbox(label="Note (optional)", max_lines=2)
                    correct = gr.Button("Send correction")
                    corrected = gr.Markdown()
                    export = gr.Button("Export session (JSON + CSV)")
                    files = gr.File(label="Export", file_count="multiple", elem_id="export-files")
            status = gr.Markdown(elem_id="status")
        # The page refreshes from the session on this timer; the streams only queue input (see worker.py).
        timer = gr.Timer(0.25, active=False)
        outs = [head, words, notice, timeline, importance, bars, chat, status]
        quiet = {"show_progress": "hidden", "api_visibility": "private"}
        start.click(partial(start_session, pipeline, microphone), [consent, participant, state, keep_raw],
                    [state, live, started, timer, token] + outs, **quiet)
        webcam.stream(partial(on_frame, pipeline), [webcam, state], None, stream_every=0.1,
                      time_limit=3600, concurrency_limit=None, **quiet)
        mic.click(None, js="() => window.agfMic.toggle()")       # recorded in the page, posted losslessly
        timer.tick(refresh, [state], outs, concurrency_limit=None, **quiet)
        text.submit(partial(on_text, pipeline), [text, state], [text] + outs, **quiet)
        for meta in (age, gender, timbre):
            meta.change(on_metadata, [age, gender, timbre, state], [state], api_visibility="private")
        correct.click(partial(on_correction, pipeline), [felt, note, state], [corrected, felt, note],
                      api_visibility="private")
        export.click(on_export, [state], [files], api_visibility="private")
    return demo


def asr_model_arg(value: str) -> str:
    """--asr-model: a packaged Whisper name or a CTranslate2 folder; anything else is refused here, before any
    model loads (a hub name would need the network)."""
    if value in PACKAGED_WHISPER or (Path(value) / "model.bin").is_file():
        return value
    raise argparse.ArgumentTypeError(f"unknown ASR model {value!r}; accepted: {', '.join(PACKAGED_WHISPER)}, "
                                     "or a CTranslate2 Whisper folder holding model.bin")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python demo.py", description=__doc__.splitlines()[0])
    ap.add_argument("--share", action="store_true", help="create a public Gradio link (for remote studies)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--reply-model", default="", help="transformers text-generation model id, or the model name "
                    "at --reply-endpoint (default: offline template replies)")
    ap.add_argument("--reply-endpoint", default="", help="OpenAI-compatible base URL, e.g. http://localhost:8000/v1 "
                    "(key in AGF_REPLY_API_KEY)")
    ap.add_argument("--asr-model", default=TranscriberOptions.model, type=asr_model_arg,
                    help=f"speech-to-text model: {' or '.join(PACKAGED_WHISPER)} (offline, from PyPI packages; "
                    "see reports/asr_wer.md) or a CTranslate2 Whisper folder (one holding model.bin)")
    ap.add_argument("--metrics-log", default="", help="write live-path timings (no audio, no images) to this "
                    "JSON-lines file, for benchmarks/browser.py")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    pipeline = make_pipeline(DemoOptions(args.asr_model, args.reply_model, args.reply_endpoint, args.metrics_log))
    microphone = MicrophoneRoutes(pipeline)
    build(pipeline, microphone).queue(default_concurrency_limit=4).launch(
        server_name=args.host, server_port=args.port, share=args.share, css_paths=[ASSETS / "style.css"],
        head_paths=[ASSETS / "devices.html", ASSETS / "microphone.html"],
        app_kwargs={"routes": microphone.routes()})


if __name__ == "__main__":
    main()
