"""Training recipe for the text head: frozen MiniLM features of MELD (+ optional GoEmotions-Ekman) train,
model selection on MELD dev weighted-F1."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from agf_core import checkpoint
from agf_core.training.data import read_goemotions, read_meld
from agf_core.training.features import cached
from agf_core.models.head import ClassifierHead, HeadConfig
from agf_core.labels import NUM_EMOTIONS
from agf_core.training.losses import make_loss
from agf_core.training.metrics import classification_report
from agf_core.models.text import TextEncoder, TextEncoderConfig
from agf_core.training.loop import TrainOptions, fit

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


TEXT_FINETUNE_DEFAULTS = TrainOptions(epochs=4, batch_size=32, lr=5e-5, weight_decay=1e-2, loss="ce",
                                      warmup_epochs=0.3, patience=2)


class TextClassifier(torch.nn.Module):
    """Transformer encoder and head trained end to end: texts (+ context) -> (B, hidden), (B, 7)."""

    def __init__(self, encoder: TextEncoder, head: ClassifierHead):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, texts: list[str], contexts: list[list[str]] | None = None):
        return self.head(self.encoder(texts, contexts))


def text_classifier_probs(model: TextClassifier, rows, batch: int = 64) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([model([r.text for r in rows[i:i + batch]], [r.context for r in rows[i:i + batch]])[1]
                               .softmax(-1).numpy() for i in range(0, len(rows), batch)])


def train_text_finetune(data_root: str, out_dir: str | Path, opts: TrainOptions = TEXT_FINETUNE_DEFAULTS,
                        encoder: TextEncoderConfig = TextEncoderConfig(), corpora: tuple[str, ...] = ("meld",)) -> dict:
    """Fine-tune the transformer and the head together on the train splits of `corpora` (text_corpora.py; MELD
    by default); selection on MELD dev weighted-F1, the live app's conversational domain.
    The checkpoint holds the encoder's weights (float16, to halve the file) beside the head's."""
    from agf_core.training.data import read_meld
    from agf_core.training.text_corpora import check_corpus, read_text_corpus
    corpora = tuple(check_corpus(c) for c in corpora)
    train = [r for c in corpora for r in read_text_corpus(data_root, c, "train", encoder.context_turns)]
    dev = read_meld(data_root, "dev", encoder.context_turns)
    y = np.array([r.label for r in train])
    dev_y = np.array([r.label for r in dev])
    enc = TextEncoder(encoder, own_weights=True)
    head_cfg = HeadConfig(input_dim=enc.dim)
    model = TextClassifier(enc, ClassifierHead(head_cfg))
    loss_fn = make_loss(opts.loss, y, NUM_EMOTIONS, opts.label_smoothing)
    steps = len(train) // opts.batch_size

    def batches(epoch):
        order = np.random.default_rng(opts.seed * 1000 + epoch).permutation(len(train))
        for s in range(steps):
            rows = [train[i] for i in order[s * opts.batch_size:(s + 1) * opts.batch_size]]
            yield [r.text for r in rows], [r.context for r in rows], torch.tensor([r.label for r in rows])

    def evaluate(m):
        rep = classification_report(dev_y, text_classifier_probs(m, dev))
        return {"score": rep["weighted_f1"], "dev_weighted_f1": rep["weighted_f1"], "dev_macro_f1": rep["macro_f1"],
                "dev_accuracy": rep["accuracy"]}

    def save_best(m, path, metrics):
        state = {k: v.half() if k.startswith("encoder.") and v.is_floating_point() else v
                 for k, v in m.state_dict().items()}
        checkpoint.save(path, "text", {"encoder": asdict(encoder), "head": asdict(head_cfg), "finetuned": True},
                        state, {"train": f"{' + '.join(corpora)} train, encoder fine-tuned",
                                "selection": "MELD dev weighted-F1",
                                **metrics})

    return fit(model, opts, out_dir, batches, steps, lambda m, b: loss_fn(m(b[0], b[1])[1], b[2]), evaluate,
               save_best)
