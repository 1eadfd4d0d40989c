"""The sweep behind the book's data and CBFT presets (issue: Table 1 as strong as the paper's).

Each *variant* changes the data (base difficulty, object size, box size), θ's training recipe or
CBFT's hyper-parameters; for each variant and seed this script trains (or loads from the
checkpoint cache) θ_NC and θ_C at p = 0.6 and 0.9, fine-tunes θ_C with the Table 1 methods, and
measures accuracy on NC / C / RC / RI plus the chord-relative loss barrier on C from θ_C to CBFT,
FT small and FT medium (chapter 2's barrier, chapter 2's path budget). One JSON line per
(variant, seed, p) goes to ``--out``::

    .venv/bin/python benchmarks/fidelity_sweep.py --variants default small2 --seeds 0 --stage full

``--stage screen`` only trains θ_NC, θ_C and FT small (about a minute and a half per variant and
seed on the 2-core CPU); ``--stage full`` adds the other methods and the barriers. The variants
are defined in :data:`VARIANTS`; ``benchmarks/RESULTS.md`` records what they measured.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from mmc_utils import zoo
from mmc_utils.finetune import accuracies_pct
from mmc_utils.paths import LinearPath, barriers

_BOOK_MODEL = dict(zoo._MODEL["book"])
FIVE_BLOCKS = ((32, 1), (32, 2), (64, 1), (64, 2), (64, 1))   # the SmallCNN plan before the sweep
SIX_BLOCKS = ((32, 1), (32, 2), (64, 1), (64, 2), (64, 1), (64, 2))  # the plan it chose
OLD_DATA = {"base_kwargs": {}, "cue_kwargs": {}}               # the book's data before the sweep
# name -> {"model": SmallCNN overrides, "data": CueDataConfig overrides, "train": TrainConfig overrides, "cbft": FinetuneConfig overrides}
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "small2": {"data": {"base_kwargs": {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25},
                        "cue_kwargs": {"box_size": 2}}},
    "small2_hard": {"data": {"base_kwargs": {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25,
                                             "noise": 0.1, "texture": 0.12},
                             "cue_kwargs": {"box_size": 2}}},
    "small1": {"data": {"base_kwargs": {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25}}},
    "mid2": {"data": {"base_kwargs": {"radius_min": 0.22, "radius_max": 0.32, "spread": 0.2},
                      "cue_kwargs": {"box_size": 2}}},
    "n8k": {"data": {"n_train": 8_000}, "train": {"epochs": 10}},
    "n8k_small1": {"data": {"n_train": 8_000, "base_kwargs": {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25}},
                   "train": {"epochs": 10}},
    "small1_hard": {"data": {"base_kwargs": {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25,
                                             "noise": 0.1, "texture": 0.12}}},
    "small2_far": {"data": {"base_kwargs": {"radius_min": 0.17, "radius_max": 0.25, "spread": 0.15},
                            "cue_kwargs": {"box_size": 2}}},
    "gap2": {"model": {"plan": ((32, 1), (32, 2), (64, 1), (64, 2), (64, 2))}},
    "gap2x6": {"model": {"plan": SIX_BLOCKS}},
    "gap2_small1": {"model": {"plan": ((32, 1), (32, 2), (64, 1), (64, 2), (64, 2))},
                    "data": {"base_kwargs": {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25}}},
    "gap2x6_hard": {"model": {"plan": SIX_BLOCKS},
                    "data": {"base_kwargs": {"noise": 0.2, "texture": 0.25}}},
    "gap2x6_mid": {"model": {"plan": SIX_BLOCKS},
                   "data": {"base_kwargs": {"noise": 0.15, "texture": 0.2}}},
    "cl_box2": {"model": {"plan": SIX_BLOCKS},
                "data": {"base_kwargs": {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25, "clutter": 3,
                                         "noise": 0.1, "texture": 0.12},
                         "cue_kwargs": {"box_size": 2}}},
    "cl_box2_easy": {"model": {"plan": SIX_BLOCKS},
                     "data": {"base_kwargs": {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25, "clutter": 3},
                              "cue_kwargs": {"box_size": 2}}},
    "cl_box2_easy_inv3": {"model": {"plan": SIX_BLOCKS},
                          "data": {"base_kwargs": {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25, "clutter": 3},
                                   "cue_kwargs": {"box_size": 2}},
                          "cbft": {"invariance_weight": 3.0}},
    "cl_box2_easy_inv10": {"model": {"plan": SIX_BLOCKS},
                           "data": {"base_kwargs": {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25, "clutter": 3},
                                    "cue_kwargs": {"box_size": 2}},
                           "cbft": {"invariance_weight": 10.0}},
    "n35k_e4": {"model": {"plan": SIX_BLOCKS},
                "data": {"n_train": 35_000,
                         "base_kwargs": {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25, "clutter": 3},
                         "cue_kwargs": {"box_size": 2}},
                "train": {"epochs": 4}, "cbft": {"invariance_weight": 3.0}},
    "n35k_e4_cl5": {"model": {"plan": SIX_BLOCKS},
                    "data": {"n_train": 35_000,
                             "base_kwargs": {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25, "clutter": 5},
                             "cue_kwargs": {"box_size": 2}},
                    "train": {"epochs": 4}, "cbft": {"invariance_weight": 3.0}},
    "small2_e5": {"data": {"base_kwargs": {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25},
                           "cue_kwargs": {"box_size": 2}}, "train": {"epochs": 5}},
}


def _setup(spec: dict[str, Any], scale: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Install the variant's network for every model of this process; its data, training and CBFT overrides.

    A variant changes the book's data and network *as they were before the sweep* (five blocks, 1-pixel
    box, no clutter, CBFT's invariance weight 1), so that every row of benchmarks/RESULTS.md can be re-run as it was measured.
    """
    zoo._MODEL[scale] = {**_BOOK_MODEL, "plan": FIVE_BLOCKS, **spec.get("model", {})}
    return {**OLD_DATA, **spec.get("data", {})}, spec.get("train", {}), {"invariance_weight": 1.0, **spec.get("cbft", {})}


def run(variant: str, seed: int, ps: list[float], stage: str, scale: str = "book") -> list[dict[str, Any]]:
    spec = VARIANTS[variant]
    data_over, train_over, cbft_over = _setup(spec, scale)
    out = []
    clean_cfg = zoo.data_config(scale, seed, **data_over)
    t0 = time.perf_counter()
    theta_nc, _ = zoo.pretrained("clean", clean_cfg, seed=seed, scale=scale, **train_over)
    nc_acc = accuracies_pct(theta_nc, zoo.load_data(clean_cfg).eval_sets())
    for p in ps:
        config = zoo.data_config(scale, seed, p=p, **data_over)
        data = zoo.load_data(config)
        sets = data.eval_sets()
        theta_c, _ = zoo.pretrained("cue", config, seed=seed, scale=scale, **train_over)
        row: dict[str, Any] = {"variant": variant, "seed": seed, "p": p, "θ_NC": nc_acc,
                               "θ_C": accuracies_pct(theta_c, sets)}
        methods = ["ft_small"] if stage == "screen" else ["ft_small", "ft_medium", "llr", "lpft", "cbft"]
        models = {}
        for m in methods:
            over = cbft_over if m == "cbft" else {}
            models[m], _ = zoo.finetuned(theta_c, m, config, seed=seed, scale=scale, **over)
            row[m] = accuracies_pct(models[m], sets)
        if stage == "full":
            for m in ("cbft", "ft_small", "ft_medium"):
                table = zoo.path_table(models[m], LinearPath(models[m].state_dict(), theta_c.state_dict()),
                                       {"C": sets["C"], "NC": sets["NC"]}, data, scale=scale, seed=seed)
                b = barriers(table).set_index("set")["loss_barrier"]
                mid = table[(table.t - 0.5).abs() < 1e-9].set_index("set")["loss"]
                row[f"barrier_C_{m}"], row[f"barrier_NC_{m}"] = float(b["C"]), float(b["NC"])
                row[f"mid_C_{m}"] = float(mid["C"])
        row["seconds"] = time.perf_counter() - t0
        out.append(row)
    return out


def run_paths(variant: str, seed: int, scale: str = "book") -> dict[str, Any]:
    """Chapter 2's quadratic path θ_NC–θ_C (p = 0.8) and chapter 4's p = 1 exercise: barriers on C."""
    from mmc_utils.paths import BezierPath

    data_over, train_over, _ = _setup(VARIANTS[variant], scale)
    t0 = time.perf_counter()
    config = zoo.data_config(scale, seed, **{"p": 0.8, **data_over})
    data = zoo.load_data(config)
    sets = data.eval_sets()
    theta_nc, _ = zoo.pretrained("clean", config, seed=seed, scale=scale, **train_over)
    theta_c, _ = zoo.pretrained("cue", config, seed=seed, scale=scale, **train_over)
    mid = zoo.quadratic_midpoint(theta_nc, theta_c, config, seed=seed, scale=scale)
    q = zoo.path_table(theta_nc, BezierPath([theta_nc.state_dict(), mid, theta_c.state_dict()]), sets, data,
                       scale=scale, seed=seed)
    qb = barriers(q).set_index("set")
    row: dict[str, Any] = {"variant": variant, "seed": seed, "quad_loss_C": float(qb.loc["C", "loss_barrier"]),
                           "quad_err_C": float(qb.loc["C", "err_barrier"]),
                           "quad_err_max_cf": float(qb.loc[["NC", "RC", "RI"], "err_barrier"].max())}
    c1 = config.replace(p=1.0)
    theta_c1, _ = zoo.pretrained("cue", c1, seed=seed, scale=scale, **train_over)
    ft1, _ = zoo.finetuned(theta_c1, "ft_medium", c1, seed=seed, scale=scale)
    line = zoo.path_table(ft1, LinearPath(ft1.state_dict(), theta_c1.state_dict()), {"C": sets["C"]}, data,
                          scale=scale, seed=seed)
    row["p1_theta_c"], row["p1_ft_medium"] = accuracies_pct(theta_c1, sets), accuracies_pct(ft1, sets)
    row["p1_barrier_C"] = float(barriers(line).set_index("set").loc["C", "loss_barrier"])
    row["seconds"] = time.perf_counter() - t0
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--ps", nargs="+", type=float, default=[0.6, 0.9])
    ap.add_argument("--stage", choices=("screen", "full", "paths"), default="screen")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out/fidelity_sweep.jsonl"))
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for v in args.variants:
        for s in args.seeds:
            rows = [run_paths(v, s)] if args.stage == "paths" else run(v, s, args.ps, args.stage)
            for row in rows:
                line = json.dumps(row)
                print(line, flush=True)
                with args.out.open("a") as f:
                    f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
