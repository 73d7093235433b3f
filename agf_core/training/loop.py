"""The one training loop every task uses: AdamW, linear warm-up then cosine, early stopping,
a checkpoint every epoch, resumable after a stop (`last.pt` holds optimiser, schedule and RNG state)."""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from tqdm import tqdm


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_epochs: float = 1.0
    loss: str = "weighted_ce"       # ce | weighted_ce | focal
    label_smoothing: float = 0.0
    patience: int = 8               # epochs without a better dev score before stopping
    seed: int = 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear 0 -> 1 over `warmup` steps, then cosine 1 -> 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def fit(model: torch.nn.Module, opts: TrainOptions, out_dir: str | Path,
        batches: Callable[[int], Iterable], steps_per_epoch: int,
        step_loss: Callable[[torch.nn.Module, object], torch.Tensor],
        evaluate: Callable[[torch.nn.Module], dict],
        save_best: Callable[[torch.nn.Module, Path, dict], None]) -> dict:
    """Train `model`; `batches(epoch)` yields training batches, `step_loss` returns the batch loss,
    `evaluate` returns dev metrics with a "score" key (higher is better), `save_best` writes best.pt.
    Returns the best dev metrics. Re-running with the same `out_dir` resumes from last.pt."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=opts.lr, weight_decay=opts.weight_decay)
    total, warmup = opts.epochs * steps_per_epoch, int(opts.warmup_epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: warmup_cosine(s, total, warmup))
    state = {"epoch": 0, "best": None, "stale": 0}
    last = out / "last.pt"
    if last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"]), optim.load_state_dict(ck["optim"]), sched.load_state_dict(ck["sched"])
        state = ck["state"]
        torch.set_rng_state(ck["rng"])
        print(f"resumed from {last} at epoch {state['epoch']}")
    else:
        seed_everything(opts.seed)
    (out / "options.json").write_text(json.dumps(asdict(opts), indent=2))
    for epoch in range(state["epoch"], opts.epochs):
        if state["stale"] >= opts.patience:
            print(f"early stop: no better dev score for {opts.patience} epochs")
            break
        model.train()
        t0, losses = time.time(), []
        bar = tqdm(batches(epoch), total=steps_per_epoch, desc=f"epoch {epoch + 1}/{opts.epochs}", leave=False)
        for batch in bar:
            loss = step_loss(model, batch)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            optim.step()
            sched.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        model.eval()
        with torch.no_grad():
            metrics = evaluate(model)
        better = state["best"] is None or metrics["score"] > state["best"]["score"]
        if better:
            state["best"] = {**metrics, "epoch": epoch + 1}
            save_best(model, out / "best.pt", state["best"])
        state["stale"] = 0 if better else state["stale"] + 1
        state["epoch"] = epoch + 1
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "seconds": round(time.time() - t0, 1),
               **{k: v for k, v in metrics.items() if isinstance(v, (int, float))}}
        print(json.dumps(row), flush=True)
        with open(out / "log.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        torch.save({"model": model.state_dict(), "optim": optim.state_dict(), "sched": sched.state_dict(),
                    "state": state, "rng": torch.get_rng_state()}, last)
    return state["best"]
