"""The fusion's optional second phase (DESIGN.md: frozen encoders first, optional fine-tuning after): the top
layers of each branch, the ones that make h_i and the branch's prediction, train together with a trained
fusion at a low learning rate.

    branch  moves (BranchTops)                                  stays frozen
    text    ClassifierHead: encoder output -> h_text, logits    the fine-tuned MiniLM (text.pt)
    audio   AudioNet.top: pooled statistics -> h_audio, logits  Whisper tiny.en, AudioNet's projection + pooling
    video   FaceNet.top, per frame and mirror, then pool_window the CNN stages

Why not deeper: Whisper runs in CTranslate2, which has no gradients; back-propagating through MiniLM and the
CNN over every epoch's corrupted tuples is out of reach on 2 CPU cores. So the layers below the tops are run
once and cached ("trunk pools"), as the frozen phase caches h and logp.

The rows are the frozen phase's (fusion_data.training_set) built from trunk pools: the same items, noise and
corruptions, with each modality's trunk features in the h slot. `python -m agf_core.train --task fusion
--finetune --init runs/fusion/agf_logit_ensemble/best.pt --data-root ../shared/data --out runs/fusion` writes
OUT/<variant>_finetuned/best.pt: a fusion checkpoint whose `branch_tops` the recognizer loads into its branches.
"""
from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from agf_core import checkpoint
from agf_core.training.fusion.pools import Branches, face_inputs, load_pools, pool_key, speech_inputs, text_inputs
from agf_core.training.fusion.recipe import (FIT_ON, SELECTION, TRAIN_DATA, dev_score, epoch_batches, fit_and_select,
                            fit_temperatures, fusion_meta)
from agf_core.models.variants import FusionEnsemble, from_checkpoint, variant_name
from agf_core.labels import MODALITIES
from agf_core.training.loop import TrainOptions, fit
from agf_core.models.video import window_top

FINETUNE_DEFAULTS = TrainOptions(epochs=12, batch_size=128, lr=2e-4, weight_decay=1e-2, loss="ce",
                                 warmup_epochs=1, patience=4)


def finetuned_name(variant: str) -> str:
    return f"{variant}_finetuned"


def trunk_pools(data_root: str, split: str, branches: Branches) -> dict[str, dict[str, np.ndarray]]:
    """load_pools' pools with each modality's trunk features in place of h (row for row the same items,
    noise and corruptions): text (2, N, D_in), audio (C, N, 2 * channels), video (N, T * 2 * C) flattened
    from (N, T, 2, C) (each frame as seen and mirrored); cached. The logp are the frozen branches'."""
    from agf_core.training.features import cached
    pools = load_pools(data_root, split, branches)

    def speech():
        _, audio, texts, _ = speech_inputs(data_root, split, branches.audio.trunk)
        return {"audio_h": np.array(audio, np.float32), "text_h": np.stack([branches.text.encodings(list(ts))
                                                                             for ts in texts])}

    def text():
        _, texts, contexts = text_inputs(data_root, split, branches.text.encoder.config.context_turns)
        return {"h": np.stack([branches.text.encodings(ts, contexts) for ts in texts])}

    def face():
        _, windows, _, bad = face_inputs(data_root, split)
        flat = lambda w: branches.video.window_trunks(w).reshape(len(w), -1)  # noqa: E731
        return {"h": flat(windows), "corrupt_h": np.stack([flat(w) for w in bad])}

    out = {}
    for name, compute in (("speech", speech), ("text", text), ("face", face)):
        trunk = cached(f"fusion_trunk_{name}_{split}", pool_key(name, split, branches), compute)
        for k, v in trunk.items():  # row for row the pool's items, or the pools' recipe changed under the cache
            if v.shape[:-1] != pools[name][k].shape[:-1]:
                raise ValueError(f"trunk pool {name}/{split} {k} has rows {v.shape[:-1]}, its pool "
                                 f"{pools[name][k].shape[:-1]}; delete .cache/fusion_trunk_{name}_{split}_* and rerun")
        out[name] = {**pools[name], **trunk}
    return out


class BranchTops(nn.Module):
    """The three branches' top layers: trunk features {modality: (B, D_m)} -> h {m: (B, 256)} and
    log-probabilities {m: (B, 7)}. Built as copies of the loaded branches; the trunk layers are frozen."""

    def __init__(self, branches: Branches):
        super().__init__()
        if not hasattr(branches.audio, "trunk"):
            raise ValueError("the fine-tuning phase needs a frame-level audio.pt (AudioBranch, e.g. the one shipped "
                             "before session 11); the loaded voice is utterance-level (VoiceBranch), which has no "
                             "trunk/top split to fine-tune")
        self.text = copy.deepcopy(branches.text.head)
        self.audio = copy.deepcopy(branches.audio.net)
        self.video = copy.deepcopy(branches.video.net)
        for frozen in (self.audio.proj, self.audio.convs, self.audio.attn, self.video.stages):
            frozen.requires_grad_(False)

    def one(self, modality: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if modality == "text":
            h, logits = self.text(x)                                       # (B, 256), (B, 7)
        elif modality == "audio":
            h, logits = self.audio.top(x)                                  # (B, 256), (B, 7)
        elif modality == "video":
            c = self.video.config
            g = x.view(len(x), c.window, 2, c.channels[-1])                # (B, T, 2, C)
            return window_top(self.video, g)                               # (B, 256), (B, 7) log-probabilities
        else:
            raise ValueError(f"unknown modality {modality!r}; accepted: {', '.join(MODALITIES)}")
        return h, logits.log_softmax(-1)

    def forward(self, x: dict[str, torch.Tensor]) -> tuple[dict, dict]:
        outs = {m: self.one(m, x[m]) for m in MODALITIES}
        return {m: h for m, (h, _) in outs.items()}, {m: lp for m, (_, lp) in outs.items()}



class FineTunedFusion(nn.Module):
    """BranchTops + a fusion model, with the fusion's interface: model(x, logp, mask, meta) where x holds
    trunk features; the frozen branches' `logp` are not used (the tops make their own)."""

    def __init__(self, tops: BranchTops, fusion: nn.Module):
        super().__init__()
        self.tops, self.fusion = tops, fusion
        self.config = fusion.config

    def forward(self, x, logp, mask, meta, gate_bias=None, class_bias=None):
        h, lp = self.tops(x)
        return self.fusion(h, lp, mask, meta, gate_bias, class_bias)

    def gate_loss(self, x, logp, mask, meta, y):
        h, lp = self.tops(x)
        members = self.fusion.members if isinstance(self.fusion, FusionEnsemble) else [self.fusion]
        return torch.stack([m.gate_loss(h, lp, mask, meta, y) for m in members]).mean()

    def train(self, mode: bool = True) -> "FineTunedFusion":
        super().train(mode)
        self.tops.eval()  # as at inference (no dropout, BatchNorm statistics fixed); only their weights move
        return self


@torch.no_grad()
def apply_tops(tops: BranchTops, trunks: dict) -> dict[str, dict[str, np.ndarray]]:
    """Trunk pools -> h/logp pools (load_pools' layout) made by `tops`: how a fine-tuned fusion is evaluated
    with the study's analyses."""
    tops.eval()

    def run(m: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lead = x.shape[:-1]
        h, lp = tops.one(m, torch.from_numpy(np.ascontiguousarray(x.reshape(-1, x.shape[-1]), np.float32)))
        return h.numpy().reshape(*lead, -1), lp.numpy().reshape(*lead, -1)

    speech, text, face = (dict(trunks[k]) for k in ("speech", "text", "face"))
    speech["audio_h"], speech["audio_logp"] = run("audio", trunks["speech"]["audio_h"])
    speech["text_h"], speech["text_logp"] = run("text", trunks["speech"]["text_h"])
    text["h"], text["logp"] = run("text", trunks["text"]["h"])
    face["h"], face["logp"] = run("video", trunks["face"]["h"])
    face["corrupt_h"], face["corrupt_logp"] = run("video", trunks["face"]["corrupt_h"])
    return {"speech": speech, "text": text, "face": face}


def load_finetuned(path: str | Path, branches: Branches) -> tuple[FineTunedFusion, dict]:
    """A fine-tuned fusion checkpoint -> FineTunedFusion (over copies of `branches`) and its checkpoint."""
    ck = checkpoint.load(path, "fusion")
    if "branch_tops" not in ck:
        raise ValueError(f"fusion {path} has no fine-tuned branch tops; it is a frozen-phase checkpoint")
    checkpoint.check_trained_over(ck["meta"], branches.digests, f"fusion {path}")
    model = FineTunedFusion(BranchTops(branches), from_checkpoint(ck))
    model.tops.load_state_dict(ck["branch_tops"])
    return model.eval(), ck


def finetune_fusion(data_root: str, out_dir: str | Path, init: str | Path, opts: TrainOptions = FINETUNE_DEFAULTS,
                    branches: Branches | None = None, fit_on: str = "train") -> dict:
    """Fine-tune the branch tops together with the trained fusion `init` (a single variant or an ensemble)
    into out_dir/best.pt, selected and calibrated on dev as train_fusion does."""
    if fit_on not in FIT_ON:  # before any pool is loaded
        raise ValueError(f"fit_on {fit_on!r} is not accepted; accepted: {', '.join(FIT_ON)}")
    branches = branches or Branches.load()
    ck = checkpoint.load(init, "fusion")
    if "branch_tops" in ck:
        raise ValueError(f"--init {init} is already fine-tuned; start from a frozen-phase fusion checkpoint")
    checkpoint.check_trained_over(ck["meta"], branches.digests, f"--init {init}")
    model = FineTunedFusion(BranchTops(branches), from_checkpoint(ck))
    train_pools, repeats, dev, dev_all = fit_and_select(lambda split: trunk_pools(data_root, split, branches), fit_on)
    batches, steps = epoch_batches(train_pools, opts, repeats)
    loss_fn = torch.nn.CrossEntropyLoss()
    supervision = model.config.gate_supervision

    def step_loss(m, b):
        loss = loss_fn(m(b[0], b[1], b[2], b[3])[0], b[4])
        return loss + supervision * m.gate_loss(*b) if supervision else loss

    variant = finetuned_name(variant_name(ck))

    def save_best(m, path, metrics):
        temps = fit_temperatures(m, dev_all)
        checkpoint.save(path, "fusion", asdict(m.config), m.fusion.state_dict(),
                        fusion_meta(m, temps, branches, variant, fit_on,
                                    "fine-tuning phase (branch tops + fusion) on " + TRAIN_DATA[fit_on],
                                    SELECTION[fit_on], init=str(init), **metrics),
                        extra={"branch_tops": m.tops.state_dict()})

    start = {**dev_score(model, dev), "epoch": 0}
    print(f"before fine-tuning: dev score {start['score']:.4f}")
    best = fit(model, opts, out_dir, batches, steps, step_loss, lambda m: dev_score(m, dev), save_best)
    if best["score"] <= start["score"]:
        print(f"fine-tuning did not beat {init} on dev ({best['score']:.4f} vs {start['score']:.4f} before): "
              "by the study's dev rule, keep the frozen-phase fusion")
    return {"before": start, "best": best}
