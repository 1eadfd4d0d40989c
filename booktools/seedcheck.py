"""Every claim of the book for several seeds (``make claims``).

A claim the book states must hold for every seed a reader may pick, not only the default.
This command executes every chapter at ``book`` scale once per seed (papermill, ``SEED``
injected after the ``parameters`` cell, claims recorded but not enforced so that one failure
does not hide the others), then prints one row per claim with, for each seed, whether it held
and the first numbers it was judged on, and writes the same table as Markdown.

Command line::

    python -m booktools.seedcheck [--seeds 0 1 2 3] [--jobs 2] [--out tests/claims_by_seed.md] [NOTEBOOK ...]

Executed notebooks go to ``_build/seeds/seed<S>/``, claim files to
``_build/seeds/seed<S>/claims/``. Models come from (and go to) the checkpoint cache, so a
seed that ``make test`` already ran costs little. Exit status 1 if any claim failed or any
notebook raised.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

from mmc_utils.checks import check_int

from . import REPO_ROOT
from .book import environment, execute_notebook, toc_notebooks

SEED_ROOT = REPO_ROOT / "_build" / "seeds"
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2, 3)
DEFAULT_OUT = REPO_ROOT / "tests" / "claims_by_seed.md"

Results = dict[int, dict[str, Any]]  # seed -> {"claims": {notebook: [records]}, "errors": {notebook: str}}


def run_seed(seed: int, notebooks: Sequence[str | Path], root: Path = SEED_ROOT, scale: str = "book") -> dict[str, Any]:
    """Execute ``notebooks`` with ``SEED=seed`` at ``scale``; return their claims and errors.

    Returns:
        ``{"claims": {notebook stem: [claim records]}, "errors": {notebook stem: message},
        "seconds": {notebook stem: wall time in s}}``; a record is ``{"id", "statement",
        "holds", "values"}`` as written by :class:`mmc_utils.claims.Claims`.
    """
    seed = check_int("seed", seed, minimum=0)
    stage = root / f"seed{seed}"
    claims_dir = stage / "claims"
    out: dict[str, Any] = {"claims": {}, "errors": {}, "seconds": {}}
    with environment(MMC_CLAIMS_DIR=str(claims_dir), MMC_STRICT_CLAIMS="0", MMC_SCALE=scale):
        for nb in notebooks:
            stem = Path(nb).stem
            (claims_dir / f"{stem}.json").unlink(missing_ok=True)
            start = time.perf_counter()
            try:
                execute_notebook(nb, stage=stage, parameters={"SEED": seed, "SCALE": scale})
            except Exception as err:  # noqa: BLE001 - report every failure, then go on
                out["errors"][stem] = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
                traceback.print_exc(limit=1)
            out["seconds"][stem] = time.perf_counter() - start
            path = claims_dir / f"{stem}.json"
            out["claims"][stem] = json.loads(path.read_text())["claims"] if path.exists() else []
            print(f"seed {seed}: {stem} in {out['seconds'][stem]:.0f} s, "
                  f"{sum(r['holds'] for r in out['claims'][stem])}/{len(out['claims'][stem])} claims hold"
                  + (f", ERROR {out['errors'][stem]}" if stem in out["errors"] else ""), flush=True)
    return out


def _run_seed_job(args: tuple[int, list[str], int, Path]) -> dict[str, Any]:
    """Worker of ``--jobs``: one seed with ``threads`` torch threads in its kernels."""
    seed, notebooks, threads, root = args
    os.environ["OMP_NUM_THREADS"] = str(threads)
    return run_seed(seed, notebooks, root)


def run_seeds(seeds: Sequence[int], notebooks: Sequence[str], jobs: int = 1, root: Path = SEED_ROOT) -> Results:
    """:func:`run_seed` for every seed, ``jobs`` seeds at a time (each with ``cores // jobs`` torch threads)."""
    jobs = check_int("jobs", jobs, minimum=1)
    if jobs == 1 or len(seeds) == 1:
        return {s: run_seed(s, notebooks, root) for s in seeds}
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        done = pool.map(_run_seed_job, [(s, list(notebooks), threads, root) for s in seeds])
        return dict(zip(seeds, done))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list) and len(value) > 4:
        return "[" + ", ".join(_fmt(v) for v in value[:4]) + ", ...]"
    return str(value)


def cell(record: dict[str, Any] | None, max_values: int = 3) -> str:
    """One table cell: ``holds (a=1.2, b=3)`` / ``**FAILS** (...)`` / ``missing``."""
    if record is None:
        return "missing"
    values = ", ".join(f"{k}={_fmt(v)}" for k, v in list(record["values"].items())[:max_values])
    return f"{'holds' if record['holds'] else '**FAILS**'} ({values})"


def table(results: Results) -> tuple[list[str], bool]:
    """Markdown rows ``| notebook | claim | seed ... |`` and whether every claim held for every seed."""
    seeds = sorted(results)
    order: list[tuple[str, str]] = []
    for seed in seeds:
        for stem, records in results[seed]["claims"].items():
            for r in records:
                if (stem, r["id"]) not in order:
                    order.append((stem, r["id"]))
    lines = ["| notebook | claim | " + " | ".join(f"seed {s}" for s in seeds) + " |",
             "|---|---|" + "---|" * len(seeds)]
    ok = not any(results[s]["errors"] for s in seeds)
    for stem, cid in order:
        cells = []
        for s in seeds:
            rec = next((r for r in results[s]["claims"].get(stem, []) if r["id"] == cid), None)
            ok &= rec is not None and rec["holds"]
            cells.append(cell(rec))
        lines.append(f"| {stem} | {cid} | " + " | ".join(cells) + " |")
    for s in seeds:
        for stem, msg in results[s]["errors"].items():
            lines.append(f"| {stem} | (notebook raised) | " + " | ".join(msg if t == s else "" for t in seeds) + " |")
    return lines, ok


def report(results: Results) -> tuple[str, bool]:
    """The whole Markdown document (header with date and machine, then the table) and the verdict."""
    import torch

    rows, ok = table(results)
    n = len(rows) - 2
    held = sum(1 for r in rows[2:] if "**FAILS**" not in r and "missing" not in r and "raised" not in r)
    minutes = {s: sum(results[s]["seconds"].values()) / 60 for s in results}
    head = [
        "# Claims by seed", "",
        f"Every claim of the book at `book` scale for seeds {', '.join(map(str, sorted(results)))}, written by "
        f"`make claims` (`python -m booktools.seedcheck`) on {_dt.date.today().isoformat()}: "
        f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, torch {torch.__version__}"
        f" (torch threads per chapter: {os.environ.get('OMP_NUM_THREADS') or 'all cores'} when one seed runs at a"
        f" time; cores / jobs with --jobs).",
        "Each cell shows whether the claim held and the first three numbers it was judged on. "
        f"**{held} of {n} claims hold for every seed.**", "",
        "Execution time per seed (minutes, with the models of earlier seeds in the cache): "
        + ", ".join(f"seed {s}: {m:.1f}" for s, m in sorted(minutes.items())) + ".", "",
    ]
    return "\n".join(head + rows) + "\n", ok


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m booktools.seedcheck", description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="*", help="paths relative to the repo root (default: every chapter)")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS), help="default: 0 1 2 3")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="Markdown file for the table (default: %(default)s)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="seeds run at once, each with cores/jobs torch threads (default: 1)")
    args = ap.parse_args(argv)
    notebooks = args.notebooks or [str(nb) for nb in toc_notebooks()]
    results: Results = run_seeds(args.seeds, notebooks, args.jobs)
    text, ok = report(results)
    print(text)
    Path(args.out).write_text(text)
    print(f"written to {args.out}; {'every claim held for every seed' if ok else 'SOME CLAIMS FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
