"""BatchNorm along a path: re-estimating running statistics at a point of parameter space.

A network whose weights are a mixture of two trained networks has activations whose
statistics match neither network's stored running statistics, so an interpolated BN net looks
falsely disconnected. The fix is to re-estimate the running statistics at every point. The
authors' code does so by running the whole clean training set through the network in train
mode with PyTorch's default exponential average (momentum 0.1), without resetting the
statistics first; the last ~20 batches then dominate. This book instead resets the statistics
at every point and re-estimates them as a *cumulative average* (PyTorch's ``momentum=None``)
over a fixed list of batches, in train mode (each batch normalised with its own statistics, as
during training): an exact mean over the batches used, the same for every point of a path.

Re-estimation here always uses the same list of batches, drawn once with a seeded shuffle
(:func:`fixed_batches`), so every point of a path sees identical data. Two implementations give
the same numbers: :func:`reestimate_bn_` on a module (PyTorch's own ``momentum=None`` update) and
:func:`reestimate_bn_stacked` on a stack of ``T`` states evaluated at once with
``torch.func.vmap`` (the cumulative average written as the per-batch momentum ``1 / (b + 1)``,
which is exactly what ``momentum=None`` computes).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap
from torch.nn.modules.batchnorm import _BatchNorm

from ..checks import batchnorm_batch_guard, check_device, check_finite, check_module, check_seed
from ..runtime import make_generator
from ..train import mode_under_no_grad
from .curves import State

__all__ = ["BN_MODES", "check_bn_mode", "batchnorm_modules", "fixed_batches", "reestimate_bn_",
           "reestimate_bn_stacked"]

BN_MODES: tuple[str, ...] = ("reestimate", "interpolate", "keep")


def check_bn_mode(bn: Any) -> str:
    """Validate a BatchNorm mode: ``"reestimate"``, ``"interpolate"`` or ``"keep"``."""
    if bn not in BN_MODES:
        raise ValueError(f"bn must be one of {', '.join(BN_MODES)}; got {bn!r}")
    return bn


def batchnorm_modules(model: nn.Module) -> dict[str, _BatchNorm]:
    """``{qualified name: module}`` of every BatchNorm layer of ``model`` (in ``modules()`` order).

    Raises:
        ValueError: if a BatchNorm layer does not track running statistics.
    """
    bns = {name: m for name, m in model.named_modules() if isinstance(m, _BatchNorm)}
    untracked = [name for name, m in bns.items() if not m.track_running_stats]
    if untracked:
        raise ValueError(f"BatchNorm layers {untracked[:3]} have track_running_stats=False; "
                         "paths need layers with running statistics")
    return bns


def fixed_batches(data: Any, num_batches: int, batch_size: int, seed: int = 0,
                  device: str | torch.device = "cpu") -> list[Tensor]:
    """The images of the first ``num_batches`` full batches of a seeded shuffle of ``data``.

    Args:
        data: a data set with ``len()`` and ``batches(batch_size, shuffle, generator, drop_last)``.
        num_batches: how many batches (>= 1); fewer are returned if ``data`` holds fewer full batches.
        batch_size: images per batch (>= 2: train-mode BatchNorm needs two samples).
        seed: seeds the shuffle (a CPU generator), so the list is the same on every call.
        device: where the images are put.

    Returns:
        A list of image tensors ``[batch_size, C, H, W]``.

    Raises:
        ValueError: bad sizes, or ``data`` smaller than one batch; TypeError: not a data set.
    """
    for name, v, lo in (("bn_batches", num_batches, 1), ("bn_batch_size", batch_size, 2)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    seed = check_seed("seed", seed)
    device = check_device("device", device)
    if not hasattr(data, "batches") or not hasattr(data, "__len__"):
        raise TypeError(f"bn_data must be a data set with len() and batches(); got {type(data).__name__}")
    if len(data) < batch_size:
        raise ValueError(f"bn_data has {len(data)} samples, fewer than bn_batch_size={batch_size}")
    out: list[Tensor] = []
    for x, _ in data.batches(batch_size, shuffle=True, generator=make_generator(seed), drop_last=True):
        out.append(x.to(device))
        if len(out) == num_batches:
            break
    if not all(bool(torch.isfinite(x).all()) for x in out):
        raise ValueError("bn_data holds non-finite images (NaN or inf); BatchNorm statistics estimated on them "
                         "would be NaN")
    return out


def _check_batches(batches: Any) -> None:
    """``batches`` must be a non-empty list of finite image tensors."""
    if not isinstance(batches, (list, tuple)) or not all(isinstance(x, Tensor) for x in batches):
        raise TypeError(f"batches must be a list of image tensors [B, C, H, W], got {type(batches).__name__}")
    if not batches:
        raise ValueError("batches must hold at least one batch of images")
    for i, x in enumerate(batches):
        check_finite(f"batches[{i}]", x)


@contextmanager
def _train_mode_bn(model: nn.Module) -> Iterator[dict[str, _BatchNorm]]:
    """Put ``model`` in train mode under ``no_grad``; restore modes and BN momenta afterwards."""
    bns = batchnorm_modules(model)
    momenta = {name: m.momentum for name, m in bns.items()}
    try:
        with mode_under_no_grad(model, True):
            yield bns
    finally:
        for name, m in bns.items():
            m.momentum = momenta[name]


def reestimate_bn_(model: nn.Module, batches: list[Tensor]) -> nn.Module:
    """Reset every BatchNorm layer's running statistics and re-estimate them in place.

    Cumulative average (``momentum=None``) of the per-batch mean and unbiased variance, with a
    train-mode forward pass per batch. The model's modes and momenta are restored afterwards.

    Args:
        model: the network (modified in place); its device is the batches' device.
        batches: image tensors ``[B, C, H, W]`` (see :func:`fixed_batches`).

    Returns:
        ``model``.
    """
    check_module("model", model)
    _check_batches(batches)
    with _train_mode_bn(model) as bns:
        for m in bns.values():
            m.reset_running_stats()
            m.momentum = None
        for x in batches:
            with batchnorm_batch_guard(x):
                model(x)
    return model


def reset_bn_state(model: nn.Module, state: State, stacked: int | None = None) -> State:
    """A copy of ``state`` whose BatchNorm buffers are fresh: mean 0, variance 1, count 0.

    ``stacked``: the leading dimension ``T`` of a stacked state, or ``None`` for a single state.
    """
    out = dict(state)
    lead = () if stacked is None else (stacked,)
    for name, m in batchnorm_modules(model).items():
        ref = state[f"{name}.running_mean"]
        shape = lead + (m.num_features,)
        out[f"{name}.running_mean"] = torch.zeros(shape, dtype=ref.dtype, device=ref.device)
        out[f"{name}.running_var"] = torch.ones(shape, dtype=ref.dtype, device=ref.device)
        if f"{name}.num_batches_tracked" in state:
            out[f"{name}.num_batches_tracked"] = torch.zeros(lead, dtype=torch.long, device=ref.device)
    return out


def reestimate_bn_stacked(model: nn.Module, stacked: State, batches: list[Tensor]) -> State:
    """:func:`reestimate_bn_` for ``T`` states at once (``torch.func.vmap``).

    Args:
        model: the architecture (its own tensors are not used; modes are restored afterwards).
        stacked: a stacked state (entries ``[T, ...]``, as from ``Path.points``).
        batches: image tensors ``[B, C, H, W]``, the same for every point.

    Returns:
        A new stacked state with re-estimated BN buffers (the other entries are shared).
    """
    check_module("model", model)
    _check_batches(batches)
    T = next(iter(stacked.values())).shape[0]
    state = reset_bn_state(model, stacked, stacked=T)
    forward = vmap(lambda s, x: functional_call(model, s, (x,)), in_dims=(0, None))
    with _train_mode_bn(model) as bns:
        for b, x in enumerate(batches):
            for m in bns.values():  # momentum=None is this factor: cumulative average over b + 1 batches
                m.momentum = 1.0 / (b + 1)
            forward(state, x)  # updates the stacked running statistics in place
    return state
