"""Figures of chapter 3: invariance profiles, pair matrices, the loss plane, the toy ReLU network.

Presentation only: nothing of the science imports this module. Every function returns the
matplotlib ``Figure``; :func:`toy_path_explorer` returns an ipywidgets container.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from .plots import SET_COLORS, SET_NAMES

PATH_STYLES = {"linear": dict(color="white", ls="--", lw=1.6), "quadratic": dict(color="white", ls="-", lw=1.6)}


def profile_bars(profiles: Mapping[str, pd.DataFrame], tol: float | None = None, title: str | None = None,
                 ax: plt.Axes | None = None, column: str = "d_acc") -> plt.Figure:
    """Grouped bars of ``column`` per model and intervention, with the invariance band ±``tol``.

    ``column``: ``"d_acc"`` (Δacc, points) or ``"d_loss"`` (Δloss, nats); ``tol`` is in the same unit.
    """
    if column not in ("d_acc", "d_loss"):
        raise ValueError(f"column must be 'd_acc' or 'd_loss', got {column!r}")
    symbol, unit = ("Δacc", "points") if column == "d_acc" else ("Δloss", "nats")
    models = list(profiles)
    ivs = list(next(iter(profiles.values())).index)
    fig = ax.figure if ax is not None else plt.figure(figsize=(1.4 + 1.2 * len(models), 3.0))
    ax = ax if ax is not None else fig.add_subplot(111)
    width = 0.8 / len(ivs)
    for i, iv in enumerate(ivs):
        xs = np.arange(len(models)) + (i - (len(ivs) - 1) / 2) * width
        vals = [profiles[m].loc[iv, column] for m in models]
        ax.bar(xs, vals, width, color=SET_COLORS.get(iv), label=f"{iv} ({SET_NAMES.get(iv, iv)})")
    if tol is not None:
        ax.axhspan(-tol, tol, color="grey", alpha=0.2, lw=0)
        ax.text(len(models) - 0.5, tol, f"invariant: |{symbol}| ≤ {tol:g}", ha="right", va="bottom", fontsize=7,
                color="grey")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(np.arange(len(models)), models, fontsize=8)
    ax.set_ylabel(f"{symbol} vs C ({unit})")
    ax.legend(fontsize=7, frameon=False, ncol=len(ivs), loc="lower left" if column == "d_acc" else "upper left")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def pair_heatmaps(matrices: Mapping[str, pd.DataFrame], fmt: Mapping[str, str] | None = None,
                  cmaps: Mapping[str, str] | None = None, title: str | None = None) -> plt.Figure:
    """Side-by-side annotated heatmaps of square model × model matrices (title → DataFrame)."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(4.6 * len(matrices), 4.0), squeeze=False)
    for ax, (name, m) in zip(axes[0], matrices.items()):
        vals = m.to_numpy(dtype=float)
        im = ax.imshow(vals, cmap=(cmaps or {}).get(name, "viridis"))
        f = (fmt or {}).get(name, ".2f")
        for i in range(vals.shape[0]):
            for j in range(vals.shape[1]):
                if np.isfinite(vals[i, j]):
                    ax.text(j, i, format(vals[i, j], f), ha="center", va="center", fontsize=7,
                            color="white" if vals[i, j] < np.nanmean(vals) else "black")
        ax.set_xticks(range(len(m.columns)), m.columns, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(m.index)), m.index, fontsize=8)
        ax.set_title(name, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def pair_scatter(pairs: pd.DataFrame, x: str, y: str, hue: str | None = None, label: str | None = "pair",
                 xlabel: str | None = None, ylabel: str | None = None, title: str | None = None,
                 ax: plt.Axes | None = None, style: str | None = None) -> plt.Figure:
    """Scatter of one pair statistic against another.

    ``hue`` (a bool column) colours the points; ``style`` (a bool column) draws its True rows as
    hollow squares, its False rows as filled circles.
    """
    fig = ax.figure if ax is not None else plt.figure(figsize=(4.8, 3.4))
    ax = ax if ax is not None else fig.add_subplot(111)
    hues = ((None, "#1f77b4", None),) if hue is None else \
        ((True, "#2ca02c", f"{hue}"), (False, "#d62728", f"not {hue}"))
    styles = ((None, "o", True, None),) if style is None else \
        ((False, "o", True, f"not {style}"), (True, "s", False, f"{style}"))
    for hval, color, hname in hues:
        for sval, marker, filled, sname in styles:
            part = pairs
            if hval is not None:
                part = part[part[hue] == hval]
            if sval is not None:
                part = part[part[style] == sval]
            name = ", ".join(n for n in (hname, sname) if n) or None
            if len(part):
                ax.scatter(part[x], part[y], s=26, marker=marker, label=name, color=color if filled else "none",
                           edgecolors=color, linewidths=1.2)
    if hue is not None or style is not None:
        ax.legend(fontsize=7, frameon=False)
    if label is not None:
        for _, r in pairs.iterrows():
            ax.annotate(str(r[label]), (r[x], r[y]), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plane_contours(grids: Mapping[str, np.ndarray], metric: str = "acc", sets: Sequence[str] | None = None,
                   paths: Mapping[str, np.ndarray] | None = None, points: Mapping[str, Sequence[float]] | None = None,
                   title: str | None = None) -> plt.Figure:
    """Filled contours of ``metric`` (``"acc"`` in %, or ``"loss"``) on the plane, one panel per set.

    Args:
        grids: from :func:`mmc_utils.landscape.load_or_evaluate_plane`.
        sets: which sets (default: all in ``grids``).
        paths: name → plane coordinates ``[T, >=2]`` of a path, drawn as a line.
        points: name → ``(a, b)``, marked and labelled.
    """
    sets = list(sets or [k.split("/", 1)[1] for k in grids if k.startswith(f"{metric}/")])
    A, B = grids["alphas"], grids["betas"]
    fig, axes = plt.subplots(1, len(sets), figsize=(3.3 * len(sets) + 0.8, 3.3), squeeze=False, sharey=True)
    if metric == "acc":
        levels, cmap = np.linspace(0, 100, 11), "viridis"
    else:
        top = max(float(np.nanmax(grids[f"loss/{s}"])) for s in sets)
        levels, cmap = np.linspace(0, min(top, 6.0), 13), "magma_r"
    for ax, s in zip(axes[0], sets):
        z = grids[f"{metric}/{s}"] * (100 if metric == "acc" else 1)
        cs = ax.contourf(A, B, np.clip(z, levels[0], levels[-1]), levels=levels, cmap=cmap)
        for name, xy in (paths or {}).items():
            style = PATH_STYLES.get(name, dict(color="white", lw=1.4))
            ax.plot(xy[:, 0], xy[:, 1], label=name, **style)
        for name, (a, b) in (points or {}).items():
            ax.plot([a], [b], "o", color="white", mec="black", ms=5)
            ax.annotate(name, (a, b), color="white", fontsize=8, xytext=(4, 4), textcoords="offset points")
        ax.set_title(f"{s} ({SET_NAMES.get(s, s)})", fontsize=9)
        ax.set_xlabel("a (along θ_C − θ_NC)")
        ax.set_aspect("equal", adjustable="box")
    axes[0, 0].set_ylabel("b")
    if paths:
        axes[0, 0].legend(fontsize=7, loc="upper left", framealpha=0.3)
    fig.colorbar(cs, ax=list(axes[0]), fraction=0.02, pad=0.02,
                 label="accuracy (%)" if metric == "acc" else "loss (nats)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# ----------------------------------------------------------------------------- the toy network
def _toy_grid(n: int = 150, lim: float = 1.05):
    g = torch.linspace(-lim, lim, n)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    return xx, yy, torch.stack([xx.flatten(), yy.flatten()], 1)


def toy_regions(model, X, y, state=None, ax: plt.Axes | None = None, title: str | None = None) -> plt.Figure:
    """Decision regions ``sign f(x)`` of a toy network (or of ``state`` run through it), data on top."""
    from torch.func import functional_call

    fig = ax.figure if ax is not None else plt.figure(figsize=(3.0, 3.0))
    ax = ax if ax is not None else fig.add_subplot(111)
    xx, yy, pts = _toy_grid()
    with torch.no_grad():
        f = model(pts) if state is None else functional_call(model, state, (pts,))
    ax.contourf(xx.numpy(), yy.numpy(), f.view(xx.shape).numpy(), levels=[-1e9, 0, 1e9],
                colors=["#f4c7c3", "#c9e7c9"])
    ax.contour(xx.numpy(), yy.numpy(), f.view(xx.shape).numpy(), levels=[0], colors="black", linewidths=0.8)
    pos = y > 0
    ax.scatter(X[pos, 0], X[pos, 1], s=6, color="#2ca02c", label="y = +1")
    ax.scatter(X[~pos, 0], X[~pos, 1], s=6, color="#d62728", label="y = −1")
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xticks([-1, 0, 1])
    ax.set_yticks([-1, 0, 1])
    ax.set_xlabel("x1 (linear attribute)", fontsize=8)
    ax.set_ylabel("x2 (slab attribute)", fontsize=8)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def toy_path_figure(start, end, X, y, ts: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
                    title: str | None = None) -> plt.Figure:
    """Decision regions of the straight line ``start`` (t=0) → ``end`` (t=1) at several ``t``, plus its loss."""
    from .paths import LinearPath
    from .toy import path_losses, toy_loss

    path = LinearPath(start.state_dict(), end.state_dict())
    fig, axes = plt.subplots(1, len(ts) + 1, figsize=(2.6 * (len(ts) + 1), 2.9))
    for ax, t in zip(axes, ts):
        st = path.point(float(t))
        toy_regions(start, X, y, st, ax=ax, title=f"t = {t:.2f}, loss {toy_loss(start, X, y, st):.2f}")
    grid, losses = path_losses(start, end, X, y)
    axes[-1].plot(grid, losses, color="black")
    axes[-1].scatter(list(ts), [toy_loss(start, X, y, path.point(float(t))) for t in ts], color="#1f77b4", s=12)
    axes[-1].set_xlabel("t")
    axes[-1].set_ylabel("squared loss on D")
    axes[-1].set_title("loss along the line", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def toy_path_explorer(start, end, X, y):
    """A slider over t: decision regions of the interpolated toy network and its loss on D."""
    import ipywidgets as w

    from .paths import LinearPath
    from .toy import path_losses, toy_loss
    from .widgets import show_figure

    path = LinearPath(start.state_dict(), end.state_dict())
    grid, losses = path_losses(start, end, X, y)
    t = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t", continuous_update=False)
    out = w.Output()

    def draw(*_):
        st = path.point(round(t.value, 3))
        fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.0))
        toy_regions(start, X, y, st, ax=axes[0], title=f"γ(t) at t = {t.value:.2f}")
        axes[1].plot(grid, losses, color="black")
        axes[1].plot([t.value], [toy_loss(start, X, y, st)], "o", color="#1f77b4")
        axes[1].set_xlabel("t")
        axes[1].set_ylabel("squared loss on D")
        fig.tight_layout()
        show_figure(out, fig, f"Left: decision regions of the toy network at t = {t.value:.2f} on the path, with "
                              "the data points; right: its squared loss along the path, the current t marked")

    t.observe(draw, names="value")
    draw()
    return w.VBox([t, out])
