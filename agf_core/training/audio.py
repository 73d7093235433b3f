"""Training recipe for the audio branch on RAVDESS: actors 01-16 train, model selection on actors 17-20.

Two front ends are compared (see audio_encoder.py): frozen Whisper tiny.en encoder states (cached once,
with one noisy copy of each training clip), and log-mel frames augmented on the fly.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.inputs.audio import read_audio, to_mono_16k
from agf_core.training.corruption import add_noise
from agf_core.models.audio import AudioEncoderConfig, AudioNet, AudioNetConfig, SpeechFrontEnd, pad_frames
from agf_core.training.data import read_ravdess
from agf_core.training.features import cached
from agf_core.labels import NUM_EMOTIONS
from agf_core.training.losses import make_loss
from agf_core.training.metrics import classification_report
from agf_core.training.loop import TrainOptions, fit

AUDIO_DEFAULTS = TrainOptions(epochs=60, batch_size=32, lr=1e-3, weight_decay=5e-2, loss="ce",
                              label_smoothing=0.1, warmup_epochs=3, patience=15)


def read_wave(path: Path) -> np.ndarray:
    """A corpus clip as 16 kHz mono float32 (N,)."""
    return to_mono_16k(read_audio(path))


def frame_features(data_root: str, split: str, encoder: AudioEncoderConfig, noisy_copy: bool
                   ) -> tuple[list[np.ndarray], np.ndarray]:
    """Front-end frames of every clip of a RAVDESS split (+ a noisy copy at 5-30 dB SNR when asked); cached."""
    def compute():
        clips = read_ravdess(data_root, split)
        front, rng = SpeechFrontEnd(encoder), np.random.default_rng(0)
        waves = [read_wave(c.path) for c in clips]
        labels = [c.label for c in clips]
        if noisy_copy:
            waves += [add_noise(w, rng.uniform(5, 30), rng) for w in waves]
            labels += labels
        seqs = [front(w) for w in waves]
        return {"frames": np.concatenate(seqs), "lengths": np.array([len(s) for s in seqs]),
                "y": np.array(labels, dtype=np.int64)}
    z = cached(f"audio_{encoder.frontend}_{split}", {"config": asdict(encoder), "noisy": noisy_copy}, compute)
    seqs = np.split(z["frames"], np.cumsum(z["lengths"])[:-1])
    return seqs, z["y"]


def spec_augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mask one band of up to 10 channels and one span of up to 10% of the frames; (T, D) -> (T, D)."""
    x = x.copy()
    d0 = rng.integers(0, x.shape[1] - 10)
    x[:, d0:d0 + rng.integers(0, 11)] = x.mean()
    t = max(1, len(x) // 10)
    t0 = rng.integers(0, max(1, len(x) - t))
    x[t0:t0 + rng.integers(0, t + 1)] = x.mean()
    return x


@torch.no_grad()
def predict_probs(model: AudioNet, seqs: list[np.ndarray], batch: int = 64) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(seqs), batch):
        x, mask = pad_frames(seqs[i:i + batch])
        out.append(model(x, mask)[1].softmax(-1).numpy())
    return np.concatenate(out)


def train_audio(data_root: str, out_dir: str | Path, opts: TrainOptions = AUDIO_DEFAULTS,
                encoder: AudioEncoderConfig = AudioEncoderConfig()) -> dict:
    seqs, y = frame_features(data_root, "train", encoder, noisy_copy=True)
    dev_seqs, dev_y = frame_features(data_root, "dev", encoder, noisy_copy=False)
    mean = np.concatenate(seqs).mean(0).astype(np.float32)      # per-channel normalisation, stored in the model
    std = np.concatenate(seqs).std(0).astype(np.float32) + 1e-5
    norm = lambda s: (s - mean) / std  # noqa: E731
    seqs, dev_seqs = [norm(s) for s in seqs], [norm(s) for s in dev_seqs]
    net_cfg = AudioNetConfig(input_dim=seqs[0].shape[1], frontend_layers=3 if encoder.frontend == "logmel" else 0)
    model = AudioNet(net_cfg)
    loss_fn = make_loss(opts.loss, y, NUM_EMOTIONS, opts.label_smoothing)
    steps = len(y) // opts.batch_size

    def batches(epoch):
        rng = np.random.default_rng(opts.seed * 1000 + epoch)
        order = rng.permutation(len(y))
        for s in range(steps):
            idx = order[s * opts.batch_size:(s + 1) * opts.batch_size]
            x, mask = pad_frames([spec_augment(seqs[i], rng) for i in idx])
            yield x, mask, torch.from_numpy(y[idx])

    def evaluate(m):
        rep = classification_report(dev_y, predict_probs(m, dev_seqs))
        return {"score": rep["accuracy"], "dev_accuracy": rep["accuracy"], "dev_macro_f1": rep["macro_f1"]}

    def save_best(m, path, metrics):
        state = {**m.state_dict(), "norm_mean": torch.from_numpy(mean), "norm_std": torch.from_numpy(std)}
        checkpoint.save(path, "audio", {"encoder": asdict(encoder), "net": asdict(net_cfg)}, state,
                        {"train": "RAVDESS actors 01-16 (+ one noisy copy each)", "selection": "RAVDESS actors 17-20",
                         **metrics})

    return fit(model, opts, out_dir, batches, steps, lambda m, b: loss_fn(m(b[0], b[1])[1], b[2]), evaluate,
               save_best)
