"""The paper's Table 1 at any scale: pre-train θ_C per (p, seed), fine-tune it every way, evaluate.

Every model goes through the checkpoint store (via :mod:`mmc_utils.zoo`), so the grid is
computed once and re-runs, or a chapter that shares its models, load it.

Command line (``make paper`` runs the first line; it needs a CUDA GPU)::

    python -m mmc_utils.reproduce --scale paper --out _build/paper/table1.json
    python -m mmc_utils.reproduce --scale smoke --out table1.csv   # seconds on a CPU

It prints one line per evaluated model, then our table beside the paper's, and saves every
accuracy to ``--out`` (JSON, or tidy CSV when the name ends in ``.csv``). An interrupted run
resumes: the models already trained are loaded from the checkpoint store. At paper scale the
grid (4 cue proportions x 3 seeds: 12 θ_C of 100 epochs on 47,500 images, 60 fine-tunings on
2,500) is estimated at about 14 minutes on an H100 if an epoch takes 0.5 s
(``benchmarks/RESULTS.md`` shows the arithmetic).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import torch

from . import accel, zoo
from .checks import check_fraction, check_int
from .finetune import PAPER_TABLE1, accuracies_pct, compare_with_paper, resolve_method, results_table
from .runtime import pick_device, progress
from .scales import SCALES, preset, resolve_scale

TABLE1_METHODS: dict[str, str] = {"FT small": "ft_small", "FT medium": "ft_medium", "LLR": "llr",
                                  "LP-FT": "lpft", "CBFT": "cbft"}
# Which cue proportions and how many seeds each scale affords.
TABLE1_GRID: dict[str, dict[str, Any]] = {
    "smoke": {"ps": (0.6, 0.9), "num_seeds": 1},
    "book": {"ps": (0.6, 0.9), "num_seeds": 1},
    "paper": {"ps": (0.6, 0.7, 0.8, 0.9), "num_seeds": 3},
}


def table1_grid(scale: str | None = None) -> dict[str, Any]:
    """The ``{"ps": ..., "num_seeds": ...}`` of ``scale``'s Table 1."""
    return dict(preset(TABLE1_GRID, scale))


def table1_runs(ps: Sequence[float], seeds: Sequence[int], *, scale: str | None = None,
                device: str | torch.device = "cpu", methods: dict[str, str] | None = None,
                train_overrides: dict[str, Any] | None = None,
                on_result: Callable[[dict[str, Any]], None] | None = None,
                ) -> dict[float, dict[str, list[dict[str, float]]]]:
    """Accuracies (% on NC / C / RC / RI) of every method for every cue proportion and seed.

    For each ``p`` and seed: the data (data seed = seed), θ_C trained with that seed, then each
    method of ``methods`` (default :data:`TABLE1_METHODS`) on the clean split.

    Args:
        train_overrides: fields of θ_C's :class:`~mmc_utils.train.TrainConfig` to change (e.g.
            ``{"compile": "reduce-overhead"}``; runtime-only fields leave the cache keys alone).
        on_result: called after each model is evaluated with ``{"p", "seed", "method", "acc"
            ({set: %}), "cached" (loaded from the store), "seconds" (wall time since the previous
            call, data and training included)}``.

    Returns:
        ``{p: {method row name: [accuracies per seed]}}``; each row also has ``"θ_C"``.
    """
    scale = resolve_scale(scale)
    methods = dict(TABLE1_METHODS if methods is None else methods)
    for name, values in (("ps", ps), ("seeds", seeds)):  # check the whole grid before training anything
        if isinstance(values, (str, bytes)) or not (hasattr(values, "__len__") and hasattr(values, "__iter__")):
            raise TypeError(f"{name} must be a non-empty sequence, got {type(values).__name__}")
        if len(values) == 0:
            raise ValueError(f"{name} must be a non-empty sequence, got {values!r}")
    for i, p in enumerate(ps):
        check_fraction(f"ps[{i}]", p)
    for i, seed in enumerate(seeds):
        check_int(f"seeds[{i}]", seed, minimum=0)
    for method in methods.values():
        resolve_method(method)
    out: dict[float, dict[str, list[dict[str, float]]]] = {}
    clock = [time.perf_counter()]

    def record(p: float, seed: int, name: str, model: torch.nn.Module, meta: dict, sets: dict) -> None:
        acc = accuracies_pct(model, sets)
        rows[name].append(acc)
        if on_result is not None:
            now = time.perf_counter()
            on_result({"p": float(p), "seed": seed, "method": name, "acc": acc,
                       "cached": bool(meta.get("cached")), "seconds": now - clock[0]})
            clock[0] = now

    for p in ps:
        rows: dict[str, list[dict[str, float]]] = {"θ_C": [], **{m: [] for m in methods}}
        for seed in progress(seeds, desc=f"Table 1, p={p}"):
            config = zoo.data_config(scale, seed, p=p)
            sets = zoo.load_data(config, device).eval_sets()
            theta_c, meta = zoo.pretrained("cue", config, seed=seed, device=device, scale=scale,
                                           **dict(train_overrides or {}))
            record(p, seed, "θ_C", theta_c, meta, sets)
            for name, method in methods.items():
                model, meta = zoo.finetuned(theta_c, method, config, seed=seed, scale=scale, device=device)
                record(p, seed, name, model, meta, sets)
        out[float(p)] = rows
    return out


def table1_frame(runs: dict[float, dict[str, list[dict[str, float]]]], numeric: bool = False) -> pd.DataFrame:
    """One Table-1-style frame with a ``p`` level in the index (mean ± std over seeds)."""
    if not isinstance(runs, Mapping):
        raise TypeError(f"runs must be a mapping p -> {{method: [accuracies]}} (from table1_runs), "
                        f"got {type(runs).__name__}")
    as_fractions = {p: {m: [{s: v / 100 for s, v in run.items()} for run in seeds] for m, seeds in rows.items()}
                    for p, rows in runs.items()}
    return pd.concat({p: results_table(rows, numeric=numeric) for p, rows in as_fractions.items()},
                     names=["p", "method"])


def table1_beside_paper(runs: dict[float, dict[str, list[dict[str, float]]]]) -> dict[float, pd.DataFrame]:
    """Our table beside the paper's (:func:`mmc_utils.finetune.compare_with_paper`) for every ``p`` of
    ``runs`` that the paper reports (0.6 and 0.9); rows matched through
    :data:`mmc_utils.finetune.PAPER_ROW_NAMES`."""
    ours = table1_frame(runs)
    return {p: compare_with_paper(ours.loc[p], p=p) for p in runs if p in PAPER_TABLE1["results"]}


# ----------------------------------------------------------------------------- command line
def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return int(text)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m mmc_utils.reproduce",
                                 description="The Table 1 grid: θ_C per (p, seed), FT small/medium, LLR, LP-FT, "
                                             "CBFT; our accuracies beside the paper's.")
    ap.add_argument("--scale", choices=SCALES, help="default: MMC_SCALE or book; paper needs CUDA")
    ap.add_argument("--out", help="results file, .json (default) or .csv; default _build/table1_<scale>.json")
    ap.add_argument("--device", default="auto", help="auto (default), cuda, cpu, ...")
    ap.add_argument("--ps", type=_floats, help="comma-separated cue proportions (default: the scale's grid)")
    ap.add_argument("--seeds", type=_positive, help="number of seeds, 0, 1, ... (default: the scale's grid)")
    ap.add_argument("--compile", choices=accel.COMPILE_MODES, help="torch.compile θ_C's training (CUDA)")
    return ap.parse_args(argv)


def _line(i: int, total: int, r: dict[str, Any]) -> str:
    accs = "  ".join(f"{k} {v:5.1f}" for k, v in r["acc"].items())
    return (f"[{i:>3}/{total}] p={r['p']:.2f} seed {r['seed']}  {r['method']:<10} {accs}  "
            f"({'cached' if r['cached'] else 'trained'}, {r['seconds']:.1f} s)")


def _save(path: Path, records: list[dict[str, Any]], info: dict[str, Any],
          runs: dict[float, dict[str, list[dict[str, float]]]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        pd.DataFrame([{**{k: v for k, v in r.items() if k != "acc"}, "set": s, "acc": a}
                      for r in records for s, a in r["acc"].items()]).to_csv(path, index=False)
        return
    numeric = table1_frame(runs, numeric=True)
    table = {str(p): {m: {s: {"mean": float(numeric.loc[(p, m), (s, "mean")]),
                              "std": float(numeric.loc[(p, m), (s, "std")])} for s in ("NC", "C", "RC", "RI")}
                      for m in rows} for p, rows in runs.items()}
    paper = {str(p): {m: dict(zip(PAPER_TABLE1["sets"], v)) for m, v in rows.items()}
             for p, rows in PAPER_TABLE1["results"].items()}
    path.write_text(json.dumps({**info, "records": records, "table": table,
                                "paper": {"source": PAPER_TABLE1["source"], "results": paper}}, indent=1,
                               ensure_ascii=False))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the Table 1 grid from the command line (see the module docstring); returns the exit status."""
    args = _parse(argv)
    previous = os.environ.get("MMC_SCALE")
    if args.scale is not None:  # the command line wins over MMC_SCALE, for every module of the run
        os.environ["MMC_SCALE"] = args.scale
    try:
        return _run(args)
    finally:
        if previous is None:
            os.environ.pop("MMC_SCALE", None)
        else:
            os.environ["MMC_SCALE"] = previous


def _run(args: argparse.Namespace) -> int:
    scale = resolve_scale(args.scale)
    try:
        device = accel.require_cuda(f"--scale {scale}", args.device) if scale == "paper" else pick_device(args.device)
    except (accel.CudaUnavailable, ValueError) as err:
        hint = (" The paper-scale grid trains 12 VGG-13s for 100 epochs each (hours per model on a CPU); "
                "use --scale smoke or --scale book without a GPU.") if scale == "paper" else ""
        print(f"error: {err}.{hint}", file=sys.stderr)
        return 2
    if device.type == "cuda":
        accel.configure_cuda(benchmark=True)
    grid = table1_grid(scale)
    ps = args.ps or grid["ps"]
    seeds = list(range(args.seeds if args.seeds is not None else grid["num_seeds"]))
    out = Path(args.out or f"_build/table1_{scale}.json")
    total = len(ps) * len(seeds) * (1 + len(TABLE1_METHODS))
    info = {"scale": scale, "device": str(device), "torch": torch.__version__, "platform": platform.platform(),
            "ps": list(ps), "seeds": seeds, "methods": dict(TABLE1_METHODS), "compile": args.compile,
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(f"Table 1 at scale {scale!r} on {device}: p in {list(ps)}, seeds {seeds}, {total} models; "
          f"results to {out}", flush=True)
    records: list[dict[str, Any]] = []

    def report(r: dict[str, Any]) -> None:
        records.append(r)
        print(_line(len(records), total, r), flush=True)

    t0 = time.perf_counter()
    accel.reset_peak_memory(device)
    overrides = {"compile": args.compile} if args.compile else {}
    runs = table1_runs(ps, seeds, scale=scale, device=device, train_overrides=overrides, on_result=report)
    info.update(seconds=time.perf_counter() - t0, peak_memory_bytes=accel.peak_memory_bytes(device))
    _save(out, records, info, runs)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"\nours (accuracy %, mean ± std over {len(seeds)} seed(s)):\n{table1_frame(runs)}")
        for p, both in table1_beside_paper(runs).items():
            print(f"\np = {p}: ours beside the paper's CIFAR-10 numbers (theirs):\n{both}")
    print(f"\n{len(records)} models in {info['seconds'] / 60:.1f} min; results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
