"""Barriers: how far a curve of losses (or errors) rises above the straight line between its ends.

With ``gamma(0)`` = theta_2 and ``gamma(1)`` = theta_1, the barrier of a curve ``v(t)`` is

    B = max_t [ v(t) - ((1 - t) * v(0) + t * v(1)) ],

the largest excess over the linear interpolation of the end points' values. The end points
themselves contribute 0, so ``B >= 0``; a curve that stays on or below the line has ``B = 0``.
Two models are *mode connected* along the path on a data set when ``B <= eps``.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

__all__ = ["barrier", "barriers", "connected"]

METRICS: tuple[str, ...] = ("loss", "err")


def barrier(ts: Sequence[float], values: Sequence[float]) -> float:
    """``max_t [v(t) - ((1 - t) v(0) + t v(1))]`` over the given points (>= 0).

    Args:
        ts: path coordinates in [0, 1]; must include 0 and 1 (the end points).
        values: ``v(t)`` at each ``t`` (loss in nats, or error as a fraction), finite.

    Raises:
        ValueError: different lengths, t outside [0, 1], missing end point, non-finite values.
    """
    t = np.asarray(ts, dtype=float).reshape(-1)
    v = np.asarray(values, dtype=float).reshape(-1)
    if t.shape != v.shape:
        raise ValueError(f"ts and values must have the same length, got {t.size} and {v.size}")
    if not np.all(np.isfinite(t)) or np.any((t < 0) | (t > 1)):
        raise ValueError(f"ts must lie in [0, 1], got {t.tolist()}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"values must be finite, got {v.tolist()}")
    if not (np.any(t == 0.0) and np.any(t == 1.0)):
        raise ValueError(f"ts must include both end points 0 and 1, got {t.tolist()}")
    for tt in np.unique(t):  # one t, one value: a repeated t with another value has no single barrier
        if np.ptp(v[t == tt]) > 0:
            raise ValueError(f"ts repeats t = {tt} with different values {v[t == tt].tolist()}")
    v0, v1 = v[np.argmax(t == 0.0)], v[np.argmax(t == 1.0)]
    return float(np.max(v - ((1 - t) * v0 + t * v1)))


def barriers(df: pd.DataFrame) -> pd.DataFrame:
    """Loss and error barriers of every set of an :func:`~mmc_utils.paths.evaluate_path` table.

    Args:
        df: tidy table with columns ``t``, ``set``, ``loss`` and ``err`` (or ``acc``).

    Returns:
        One row per set (in order of first appearance): ``set``, ``loss_barrier`` (nats) and
        ``err_barrier`` (fraction).
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if "err" not in df.columns and "acc" in df.columns:
        df = df.assign(err=1.0 - df["acc"])
    missing = {"t", "set", "loss", "err"} - set(df.columns)
    if missing:
        raise ValueError(f"df lacks columns {sorted(missing)}; expected t, set, loss, err")
    if df.empty:
        raise ValueError("df has no rows")
    rows = []
    for name, group in df.groupby("set", sort=False):
        rows.append({"set": name, "loss_barrier": barrier(group["t"], group["loss"]),
                     "err_barrier": barrier(group["t"], group["err"])})
    return pd.DataFrame(rows, columns=["set", "loss_barrier", "err_barrier"])


def connected(df_or_barrier: Any, eps: float, metric: str = "loss") -> bool:
    """Whether a barrier is at most ``eps``.

    Args:
        df_or_barrier: a barrier (float), a :func:`barriers` table, or an
            :func:`~mmc_utils.paths.evaluate_path` table (its barriers are computed); for tables,
            every set must satisfy the bound.
        eps: tolerance (>= 0), in nats for ``metric="loss"``, as a fraction for ``"err"``.
        metric: ``"loss"`` or ``"err"`` (which barrier of a table is tested).
    """
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    if isinstance(df_or_barrier, pd.DataFrame):
        table = df_or_barrier if f"{metric}_barrier" in df_or_barrier.columns else barriers(df_or_barrier)
        return bool((table[f"{metric}_barrier"] <= eps).all())
    if isinstance(df_or_barrier, bool) or not isinstance(df_or_barrier, (int, float, np.floating)):
        raise TypeError(f"df_or_barrier must be a float or a DataFrame, got {type(df_or_barrier).__name__}")
    if not math.isfinite(df_or_barrier):
        raise ValueError(f"barrier must be finite, got {df_or_barrier!r}")
    return bool(df_or_barrier <= eps)
