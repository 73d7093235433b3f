"""Train a branch or the fusion: `python -m agf_core.train --task {text,audio,video,fusion} --data-root
../shared/data --out DIR`. The fusion trains over the shipped branches; `--variant all` (its default) trains
every variant of the study into DIR/<variant>/; `--variant agf_logit --seeds 0 1 2` trains those seeds
(DIR/agf_logit, DIR/agf_logit_s1, ...) and averages them into DIR/agf_logit_ensemble/best.pt;
`--bed aligned|frames|tuples|evidence --variant mult` trains one strategy of the fusion family on one of
its beds (agf_core/training/fusion/family.py); `--finetune --init FILE` is the optional second phase: the
branches' top layers fine-tuned together with that trained fusion, into DIR/<its variant>_finetuned/
(agf_core/training/fusion/finetune.py).

Every run is seeded and resumable: run the same command again after a stop and it goes on from DIR/last.pt.
The best dev checkpoint is DIR/best.pt; copy it to agf_core/weights/ to ship it.
"""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

from agf_core.device import set_threads
from agf_core.training.losses import LOSSES

log = logging.getLogger(__name__)
TASKS = ("text", "audio", "video", "fusion")
TASK_ALIASES = {"face": "video"}  # the face branch's task was called "face" before "video" named the modality


def task_name(name: str) -> str:
    """argparse type for --task: a task or an old alias."""
    name = TASK_ALIASES.get(name, name)
    if name not in TASKS:
        raise argparse.ArgumentTypeError(f"{name!r} is not a task; accepted: {', '.join(TASKS)} (face = video)")
    return name


def data_root(path: str) -> str:
    """argparse type for --data-root: a folder that exists (the labelled data, e.g. ../shared/data)."""
    if not Path(path).is_dir():
        raise argparse.ArgumentTypeError(f"{path!r} is not a folder; pass the labelled data's root, "
                                         "e.g. --data-root ../shared/data")
    return path


def _recipe(task: str):
    if task == "video":
        from agf_core.training.video import FACE_DEFAULTS, train_face
        return FACE_DEFAULTS, train_face
    if task == "text":
        from agf_core.training.text import TEXT_DEFAULTS, train_text
        return TEXT_DEFAULTS, train_text
    if task == "audio":
        from agf_core.training.audio import AUDIO_DEFAULTS, train_audio
        return AUDIO_DEFAULTS, train_audio
    if task == "fusion":
        from agf_core.training.fusion.recipe import FUSION_DEFAULTS, train_fusion
        return FUSION_DEFAULTS, train_fusion
    raise ValueError(f"unknown task {task!r}; accepted: {', '.join(TASKS)}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m agf_core.train", description=__doc__.splitlines()[0])
    ap.add_argument("--task", required=True, type=task_name, help=f"one of {', '.join(TASKS)}")
    ap.add_argument("--data-root", required=True, type=data_root,
                    help="folder holding text/, audio/, faces/ (../shared/data)")
    ap.add_argument("--out", required=True, help="run folder: best.pt, last.pt, log.jsonl")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--loss", choices=LOSSES)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    ap.add_argument("--frontend", choices=("whisper", "logmel", "hf", "whisper_prosody"), default=None,
                    help="audio only: the speech front end (see agf_core/models/audio.py); default whisper, "
                    "or whisper_prosody with --corpora")
    ap.add_argument("--corpora", nargs="+", help="audio: train on these speech corpora together "
                    "(ravdess tess urdu, or tess:OAF for one speaker) with the multi-corpus recipe "
                    "(agf_core/training/speech_recipe.py); text --finetune: fine-tune on these text corpora's "
                    "train splits together (e.g. meld emorynlp)")
    ap.add_argument("--goemotions", action="store_true", help="text only: add GoEmotions-Ekman train")
    ap.add_argument("--finetune", action="store_true", help="text: fine-tune the transformer too; fusion: "
                    "fine-tune the branches' top layers together with the fusion --init")
    ap.add_argument("--init", help="fusion --finetune: the trained fusion checkpoint to start from; video: a face "
                    "checkpoint to continue training from (e.g. agf_core/weights/video.pt)")
    ap.add_argument("--cutmix", type=float, default=0.0, help="video only: share of batches trained with CutMix")
    ap.add_argument("--fit-on", default="train", choices=("train", "dev"),
                    help="fusion only: fit on the train splits (default) or on half of the dev splits (stacking)")
    ap.add_argument("--variant", default="all", help="fusion only: one of the variants in "
                    "agf_core/models/variants.py, or all (each into OUT/<variant>); with --bed one of the fusion "
                    "family: early, late, mult, graph, contrastive, agf, agf_evidence, hierarchical; audio --corpora: "
                    "a recipe variant of agf_core/training/speech_recipe.py (default base)")
    ap.add_argument("--seeds", type=int, nargs="+", help="fusion only: train one variant with each seed and "
                    "average them into OUT/<variant>_ensemble (with --bed: one checkpoint per seed)")
    ap.add_argument("--bed", help="fusion only: train the fusion family's strategy --variant on one of its beds "
                    "(aligned, frames, tuples, evidence; agf_core/training/fusion/beds.py) into OUT/<variant>[_s<seed>]")
    ap.add_argument("--voice", help="fusion --bed: the voice_recipe run whose loco_outputs.npz give the voice "
                    "readings (e.g. ~/.cache/agf/runs/voice2)")
    ap.add_argument("--no-modality-dropout", action="store_true", help="fusion --bed: train without modality dropout")
    return run_cli(ap, _train, ap.parse_args(argv))


def run_cli(ap: argparse.ArgumentParser, run, args: argparse.Namespace):
    """`run(args)`, with a bad input (data folder, checkpoint, option) answered in one line and exit status 2
    instead of a traceback; the traceback goes to the debug log."""
    try:
        return run(args)
    except (ValueError, FileNotFoundError) as e:
        log.debug("%s failed", ap.prog, exc_info=True)
        ap.exit(2, f"{ap.prog}: error: {e}\n")


def _train(args: argparse.Namespace) -> dict:
    set_threads(args.threads)
    defaults, train = _recipe(args.task)
    if args.task == "text" and args.finetune:
        from agf_core.training.text import TEXT_FINETUNE_DEFAULTS, train_text_finetune
        defaults, train = TEXT_FINETUNE_DEFAULTS, train_text_finetune
    overrides = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                   "loss": args.loss, "seed": args.seed}.items() if v is not None}
    extra = {}
    if args.corpora and args.task != "audio" and not (args.task == "text" and args.finetune):
        raise SystemExit(f"--corpora is only accepted with --task audio or --task text --finetune, "
                         f"not --task {args.task}")
    if args.task == "text" and args.corpora:
        from agf_core.training.text_corpora import check_corpus
        try:
            extra["corpora"] = tuple(check_corpus(c) for c in args.corpora)
        except ValueError as e:
            raise SystemExit(str(e)) from None
    if args.task == "audio" and args.corpora:
        from agf_core.training.speech_recipe import train_speech_cli
        variant = "base" if args.variant == "all" else args.variant
        return train_speech_cli(args.data_root, args.out, args.corpora, args.frontend, overrides, variant)
    if args.task == "audio":
        from agf_core.models.audio import AudioEncoderConfig
        extra["encoder"] = AudioEncoderConfig(frontend=args.frontend or "whisper")
    if args.task == "text" and not args.finetune:
        extra["use_goemotions"] = args.goemotions
    if args.init and not (args.task == "fusion" and args.finetune) and args.task != "video":
        raise SystemExit(f"--init {args.init} is only accepted with --task video or --task fusion --finetune")
    if args.cutmix and args.task != "video":
        raise SystemExit(f"--cutmix is only accepted with --task video, not --task {args.task}")
    if args.task == "video":
        if args.init and not Path(args.init).is_file():
            raise SystemExit(f"--init {args.init} is not a file; pass a video checkpoint")
        if not 0.0 <= args.cutmix <= 1.0:
            raise SystemExit(f"--cutmix {args.cutmix} must lie in [0, 1]")
        extra.update(init=args.init, cutmix_p=args.cutmix)
    if args.bed is not None or args.voice is not None or args.no_modality_dropout:
        if args.task != "fusion" or args.finetune:
            raise SystemExit("--bed, --voice and --no-modality-dropout are only accepted with --task fusion (no --finetune)")
        from agf_core.training.fusion.family_cli import train_family
        return train_family(args, overrides)
    if args.task == "fusion" and args.finetune:
        if not args.init:
            raise SystemExit("--task fusion --finetune needs --init FILE, a trained fusion checkpoint "
                             "(e.g. runs/fusion/agf_logit_ensemble/best.pt)")
        if args.seeds or args.variant != "all":
            raise SystemExit("--finetune fine-tunes the --init checkpoint as it is; drop --variant and --seeds")
        return train_fusion_finetune(args.data_root, args.out, args.init, overrides, args.fit_on)
    if args.task == "fusion" and args.seeds:
        return train_fusion_ensemble(args.data_root, args.out, replace(defaults, **overrides), args.variant,
                                     args.seeds, args.fit_on)
    if args.task == "fusion":
        return train_fusion_variants(args.data_root, args.out, replace(defaults, **overrides), args.variant,
                                     args.fit_on)
    best = train(args.data_root, args.out, replace(defaults, **overrides), **extra)
    print(json.dumps({"best": best}, indent=2))
    return best


def train_fusion_variants(data_root: str, out: str, opts, variant: str, fit_on: str = "train") -> dict:
    from agf_core.training.fusion.pools import Branches
    from agf_core.training.fusion.recipe import train_fusion
    from agf_core.models.variants import VARIANTS, check_variant
    try:
        variant = check_variant(variant, also=("all",))
    except ValueError as e:
        raise SystemExit(f"--variant: {e}") from None
    if variant == "hierarchical":
        raise SystemExit("--variant hierarchical fuses other trained strategies: train it on a bed of the fusion "
                         "family with --bed (aligned, frames, tuples, evidence)")
    branches = Branches.load()
    results = {v: train_fusion(data_root, Path(out) / v, opts, v, branches, fit_on)
               for v in (VARIANTS if variant == "all" else (variant,))}
    print(json.dumps(results, indent=2))
    return results


def train_fusion_ensemble(data_root: str, out: str, opts, variant: str, seeds: list[int], fit_on: str = "train"
                          ) -> dict:
    from agf_core.training.fusion.pools import Branches
    from agf_core.training.fusion.recipe import assemble_ensemble, member_dir, train_fusion
    from agf_core.models.variants import check_variant, ensemble_name
    try:
        variant = check_variant(variant)
    except ValueError as e:
        raise SystemExit(f"--seeds needs one --variant: {e}") from None
    seeds = list(dict.fromkeys(seeds))  # each seed once, in the order given
    if len(seeds) < 2:
        raise SystemExit(f"--seeds {seeds} must name at least 2 different seeds")
    branches = Branches.load()
    members = [member_dir(out, variant, s) for s in seeds]
    results = {str(d): train_fusion(data_root, d, replace(opts, seed=s), variant, branches, fit_on)
               for s, d in zip(seeds, members)}
    results["ensemble"] = assemble_ensemble(data_root, [d / "best.pt" for d in members],
                                            Path(out) / ensemble_name(variant) / "best.pt", branches)
    print(json.dumps(results, indent=2, default=str))
    return results


def train_fusion_finetune(data_root: str, out: str, init: str, overrides: dict, fit_on: str = "train") -> dict:
    from agf_core import checkpoint
    from agf_core.training.fusion.finetune import FINETUNE_DEFAULTS, finetune_fusion, finetuned_name
    from agf_core.models.variants import variant_name
    if not Path(init).is_file():
        raise SystemExit(f"--init {init} is not a file; pass a trained fusion checkpoint")
    out_dir = Path(out) / finetuned_name(variant_name(checkpoint.load(init, "fusion")))
    result = finetune_fusion(data_root, out_dir, init, replace(FINETUNE_DEFAULTS, **overrides), fit_on=fit_on)
    print(json.dumps(result, indent=2, default=str))
    return result


if __name__ == "__main__":
    main()
