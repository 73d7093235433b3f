"""Training recipe for the text head: frozen MiniLM features of MELD (+ optional GoEmotions-Ekman) train,
model selection on MELD dev weighted-F1."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from . import checkpoint
from .data import read_goemotions, read_meld
from .features import cached
from .head import ClassifierHead, HeadConfig
from .labels import NUM_EMOTIONS
from .losses import make_loss
from .metrics import classification_report
from .text_encoder import TextEncoder, TextEncoderConfig
from .training import TrainOptions, fit

TEXT_DEFAULTS = TrainOptions(epochs=40, batch_size=64, lr=1e-3, weight_decay=1e-2, loss="weighted_ce",
                             patience=8)


def text_features(data_root: str, dataset: str, split: str, config: TextEncoderConfig) -> dict[str, np.ndarray]:
    """{"x": (N, D) float32, "y": (N,) int64} for MELD or GoEmotions; computed once, then cached."""
    def compute():
        rows = (read_meld(data_root, split, config.context_turns) if dataset == "meld"
                else read_goemotions(data_root, split))
        enc = TextEncoder(config)
        x = enc.encode([r.text for r in rows], [r.context for r in rows])
        return {"x": x.astype(np.float32), "y": np.array([r.label for r in rows], dtype=np.int64)}
    return cached(f"text_{dataset}_{split}", {"config": asdict(config)}, compute)


def train_text(data_root: str, out_dir: str | Path, opts: TrainOptions = TEXT_DEFAULTS,
               encoder: TextEncoderConfig = TextEncoderConfig(), use_goemotions: bool = False) -> dict:
    train = text_features(data_root, "meld", "train", encoder)
    dev = text_features(data_root, "meld", "dev", encoder)
    x, y = train["x"], train["y"]
    if use_goemotions:
        extra = text_features(data_root, "goemotions", "train", encoder)
        x, y = np.concatenate([x, extra["x"]]), np.concatenate([y, extra["y"]])
    head_cfg = HeadConfig(input_dim=x.shape[1])
    model = ClassifierHead(head_cfg)
    loss_fn = make_loss(opts.loss, train["y"], NUM_EMOTIONS, opts.label_smoothing)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    steps = len(yt) // opts.batch_size

    def batches(epoch):
        order = torch.randperm(len(yt), generator=torch.Generator().manual_seed(opts.seed * 1000 + epoch))
        for s in range(steps):
            idx = order[s * opts.batch_size:(s + 1) * opts.batch_size]
            yield xt[idx], yt[idx]

    def evaluate(m):
        rep = classification_report(dev["y"], m(torch.from_numpy(dev["x"]))[1].softmax(-1).numpy())
        return {"score": rep["weighted_f1"], "dev_weighted_f1": rep["weighted_f1"], "dev_macro_f1": rep["macro_f1"],
                "dev_accuracy": rep["accuracy"]}

    def save_best(m, path, metrics):
        checkpoint.save(path, "text", {"encoder": asdict(encoder), "head": asdict(head_cfg)}, m.state_dict(),
                        {"train": "MELD train" + (" + GoEmotions-Ekman train" if use_goemotions else ""),
                         "selection": "MELD dev weighted-F1", **metrics})

    return fit(model, opts, out_dir, batches, steps, lambda m, b: loss_fn(m(b[0])[1], b[1]), evaluate, save_best)
