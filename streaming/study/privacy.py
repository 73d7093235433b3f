"""What touches disk and the network while a participant streams, and the consent text that says so.

- Telemetry off: Gradio analytics (`GRADIO_ANALYTICS_ENABLED=False`, set before gradio is imported, and
  `analytics_enabled=False` on the Blocks), Hugging Face telemetry, ONNX Runtime's telemetry events. MediaPipe
  1.2.2's native usage logger (an HTTPS POST of a ~100-150 byte protobuf to play.googleapis.com/log when a task
  starts and closes; no switch: not in its options, its environment or the open-source tree) runs in the face
  detector's own process, which has no network (agf_core/inputs/detector_process.py), and is handed an empty
  CA bundle there and here, so its TLS handshake would fail even with a network (tests/test_telemetry.py;
  README, Privacy).
- Gradio's temp folder is private to this server process (mode 0700, `GRADIO_TEMP_DIR`) and swept: Gradio may
  save streamed media it receives (the microphone no longer goes through it: streaming/live/capture.py); a sweeper
  deletes every such file within
  `media_max_age_s` seconds, any other file (an export or researcher download that passed through Gradio)
  within `file_max_age_s`, and the whole folder at exit. Folders left by a killed server are removed at the
  next start. No camera image is sent back to the page (the webcam box shows the camera inside the browser), so
  no output image is written.
"""
from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CONSENT_VERSION = "6"   # 6: says whether suggestions are on
TEMP_PREFIX = "agf-gradio-"
EXPORT_PREFIX = "agf-exports-"   # streaming.study.access.ExportDesk's folders
MEDIA_SUFFIXES = (".wav", ".webm", ".mp3", ".ogg", ".flac", ".webp", ".png", ".jpg", ".jpeg", ".mp4", ".y4m")


@dataclass(frozen=True)
class PrivacyOptions:
    media_max_age_s: float = 3.0     # a streamed chunk Gradio saved lives at most this long (+ one sweep)
    file_max_age_s: float = 300.0    # any other file in Gradio's temp folder (downloads passing through)
    sweep_every_s: float = 1.0
    export_ttl_s: float = 300.0      # a participant's export link works this long, and for one download
    retention_days: float = 0.0      # the study store deletes sessions older than this; 0 keeps them

    def __post_init__(self):
        for name in ("media_max_age_s", "file_max_age_s", "sweep_every_s", "export_ttl_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)!r} is not accepted: use a positive number of seconds")
        if self.retention_days < 0:
            raise ValueError(f"retention_days={self.retention_days!r} is not accepted: use 0 (keep) or more days")


def disable_telemetry() -> None:
    """Call before gradio (or huggingface_hub) is imported; harmless after."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from agf_core.inputs.detector_process import quiet_mediapipe
    quiet_mediapipe()
    _quiet_onnxruntime()


def _quiet_onnxruntime() -> None:
    """ONNX Runtime 1.31 (the Silero VAD) has a 1DS telemetry client that looks up
    mobile.events.data.microsoft.com from a native thread once a session runs beside MediaPipe's library
    (measured with strace); `disable_telemetry_events()` alone does not stop it, the environment switch
    ORT_DISABLE_TELEMETRY read when onnxruntime loads does."""
    import sys
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    if "onnxruntime" in sys.modules:  # loaded already: the environment switch came too late for it
        sys.modules["onnxruntime"].disable_telemetry_events()
        log.warning("onnxruntime was imported before disable_telemetry(): its telemetry may be on")


def consent_text(options: PrivacyOptions, store_label: str = "the study database on this server",
                 detector_offline: bool = True, suggestions: bool = True) -> str:
    """The notice shown before a session starts; every duration in it comes from `options`. `detector_offline`:
    the face detector's process has no network (agf_core/inputs/detector_process.py); `suggestions`: replies may
    add a suggestion for a sustained state (streaming/dialogue/suggestions.py)."""
    kept = (f"deleted {options.retention_days:g} days after the session started (checked every hour or more often)"
            if options.retention_days else "kept until the researcher deletes them")
    return f"""**Before you start** (consent text version {CONSENT_VERSION}). This study estimates emotions from your
face (webcam), voice and words (microphone), and what you type. The estimates are what a model reads from
expressions, not what you feel, and can be wrong. {_SUGGESTION_NOTE[suggestions]}

**What is stored.** From the moment you start, the emotion estimates (several per second), what you said
(as text, with its start and end), the replies, your corrections, the profile you pick and your consent
are written to {store_label} as they happen, under your participant ID (or none), and {kept}.
You can withdraw at any time with "Withdraw and delete my data": everything of this session is deleted.

**What is not stored.** Camera frames and microphone audio are processed in memory. Microphone audio goes
from this page straight into the server's memory. The web framework may write a received camera frame to a
private temporary folder on this server; any such file is deleted within
{options.media_max_age_s + options.sweep_every_s:g} seconds, and the folder when the server stops. Only if you tick "keep my raw audio and face crops" are your spoken
utterances (audio) and small face crops (48x48 pixels) also written to {store_label}.

**Your export** (if you ask for one) is written to a folder of this session only, can be downloaded once from
this browser within {options.export_ttl_s / 60:g} minutes, and is deleted after the download, after that time
or when the session ends. No data is sent to any other server; usage analytics are off. {_DETECTOR_NOTE[detector_offline]}"""


_SUGGESTION_NOTE = {
    True: "**Suggestions are on:** when the estimates stay low or tense over several turns, a reply may add one "
          "everyday suggestion (a pause, a breath, a glass of water, a walk, talking to someone), at most once "
          "every few minutes. It is not advice about your health.",
    False: "**Suggestions are off:** the replies never suggest what you might do."}

_DETECTOR_NOTE = {
    True: "(The face detection library tries to reach Google's usage-logging server; it runs in a process "
          "without network access here, so the attempt never leaves this server.)",
    False: "(The face detection library tries to reach Google's usage-logging server when it starts and stops; "
           "the app makes that connection fail before anything is sent, but the attempt itself is visible on "
           "the network.)"}


class PrivateTemp:
    """Gradio's temp folder for this process: private, swept, removed at exit."""

    def __init__(self, options: PrivacyOptions = PrivacyOptions(), root: str | Path | None = None):
        self.options = options
        self.root = Path(root or tempfile.gettempdir())
        remove_stale(self.root)
        self.path = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=self.root))
        os.chmod(self.path, 0o700)
        os.environ["GRADIO_TEMP_DIR"] = str(self.path)  # read by every component built after this
        self.deleted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agf-temp-sweeper", daemon=True)
        self._thread.start()
        atexit.register(self.close)
        log.info("Gradio temp folder %s: streamed media deleted after %.0f s", self.path, options.media_max_age_s)

    def sweep(self, now: float | None = None) -> int:
        """Delete the files past their age; returns how many went."""
        now = time.time() if now is None else now
        n = 0
        for f in list(self.path.rglob("*")):
            try:
                if not f.is_file():
                    continue
                limit = self.options.media_max_age_s if f.suffix.lower() in MEDIA_SUFFIXES else \
                    self.options.file_max_age_s
                if now - f.stat().st_mtime > limit:
                    f.unlink()
                    n += 1
            except FileNotFoundError:  # Gradio moved or deleted it meanwhile
                continue
        for d in sorted((d for d in self.path.rglob("*") if d.is_dir()), key=lambda p: -len(p.parts)):
            try:
                d.rmdir()  # only empty ones
            except OSError:
                pass
        self.deleted += n
        return n

    def _run(self) -> None:
        while not self._stop.wait(self.options.sweep_every_s):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001  the sweeper must outlive a bad file
                log.exception("temp sweep failed")

    def close(self) -> None:
        self._stop.set()
        shutil.rmtree(self.path, ignore_errors=True)


def remove_stale(root: Path, prefixes: tuple[str, ...] = (TEMP_PREFIX, EXPORT_PREFIX)) -> list[Path]:
    """Temp and export folders of earlier server processes that no longer run (killed before they could clean
    up); each folder's name holds its server's pid."""
    gone = []
    for prefix in prefixes:
        for d in Path(root).glob(f"{prefix}*"):
            try:
                pid = int(d.name[len(prefix):].split("-")[0])
            except ValueError:
                continue
            if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(d, ignore_errors=True)
                gone.append(d)
    if gone:
        log.info("removed %d temp folder(s) left by stopped servers", len(gone))
    return gone
