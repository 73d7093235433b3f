"""Fusion checkpoints scored on the same rows: the half of dev that `--fit-on dev` selects on (so a fusion
fitted on the train splits and one fitted on the other dev half can be compared by the dev rule) and the two
test beds of the fusion study.

    python -m benchmarks.fusion_fit --data-root ../shared/data runs/fusion/agf_logit_ensemble/best.pt \
        runs/fusion_dev/agf_logit/best.pt --out reports/
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from agf_core.training.fusion.pools import Branches, half_pools, load_pools
from agf_core.training.fusion.recipe import dev_score, eval_sets
from agf_core.training.fusion.report import TEST_SEED, load_variant

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.fusion_fit", description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--out", default="reports")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    branches = Branches.load()
    beds = {"dev_select_half": eval_sets(half_pools(load_pools(args.data_root, "dev", branches), "select"), seed=1),
            "test": eval_sets(load_pools(args.data_root, "test", branches), TEST_SEED)}
    out = {}
    for path in args.checkpoints:
        model = load_variant(path)[0]
        out[path] = {bed: {k.removeprefix("dev_"): round(v, 4) for k, v in dev_score(model, rows).items()}
                     for bed, rows in beds.items()}
        log.info("%s %s", path, json.dumps(out[path]))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "fusion_fit.json").write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
