"""One trained branch per modality, loaded from its checkpoint: raw input -> (embedding h_i, log-probabilities).

    TextBranch   str (+ previous turns)        -> h_text  (256,), logp (7,)
    VoiceBranch  16 kHz mono float32 (N,)      -> h_audio (256,), logp (7,) from pooled Whisper states and
                                                  eGeMAPS (the shipped voice); `audio_branch(path)` picks the class
    AudioBranch  16 kHz mono float32 (N,)      -> h_audio (256,), logp (7,) from Whisper frames (the earlier
                                                  voice); long audio in <= 30 s windows
    VideoBranch  RGB uint8 frames [(H, W, 3)]  -> h_video (256,), logp (7,), or None when no face is found
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.inputs.audio import SAMPLE_RATE
from agf_core.models.audio import AudioEncoderConfig, AudioNet, AudioNetConfig, SpeechFrontEnd, pad_frames
from agf_core.inputs.detector_process import IsolatedFaceDetector
from agf_core.inputs.face import FaceDetector, align_crop, check_frame, largest
from agf_core.inputs.paralinguistic import EGEMAPS_DIM, egemaps, pooled
from agf_core.models.voice import VoiceNet, VoiceNetConfig
from agf_core.models.head import ClassifierHead, HeadConfig
from agf_core.models.text import TextEncoder, TextEncoderConfig, check_context, check_text
from agf_core.models.video import FaceNet, FaceNetConfig, crops_to_tensor, window_top


@dataclass(frozen=True)
class BranchOutput:
    embedding: np.ndarray        # (D,) float32, the h_i handed to fusion
    logp: np.ndarray             # (7,) float32 log-probabilities, what the fusion takes

    @property
    def probs(self) -> np.ndarray:
        return np.exp(self.logp)                                     # (7,), sums to 1


@dataclass(frozen=True)
class FaceCrop:
    """The largest face of one frame: its box in the frame (x, y, w, h) and the aligned 48x48 grey crop."""
    box: tuple[int, int, int, int]
    crop: np.ndarray


def config_from_dict(cls, d: dict):
    """A config dataclass from a checkpoint's dict (lists back to tuples)."""
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


WINDOW_S = 30.0  # Whisper's input window: longer audio is read in windows


class TextBranch:
    def __init__(self, path: str | Path):
        ck = checkpoint.load(path, "text")
        self.finetuned = bool(ck["config"].get("finetuned"))
        state = ck["state_dict"]
        encoder_config = config_from_dict(TextEncoderConfig, ck["config"]["encoder"])
        self.encoder = TextEncoder(encoder_config, own_weights=self.finetuned)
        if self.finetuned:  # the checkpoint carries the encoder's own weights (float16)
            self.encoder.load_state_dict({k[8:]: v.float() for k, v in state.items() if k.startswith("encoder.")})
            self.encoder.eval()
            state = {k[5:]: v for k, v in state.items() if k.startswith("head.")}
        self.head = ClassifierHead(config_from_dict(HeadConfig, ck["config"]["head"])).eval()
        self.head.load_state_dict(state)

    @torch.no_grad()
    def __call__(self, text: str, context: list[str] | None = None) -> BranchOutput:
        h, logp = self.batch([check_text(text)], [check_context(context)])
        return BranchOutput(h[0], logp[0])

    @torch.no_grad()
    def batch(self, texts: list[str], contexts: list[list[str]] | None = None, size: int = 64
              ) -> tuple[np.ndarray, np.ndarray]:
        """Many texts at once -> embeddings (N, 256) and log-probabilities (N, 7)."""
        x = torch.from_numpy(self.encodings(texts, contexts, size))                           # (N, D_in)
        h, logits = self.head(x)                                                              # (N, 256), (N, 7)
        return h.numpy(), logits.log_softmax(-1).numpy()

    @torch.no_grad()
    def encodings(self, texts: list[str], contexts: list[list[str]] | None = None, size: int = 64) -> np.ndarray:
        """The encoder's output for many texts, (N, D_in): what the head (the fine-tunable top) takes."""
        contexts = contexts or [[] for _ in texts]
        return np.concatenate([self.encoder.encode(texts[i:i + size], contexts[i:i + size])
                               for i in range(0, len(texts), size)])


class AudioBranch:
    def __init__(self, path: str | Path):
        ck = checkpoint.load(path, "audio")
        state = dict(ck["state_dict"])
        self.mean, self.std = state.pop("norm_mean").numpy(), state.pop("norm_std").numpy()
        self.frontend = SpeechFrontEnd(config_from_dict(AudioEncoderConfig, ck["config"]["encoder"]))
        self.net = AudioNet(config_from_dict(AudioNetConfig, ck["config"]["net"])).eval()
        self.net.load_state_dict(state)

    @torch.no_grad()
    def __call__(self, audio16k: np.ndarray) -> BranchOutput:
        """Audio longer than one window (Whisper's 30 s) is cut into equal windows; their probabilities and
        embeddings are averaged, weighted by length."""
        parts = np.array_split(audio16k, max(1, int(np.ceil(len(audio16k) / (WINDOW_S * SAMPLE_RATE)))))
        stats = torch.from_numpy(np.stack([self.trunk(p) for p in parts]))          # (W, 2C)
        h, logits = self.net.top(stats)                                               # (W, 256), (W, 7)
        w = torch.tensor([len(p) for p in parts], dtype=torch.float32)[:, None] / len(audio16k)  # (W, 1)
        probs = (w * logits.softmax(-1)).sum(0)                                       # (7,)
        return BranchOutput((w * h).sum(0).numpy(), probs.clamp_min(1e-8).log().numpy())

    @torch.no_grad()
    def trunk(self, audio16k: np.ndarray) -> np.ndarray:
        """The pooled statistics (2C,) below the network's top (the fine-tunable layers)."""
        frames = (self.frontend(audio16k) - self.mean) / self.std                    # (T, D)
        x, mask = pad_frames([frames.astype(np.float32)])                             # (1, T, D), (1, T)
        return self.net.pool(x, mask)[0].numpy()                                      # (2C,)

    def logp(self, audio16k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embedding (256,) and log-probabilities (7,), as the fusion pools take them."""
        out = self(audio16k)
        return out.embedding, out.logp


VOICE_FRONT = AudioEncoderConfig(frontend="whisper", normalize_db=-23.0)


def voice_features(audio16k: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """16 kHz mono float32 (N,) at any level -> pooled Whisper states (768,) and eGeMAPS (88,) or None.
    The level is normalised first (-23 dBFS); audio over 30 s is read in Whisper-sized windows."""
    front = SpeechFrontEnd(VOICE_FRONT)
    x = front.normalized(audio16k)
    n = max(1, int(np.ceil(len(x) / (WINDOW_S * SAMPLE_RATE))))
    states = np.concatenate([front.whisper_states(p) for p in np.array_split(x, n)])   # (T, 384)
    return pooled(states), egemaps(x)


class VoiceBranch:
    """The voice from utterance-level features (models/voice.py): what generalises across corpora."""

    def __init__(self, path: str | Path):
        ck = checkpoint.load(path, "audio")
        self.config = config_from_dict(VoiceNetConfig, ck["config"]["voice"])
        self.net = VoiceNet(self.config).eval()
        self.net.load_state_dict(ck["state_dict"])
        ref = ck["meta"].get("neutral_probs")  # the mean reading of neutral training voices (baseline.py)
        self.neutral_probs = None if ref is None else np.asarray(ref, np.float32)

    def features(self, audio16k: np.ndarray) -> np.ndarray:
        """(N,) -> (856,) float32: pooled Whisper then eGeMAPS, NaN where eGeMAPS is absent."""
        w, eg = voice_features(audio16k)
        return np.concatenate([w, eg if eg is not None else np.full(EGEMAPS_DIM, np.nan, np.float32)])

    @torch.no_grad()
    def from_features(self, x: np.ndarray) -> BranchOutput:
        """Features (856,) (NaN: eGeMAPS absent) -> output."""
        has = torch.tensor([not np.isnan(x[-1])])
        h, logits = self.net(torch.from_numpy(np.nan_to_num(x).astype(np.float32))[None], has)  # (1, D), (1, 7)
        return BranchOutput(h[0].numpy(), logits[0].log_softmax(-1).numpy())

    def __call__(self, audio16k: np.ndarray) -> BranchOutput:
        return self.from_features(self.features(audio16k))

    def logp(self, audio16k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self(audio16k)
        return out.embedding, out.logp


def audio_branch(path: str | Path) -> VoiceBranch | AudioBranch:
    """The voice branch a checkpoint holds: utterance-level (VoiceBranch) or frame-level (AudioBranch)."""
    return VoiceBranch(path) if "voice" in checkpoint.load(path, "audio")["config"] else AudioBranch(path)


class VideoBranch:
    def __init__(self, path: str | Path, detector: FaceDetector | None = None):
        ck = checkpoint.load(path, "video")
        self.config = config_from_dict(FaceNetConfig, ck["config"])
        self.net = FaceNet(self.config).eval()
        self.net.load_state_dict(ck["state_dict"])
        ref = ck.get("meta", {}).get("neutral_probs")  # the mean reading of neutral training faces (baseline.py)
        self.neutral_probs = None if ref is None else np.asarray(ref, np.float32)
        self.detector = detector or IsolatedFaceDetector()   # MediaPipe in a process without network

    def face(self, frame: np.ndarray) -> FaceCrop | None:
        """The largest face in one RGB frame, aligned and cropped; None when there is none."""
        frame = check_frame(frame)
        face = largest(self.detector.detect(frame))
        return None if face is None else FaceCrop(face.box, align_crop(frame, face))

    def crops(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Aligned 48x48 grey crops of the largest face in up to `window` evenly spaced frames."""
        frames = [check_frame(f) for f in frames]
        if len(frames) > self.config.window:
            frames = [frames[i] for i in np.linspace(0, len(frames) - 1, self.config.window).round().astype(int)]
        return [f.crop for f in map(self.face, frames) if f is not None]

    def from_crops(self, crops: list[np.ndarray]) -> BranchOutput:
        h, logp = self.windows(np.asarray(crops)[None])
        return BranchOutput(h[0], logp[0])

    def crop_features(self, crops: list[np.ndarray]) -> np.ndarray:
        """uint8 crops (T, 48, 48) -> the trunk features of each, as seen and mirrored (T, 2, C): what a
        live window keeps per frame, so each frame goes through the network once, not once per refresh."""
        return self.window_trunks(np.asarray(crops)[None])[0]

    @torch.no_grad()
    def from_features(self, features: list[np.ndarray]) -> BranchOutput:
        """The window's emotion from per-frame `crop_features` (the same as `from_crops` on those crops)."""
        h, logp = window_top(self.net, torch.from_numpy(np.stack(features))[None])   # (1, D), (1, 7)
        return BranchOutput(h[0].numpy(), logp[0].numpy())

    @torch.no_grad()
    def windows(self, windows: np.ndarray, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """uint8 crop windows (N, T, 48, 48) -> pooled embeddings (N, 256) and log-probabilities (N, 7)."""
        h, logp = window_top(self.net, torch.from_numpy(self.window_trunks(windows, size)))  # (N, D), (N, 7)
        return h.numpy(), logp.numpy()

    @torch.no_grad()
    def window_trunks(self, windows: np.ndarray, size: int = 64) -> np.ndarray:
        """uint8 crop windows (N, T, 48, 48) -> trunk features of each frame as seen and mirrored
        (N, T, 2, C), below the network's top (the fine-tunable layers)."""
        out = []
        for i in range(0, len(windows), size):
            w = windows[i:i + size]
            b, t = w.shape[:2]
            x = crops_to_tensor(w.reshape(b * t, *w.shape[2:]))          # (b*T, 1, 48, 48)
            g = torch.stack([self.net.trunk(x), self.net.trunk(x.flip(-1))], 1)  # (b*T, 2, C)
            out.append(g.view(b, t, 2, -1).numpy())
        return np.concatenate(out) if out else np.zeros((0, windows.shape[1], 2, self.config.channels[-1]), np.float32)

    def __call__(self, frames: list[np.ndarray]) -> BranchOutput | None:
        crops = self.crops(frames)
        return self.from_crops(crops) if crops else None


def load_tops_into(state: dict, text: TextBranch, audio: AudioBranch, video: VideoBranch) -> None:
    """A fine-tuned fusion checkpoint's `branch_tops` (training/fusion/finetune.py) -> the loaded branches,
    so that they compute what the fine-tuned fusion was trained on."""
    part = lambda p: {k[len(p) + 1:]: v for k, v in state.items() if k.startswith(p + ".")}  # noqa: E731
    text.head.load_state_dict(part("text"))
    audio.net.load_state_dict(part("audio"))
    video.net.load_state_dict(part("video"))
