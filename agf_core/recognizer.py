"""The public API: `EmotionRecognizer.from_pretrained().predict(text=..., audio=..., frames=..., metadata=...)`.

One inference path for recorded material and the live app alike: each modality has its own step
(`text`, `audio`, `face` + `video_from_crops` or `video`), and `combine` fuses whatever steps produced.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.affect import Affect
from agf_core.affect import fuse as fuse_affect
from agf_core.baseline import Baseline, CalibrationError, check_duration, offset
from agf_core.branches import AudioBranch, BranchOutput, FaceCrop, TextBranch, VideoBranch, VoiceBranch, audio_branch, \
    load_tops_into
from agf_core.calibration import Temperatures
from agf_core.checkpoint import WEIGHTS
from agf_core.inputs.audio import SAMPLE_RATE, is_silent, to_mono_16k
from agf_core.inputs.face import FaceDetector
from agf_core.inputs.metadata import metadata_ids, with_timbre
from agf_core.labels import EMOTIONS, MODALITIES, check_emotion
from agf_core.personalization import Correction, Personalization, personal_logits
from agf_core.status import NO_FACE, NO_SPEECH, NOT_GIVEN, ModalityStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecognizerConfig:
    """Which checkpoint each part loads; relative names are looked up in `folder`.
    `fusion=None`, or a folder without that file, combines the branches by averaging."""
    folder: Path = WEIGHTS
    text: str = "text.pt"
    audio: str = "audio.pt"
    video: str = "video.pt"      # the face branch; a folder from before the rename may hold face.pt instead
    fusion: str | None = "fusion.pt"
    affect: str | None = "affect.pt"   # valence-arousal heads; None, or a folder without it: no V/A readings

    def path(self, name: str) -> Path:
        p = Path(name) if Path(name).is_absolute() else Path(self.folder) / name
        legacy = p.with_name("face.pt")
        if name == "video.pt" and not p.exists() and legacy.exists():
            return legacy
        return p


@dataclass
class Prediction:
    label: str | None                            # None when no modality could be read
    confidence: float
    probs: dict[str, float]                      # the 7 emotions, sums to 1 (empty when label is None)
    per_modality: dict[str, dict[str, float]]    # modality -> its own probabilities, present ones only
    weights: dict[str, float]                    # modality -> fusion weight, sums to 1 over present ones
    fusion: str                                  # how the modalities were combined
    metadata: dict[str, str]                     # as used, with timbre estimated from the voice if unknown
    status: dict[str, ModalityStatus] = field(default_factory=dict)  # every modality: ok, absent or failed, why
    outputs: dict[str, BranchOutput] = field(default_factory=dict, repr=False)  # what was fused; corrections learn from it
    transcript: str | None = None                # the words heard in the audio, with predict(transcribe=True)
    valence: float | None = None                 # [-1, 1] unpleasant..pleasant, fused; None: no modality supports it
    arousal: float | None = None                 # [-1, 1] calm..activated, fused likewise
    per_modality_affect: dict[str, dict[str, float]] = field(default_factory=dict)  # modality -> valence, arousal

    @property
    def absent(self) -> dict[str, str]:
        """Modality -> why it is not in the prediction (absent or failed), for the modalities that were given."""
        return {m: s.reason for m, s in self.status.items() if s.state != "ok" and s.reason != NOT_GIVEN}

    def to_dict(self) -> dict:
        return {"label": self.label, "confidence": self.confidence, "probs": self.probs,
                "per_modality": self.per_modality, "weights": self.weights, "fusion": self.fusion,
                "metadata": self.metadata, "status": {m: str(s) for m, s in self.status.items()},
                "valence": self.valence, "arousal": self.arousal, "per_modality_affect": self.per_modality_affect}


def _probs(p: np.ndarray) -> dict[str, float]:
    return {e: float(v) for e, v in zip(EMOTIONS, p)}


class CalibratedFusion:
    """A trained fusion checkpoint (agf_core/models/variants.py) with its calibration temperatures."""

    def __init__(self, path: Path, branch_digests: dict[str, str] | None = None):
        from agf_core.models.variants import from_checkpoint, variant_name
        ck = checkpoint.load(path, "fusion")
        if branch_digests is not None:
            checkpoint.check_trained_over(ck["meta"], branch_digests, f"fusion {path}")
        self.model = from_checkpoint(ck)
        self.model.requires_grad_(False)  # shared by every session: fitting a user's biases must not touch it
        self.temperatures = Temperatures.from_meta(ck["meta"], self.model.config.passthrough)
        self.branch_tops = ck.get("branch_tops")  # a fine-tuned fusion's branch top layers
        self.name = f"{variant_name(ck)} ({path.name}, calibrated)"

    @staticmethod
    def inputs(outs: dict[str, BranchOutput], metadata: dict[str, str]):
        dim = next(iter(outs.values())).embedding.shape[0]
        h = {m: torch.zeros(1, dim) for m in MODALITIES}                  # (1, D) each
        logp = {m: torch.zeros(1, len(EMOTIONS)) for m in MODALITIES}     # (1, 7) each
        for m, o in outs.items():
            h[m] = torch.from_numpy(np.asarray(o.embedding, np.float32))[None]
            logp[m] = torch.from_numpy(np.asarray(o.logp, np.float32))[None]
        mask = torch.tensor([[m in outs for m in MODALITIES]])            # (1, M)
        return h, logp, mask, metadata_ids([metadata])

    @torch.no_grad()
    def __call__(self, outs: dict[str, BranchOutput], metadata: dict[str, str],
                 personal: Personalization | None = None, reliability: dict[str, float] | None = None
                 ) -> tuple[np.ndarray, dict[str, float]]:
        h, logp, mask, meta = self.inputs(outs, metadata)
        bias = None if not reliability else torch.tensor([reliability.get(m, 0.0) for m in MODALITIES])  # (M,)
        logits, a = personal_logits(self.model, h, logp, mask, meta, personal, bias)  # (1, 7), (1, M)
        probs = (logits[0] / float(self.temperatures.for_mask(mask)[0])).softmax(-1).numpy()
        return probs, {m: float(a[0, i]) for i, m in enumerate(MODALITIES) if m in outs}


class EmotionRecognizer:
    """Text, speech, face frames and speaker metadata -> probabilities over the seven emotions.

    With the shipped fusion checkpoint the branches are fused by the trained, calibrated fusion and
    `Prediction.fusion` names it; without one they are averaged with equal weights ("average").
    """

    def __init__(self, text: TextBranch, audio: VoiceBranch | AudioBranch, video: VideoBranch,
                 fusion: CalibratedFusion | None = None, affect: Affect | None = None):
        self._text, self._audio, self._video = text, audio, video
        self.fusion_model = fusion
        self.affect = affect    # valence-arousal heads over the branches' embeddings; None: no V/A readings
        self.fusion = fusion.name if fusion is not None else "average"

    @classmethod
    def from_pretrained(cls, source: str | Path | RecognizerConfig | None = None,
                        detector: FaceDetector | None = None) -> "EmotionRecognizer":
        """Shipped defaults (offline) when `source` is None; a folder holding text.pt, audio.pt and video.pt;
        or a RecognizerConfig naming each file."""
        if source is None:
            config = RecognizerConfig()
        elif isinstance(source, RecognizerConfig):
            config = source
        elif isinstance(source, (str, Path)) and Path(source).is_dir():
            config = RecognizerConfig(folder=Path(source))
        else:
            raise ValueError(f"from_pretrained source {source!r} is not accepted; pass None (shipped models), "
                             "a folder with text.pt, audio.pt and video.pt, or a RecognizerConfig")
        paths = {"text": config.path(config.text), "audio": config.path(config.audio),
                 "video": config.path(config.video)}
        # Branches first: a missing or damaged branch file is reported as such, not as a fusion mismatch.
        branches = TextBranch(paths["text"]), audio_branch(paths["audio"]), VideoBranch(paths["video"], detector)
        fusion = None
        digests = {m: checkpoint.sha256(p) for m, p in paths.items()}
        if config.fusion is not None and config.path(config.fusion).exists():
            fusion = CalibratedFusion(config.path(config.fusion), digests)
            if fusion.branch_tops is not None:
                load_tops_into(fusion.branch_tops, *branches)
        affect = None
        if config.affect is not None and config.path(config.affect).exists() and \
                (fusion is None or fusion.branch_tops is None):  # fine-tuned tops change the embeddings the heads read
            affect = Affect(config.path(config.affect), digests)
        return cls(*branches, fusion, affect)

    # ---- one step per modality (the live app calls these as its inputs arrive) --------------------------
    def text(self, text: str, context: list[str] | None = None) -> BranchOutput:
        """The words' own emotion; `context` = the previous turns, oldest first."""
        return self._text(text, context)

    def audio(self, audio: tuple[int, np.ndarray]) -> BranchOutput:
        """The voice's own emotion from `(sample_rate, samples)`, 8-192 kHz, mono or multi-channel, any length."""
        return self._audio(to_mono_16k(audio))

    def face(self, frame: np.ndarray) -> FaceCrop | None:
        """The largest face in one RGB uint8 frame, aligned and cropped; None when there is no face."""
        return self._video.face(frame)

    def video_from_crops(self, crops: list[np.ndarray]) -> BranchOutput:
        """The face's emotion over a window of crops from `face` (1 to 8 of them)."""
        if not crops:
            raise ValueError("video_from_crops needs at least one face crop (from EmotionRecognizer.face)")
        return self._video.from_crops(crops)

    def face_features(self, crop: np.ndarray) -> np.ndarray:
        """One crop from `face` -> its features (2, C) for `video_from_features`: a live window computes each
        frame's once instead of re-running the network on the whole window at every refresh."""
        crop = np.asarray(crop)
        if crop.dtype != np.uint8 or crop.shape != (self._video.config.image_size,) * 2:
            raise ValueError(f"a face crop must be uint8 {(self._video.config.image_size,) * 2} (from "
                             f"EmotionRecognizer.face), got {crop.dtype} {crop.shape}")
        return self._video.crop_features([crop])[0]

    def video_from_features(self, features: list[np.ndarray]) -> BranchOutput:
        """The face's emotion over a window of `face_features` (1 to 8); equal to `video_from_crops`."""
        if not features:
            raise ValueError("video_from_features needs at least one crop's features (from face_features)")
        return self._video.from_features(features)

    def video(self, frames: list[np.ndarray]) -> BranchOutput | None:
        """The face's emotion over up to 8 evenly spaced frames; None when no frame shows a face."""
        if not isinstance(frames, (list, tuple)) or len(frames) == 0:
            raise ValueError(f"frames must be a non-empty list of RGB uint8 (H, W, 3) arrays, got {frames!r:.60}")
        return self._video(list(frames))

    @property
    def detector_offline(self) -> bool:
        """Whether the face detector runs in a process without network (agf_core/inputs/detector_process.py)."""
        return bool(getattr(self._video.detector, "isolated", False))

    @property
    def branches(self) -> tuple[TextBranch, VoiceBranch | AudioBranch, VideoBranch]:
        """The loaded branches (for training code that batches them; the runtime uses the steps above)."""
        return self._text, self._audio, self._video

    # ---- fusion -------------------------------------------------------------------------------------
    def combine(self, outputs: dict[str, BranchOutput], metadata: dict | None = None,
                status: dict[str, ModalityStatus] | None = None,
                personal: Personalization | None = None, reliability: dict[str, float] | None = None) -> Prediction:
        """Fuse per-modality outputs. `status` says why the missing modalities are missing (default: "not
        given"); `personal` holds one user's corrections (see `correct`) and changes only their predictions;
        `reliability` {modality: gate-logit offset <= 0} lowers a branch that has been unreliable for this
        person (streaming/live/reliability.py)."""
        unknown = set(outputs) - set(MODALITIES)
        if unknown:
            raise ValueError(f"unknown modality {sorted(unknown)}; accepted: {', '.join(MODALITIES)}")
        meta = with_timbre(metadata or {}, None)
        status = {m: ModalityStatus.ok() if m in outputs else (status or {}).get(m, ModalityStatus.absent(NOT_GIVEN))
                  for m in MODALITIES}
        present = [m for m in MODALITIES if m in outputs]
        if not present:
            return Prediction(None, 0.0, {}, {}, {}, self.fusion, meta, status)
        if self.fusion_model is not None:
            fused, weights = self.fusion_model({m: outputs[m] for m in present}, meta, personal, reliability)
        else:
            weights = {m: 1.0 / len(present) for m in present}
            fused = sum(weights[m] * outputs[m].probs for m in present)
            fused = fused / fused.sum()
        per_va = self.affect.read({m: outputs[m].embedding for m in present}) if self.affect is not None else {}
        valence, arousal = fuse_affect(per_va, weights)
        return Prediction(EMOTIONS[int(fused.argmax())], float(fused.max()), _probs(fused),
                          {m: _probs(outputs[m].probs) for m in present}, weights, self.fusion, meta, status,
                          {m: outputs[m] for m in present}, valence=valence, arousal=arousal,
                          per_modality_affect={m: {"valence": v, "arousal": a} for m, (v, a) in per_va.items()})

    # ---- a person's baseline -------------------------------------------------------------------------
    def calibrate(self, audio: tuple[int, np.ndarray] | None = None, frames: list[np.ndarray] | None = None,
                  owner: str = "") -> Baseline:
        """A person's neutral from a calibration sample: 2-60 s of them reading a sentence in their normal
        voice and/or frames of their relaxed face. Pass the result as `predict(..., baseline=)` (or to the live
        pipeline) to read them relative to their own neutral. `owner` names the session it is for. Raises
        CalibrationError (a plain message) for a silent, too short or too long recording or no face."""
        if audio is None and frames is None:
            raise ValueError("calibrate needs audio, frames or both; both were None")
        voice = face = None
        seconds = 0.0
        if audio is not None:
            wave = to_mono_16k(audio)
            seconds = len(wave) / SAMPLE_RATE
            voice = self.audio((SAMPLE_RATE, wave)) if not is_silent(wave) else None
        if frames is not None:
            face = self.video(frames)
        return self.baseline(owner, voice, face, seconds, voice_given=audio is not None, face_given=frames is not None)

    def baseline(self, owner: str, voice: BranchOutput | None, face: BranchOutput | None, seconds: float,
                 voice_given: bool = True, face_given: bool = True) -> Baseline:
        """A Baseline from readings of a calibration sample (the live pipeline reads them as they come):
        `voice` of `seconds` of speech (None: it was silent), `face` (None: no face was seen)."""
        offsets = {}
        if voice_given:
            check_duration(seconds)
            if voice is None:
                raise CalibrationError("the calibration recording is silent: check the microphone and read the "
                                       "sentence aloud")
            offsets["audio"] = offset(voice, self._reference("audio"))
        if face_given:
            if face is None:
                raise CalibrationError("no face was seen while calibrating: face the camera in good light")
            offsets["video"] = offset(face, self._reference("video"))
        return Baseline(owner, offsets, seconds)

    def _reference(self, modality: str) -> np.ndarray:
        branch = self._audio if modality == "audio" else self._video
        ref = getattr(branch, "neutral_probs", None)
        if ref is None:
            raise ValueError(f"the {modality} model has no neutral reference (meta['neutral_probs'] in its "
                             f"checkpoint), so it cannot be calibrated; retrain it with this version")
        return ref

    def transcribe(self, audio: tuple[int, np.ndarray], model: str | None = None) -> str:
        """The words of speech `(sample_rate, samples)` ("" for none), by the live app's transcriber:
        faster-whisper with `model` ("tiny.en" by default, "base", or a CTranslate2 folder), loaded on first use."""
        return _transcriber(model)(to_mono_16k(audio)).strip()

    def predict(self, text: str | None = None, audio: tuple[int, np.ndarray] | None = None,
                frames: list[np.ndarray] | None = None, metadata: dict | None = None,
                context: list[str] | None = None, transcribe: bool = False,
                personal: Personalization | None = None, baseline: Baseline | None = None) -> Prediction:
        """Any non-empty subset of text / audio (sample_rate, samples) / frames (RGB uint8 HxWx3).
        `context` is the previous turns of the conversation, oldest first, for the text model.
        Audio is read as a voice only; with `transcribe=True` (and no `text`) its words are transcribed
        (`transcribe`) and read too, as `agf-predict` does, and `Prediction.transcript` holds them.
        `personal`: one user's corrections (see `correct`); `baseline` (from `calibrate`): the face and voice are
        read relative to this person's neutral. Silent audio and frames without a face make that modality
        absent (see `Prediction.status`)."""
        if baseline is not None and not isinstance(baseline, Baseline):
            raise ValueError(f"baseline must be a Baseline from EmotionRecognizer.calibrate, got {type(baseline).__name__}")
        if text is None and audio is None and frames is None:
            raise ValueError("predict needs at least one of text, audio or frames; all three were None")
        outs: dict[str, BranchOutput] = {}
        status: dict[str, ModalityStatus] = {}
        wave = to_mono_16k(audio) if audio is not None else None
        meta = with_timbre(metadata or {}, wave)
        transcript = None
        if transcribe and text is None and wave is not None and not is_silent(wave):
            transcript = self.transcribe((SAMPLE_RATE, wave))
            text = transcript or None
        if text is not None:
            outs["text"] = self.text(text, context)
        if wave is not None and is_silent(wave):
            status["audio"] = ModalityStatus.absent(NO_SPEECH)
        elif wave is not None:
            outs["audio"] = self.audio((SAMPLE_RATE, wave))
        if frames is not None:
            video = self.video(frames)
            if video is None:
                status["video"] = ModalityStatus.absent(NO_FACE)
            else:
                outs["video"] = video
        if baseline is not None:
            outs = {m: baseline.apply(m, o) for m, o in outs.items()}
        pred = self.combine(outs, meta, status, personal)
        pred.transcript = transcript
        return pred

    def correct(self, prediction: Prediction, felt: str, personal: Personalization) -> bool:
        """Learn from "that's not how I feel": add the correction to `personal` (one user's state) and refit
        its biases. Returns False when nothing can be learnt: no trained fusion, or nothing was present."""
        check_emotion(felt)
        if self.fusion_model is None or not prediction.outputs:
            return False
        h, logp, _, meta = CalibratedFusion.inputs(prediction.outputs, prediction.metadata)
        personal.add(Correction({m: h[m][0].numpy() for m in prediction.outputs},
                                {m: logp[m][0].numpy() for m in prediction.outputs},
                                meta[0].numpy(), EMOTIONS.index(felt)), self.fusion_model.model)
        return True


@functools.lru_cache(maxsize=2)
def _transcriber(model: str | None):
    from agf_core.transcriber import TranscriberOptions, WhisperTranscriber
    return WhisperTranscriber(TranscriberOptions(**({"model": model} if model else {})))


@functools.lru_cache(maxsize=1)
def default_recognizer() -> EmotionRecognizer:
    """The shipped recognizer, loaded once per process."""
    return EmotionRecognizer.from_pretrained()
