"""Training recipe for the face CNN on FER2013 (train split; model selection on val = PublicTest)."""
from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from agf_core import checkpoint
from agf_core.training.data import read_fer2013
from agf_core.labels import NUM_EMOTIONS
from agf_core.training.losses import make_loss
from agf_core.training.metrics import classification_report
from agf_core.training.loop import TrainOptions, fit
from agf_core.models.video import FaceNet, FaceNetConfig, crops_to_tensor

FACE_DEFAULTS = TrainOptions(epochs=40, batch_size=64, lr=2e-3, weight_decay=5e-2, loss="ce",
                             label_smoothing=0.1, patience=10)


def cutmix(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """CutMix: a box of each image replaced by the same box of another image in the batch.
    x (B, 1, H, W), y (B,) -> mixed x, y, the partner's labels (B,) and the kept area fraction lam."""
    b, h = x.shape[0], x.shape[-1]
    perm = torch.randperm(b, generator=generator)
    lam = float(torch.distributions.Beta(1.0, 1.0).sample())
    side = int(round(h * (1 - lam) ** 0.5))
    cy, cx = (int(v) for v in torch.randint(0, h, (2,), generator=generator))
    y0, y1 = max(cy - side // 2, 0), min(cy + side - side // 2, h)
    x0, x1 = max(cx - side // 2, 0), min(cx + side - side // 2, h)
    x = x.clone()
    x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    return x, y, y[perm], 1 - (y1 - y0) * (x1 - x0) / (h * h)


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random flip, rotation (+-12 deg), scale (0.85-1.15), shift (+-10%) and one erased patch.
    x (B, 1, H, W) in [0, 1] -> same shape."""
    b = x.shape[0]
    u = lambda: torch.rand(b, generator=generator)  # noqa: E731
    angle = (u() - 0.5) * math.radians(24)
    scale = 0.85 + 0.3 * u()
    flip = torch.where(u() < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, (u() - 0.5) * 0.2], 1),
                         torch.stack([sin * flip, cos, (u() - 0.5) * 0.2], 1)], 1)   # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    # Random erasing: a 12-20 px square of mid grey in half the images (occlusion by hands, glasses).
    h = x.shape[-1]
    size = torch.randint(12, 21, (b,), generator=generator)
    y0 = (u() * (h - size)).long()
    x0 = (u() * (h - size)).long()
    yy, xx = torch.arange(h)[None, :, None], torch.arange(h)[None, None, :]
    box = (yy >= y0[:, None, None]) & (yy < (y0 + size)[:, None, None]) & \
          (xx >= x0[:, None, None]) & (xx < (x0 + size)[:, None, None])
    box &= (u() < 0.5)[:, None, None]
    return x.masked_fill(box[:, None], 0.5)


@torch.no_grad()
def predict_probs(model: FaceNet, images: np.ndarray, batch: int = 512, flip_tta: bool = True) -> np.ndarray:
    """images uint8 (N, 48, 48) -> probabilities (N, 7); averages with the mirrored crop when `flip_tta`."""
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        x = crops_to_tensor(images[i:i + batch])                         # (b, 1, 48, 48)
        p = model(x)[1].softmax(-1)
        if flip_tta:
            p = (p + model(x.flip(-1))[1].softmax(-1)) / 2
        out.append(p.numpy())
    return np.concatenate(out)


def train_face(data_root: str, out_dir: str | Path, opts: TrainOptions = FACE_DEFAULTS,
               config: FaceNetConfig = FaceNetConfig(), init: str | Path | None = None, cutmix_p: float = 0.0
               ) -> dict:
    """`init`: a video checkpoint to start from (its architecture is kept); `cutmix_p`: share of batches
    trained with CutMix."""
    if not 0.0 <= cutmix_p <= 1.0:
        raise ValueError(f"cutmix_p={cutmix_p!r} must lie in [0, 1]")
    x_train, y_train = read_fer2013(data_root, "train")
    x_dev, y_dev = read_fer2013(data_root, "dev")
    if init is not None:
        ck = checkpoint.load(init, "video")
        config = FaceNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in ck["config"].items()})
        model = FaceNet(config)
        model.load_state_dict(ck["state_dict"])
    else:
        model = FaceNet(config)
    loss_fn = make_loss(opts.loss, y_train, NUM_EMOTIONS, opts.label_smoothing)
    x_all = crops_to_tensor(x_train)                                     # (N, 1, 48, 48)
    y_all = torch.from_numpy(y_train)
    steps = len(y_train) // opts.batch_size

    def batches(epoch: int):
        g = torch.Generator().manual_seed(opts.seed * 1000 + epoch)
        order = torch.randperm(len(y_all), generator=g)
        for s in range(steps):
            idx = order[s * opts.batch_size:(s + 1) * opts.batch_size]
            x, y = augment(x_all[idx], g), y_all[idx]
            if torch.rand(1, generator=g).item() < cutmix_p:
                yield cutmix(x, y, g)
            else:
                yield x, y, y, 1.0

    def step_loss(m, batch):
        x, y, y2, lam = batch
        logits = m(x)[1]
        return lam * loss_fn(logits, y) + (1 - lam) * loss_fn(logits, y2) if lam < 1 else loss_fn(logits, y)

    def evaluate(m):
        rep = classification_report(y_dev, predict_probs(m, x_dev))
        return {"score": rep["accuracy"], "dev_accuracy": rep["accuracy"], "dev_macro_f1": rep["macro_f1"]}

    def save_best(m, path, metrics):
        checkpoint.save(path, "video", asdict(config), m.state_dict(),
                        {"train": "FER2013 train (28,709)" + (f", started from {Path(init).name}" if init else "")
                         + (f", CutMix on {cutmix_p:.0%} of batches" if cutmix_p else ""),
                         "selection": "FER2013 val/PublicTest", **metrics})

    return fit(model, opts, out_dir, batches, steps, step_loss, evaluate, save_best)
