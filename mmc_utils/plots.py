"""Figures of the book. Presentation only: nothing of the science imports this module.

Every function returns the matplotlib ``Figure`` so a notebook can show it or save it.
Images are expected in the data layer's convention: float tensors in [-1, 1], [B,3,H,W].
"""
from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

if TYPE_CHECKING:
    from IPython.display import HTML

SET_COLORS = {"NC": "#1f77b4", "C": "#2ca02c", "RC": "#d62728", "RI": "#9467bd"}
SET_NAMES = {"NC": "no cue", "C": "cue", "RC": "randomised cue", "RI": "randomised image"}


def to_rgb(images: torch.Tensor) -> np.ndarray:
    """[B,3,H,W] in [-1,1] → [B,H,W,3] in [0,1] as NumPy, for ``imshow``."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape [B,3,H,W] or [B,1,H,W], got {tuple(images.shape)}")
    x = ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.permute(0, 2, 3, 1).numpy()


def image_rows(rows: Mapping[str, torch.Tensor], captions: Mapping[str, Sequence[str]] | None = None,
               scale: float = 1.1, title: str | None = None) -> plt.Figure:
    """One row of images per entry of ``rows`` (name → [B,3,H,W]); optional per-image captions."""
    if not rows:
        raise ValueError("rows must name at least one set of images")
    n = max(len(v) for v in rows.values())
    h, w = next(iter(rows.values())).shape[-2:]
    aspect = h / w
    fig, axes = plt.subplots(len(rows), n, figsize=(scale * n, scale * aspect * len(rows) + 0.3), squeeze=False)
    for r, (name, imgs) in enumerate(rows.items()):
        rgb = to_rgb(imgs)
        for c in range(n):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if c < len(rgb):
                ax.imshow(rgb[c], interpolation="nearest")
                if captions and name in captions:
                    ax.set_title(captions[name][c], fontsize=7, pad=2)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def accuracy_bars(table: Mapping[str, Mapping[str, float]], chance: float | None = None,
                  title: str | None = None, ax: plt.Axes | None = None) -> plt.Figure:
    """Grouped bars: one group per model (outer key), one bar per evaluation set (inner key).

    Args:
        table: model name → {set name → accuracy in %}.
        chance: draw a dashed line at this accuracy (%).
    """
    models = list(table)
    sets = list(next(iter(table.values())))
    fig = ax.figure if ax is not None else plt.figure(figsize=(1.6 + 1.4 * len(models), 3.0))
    ax = ax if ax is not None else fig.add_subplot(111)
    width = 0.8 / len(sets)
    for i, s in enumerate(sets):
        vals = [table[m][s] for m in models]
        xs = np.arange(len(models)) + (i - (len(sets) - 1) / 2) * width
        bars = ax.bar(xs, vals, width, label=f"{s} ({SET_NAMES.get(s, s)})", color=SET_COLORS.get(s))
        ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    if chance is not None:
        ax.axhline(chance, ls="--", color="grey", lw=1)
        ax.text(len(models) - 0.5, chance + 1, "chance", ha="right", va="bottom", fontsize=7, color="grey")
    ax.set_xticks(np.arange(len(models)), models)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, ncol=len(sets), loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def path_curves(df, metric: str = "loss", by: str = "set", ax: plt.Axes | None = None,
                title: str | None = None, label_prefix: str = "", linestyle: str = "-") -> plt.Figure:
    """Plot ``metric`` against ``t`` from a tidy path table (columns t, set, loss, acc, err).

    One curve per value of ``by``; accuracy is drawn in %.
    """
    if metric not in df.columns:
        raise ValueError(f"metric must be one of {list(df.columns)}, got {metric!r}")
    fig = ax.figure if ax is not None else plt.figure(figsize=(4.2, 3.0))
    ax = ax if ax is not None else fig.add_subplot(111)
    for key, part in df.groupby(by, sort=False):
        part = part.sort_values("t")
        y = part[metric] * (100 if metric in ("acc", "err") else 1)
        ax.plot(part["t"], y, marker="o", ms=3, ls=linestyle, color=SET_COLORS.get(key),
                label=f"{label_prefix}{key}")
    ax.set_xlabel("t")
    ax.set_ylabel({"loss": "loss (nats)", "acc": "accuracy (%)", "err": "error (%)"}.get(metric, metric))
    ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def eval_set_examples(sets: Mapping[str, object], n: int = 8, label: int | None = None,
                      class_names: Sequence[str] | None = None, title: str | None = None) -> plt.Figure:
    """The same ``n`` test positions in each evaluation set, one row per set.

    Args:
        sets: set name → CueSet (e.g. ``data.eval_sets()``); rows keep this order.
        n: images per row.
        label: show only images of this class (``None``: the first ``n``).
        class_names: names for the captions (default: the label numbers).
    """
    first = next(iter(sets.values()))
    idx = torch.arange(len(first))
    if label is not None:
        idx = idx[first.labels.cpu() == label]
    idx = idx[:n]
    rows, captions = {}, {}
    for name, s in sets.items():
        sub = s.subset(idx)
        x, y = sub.materialize()
        rows[name] = x
        cue = sub.cue_labels.cpu().tolist()
        names = [class_names[int(v)] if class_names else str(int(v)) for v in y.cpu()]
        captions[name] = [f"{nm}\ncue {c if c >= 0 else '–'}" for nm, c in zip(names, cue)]
    return image_rows(rows, captions, title=title)


def prediction_rows(model: torch.nn.Module, sets: Mapping[str, object], n: int = 6,
                    class_names: Sequence[str] | None = None, title: str | None = None) -> plt.Figure:
    """The first ``n`` images of each set with ``model``'s prediction (green: right, red: wrong)."""
    rows, preds, truths = {}, {}, {}
    for name, s in sets.items():
        x, y = s.subset(torch.arange(min(n, len(s)))).materialize()
        with torch.no_grad():
            was = model.training
            model.eval()
            p = model(x.to(next(model.parameters()).device)).argmax(1).cpu()
            model.train(was)
        rows[name], preds[name], truths[name] = x, p.tolist(), y.cpu().tolist()
    name_of = (lambda k: class_names[k]) if class_names else str
    fig = image_rows(rows, {k: [f"→ {name_of(v)}" for v in preds[k]] for k in rows}, title=title)
    for r, k in enumerate(rows):
        for c, ax in enumerate(fig.axes[r * n:(r + 1) * n]):
            if c < len(preds[k]):
                ax.title.set_color("#2ca02c" if preds[k][c] == truths[k][c] else "#d62728")
    return fig


def cue_zoom(images: object, cue: object, n: int = 5, class_names: Sequence[str] | None = None,
             title: str | None = None, size: float = 2.0) -> plt.Figure:
    """The first ``n`` images of a cued set, enlarged pixel by pixel, each cue box outlined.

    At thumbnail size a box of one or two pixels is invisible; here every pixel is a visible
    square (nearest-neighbour enlargement) and a frame marks the pixels the cue replaced.

    Args:
        images: a CueSet (e.g. ``data.eval_sets()["C"]``): ``subset``, ``materialize``, ``cue_labels``.
        cue: the box cue that made it (``data.cue``; needs ``box_slices(label)``).
        n: images to show.
        class_names: names for the captions (default: the label numbers).
        title: the figure's title.
        size: inches per image.

    Raises:
        TypeError: ``cue`` has no boxes (e.g. the dominoes cue).
    """
    if not hasattr(cue, "box_slices"):
        raise TypeError(f"cue_zoom needs a box cue (with box_slices), got {type(cue).__name__}")
    sub = images.subset(torch.arange(min(n, len(images))))
    x, y = sub.materialize()
    rgb, cue_labels = to_rgb(x), sub.cue_labels.cpu().tolist()
    fig, axes = plt.subplots(1, len(rgb), figsize=(size * len(rgb), size + 0.5), squeeze=False)
    for ax, img, label, c in zip(axes[0], rgb, y.cpu().tolist(), cue_labels):
        ax.imshow(img, interpolation="nearest")
        box = cue.box_slices(c) if c >= 0 else None
        if box is not None:
            rows, cols = box
            ax.add_patch(Rectangle((cols.start - 0.5, rows.start - 0.5), cols.stop - cols.start,
                                   rows.stop - rows.start, fill=False, edgecolor="#ff00ff", linewidth=2.5,
                                   clip_on=False))
        name = class_names[label] if class_names else str(label)
        ax.set_title(f"{name}\n{'box outlined' if box is not None else 'no box'}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9 if title else 1))
    return fig


def figure_html(fig: plt.Figure, alt: str) -> HTML:
    """The figure as an inline PNG ``<img>`` with an alt text, for outputs that cannot carry one (widgets).

    A figure displayed inside an ipywidgets ``Output`` becomes an image without alt text in the
    book; this HTML carries the description along.
    """
    from IPython.display import HTML

    if not alt or not alt.strip():
        raise ValueError("alt must describe the figure")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return HTML(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')
