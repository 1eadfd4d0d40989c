"""Results tables laid out like the paper's Table 1, and the paper's own numbers beside ours."""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from torch import nn

from ..train import evaluate

__all__ = ["SET_ORDER", "PAPER_TABLE1", "PAPER_ROW_NAMES", "accuracies_pct", "results_table", "paper_table1",
           "compare_with_paper"]

SET_ORDER: tuple[str, ...] = ("NC", "C", "RC", "RI")

# The paper's numbers (Lubana et al., ICML 2023, Table 1, as listed in DESIGN §3), NOT ours:
# the paper's CIFAR-10 numbers with the box cue (the sources do not confirm the architecture of Table 1's
# rows), fine-tuned on 2,500 clean samples; mean of 3 seeds;
# accuracy in % on NC / C / RC / RI; chance is 10 %.
PAPER_TABLE1: dict[str, Any] = {
    "source": "Lubana et al. (ICML 2023), Table 1: the paper's CIFAR-10 numbers, box cue, 2,500 clean samples, "
              "mean of 3 seeds, accuracy % (paper's numbers, not this book's)",
    "sets": SET_ORDER,
    "results": {
        0.6: {"FT (small lr)": (75.8, 98.7, 17.5, 90.1), "FT (medium lr)": (75.7, 98.4, 23.6, 83.4),
              "LLR": (71.6, 95.1, 36.3, 57.1), "LP-FT": (70.6, 88.1, 21.0, 70.7),
              "CBFT": (74.1, 71.5, 73.4, 8.75)},
        0.9: {"FT (small lr)": (64.7, 97.9, 15.3, 90.7), "FT (medium lr)": (67.2, 95.4, 49.6, 46.6),
              "LLR": (59.3, 70.7, 24.6, 40.7), "LP-FT": (59.7, 56.6, 19.8, 37.8),
              "CBFT": (67.9, 72.5, 68.1, 13.1)},
    },
    "from_scratch_NC": 47.5,  # training on the 2,500 clean samples alone
}
# Our method names -> the paper's row labels (used by compare_with_paper).
PAPER_ROW_NAMES: dict[str, str] = {"ft_small": "FT (small lr)", "ft_medium": "FT (medium lr)", "llr": "LLR",
                                   "lpft": "LP-FT", "cbft": "CBFT", "scratch": "from scratch",
                                   # the row names the chapters and Table 1 display
                                   "FT small": "FT (small lr)", "FT medium": "FT (medium lr)"}


def accuracies_pct(item: Any, sets: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Accuracy in % per evaluation set of one run.

    ``item`` is a model (evaluated on ``sets`` with :func:`mmc_utils.train.evaluate`), a mapping
    ``set -> accuracy fraction in [0, 1]``, or a mapping ``set -> {"acc": fraction, ...}`` (the output
    of :func:`mmc_utils.train.evaluate_sets`).
    """
    if isinstance(item, nn.Module):
        if sets is None:
            raise ValueError("sets must be given (name -> data set) to evaluate models")
        return {name: 100.0 * evaluate(item, ds)["acc"] for name, ds in sets.items()}
    if not isinstance(item, Mapping):
        raise TypeError(f"each run must be a model or a mapping set -> accuracy, got {type(item).__name__}")
    out = {}
    for name, v in item.items():
        acc = v["acc"] if isinstance(v, Mapping) else v
        if isinstance(acc, bool) or not isinstance(acc, (int, float)) or not 0.0 <= acc <= 1.0:
            raise ValueError(f"precomputed accuracies must be fractions in [0, 1]; {name!r} is {acc!r}")
        out[name] = 100.0 * float(acc)
    return out


def _fmt(mean: float, std: float, n: int, decimals: int) -> str:
    if math.isnan(mean):
        return "—"
    return f"{mean:.{decimals}f}" if n < 2 else f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def results_table(runs: Mapping[str, Any], sets: Mapping[str, Any] | None = None, *, numeric: bool = False,
                  decimals: int = 1, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A Table-1-style table: one row per method, accuracy % on NC / C / RC / RI as mean ± std over seeds.

    Args:
        runs: ``{row name: one run or a list of runs (seeds)}``; a run is a model or precomputed
            accuracies (see :func:`accuracies_pct`).
        sets: ``{set name: data set}`` (needed for models), e.g. ``data.eval_sets()``.
        numeric: return numbers (columns ``(set, "mean")``, ``(set, "std")``) instead of text.
        decimals: decimals of the text.
        columns: which sets, in order (default: NC, C, RC, RI as far as present, then any others).

    Returns:
        Index ``method``; columns the sets plus ``seeds`` (number of runs). The std is the sample
        standard deviation (ddof=1; 0 for a single run).
    """
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError("runs must be a non-empty mapping row name -> run or list of runs")
    accs = {}
    for row, item in runs.items():
        items = list(item) if isinstance(item, (list, tuple)) else [item]
        if not items:
            raise ValueError(f"row {row!r} has no runs")
        accs[row] = [accuracies_pct(it, sets) for it in items]
    present = list(dict.fromkeys(k for rows in accs.values() for a in rows for k in a))
    cols = list(columns) if columns is not None else [s for s in SET_ORDER if s in present] + [
        s for s in present if s not in SET_ORDER]
    stats = {}
    for row, rows in accs.items():
        entry: dict[Any, Any] = {}
        for s in cols:
            vals = np.array([a.get(s, np.nan) for a in rows], dtype=float)
            mean = float(np.mean(vals)) if len(vals) else float("nan")
            std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
            entry[s] = (mean, std)
        entry["seeds"] = len(rows)
        stats[row] = entry
    if numeric:
        data = {row: {**{(s, k): e[s][i] for s in cols for i, k in enumerate(("mean", "std"))},
                      ("seeds", ""): e["seeds"]} for row, e in stats.items()}
        df = pd.DataFrame.from_dict(data, orient="index")
        df.columns = pd.MultiIndex.from_tuples(df.columns)
    else:
        df = pd.DataFrame.from_dict({row: {**{s: _fmt(*e[s], e["seeds"], decimals) for s in cols},
                                           "seeds": e["seeds"]} for row, e in stats.items()}, orient="index")
    df.index.name = "method"
    return df


def paper_table1(p: float = 0.9) -> pd.DataFrame:
    """The paper's Table 1 numbers (the paper's CIFAR-10 numbers; not ours) for cue proportion ``p`` (0.6 or 0.9)."""
    if p not in PAPER_TABLE1["results"]:
        raise ValueError(f"p must be one of {sorted(PAPER_TABLE1['results'])} (the paper's reported values), got {p!r}")
    rows = {name: dict(zip(SET_ORDER, vals)) for name, vals in PAPER_TABLE1["results"][p].items()}
    rows["from scratch"] = {"NC": PAPER_TABLE1["from_scratch_NC"]}
    df = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=list(SET_ORDER))
    df.index.name = "method"
    return df


def _paper_fmt(v: float) -> str:
    """The paper's precision: one decimal, two where it gave two (8.75)."""
    s = f"{v:.2f}"
    return s[:-1] if s.endswith("0") else s


def compare_with_paper(ours: pd.DataFrame, p: float = 0.9, names: Mapping[str, str] | None = None
                       ) -> pd.DataFrame:
    """Our table (text output of :func:`results_table`) beside the paper's numbers for ``p``.

    Rows are matched through ``names`` (our row -> paper row; default :data:`PAPER_ROW_NAMES`,
    and identical names match too). Columns are ``(set, "ours")`` and ``(set, "paper (CIFAR-10)")``;
    "—" where one side has no number. Rows: ours in order, then paper rows we lack.
    """
    if not isinstance(ours, pd.DataFrame) or isinstance(ours.columns, pd.MultiIndex):
        raise TypeError("ours must be the text DataFrame of results_table(..., numeric=False)")
    paper = paper_table1(p)
    names = dict(PAPER_ROW_NAMES if names is None else names)
    label = "paper (CIFAR-10)"
    rows: dict[str, dict] = {}
    for row in ours.index:
        prow = names.get(row, row)
        rows[f"{row}"] = {"paper_row": prow if prow in paper.index else None, "ours": ours.loc[row]}
    for prow in paper.index:
        if prow not in {r["paper_row"] for r in rows.values()}:
            rows[prow] = {"paper_row": prow, "ours": None}
    out = {}
    for row, r in rows.items():
        entry = {}
        for s in SET_ORDER:
            mine = r["ours"][s] if r["ours"] is not None and s in r["ours"].index else "—"
            theirs = paper.loc[r["paper_row"], s] if r["paper_row"] is not None else float("nan")
            entry[(s, "ours")] = mine
            entry[(s, label)] = "—" if pd.isna(theirs) else _paper_fmt(theirs)
        out[row] = entry
    df = pd.DataFrame.from_dict(out, orient="index")
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    df.index.name = "method"
    return df
