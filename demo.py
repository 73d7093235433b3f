"""Live multimodal emotion recognition in the browser: `python demo.py [--share] [--host H] [--port P]`.

Layout and wiring only: the live path is `streaming.pipeline.LivePipeline`, the models `agf_core`.
Each handler takes the session's `LiveState` (kept in gr.State, one per browser tab) and returns what the
page shows; none of them raises into the stream.
"""
from __future__ import annotations

import argparse
import functools
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every default model ships offline

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from agf_core.audio_encoder import PACKAGED_WHISPER  # noqa: E402
from agf_core.labels import EMOTIONS, MODALITIES  # noqa: E402
from agf_core.metadata import VOCAB  # noqa: E402
from streaming.charts import MODALITY_NAMES, importance_figure, modality_bars_figure, timeline_figure  # noqa: E402
from streaming.pipeline import LiveState, LivePipeline, latency_summary  # noqa: E402
from streaming.transcriber import TranscriberOptions  # noqa: E402
from streaming.video import draw_box  # noqa: E402

ASSETS = Path(__file__).resolve().parent / "assets"
CONSENT = """**Before you start.** This demo estimates emotions from your face (webcam), voice and words
(microphone), and what you type. Frames and audio are processed in memory on this server and are **not
stored** unless you tick "keep my raw audio and face crops" below (then they are added to your export);
the timeline, transcript, replies and your corrections are kept for this session only, until you export
them or close the tab. The estimates are
what a model reads from expressions, not what you feel, and can be wrong."""


# Options from the command line (main), read by the first pipeline() call.
REPLY_GENERATOR = {"model": "", "endpoint": ""}
ASR = {"model": TranscriberOptions.model}   # the transcriber's default (see reports/asr_wer.md)


@functools.lru_cache(maxsize=1)
def pipeline() -> LivePipeline:
    """Models load once per process and are shared by every session."""
    from agf_core.recognizer import default_recognizer
    from streaming.reply import GeneratorReply, TemplateReply
    from streaming.transcriber import TranscriberOptions, WhisperTranscriber
    model, endpoint = REPLY_GENERATOR["model"], REPLY_GENERATOR["endpoint"]
    reply = (GeneratorReply(model, endpoint, os.environ.get("AGF_REPLY_API_KEY", ""))
             if model or endpoint else TemplateReply())
    return LivePipeline(default_recognizer(), WhisperTranscriber(TranscriberOptions(model=ASR["model"])), reply)


# ---- rendering ---------------------------------------------------------------------------------------
def status_line(state: LiveState) -> str:
    parts = [f"{MODALITY_NAMES[m]}: {state.status[m]}" for m in MODALITIES]
    lat = latency_summary(state)
    timing = " · ".join(f"{k} {v['median_ms']:.0f} ms" for k, v in lat.items())
    fusion = f"fusion: {state.last.fusion}" if state.last is not None else ""
    if state.personal.active:
        fusion += f", adapted to you ({len(state.personal.corrections)} correction(s))"
    return " | ".join(parts) + (f"\n\n{fusion}" if fusion else "") + (f"\n\nmedian latency: {timing}" if timing else "")


def chat_messages(state: LiveState) -> list[dict]:
    out = []
    for said, reply in zip(state.session.transcript, state.session.replies):
        out.append({"role": "user", "content": f"{said['text']}  _({said['source']}, {said['emotion']})_"})
        out.append({"role": "assistant", "content": reply["text"]})
    return out


def view(state: LiveState) -> tuple:
    """Label, timeline, importance, per-modality bars, chat and status for the current state."""
    rows = state.session.timeline
    pred = state.last
    label = {}
    if rows and state.session.smoother.probs is not None:  # the smoothed probabilities, so it does not flicker
        label = {e: float(p) for e, p in zip(EMOTIONS, state.session.smoother.probs)}
    per_modality = pred.per_modality if pred is not None else {}
    return (label, timeline_figure(rows), importance_figure(rows), modality_bars_figure(per_modality),
            chat_messages(state), status_line(state))


def _ready(state: LiveState | None) -> bool:
    return state is not None and state.session.consent


# ---- handlers ----------------------------------------------------------------------------------------
def start_session(consent: bool, participant_id: str, state: LiveState | None, keep_raw: bool = False):
    if not consent:
        raise gr.Error("Please tick the consent box to start: capture stays off until you do.")
    state = pipeline().new_state(participant_id.strip())
    state.session.consent = True
    state.keep_raw = bool(keep_raw)
    return (state, gr.update(visible=True), f"Session {state.session.session_id} started.") + view(state)


def on_frame(frame: np.ndarray | None, state: LiveState | None):
    """A webcam frame: the preview with the face box, and a refreshed view when the window updated."""
    if not _ready(state) or frame is None:
        return (gr.skip(),) * 7
    pred = pipeline().on_frame(state, frame)
    preview = draw_box(frame, state.face.box, state.session.smoother.label if state.face.box else "")
    return (preview[::2, ::2],) + (view(state) if pred is not None else (gr.skip(),) * 5 + (status_line(state),))


def on_audio(chunk: tuple[int, np.ndarray] | None, state: LiveState | None):
    if not _ready(state) or chunk is None:
        return (gr.skip(),) * 6
    turns = pipeline().on_audio(state, chunk)
    return view(state) if turns else (gr.skip(),) * 5 + (status_line(state),)


def on_stop_recording(state: LiveState | None):
    if not _ready(state):
        return (gr.skip(),) * 6
    pipeline().close(state)
    return view(state)


def on_text(text: str, state: LiveState | None):
    if not _ready(state):
        raise gr.Error("Start the session first (consent above).")
    pipeline().on_text(state, text)
    return ("",) + view(state)


def on_metadata(age: str, gender: str, timbre: str, state: LiveState | None):
    if state is not None:
        state.session.metadata = {k: v for k, v in (("age", age), ("gender", gender), ("timbre", timbre))
                                  if v != "unknown"}
    return state


def on_correction(felt: str, note: str, state: LiveState | None):
    if not _ready(state):
        raise gr.Error("Start the session first (consent above).")
    if felt not in EMOTIONS:
        raise gr.Error(f"Pick the emotion you feel: one of {', '.join(EMOTIONS)}.")
    row = pipeline().correct(state, felt, note)
    adapted = (f" The fusion now adapts to you ({len(state.personal.corrections)} correction(s), this session only)."
               if row["adapted"] else "")
    return f"Noted: shown {row['shown']}, you feel {felt}. Thank you.{adapted}"


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
    """Free a closed session's buffers (face crops, audio in progress, timeline)."""
    if state is not None:
        state.face.crops.clear()
        state.segmenter = None
        state.session.timeline.clear()


# ---- layout ------------------------------------------------------------------------------------------
def build() -> gr.Blocks:
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
                    preview = gr.Image(label="Face", interactive=False, elem_id="face-preview")
                    mic = gr.Audio(sources=["microphone"], streaming=True, label="Microphone", type="numpy",
                                   elem_id="mic")
                    with gr.Row():
                        age = gr.Dropdown(list(VOCAB["age"]), value="unknown", label="Age group")
                        gender = gr.Dropdown(list(VOCAB["gender"]), value="unknown", label="Gender")
                        timbre = gr.Dropdown(list(VOCAB["timbre"]), value="unknown",
                                             label="Voice timbre (unknown = estimate from voice)")
                with gr.Column(scale=2):
                    label = gr.Label(num_top_classes=3, label="Right now", elem_id="current-label")
                    timeline = gr.Plot(label="Timeline")
                    with gr.Row():
                        importance = gr.Plot(label="Modality importance")
                        bars = gr.Plot(label="Per modality")
            with gr.Row():
                with gr.Column(scale=2):
                    chat = gr.Chatbot(label="Conversation", height=300)
                    text = gr.Textbox(label="Type instead", placeholder="Say something and press Enter")
                with gr.Column(scale=1):
                    felt = gr.Dropdown(list(EMOTIONS), label="That's not how I feel. I feel…")
                    note = gr.Textbox(label="Note (optional)", max_lines=2)
                    correct = gr.Button("Send correction")
                    corrected = gr.Markdown()
                    export = gr.Button("Export session (JSON + CSV)")
                    files = gr.File(label="Export", file_count="multiple", elem_id="export-files")
            status = gr.Markdown(elem_id="status")
        outs = [label, timeline, importance, bars, chat, status]
        start.click(start_session, [consent, participant, state, keep_raw], [state, live, started] + outs)
        webcam.stream(on_frame, [webcam, state], [preview] + outs, stream_every=0.1, time_limit=3600,
                      concurrency_limit=None)
        mic.stream(on_audio, [mic, state], outs, stream_every=0.5, time_limit=3600, concurrency_limit=None)
        mic.stop_recording(on_stop_recording, [state], outs)
        text.submit(on_text, [text, state], [text] + outs)
        for meta in (age, gender, timbre):
            meta.change(on_metadata, [age, gender, timbre, state], [state])
        correct.click(on_correction, [felt, note, state], [corrected])
        export.click(on_export, [state], [files])
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
    ap.add_argument("--asr-model", default=ASR["model"], type=asr_model_arg,
                    help=f"speech-to-text model: {' or '.join(PACKAGED_WHISPER)} (offline, from PyPI packages; "
                    "see reports/asr_wer.md) or a CTranslate2 Whisper folder (one holding model.bin)")
    args = ap.parse_args(argv)
    ASR["model"] = args.asr_model
    REPLY_GENERATOR.update(model=args.reply_model, endpoint=args.reply_endpoint)
    pipeline()  # load and warm the models before the first participant arrives
    build().queue(default_concurrency_limit=4).launch(server_name=args.host, server_port=args.port,
                                                     share=args.share, css_paths=[ASSETS / "style.css"])


if __name__ == "__main__":
    main()
