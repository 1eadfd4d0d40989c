"""Connectivity-based fine-tuning (CBFT), exactly as in DESIGN §3.

θ starts as a copy of the cue model θ_C, which stays frozen. With the linear path
``γ(t) = t·θ_C + (1 − t)·θ`` (a :class:`~mmc_utils.paths.LinearPath` with ``start = θ``,
``end = θ_C``, evaluated with ``torch.func.functional_call`` so that the barrier gradient reaches
θ through autograd), the objective is

    L(θ) = CE(f(x_clean; θ), y) + |λ_B − CE(f(x_cue; γ(t)), y)| + (1/K)·L_I,

    L_I = Σ_k ‖norm(mean_{clean, y=k} z) − norm(mean_{cue, y=k} z)‖²,

where ``z`` are θ's penultimate features, ``norm`` is L2 normalisation, and the sum runs over the
classes present in both batches. The reference implementation takes two SGD steps per iteration
(first the barrier term, then CE + invariance) that share one momentum buffer, runs BatchNorm in
train mode in both; in the first (warm-up) epoch the barrier step runs as usual and only the second
(task) step is CE-only, without the invariance term.

BatchNorm on the path: in train mode a layer normalises with the batch's statistics, so the
running statistics of γ(t) never enter the loss. Only parameters are interpolated; the forward at
γ(t) gets a scratch copy of θ's buffers, so its running-statistics update is discarded and θ's own
running statistics come from θ's forwards only.
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..checks import check_finite_data, check_int
from ..data.rng import derive_generator
from ..runtime import make_generator, progress
from .config import FinetuneConfig

__all__ = ["invariance_loss", "barrier_loss", "draw_t", "cbft_path", "run_cbft"]


def _full(x: Tensor) -> Tensor:
    """``x`` in at least float32 (autocast may produce bf16/fp16; float64 stays float64)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _describe(x: Any) -> str:
    return f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__


def _check_invariance_inputs(z_clean: Any, y_clean: Any, z_cue: Any, y_cue: Any, num_classes: Any) -> None:
    """The argument checks of :func:`invariance_loss` (named ValueErrors instead of deep torch errors)."""
    check_int("num_classes", num_classes, minimum=1)
    if not isinstance(z_clean, Tensor) or not z_clean.is_floating_point() or z_clean.dim() != 2:
        raise ValueError(f"z_clean must be a floating tensor of shape [B, D], got {_describe(z_clean)}")
    d = z_clean.shape[1]
    if not isinstance(z_cue, Tensor) or not z_cue.is_floating_point() or z_cue.dim() != 2 or z_cue.shape[1] != d:
        raise ValueError(f"z_cue must be a floating tensor of shape [B', {d}] (z_clean's feature size), "
                         f"got {_describe(z_cue)}")
    for name, y, z in (("y_clean", y_clean, z_clean), ("y_cue", y_cue, z_cue)):
        if not isinstance(y, Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (z.shape[0],):
            raise ValueError(f"{name} must be an int64 tensor of shape [{z.shape[0]}] (one label per row of the "
                             f"features), got {_describe(y)}")


def invariance_loss(z_clean: Tensor, y_clean: Tensor, z_cue: Tensor, y_cue: Tensor, num_classes: int) -> Tensor:
    """``L_I = Σ_k ‖norm(mean z_clean[y=k]) − norm(mean z_cue[y=k])‖²`` over the classes present in both.

    Args:
        z_clean, z_cue: features ``[B, D]`` and ``[B', D]``.
        y_clean, y_cue: int64 labels ``[B]`` and ``[B']`` in ``[0, num_classes)``.
        num_classes: K.

    Returns:
        A 0-d tensor (0 when no class is present in both batches); not yet divided by K.
    """
    _check_invariance_inputs(z_clean, y_clean, z_cue, y_cue, num_classes)

    def class_means(z: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        onehot = F.one_hot(y, num_classes).to(z.dtype)              # [B, K]
        counts = onehot.sum(0)                                       # [K]
        return onehot.t() @ z / counts.clamp_min(1).unsqueeze(1), counts > 0

    m_clean, has_clean = class_means(z_clean, y_clean)
    m_cue, has_cue = class_means(z_cue, y_cue)
    both = has_clean & has_cue
    diff = F.normalize(m_clean[both], dim=1) - F.normalize(m_cue[both], dim=1)
    return diff.pow(2).sum()


def cbft_path(model: nn.Module, reference: nn.Module):
    """The linear path ``γ(t) = t·θ_C + (1 − t)·θ`` over *parameters*: ``start`` = θ (``model``'s live
    parameters, so gradients flow to them and optimizer updates move the path), ``end`` = θ_C (detached)."""
    from ..paths import LinearPath  # lazy: paths is a sibling package

    theta = dict(model.named_parameters())
    theta_c = {k: v.detach() for k, v in reference.named_parameters()}
    return LinearPath(theta, theta_c)


def barrier_loss(model: nn.Module, path: Any, x_cue: Tensor, y_cue: Tensor, t: float | Tensor,
                 target: float) -> tuple[Tensor, Tensor]:
    """``(|target − CE(f(x_cue; γ(t)), y_cue)|, CE(f(x_cue; γ(t)), y_cue))``.

    ``γ(t)`` is ``path.point(t)`` (parameters), run through ``functional_call`` on ``model`` with a
    scratch copy of ``model``'s buffers (in train mode BN uses batch statistics; the running-stat
    update lands on the copy).
    """
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    logits = functional_call(model, {**path.point(t), **buffers}, (x_cue,))
    ce = F.cross_entropy(_full(logits), y_cue)
    return (target - ce).abs(), ce


def draw_t(cfg: FinetuneConfig, generator: torch.Generator) -> float:
    """One path coordinate from ``cfg.t_dist`` (one draw from ``generator`` unless ``"fixed"``)."""
    if cfg.t_dist == "fixed":
        return float(cfg.t_mean)
    if cfg.t_dist == "clipped_normal":
        n = float(torch.randn((), generator=generator, dtype=torch.float64))
        return cfg.t_mean + cfg.t_scale * min(max(n, -cfg.t_clip), cfg.t_clip)
    u = float(torch.rand((), generator=generator, dtype=torch.float64))
    return cfg.t_mean + cfg.t_scale * cfg.t_clip * (2.0 * u - 1.0)


def _cycle(data: Any, batch_size: int, generator: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless shuffled batches (a new permutation at every pass); full batches when possible."""
    drop_last = len(data) >= batch_size
    while True:
        yield from data.batches(batch_size, shuffle=True, generator=generator, drop_last=drop_last)


def run_cbft(model: nn.Module, reference: nn.Module, clean: Any, cue: Any, cfg: FinetuneConfig, *, seed: int,
             device: torch.device, barrier: bool = True, invariance: bool = True, desc: str = "cbft"
             ) -> dict[str, Any]:
    """Train ``model`` (θ, initialised at θ_C) in place with CBFT; ``reference`` (θ_C) is only read.

    Args:
        model: θ, on ``device``; left in train mode.
        reference: θ_C, same architecture, on ``device`` (its parameters are never written).
        clean: the clean split (an epoch is one pass over it, shuffled with ``make_generator(seed)``
            as in :func:`mmc_utils.train.train_model`).
        cue: cue-training data; batches drawn from their own seeded, cycling loader.
        cfg: the hyper-parameters (see :class:`FinetuneConfig`).
        barrier, invariance: whether the barrier / invariance terms are active (ablations set one
            to False). A term whose weight in ``cfg`` is 0 is inactive too (no step is taken for it).

    Returns:
        Per-epoch lists: ``loss`` (sum of the active terms, weighted), ``ce`` (clean CE), ``barrier``
        (``|λ_B − CE_path|``, unweighted; ``None`` in epochs where a term is inactive), ``path_ce`` (CE at γ(t) on cue
        data), ``invariance`` (``L_I / K``, unweighted), ``t`` (mean t of the barrier steps), ``lr``,
        ``seconds``; plus ``steps`` (optimizer steps), ``iterations`` and the active ``terms``.
    """
    num_classes = model.head.out_features
    use_barrier = barrier and cfg.barrier_weight > 0
    use_inv = invariance and cfg.invariance_weight > 0
    reference.requires_grad_(False)
    model.to(device).train()
    path = cbft_path(model, reference)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    clean_gen = make_generator(seed)
    cue_gen, t_gen = derive_generator(seed, "cbft", "cue"), derive_generator(seed, "cbft", "t")
    cue_batches = _cycle(cue, cfg.batch_size, cue_gen) if (use_barrier or use_inv) else None
    spe = -(-len(clean) // cfg.batch_size)
    keys = ("loss", "ce", "barrier", "path_ce", "invariance", "t")
    history: dict[str, Any] = {k: [] for k in (*keys, "lr", "seconds")}
    history.update(steps=0, iterations=0,
                   terms=["ce"] + ["barrier"] * use_barrier + ["invariance"] * use_inv)
    step = it = 0
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        warm = epoch < cfg.warmup_epochs
        sums: dict[str, Tensor] = {k: torch.zeros((), dtype=torch.float64, device=device) for k in keys}
        n_it = n_bar = 0
        batches = clean.batches(cfg.batch_size, shuffle=True, generator=clean_gen)
        for x, y in progress(batches, desc=f"{desc} {epoch + 1}/{cfg.epochs}", total=spe):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            for group in optimizer.param_groups:
                group["lr"] = cfg.cbft_lr_at(it, spe)
            t = draw_t(cfg, t_gen)          # drawn every iteration: the stream does not depend on the phase
            do_bar, do_inv = use_barrier, use_inv and not warm  # warm-up: the task step is CE only
            if do_bar or do_inv:
                xc, yc = next(cue_batches)  # type: ignore[arg-type]
                xc, yc = xc.to(device, non_blocking=True), yc.to(device, non_blocking=True)
            total = None
            if do_bar:
                b, path_ce = barrier_loss(model, path, xc, yc, t, cfg.barrier_target)
                total = cfg.barrier_weight * b
                sums["barrier"] += b.detach()
                sums["path_ce"] += path_ce.detach()
                sums["t"] += t
                n_bar += 1
                if not cfg.single_step:
                    optimizer.zero_grad(set_to_none=True)
                    total.backward()
                    optimizer.step()
                    step += 1
            z = model.features(x)
            ce = F.cross_entropy(_full(model.head(z)), y)
            loss = ce if (total is None or not cfg.single_step) else total + ce
            if do_inv:
                li = invariance_loss(_full(z), y, _full(model.features(xc)), yc, num_classes) / num_classes
                loss = loss + cfg.invariance_weight * li
                sums["invariance"] += li.detach()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            it += 1
            n_it += 1
            sums["ce"] += ce.detach()
            sums["loss"] += (loss if cfg.single_step or total is None else loss + total).detach()
        history["loss"].append(float(sums["loss"]) / n_it)
        history["ce"].append(float(sums["ce"]) / n_it)
        history["invariance"].append(float(sums["invariance"]) / n_it if (use_inv and not warm) else None)
        for k in ("barrier", "path_ce", "t"):
            history[k].append(float(sums[k]) / n_bar if n_bar else None)
        history["lr"].append(optimizer.param_groups[0]["lr"])
        history["seconds"].append(time.perf_counter() - t0)
        if not math.isfinite(history["loss"][-1]):
            check_finite_data("clean", clean, cfg.batch_size)  # NaN/inf images: an error, not a warning
            if cue is not None:
                check_finite_data("cue", cue, cfg.batch_size)
            warnings.warn(f"{desc}: non-finite loss in epoch {epoch + 1}", stacklevel=2)
    history["steps"], history["iterations"] = step, it
    return history
