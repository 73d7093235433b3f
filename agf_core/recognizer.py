"""The public API: `EmotionRecognizer.from_pretrained().predict(text=..., audio=..., frames=..., metadata=...)`."""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .audio import to_mono_16k
from .calibration import Temperatures
from .branches import AudioBranch, BranchOutput, TextBranch, VideoBranch
from . import checkpoint
from .checkpoint import ASSETS
from .face import FaceDetector
from .labels import EMOTIONS, MODALITIES
from .metadata import UNKNOWN, check_metadata, estimate_timbre, metadata_ids
from .personalization import Correction, Personalization, personal_logits


@dataclass(frozen=True)
class RecognizerConfig:
    """Which checkpoint each part loads; relative names are looked up in `folder`.
    `fusion=None`, or a folder without that file, combines the branches by averaging."""
    folder: Path = ASSETS
    text: str = "text.pt"
    audio: str = "audio.pt"
    face: str = "face.pt"
    fusion: str | None = "fusion.pt"


@dataclass
class Prediction:
    label: str
    confidence: float
    probs: dict[str, float]                      # the 7 emotions, sums to 1
    per_modality: dict[str, dict[str, float]]    # modality -> its own probabilities, present ones only
    weights: dict[str, float]                    # modality -> fusion weight, sums to 1 over present ones
    fusion: str                                  # how the modalities were combined
    metadata: dict[str, str]                     # as used, with timbre estimated from the voice if unknown
    absent: dict[str, str] = field(default_factory=dict)  # modality -> why it is missing
    embeddings: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("embeddings")
        return d


def _probs(p: np.ndarray) -> dict[str, float]:
    return {e: float(v) for e, v in zip(EMOTIONS, p)}


class FusionHead:
    """A trained fusion checkpoint (agf_core/fusion_variants.py) with its calibration temperature."""

    def __init__(self, path: Path, branch_digests: dict[str, str] | None = None):
        from .fusion_variants import from_checkpoint, variant_name
        ck = checkpoint.load(path, "fusion")
        trained_on = ck["meta"].get("branches")
        if branch_digests is not None and trained_on is not None and trained_on != branch_digests:
            changed = sorted(m for m in branch_digests if trained_on.get(m) != branch_digests[m])
            raise ValueError(f"fusion {path} was trained over other {', '.join(changed)} checkpoints than the ones "
                             "loaded; retrain it (python -m agf_core.train --task fusion) or pass fusion=None")
        self.model = from_checkpoint(ck)
        self.model.requires_grad_(False)  # shared by every session: fitting a user's biases must not touch it
        self.temperatures = Temperatures.from_meta(ck["meta"], self.model.config.passthrough)
        self.branch_tops = ck.get("branch_tops")  # a fine-tuned fusion's branch top layers (fusion_finetune.py)
        self.name = f"{variant_name(ck)} ({path.name}, calibrated)"

    @staticmethod
    def inputs(outs: dict[str, BranchOutput], metadata: dict[str, str]):
        dim = next(iter(outs.values())).embedding.shape[0]
        h = {m: torch.zeros(1, dim) for m in MODALITIES}
        logp = {m: torch.zeros(1, len(EMOTIONS)) for m in MODALITIES}
        for m, o in outs.items():
            h[m] = torch.from_numpy(np.asarray(o.embedding, np.float32))[None]
            logp[m] = torch.from_numpy(np.log(np.maximum(np.asarray(o.probs, np.float32), 1e-8)))[None]
        mask = torch.tensor([[m in outs for m in MODALITIES]])
        return h, logp, mask, metadata_ids([metadata])

    @torch.no_grad()
    def __call__(self, outs: dict[str, BranchOutput], metadata: dict[str, str],
                 personal: Personalization | None = None) -> tuple[np.ndarray, dict[str, float]]:
        h, logp, mask, meta = self.inputs(outs, metadata)
        logits, a = personal_logits(self.model, h, logp, mask, meta, personal)  # (1, 7), (1, M)
        probs = (logits[0] / float(self.temperatures.for_mask(mask)[0])).softmax(-1).numpy()
        return probs, {m: float(a[0, i]) for i, m in enumerate(MODALITIES) if m in outs}


class EmotionRecognizer:
    """Text, speech, face frames and speaker metadata -> probabilities over the seven emotions.

    With the shipped fusion checkpoint the branches are fused by the trained, calibrated fusion and
    `Prediction.fusion` names it; without one they are averaged with equal weights ("average").
    """

    def __init__(self, text: TextBranch, audio: AudioBranch, video: VideoBranch, fusion: FusionHead | None = None):
        self.text, self.audio, self.video = text, audio, video
        self.fusion_head = fusion
        self.fusion = fusion.name if fusion is not None else "average"

    @classmethod
    def from_pretrained(cls, source: str | Path | RecognizerConfig | None = None,
                        detector: FaceDetector | None = None) -> "EmotionRecognizer":
        """Shipped defaults (offline) when `source` is None; a folder holding text.pt, audio.pt and face.pt;
        or a RecognizerConfig naming each file."""
        if source is None:
            config = RecognizerConfig()
        elif isinstance(source, RecognizerConfig):
            config = source
        elif isinstance(source, (str, Path)) and Path(source).is_dir():
            config = RecognizerConfig(folder=Path(source))
        else:
            raise ValueError(f"from_pretrained source {source!r} is not accepted; pass None (shipped models), "
                             "a folder with text.pt, audio.pt and face.pt, or a RecognizerConfig")
        path = lambda name: Path(name) if Path(name).is_absolute() else config.folder / name  # noqa: E731
        fusion = None
        if config.fusion is not None and path(config.fusion).exists():
            digests = {"text": checkpoint.sha256(path(config.text)), "audio": checkpoint.sha256(path(config.audio)),
                       "video": checkpoint.sha256(path(config.face))}
            fusion = FusionHead(path(config.fusion), digests)
        branches = TextBranch(path(config.text)), AudioBranch(path(config.audio)), VideoBranch(path(config.face), detector)
        if fusion is not None and fusion.branch_tops is not None:
            from .fusion_finetune import load_tops_into
            load_tops_into(fusion.branch_tops, *branches)
        return cls(*branches, fusion)

    def predict(self, text: str | None = None, audio: tuple[int, np.ndarray] | None = None,
                frames: list[np.ndarray] | None = None, metadata: dict | None = None,
                context: list[str] | None = None) -> Prediction:
        """Any non-empty subset of text / audio (sample_rate, samples) / frames (RGB uint8 HxWx3).
        `context` is the previous turns of the conversation, oldest first, for the text model."""
        if text is None and audio is None and frames is None:
            raise ValueError("predict needs at least one of text, audio or frames; all three were None")
        meta = check_metadata(metadata)
        if frames is not None and (not isinstance(frames, (list, tuple)) or len(frames) == 0):
            raise ValueError(f"frames must be a non-empty list of RGB uint8 (H, W, 3) arrays, got {frames!r:.60}")
        outs: dict[str, BranchOutput] = {}
        absent: dict[str, str] = {}
        if text is not None:
            outs["text"] = self.text(text, context)
        if audio is not None:
            wave = to_mono_16k(audio)
            if meta["timbre"] == UNKNOWN:
                meta["timbre"] = estimate_timbre(wave)
            outs["audio"] = self.audio(wave)
        if frames is not None:
            video = self.video(list(frames))
            if video is None:
                absent["video"] = "no face found"
            else:
                outs["video"] = video
        return self.combine(outs, meta, absent)

    def combine(self, outs: dict[str, BranchOutput], metadata: dict[str, str], absent: dict[str, str],
                personal: Personalization | None = None) -> Prediction:
        """Fuse per-branch outputs (the live path calls this with outputs it computed itself).
        `personal` holds one user's corrections (see `correct`); it changes only that user's predictions."""
        if not outs:
            return Prediction("neutral", 0.0, {}, {}, {}, self.fusion, metadata, absent)
        present = [m for m in MODALITIES if m in outs]
        if self.fusion_head is not None:
            fused, weights = self.fusion_head({m: outs[m] for m in present}, metadata, personal)
        else:
            weights = {m: 1.0 / len(present) for m in present}
            fused = sum(weights[m] * outs[m].probs for m in present)
            fused = fused / fused.sum()
        return Prediction(EMOTIONS[int(fused.argmax())], float(fused.max()), _probs(fused),
                          {m: _probs(outs[m].probs) for m in present}, weights, self.fusion, metadata, absent,
                          {m: outs[m].embedding for m in present})


    def correct(self, prediction: Prediction, felt: str, personal: Personalization) -> bool:
        """Learn from "that's not how I feel": add the correction to `personal` (one user's state) and refit
        its biases. Returns False when nothing can be learnt: no trained fusion, or nothing was present."""
        if felt not in EMOTIONS:
            raise ValueError(f"unknown emotion {felt!r}; accepted: {', '.join(EMOTIONS)}")
        if self.fusion_head is None or not prediction.embeddings:
            return False
        outs = {m: BranchOutput(prediction.embeddings[m], np.array([prediction.per_modality[m][e] for e in EMOTIONS]))
                for m in prediction.embeddings}
        h, logp, _, meta = FusionHead.inputs(outs, prediction.metadata)
        personal.add(Correction({m: h[m][0].numpy() for m in outs}, {m: logp[m][0].numpy() for m in outs},
                                meta[0].numpy(), EMOTIONS.index(felt)), self.fusion_head.model)
        return True


@functools.lru_cache(maxsize=1)
def default_recognizer() -> EmotionRecognizer:
    """The shipped recognizer, loaded once per process."""
    return EmotionRecognizer.from_pretrained()
