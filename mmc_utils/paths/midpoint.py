"""Training the control point of a quadratic (Bezier) path between two frozen minimizers.

The path is ``gamma(t) = (1-t)^2 theta_2 + 2t(1-t) theta_m + t^2 theta_1`` (``start`` = theta_2 at
``t = 0``, ``end`` = theta_1 at ``t = 1``). As in the paper, ``theta_m`` starts from a fresh random
initialisation; every SGD step draws ``t ~ U(0, 1)`` and lowers the cross-entropy of
``gamma(t)`` on one batch, with BatchNorm in train mode (batch statistics; running statistics
are neither used nor updated). Only ``theta_m`` receives gradients (autograd through
``gamma(t)``, so each step's gradient carries the factor 2t(1-t) that the authors' code puts
into the learning rate instead); the end points stay frozen. The learning rate follows a
per-step cosine decay (book) or the authors' step schedule (paper scale).
"""
from __future__ import annotations

import copy
import hashlib
import math
import time
import warnings
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..checks import (batchnorm_batch_guard, check_finite_data, check_finite_state, check_label_batch,
                      check_num_classes, check_seed, labels_checked, model_num_classes)
from ..models import build_model, model_spec
from ..runtime import make_generator, pick_device, progress
from ..train import TrainConfig
from .bn import batchnorm_modules
from .curves import BezierPath, State, StateLike, as_state, check_compatible

__all__ = ["MidpointState", "state_fingerprint", "train_midpoint", "load_or_train_midpoint"]

_T_STREAM = 0x9E3779B1  # offsets the seed of the t ~ U(0, 1) stream from the shuffling stream


class MidpointState(dict):
    """The control point theta_m as a state dict ``name -> tensor`` (CPU), plus ``.history``.

    ``history``: ``{"loss": [per-epoch mean CE of gamma(t) on the training batches, nats],
    "lr": [lr of each epoch's last step], "seconds": [wall time per epoch], "steps": int}``.
    Its BN buffers are the mean of the end points' buffers, so ``bn="interpolate"`` on the
    quadratic path interpolates the running statistics linearly.
    """

    history: dict[str, Any]


def state_fingerprint(state: StateLike) -> str:
    """SHA-256 (hex) of a state's names, dtypes, shapes and values: an identity for cache keys."""
    h = hashlib.sha256()
    for name, v in sorted(as_state(state).items()):
        v = v.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"{name}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.view(torch.uint8).numpy().tobytes() if v.numel() else b"")
    return h.hexdigest()


def _fresh_model(model_spec_or_builder: Mapping[str, Any] | Callable[[], nn.Module], seed: int) -> nn.Module:
    """A freshly initialised model drawn with ``seed`` (from a ``build_model`` spec or a builder)."""
    if isinstance(model_spec_or_builder, Mapping):
        return build_model(**model_spec_or_builder, init_seed=seed)
    if callable(model_spec_or_builder):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = model_spec_or_builder()
        if not isinstance(model, nn.Module):
            raise TypeError(f"the builder must return an nn.Module, got {type(model).__name__}")
        return model
    raise TypeError("model_spec_or_builder must be a build_model spec (mapping) or a callable returning "
                    f"an nn.Module, got {type(model_spec_or_builder).__name__}")


def train_midpoint(model_spec_or_builder: Mapping[str, Any] | Callable[[], nn.Module], start: StateLike,
                   end: StateLike, data: Any, *, epochs: int, lr: float, batch_size: int, seed: int,
                   momentum: float = 0.9, weight_decay: float = 5e-4, schedule: str = "cosine",
                   step_size: int = 10, gamma: float = 0.1,
                   device: str | torch.device | None = None, desc: str = "") -> MidpointState:
    """Fit theta_m of the quadratic path from ``start`` (theta_2, t = 0) to ``end`` (theta_1, t = 1).

    Args:
        model_spec_or_builder: ``build_model`` arguments (theta_m is ``build_model(**spec,
            init_seed=seed)``) or a callable returning a fresh ``nn.Module`` (called under
            ``torch.manual_seed(seed)``).
        start, end: the frozen end points (modules or state dicts of the same architecture).
        data: training data set (``len()``, ``batches()``); the paper uses cue data with the
            cue on every image.
        epochs, lr, batch_size, momentum, weight_decay: SGD recipe (weight decay on theta_m only).
        schedule, step_size, gamma: ``"cosine"`` (per step from ``lr`` to 0) or ``"step"`` (``lr`` times
            ``gamma ** (epoch // step_size)``, as in the authors' code).
        seed: seeds theta_m's initialisation, the shuffling and the draws of t.
        device: where to train (``None``: :func:`mmc_utils.runtime.pick_device`).
        desc: progress-bar label.

    Returns:
        theta_m as a :class:`MidpointState` (full state dict on the CPU, with ``.history``).

    Raises:
        ValueError: bad recipe values, empty data, models of different shape.
    """
    cfg = TrainConfig(epochs=epochs, lr=lr, momentum=momentum, weight_decay=weight_decay,
                      batch_size=batch_size, schedule=schedule, step_size=step_size,
                      gamma=gamma)  # validates the recipe
    seed = check_seed("seed", seed)
    if not hasattr(data, "batches") or not hasattr(data, "__len__"):
        raise TypeError(f"data must be a data set with len() and batches(); got {type(data).__name__}")
    n = len(data)
    if n < 2:
        raise ValueError(f"data must hold at least 2 samples (train-mode BatchNorm), got {n}")
    dev = pick_device(device)
    net = _fresh_model(model_spec_or_builder, seed).to(dev)
    ends = [{k: v.detach().to(dev) for k, v in as_state(s, name).items()} for s, name in ((start, "start"),
                                                                                           (end, "end"))]
    check_compatible([dict(net.state_dict()), *ends], what="models")
    check_finite_state("start", ends[0])
    check_finite_state("end", ends[1])
    num_classes = model_num_classes(net)
    check_num_classes("data", data, num_classes)
    labels_ok = labels_checked("data", data, num_classes)
    for m in batchnorm_modules(net).values():  # train mode on batch statistics only
        m.track_running_stats = False
    net.train()
    theta_m = {k: p.detach().clone().requires_grad_(True) for k, p in net.named_parameters()}
    path = BezierPath([{k: ends[0][k] for k in theta_m}, theta_m, {k: ends[1][k] for k in theta_m}])
    optimizer = torch.optim.SGD(list(theta_m.values()), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    drop_last = n >= batch_size  # avoid a last batch of one sample in train-mode BN
    spe = n // batch_size if drop_last else 1
    shuffle_gen, t_gen = make_generator(seed), make_generator(seed + _T_STREAM)
    history: dict[str, Any] = {"loss": [], "lr": [], "seconds": [], "steps": 0}
    step = 0
    for epoch in progress(range(epochs), desc=desc or "midpoint", total=epochs):
        t0, loss_sum, seen = time.perf_counter(), torch.zeros((), device=dev), 0
        for x, y in data.batches(batch_size, shuffle=True, generator=shuffle_gen, drop_last=drop_last):
            if not labels_ok:
                check_label_batch("data", y, num_classes)
            x, y = x.to(dev), y.to(dev)
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr_at(step, spe)
            t = torch.rand((), generator=t_gen).to(dev)
            with batchnorm_batch_guard(x):
                loss = F.cross_entropy(functional_call(net, path.point(t), (x,)).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * y.numel()
            seen += y.numel()
            step += 1
        history["loss"].append(float(loss_sum) / max(seen, 1))
        history["lr"].append(optimizer.param_groups[0]["lr"])
        history["seconds"].append(time.perf_counter() - t0)
        if not math.isfinite(history["loss"][-1]):
            check_finite_data("data", data, batch_size)  # NaN/inf images: an error, as in train_model
            warnings.warn(f"{desc or 'midpoint'}: non-finite loss in epoch {epoch + 1}", stacklevel=2)
    history["steps"] = step
    check_finite_state("theta_m (diverged: lower lr?)", {k: v.detach() for k, v in theta_m.items()})
    out = MidpointState()
    for k, ref in ends[0].items():
        if k in theta_m:
            out[k] = theta_m[k].detach().to("cpu").clone()
        elif ref.is_floating_point():
            out[k] = ((ref + ends[1][k]) / 2).to("cpu")
        else:
            out[k] = ref.to("cpu").clone()
    out.history = history
    return out


def load_or_train_midpoint(spec: Mapping[str, Any], start: StateLike, end: StateLike, data: Any,
                           data_key: Mapping[str, Any], *, epochs: int, lr: float, batch_size: int, seed: int,
                           momentum: float = 0.9, weight_decay: float = 5e-4, schedule: str = "cosine",
                           step_size: int = 10, gamma: float = 0.1,
                           device: str | torch.device | None = None, store: Any = None,
                           desc: str = "") -> tuple[MidpointState, dict]:
    """:func:`train_midpoint` through the checkpoint store (:func:`mmc_utils.store.load_or_train`).

    The cache key holds the canonical model spec, :func:`state_fingerprint` of both end points,
    ``data_key`` (a JSON-able description of ``data``) and the recipe.

    Returns:
        ``(theta_m, meta)``: theta_m on the CPU (with ``.history``), ``meta["history"]`` and
        ``meta["cached"]``.
    """
    from ..store import load_or_train  # lazy: the store is optional for everything else

    if not isinstance(spec, Mapping):
        raise TypeError(f"spec must be a build_model spec (mapping), got {type(spec).__name__}")
    if not isinstance(data_key, Mapping):
        raise TypeError(f"data_key must be a JSON-able mapping describing data, got {type(data_key).__name__}")
    seed = check_seed("seed", seed)
    canonical = model_spec(build_model(**spec))
    recipe = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "momentum": momentum,
              "weight_decay": weight_decay, "schedule": schedule, "step_size": step_size, "gamma": gamma,
              "seed": seed}
    config = {"kind": "quadratic_midpoint", "spec": canonical, "start": state_fingerprint(start),
              "end": state_fingerprint(end), "data": dict(data_key), **recipe}

    def train_fn() -> tuple[State, dict]:
        mid = train_midpoint(canonical, start, end, data, device=device, desc=desc, **recipe)
        return dict(mid), {"history": mid.history, **recipe}

    start_state = as_state(start, "start")

    def fits(tensors: State, meta: dict) -> None:  # a cached theta_m must fit the end points and be finite
        check_compatible([start_state, tensors], what="cached theta_m and start")
        check_finite_state("cached theta_m", tensors)

    tensors, meta = load_or_train(config, train_fn, store=store, device="cpu", desc=desc, check=fits)
    out = MidpointState(copy.copy(tensors))
    out.history = meta.get("history", {})
    return out, meta
