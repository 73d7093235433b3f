"""One worker: the models loaded once, then any number of recordings analysed one after the other.

The same class runs in the plain process (engine "local") and as a Ray actor (engine "ray"). `analyze` never
raises for a bad recording: it returns a result whose `error` is the one line the batch summary shows.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from agf_core.checkpoint import sha256

from . import media, output, speech, timeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalyzeOptions:
    timeline: timeline.TimelineOptions = field(default_factory=timeline.TimelineOptions)
    speech: speech.SpeechOptions = field(default_factory=speech.SpeechOptions)
    models: str | None = None          # folder with text.pt, audio.pt, video.pt; None: the shipped ones
    asr_model: str = "tiny.en"
    block_s: float = 60.0              # audio decoded and searched for speech this much at a time
    threads: int | None = None         # torch threads per worker; None: AGF_THREADS or all cores

    def settings(self) -> dict:
        """What changes the result: an input finished with other settings is done again."""
        out = asdict(self)
        out.pop("threads")
        return out


@dataclass
class Result:
    path: str
    status: str                        # "done", "skipped" (finished before) or "failed"
    name: str = ""                     # the output files' name, without suffix
    seconds: float = 0.0               # length of the recording
    rows: int = 0
    notes: list[str] = field(default_factory=list)   # a modality absent throughout, a truncated file
    error: str = ""


def _counted(items: Iterator, measure: Callable, progress: Callable[[float], None] | None, tally: list[float]):
    """Pass `items` through, adding each one's `measure` (seconds) to `tally[0]` and to the progress bar."""
    for item in items:
        n = measure(item)
        tally[0] += n
        if progress is not None:
            progress(n)
        yield item


class Analyzer:
    """The models load at the first input that needs them, once: a rerun over finished inputs loads nothing."""

    def __init__(self, options: AnalyzeOptions = AnalyzeOptions()):
        self.options = options
        self.recognizer = self.transcriber = None
        self.provenance: dict = {}

    def load(self) -> None:
        from agf_core.device import set_threads
        from agf_core.provenance import provenance
        from agf_core.recognizer import EmotionRecognizer
        from agf_core.transcriber import TranscriberOptions, WhisperTranscriber
        if self.recognizer is not None:
            return
        set_threads(self.options.threads)
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)   # a line per utterance otherwise
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()        # its loading bar would cut through the batch's bars
        self.recognizer = EmotionRecognizer.from_pretrained(self.options.models)
        self.transcriber = WhisperTranscriber(TranscriberOptions(model=self.options.asr_model))
        self.provenance = {**provenance(self.options.asr_model), "reply_generator": None, "consent_version": None}

    def analyze(self, path: str, out: str, progress_bar: Callable | None = None) -> Result:
        """Analyse one recording into `out`; `progress_bar(total, desc)` makes a bar with `update(n)`/`close()`."""
        try:
            return self._analyze(Path(path), Path(out), progress_bar)
        except media.MediaError as e:
            return Result(path, "failed", error=str(e))
        except Exception as e:  # noqa: BLE001  one broken file must not end a batch of thousands
            log.exception("analysing %s failed", path)
            return Result(path, "failed", error=f"{path}: {type(e).__name__}: {e}")

    def _analyze(self, path: Path, out: Path, progress_bar: Callable | None) -> Result:
        digest = sha256(path)    # the content: the same recording renamed or moved is the same input
        name = output.output_name(path, digest)
        settings = self.options.settings()
        if output.finished(out, name, digest, settings):
            return Result(str(path), "skipped", name)
        info = media.probe(path)
        self.load()
        bar = progress_bar(info.duration_s * (info.has_audio + info.has_video), path.name) if progress_bar else None
        started = time.perf_counter()
        try:
            rows, notes = self._timeline(info, bar.update if bar else None)
        finally:
            if bar is not None:
                bar.close()
        rows = [{"file": str(path), "input_sha256": digest, **r} for r in rows]
        sidecar = {**self.provenance, "input": str(path), "input_sha256": digest, "duration_s": info.duration_s,
                   "has_video": info.has_video, "has_audio": info.has_audio, "rows": len(rows), "notes": notes,
                   "seconds_to_analyse": round(time.perf_counter() - started, 3), "settings": settings}
        output.write_input(out, name, rows, sidecar)
        return Result(str(path), "done", name, info.duration_s, len(rows), notes)

    def _timeline(self, info: media.MediaInfo, progress) -> tuple[list[dict], list[str]]:
        o, notes = self.options, []
        heard, seen = [0.0], [0.0]
        utterances = []
        if info.has_audio:
            blocks = _counted(media.audio_blocks(info.path, o.block_s), lambda b: len(b) / 16000, progress, heard)
            utterances = list(speech.utterances(blocks, self.recognizer, self.transcriber, o.speech))
            if not any(u.voice is not None for u in utterances):
                notes.append("no speech found: voice and words absent")
        else:
            notes.append("no audio track: voice and words absent")
        duration = max(heard[0], info.duration_s if info.has_video else 0.0)
        n_steps = o.timeline.steps(duration)
        faces = None
        if info.has_video:
            frames = _counted(media.video_frames(info, o.timeline.face_fps), lambda f: 1 / o.timeline.face_fps,
                              progress, seen)
            faces = timeline.face_steps(frames, self.recognizer, o.timeline, n_steps)
        rows = list(timeline.rows(faces, utterances, n_steps, o.timeline, self.recognizer, info.has_audio))
        if info.has_video and all(r["face_crops"] == 0 for r in rows):
            notes.append("no face in any frame: face absent")
        for what, got, length in (("audio", heard[0], info.audio_s), ("video", seen[0], info.video_s)):
            if got < length - max(2.0, 0.05 * length):
                notes.append(f"truncated: {what} decoded for {got:.1f} s of {length:.1f} s")
        return rows, notes
