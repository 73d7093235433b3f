"""`agf-train --task fusion --bed B --variant V`: one strategy of the fusion family on one bed (family.py),
and `agf-evaluate --task fusion --bed B --variant V --checkpoint FILE`: score a saved one."""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

import torch

from agf_core.models.variants import check_variant
from agf_core.training.fusion.beds import check_bed, load_bed
from agf_core.training.fusion.family import STRATEGIES, bed_options, load, run, save, score
from agf_core.training.fusion.recipe import member_dir

log = logging.getLogger(__name__)


def family_variant(name: str) -> str:
    """A strategy of the family (aliases resolved), or "all"; one line naming the accepted ones otherwise."""
    name = check_variant(name, also=("all",))
    if name != "all" and name not in STRATEGIES:
        raise ValueError(f"variant {name!r} is not in the fusion family; accepted with --bed: all, {', '.join(STRATEGIES)}")
    return name


def _inputs(args: argparse.Namespace):
    bed_name = check_bed(args.bed)
    if not args.voice or not (Path(args.voice) / "loco_outputs.npz").is_file():
        raise ValueError(f"--voice {args.voice} must be a voice_recipe run folder holding loco_outputs.npz "
                         "(e.g. ~/.cache/agf/runs/voice2)")
    return bed_name, load_bed(bed_name, args.data_root, Path(args.voice))


def _table(result: dict) -> dict:
    return {t: {k: v["accuracy"] for k, v in rows.items() if k != "weights"} for t, rows in result["test"].items()}


def train_family(args: argparse.Namespace, overrides: dict) -> dict:
    variant = family_variant(args.variant)
    _, bed = _inputs(args)
    torch.set_num_threads(args.threads or 1)
    opts = replace(bed_options(bed.name, not args.no_modality_dropout),
                   **{k: v for k, v in overrides.items() if k in ("epochs", "batch_size", "lr")})
    results = {}
    for v in (STRATEGIES if variant == "all" else (variant,)):
        for seed in args.seeds or [overrides.get("seed", 0)]:
            model, result = run(v, bed, seed, opts)
            out = member_dir(args.out, v, seed)
            save(model, out / "best.pt", bed, result)
            results[str(out)] = {"test_accuracy": _table(result), "parameters": result["parameters"],
                                 "cpu_ms": result["cpu_ms"], "train_seconds": result["train_seconds"]}
    print(json.dumps(results, indent=2))
    return results


def evaluate_family(args: argparse.Namespace) -> dict:
    variant = family_variant(args.variant)
    if variant == "all" or not args.checkpoint:
        raise ValueError("--bed scores one saved strategy: pass --variant NAME and --checkpoint FILE")
    _, bed = _inputs(args)
    result = {t: {k: v["accuracy"] for k, v in rows.items() if k != "weights"}
              for t, rows in score(load(args.checkpoint, variant, bed), bed).items()}
    print(json.dumps(result, indent=2))
    return result
