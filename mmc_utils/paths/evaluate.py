"""Loss and accuracy along a path, with BatchNorm handled at every point.

Two implementations with the same numbers (up to float rounding):

- ``method="loop"``: one point at a time; the point's state is loaded into a private copy of
  the model, BN is re-estimated with PyTorch's ``momentum=None`` update and the point is
  evaluated with :func:`mmc_utils.train.evaluate`.
- ``method="vmap"``: every point at once with ``torch.func.vmap`` over the stacked states
  (BN re-estimation included, see :func:`mmc_utils.paths.bn.reestimate_bn_stacked`).

On a 2-core CPU the loop is about 3x faster for the book's small CNN (vmap turns each
convolution into a grouped convolution, which oneDNN runs slowly), so ``method="auto"`` picks
vmap on CUDA only. See ``benchmarks/bench_paths.py``.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from ..checks import (check_finite_data, check_label_batch, check_num_classes, check_seed, labels_checked,
                      model_num_classes)
from ..data.rng import derive_generator
from ..runtime import pick_device, progress
from ..train import evaluate
from .bn import batchnorm_modules, check_bn_mode, fixed_batches, reestimate_bn_, reestimate_bn_stacked
from .curves import Path, State, check_compatible, check_t, check_ts, default_ts

__all__ = ["METHODS", "evaluate_path", "model_at"]

METHODS: tuple[str, ...] = ("auto", "loop", "vmap")
COLUMNS: tuple[str, ...] = ("t", "set", "loss", "acc", "err")


def _pos_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return v


def _check_sets(sets: Any) -> dict[str, Any]:
    if not isinstance(sets, Mapping) or not sets:
        raise ValueError(f"sets must be a non-empty mapping name -> data set, got {sets!r}")
    for name, ds in sets.items():
        if not hasattr(ds, "batches") or not hasattr(ds, "__len__"):
            raise TypeError(f"sets[{name!r}] must be a data set with len() and batches(); got {type(ds).__name__}")
        if len(ds) == 0:
            raise ValueError(f"sets[{name!r}] is empty")
    return dict(sets)


def subsample_sets(sets: Mapping[str, Any], max_images: int | None, seed: int) -> dict[str, Any]:
    """Each set cut to a seeded random subset of at most ``max_images`` samples (kept in order).

    Sets of equal length get the same indices, so paired sets (NC, C, RC and RI are the same
    test images under different cue interventions) stay paired. ``None`` keeps every sample.

    Raises:
        ValueError: ``max_images`` not a positive int; TypeError: a set to be cut has no ``subset``.
    """
    sets = _check_sets(sets)
    if max_images is None:
        return sets
    max_images = _pos_int("max_images", max_images)
    out = {}
    for name, ds in sets.items():
        n = len(ds)
        if n <= max_images:
            out[name] = ds
            continue
        if not hasattr(ds, "subset"):
            raise TypeError(f"sets[{name!r}] has {n} samples > max_images={max_images} but no subset() method")
        idx = torch.randperm(n, generator=derive_generator(seed, "path eval subset", n))[:max_images]
        out[name] = ds.subset(idx.sort().values)
    return out


class _Setup:
    """Validated inputs shared by :func:`evaluate_path` and :func:`model_at`.

    Holds a private copy of the model on ``device`` (the caller's model is never touched),
    the path on ``device``, the BN mode and the fixed BN batches (``None`` if not needed).
    """

    def __init__(self, model: nn.Module, path: Path, bn: str, bn_data: Any, bn_batches: int,
                 bn_batch_size: int, seed: int, device: str | torch.device | None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if not isinstance(path, Path):
            raise TypeError(f"path must be a mmc_utils.paths Path, got {type(path).__name__}")
        self.bn = check_bn_mode(bn)
        self.device = pick_device(device)
        self.model = copy.deepcopy(model).to(self.device)
        self.path = path.to(self.device)
        check_compatible([dict(self.model.state_dict()), self.path.start], what="model and path")
        self.buffer_keys = [k for k, _ in self.model.named_buffers()]
        self.has_bn = bool(batchnorm_modules(self.model))
        self.batches: list[Tensor] | None = None
        if self.bn == "reestimate" and self.has_bn:
            if bn_data is None:
                raise ValueError("bn='reestimate' needs bn_data (the data set BN statistics are estimated on)")
            self.batches = fixed_batches(bn_data, bn_batches, bn_batch_size, seed, self.device)

    def keep_buffers(self, state: State, stacked: int | None) -> State:
        """``state`` with every buffer taken from the path's start (``bn="keep"``)."""
        out = dict(state)
        for k in self.buffer_keys:
            ref = self.path.start[k]
            out[k] = ref.expand((stacked,) + ref.shape).clone() if stacked is not None else ref.clone()
        return out

    def load_point(self, t: float | Tensor) -> nn.Module:
        """The private model set to ``gamma(t)`` with BN handled; returned in eval mode."""
        with torch.no_grad():
            state = {k: v.detach() for k, v in self.path.point(t).items()}
        if self.bn == "keep":
            state = self.keep_buffers(state, None)
        self.model.load_state_dict(state)
        if self.batches is not None:
            reestimate_bn_(self.model, self.batches)
        return self.model.eval()

    def stacked_states(self, ts: list[float]) -> State:
        """States at every t, stacked ``[T, ...]``, with BN handled (for vmap)."""
        with torch.no_grad():
            state = {k: v.detach() for k, v in self.path.points(ts).items()}
        if self.bn == "keep":
            state = self.keep_buffers(state, len(ts))
        if self.batches is not None:
            state = reestimate_bn_stacked(self.model, state, self.batches)
        return state


def model_at(model: nn.Module, path: Path, t: float, *, bn: str = "reestimate", bn_data: Any = None,
             bn_batches: int = 20, bn_batch_size: int = 200, seed: int = 0,
             device: str | torch.device | None = None) -> nn.Module:
    """A new model (same architecture as ``model``) at ``gamma(t)`` with BN handled as in :func:`evaluate_path`.

    Returns a module in eval mode; ``model`` itself is not modified.
    """
    setup = _Setup(model, path, bn, bn_data, bn_batches, bn_batch_size, seed, device)
    return setup.load_point(float(check_t(t)))


def _loop(setup: _Setup, ts: list[float], sets: dict[str, Any], batch_size: int, desc: str) -> list[dict]:
    rows = []
    for t in progress(ts, desc=desc or "path", total=len(ts)):
        net = setup.load_point(t)
        for name, ds in sets.items():
            r = evaluate(net, ds, batch_size)
            rows.append({"t": t, "set": name, "loss": r["loss"], "acc": r["acc"]})
    return rows


def _vmapped(setup: _Setup, ts: list[float], sets: dict[str, Any], batch_size: int, desc: str) -> list[dict]:
    state = setup.stacked_states(ts)
    net = setup.model.eval()
    forward = vmap(lambda s, x: functional_call(net, s, (x,)), in_dims=(0, None))
    num_classes = model_num_classes(net)
    T = len(ts)
    results: dict[str, tuple[Tensor, Tensor]] = {}
    with torch.no_grad():
        for name, ds in progress(sets.items(), desc=desc or "path", total=len(sets)):
            loss_sum = torch.zeros(T, dtype=torch.float64, device=setup.device)
            correct = torch.zeros(T, dtype=torch.long, device=setup.device)
            n = 0
            labels_ok = labels_checked("data", ds, num_classes)  # the checks of evaluate(), as in the loop
            for x, y in ds.batches(batch_size, shuffle=False):
                if not labels_ok:
                    check_label_batch("data", y, num_classes)
                x, y = x.to(setup.device), y.to(setup.device)
                logits = forward(state, x).float()  # [T, B, K]
                ce = F.cross_entropy(logits.flatten(0, 1), y.repeat(T), reduction="none").view(T, -1)
                loss_sum += ce.sum(1).double()
                correct += (logits.argmax(-1) == y).sum(1)
                n += y.numel()
            results[name] = (loss_sum.cpu() / n, correct.cpu().double() / n)
            if not bool(torch.isfinite(results[name][0]).all()):
                check_finite_data("data", ds)  # error path: name NaN/inf images rather than return a NaN loss
    return [{"t": t, "set": name, "loss": float(loss[i]), "acc": float(acc[i])}
            for i, t in enumerate(ts) for name, (loss, acc) in results.items()]


def evaluate_path(model: nn.Module, path: Path, sets: Mapping[str, Any], ts: Sequence[float] | None = None, *,
                  bn: str = "reestimate", bn_data: Any = None, bn_batches: int = 20, bn_batch_size: int = 200,
                  batch_size: int = 500, max_images: int | None = None, seed: int = 0, method: str = "auto",
                  device: str | torch.device | None = None, desc: str = "") -> pd.DataFrame:
    """Mean cross-entropy and accuracy of ``gamma(t)`` on each data set, for every ``t`` in ``ts``.

    ``gamma(0)`` is the path's start (theta_2), ``gamma(1)`` its end (theta_1). End points are
    evaluated exactly like interior points (BN re-estimated too).

    Args:
        model: the architecture; its tensors are replaced by the path's states in a private
            copy (``model`` is not modified).
        path: a :class:`~mmc_utils.paths.curves.Path` whose states fit ``model``'s ``state_dict``.
        sets: ``{name: data set}`` to evaluate on (data sets with ``len()`` and ``batches()``).
        ts: path coordinates in [0, 1] (default 11 points, 0, 0.1, ..., 1).
        bn: ``"reestimate"`` (reset the running statistics at each point and re-estimate them as a
            cumulative average over ``bn_batches`` batches of ``bn_batch_size`` images of
            ``bn_data``, the same seeded batches at every t), ``"interpolate"`` (use the path's
            interpolated running statistics) or ``"keep"`` (use the start's statistics at every
            t, the pitfall: even ``t = 1`` is then not theta_1).
        bn_data: data set for ``"reestimate"`` (the clean training data in the book).
        bn_batches, bn_batch_size: how many batches of how many images re-estimate BN.
        batch_size: evaluation batch size.
        max_images: evaluate on a seeded random subset of at most this many samples of each set
            (:func:`subsample_sets`; the same subset at every t); ``None``: every sample.
        seed: seeds the choice of BN batches and of the evaluation subset.
        method: ``"loop"``, ``"vmap"`` or ``"auto"`` (vmap on CUDA, loop elsewhere).
        device: where to compute (``None``: :func:`mmc_utils.runtime.pick_device`).
        desc: progress-bar label.

    Returns:
        A tidy DataFrame with one row per (t, set), ordered by t then set: columns ``t``,
        ``set``, ``loss`` (mean CE, nats), ``acc`` (fraction) and ``err`` (``1 - acc``).

    Raises:
        ValueError: t outside [0, 1], unknown ``bn`` / ``method``, empty ``sets`` or data sets,
            model and path of different shape, ``bn="reestimate"`` without ``bn_data``.
    """
    ts = default_ts(11) if ts is None else check_ts(ts)
    seed = check_seed("seed", seed)
    sets = subsample_sets(sets, max_images, seed)
    batch_size = _pos_int("batch_size", batch_size)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    setup = _Setup(model, path, bn, bn_data, bn_batches, bn_batch_size, seed, device)
    for name, ds in sets.items():  # both methods: the model must fit every set (the loop checks it again)
        check_num_classes(f"sets[{name!r}]", ds, model_num_classes(setup.model))
    if method == "auto":
        method = "vmap" if setup.device.type == "cuda" else "loop"
    rows = (_vmapped if method == "vmap" else _loop)(setup, ts, sets, batch_size, desc)
    df = pd.DataFrame(rows, columns=["t", "set", "loss", "acc"])
    df["err"] = 1.0 - df["acc"]
    return df[list(COLUMNS)]
