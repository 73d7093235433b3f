"""The public API: `EmotionRecognizer.from_pretrained().predict(text=..., audio=..., frames=..., metadata=...)`."""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .audio import to_mono_16k
from .branches import AudioBranch, BranchOutput, TextBranch, VideoBranch
from .checkpoint import ASSETS
from .face import FaceDetector
from .labels import EMOTIONS, MODALITIES
from .metadata import UNKNOWN, check_metadata, estimate_timbre


@dataclass(frozen=True)
class RecognizerConfig:
    """Which checkpoint each branch loads; relative names are looked up in `folder`."""
    folder: Path = ASSETS
    text: str = "text.pt"
    audio: str = "audio.pt"
    face: str = "face.pt"


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


class EmotionRecognizer:
    """Text, speech, face frames and speaker metadata -> probabilities over the seven emotions.

    Until a trained fusion checkpoint ships (the fusion issue), the branches are combined by averaging
    their probabilities with equal weights, and `Prediction.fusion` says "average".
    """

    def __init__(self, text: TextBranch, audio: AudioBranch, video: VideoBranch):
        self.text, self.audio, self.video = text, audio, video
        self.fusion = "average"

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
        return cls(TextBranch(path(config.text)), AudioBranch(path(config.audio)),
                   VideoBranch(path(config.face), detector))

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

    def combine(self, outs: dict[str, BranchOutput], metadata: dict[str, str], absent: dict[str, str]
                ) -> Prediction:
        """Fuse per-branch outputs (the live path calls this with outputs it computed itself)."""
        if not outs:
            return Prediction("neutral", 0.0, {}, {}, {}, self.fusion, metadata, absent)
        present = [m for m in MODALITIES if m in outs]
        weights = {m: 1.0 / len(present) for m in present}
        fused = sum(weights[m] * outs[m].probs for m in present)
        fused = fused / fused.sum()
        return Prediction(EMOTIONS[int(fused.argmax())], float(fused.max()), _probs(fused),
                          {m: _probs(outs[m].probs) for m in present}, weights, self.fusion, metadata, absent,
                          {m: outs[m].embedding for m in present})


@functools.lru_cache(maxsize=1)
def default_recognizer() -> EmotionRecognizer:
    """The shipped recognizer, loaded once per process."""
    return EmotionRecognizer.from_pretrained()
