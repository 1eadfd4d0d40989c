"""Accelerator plumbing for training on a GPU: autocast, channels-last, ``torch.compile``, CUDA set-up.

:func:`mmc_utils.train.train_model` uses these helpers for the runtime flags of
:class:`~mmc_utils.train.TrainConfig` (``amp``, ``channels_last``, ``compile``). On the CPU
autocast and channels-last are the identity, so CPU results stay bit-reproducible; every
helper is cheap enough to call once per optimizer step and none of them synchronises the
host with the device (no ``.item()``, no host copies). The paper-scale entry points
(``benchmarks/paper_scale.py``, ``python -m mmc_utils.reproduce --scale paper``) also use
:func:`require_cuda`, :func:`configure_cuda` and the memory helpers.

Nothing here knows about the science; it imports only torch.
"""
from __future__ import annotations

import warnings
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Callable

import torch
from torch import Tensor, nn

__all__ = [
    "COMPILE_MODES", "CUDA_GRAPH_MODES", "CudaUnavailable", "compile_mode", "compile_model", "autocast",
    "as_input", "mark_step", "require_cuda", "configure_cuda", "resident_bytes", "reset_peak_memory",
    "peak_memory_bytes", "synchronize",
]

# ``torch.compile`` modes accepted by ``TrainConfig.compile`` (``True`` means "default").
COMPILE_MODES: tuple[str, ...] = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# Modes that replay CUDA graphs: each optimizer step must be marked (see :func:`mark_step`).
CUDA_GRAPH_MODES: tuple[str, ...] = ("reduce-overhead", "max-autotune")


class CudaUnavailable(RuntimeError):
    """Raised by :func:`require_cuda` when a GPU-only entry point runs without CUDA."""


def compile_mode(value: Any) -> str | None:
    """Normalise a ``compile`` setting: ``False`` -> ``None`` (eager), ``True`` -> ``"default"``,
    a mode of :data:`COMPILE_MODES` -> itself.

    Raises:
        TypeError: neither a bool nor a str. ValueError: an unknown mode.
    """
    if isinstance(value, bool):
        return "default" if value else None
    if not isinstance(value, str):
        raise TypeError(f"compile must be a bool or one of {', '.join(COMPILE_MODES)}; got {value!r}")
    if value not in COMPILE_MODES:
        raise ValueError(f"compile must be a bool or one of {', '.join(COMPILE_MODES)}; got {value!r}")
    return value


def compile_model(model: nn.Module, mode: str | None) -> nn.Module | Callable[..., Tensor]:
    """``torch.compile(model, mode=mode, dynamic=False)``, or ``model`` itself when ``mode`` is ``None``
    or compilation cannot even start (a warning says so).

    ``dynamic=False``: an epoch has at most two batch shapes (full batches and the last one), each
    gets its own static graph (and, in the CUDA-graph modes, its own graph capture). Compilation is
    lazy: errors that surface at the first call are the caller's to catch (``train_model`` falls
    back to eager there).
    """
    if mode is None:
        return model
    try:
        return torch.compile(model, mode=None if mode == "default" else mode, dynamic=False)
    except Exception as err:  # noqa: BLE001 - any failure means "run eagerly"
        warnings.warn(f"torch.compile failed ({type(err).__name__}: {err}); training eagerly", stacklevel=3)
        return model


def autocast(device: torch.device, amp: bool) -> Callable[[], AbstractContextManager]:
    """A factory of the forward pass's autocast context: bf16 autocast on CUDA when ``amp``, else a no-op.

    Returns a zero-argument callable so that the per-step cost is one context object.
    """
    if amp and device.type == "cuda":
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext


def as_input(x: Tensor, device: torch.device, channels_last: bool) -> Tensor:
    """Batch ``x [B, C, H, W]`` on ``device`` (asynchronous copy if it lives elsewhere), in channels-last
    memory format when ``channels_last`` and ``device`` is CUDA (the values are unchanged)."""
    x = x.to(device, non_blocking=True)
    if channels_last and device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def mark_step(mode: str | None) -> None:
    """Mark the start of an optimizer step for the CUDA-graph compile modes (no-op otherwise), so that
    graph replays of one step never overwrite outputs another step still reads."""
    if mode in CUDA_GRAPH_MODES:
        torch.compiler.cudagraph_mark_step_begin()


def require_cuda(what: str, device: str | torch.device | None = None) -> torch.device:
    """The CUDA device to run ``what`` on, or :class:`CudaUnavailable` with a message that says so.

    Args:
        what: the task, for the message (e.g. ``"make paper"``).
        device: ``None`` / ``"auto"`` (the current CUDA device) or a CUDA device string.

    Raises:
        CudaUnavailable: CUDA is not available, or ``device`` is not a CUDA device.
    """
    if device is not None and str(device) != "auto" and torch.device(device).type != "cuda":
        raise CudaUnavailable(f"{what} needs a CUDA GPU, but device {str(device)!r} was requested")
    if not torch.cuda.is_available():
        raise CudaUnavailable(f"{what} needs a CUDA GPU and none is available (torch {torch.__version__}, "
                              f"CUDA build: {torch.version.cuda or 'none'}); run it on a machine with one")
    return torch.device("cuda") if device is None or str(device) == "auto" else torch.device(device)


def configure_cuda(benchmark: bool = True) -> dict[str, bool]:
    """Let cuDNN pick the fastest convolution algorithms for the (fixed) shapes of a long GPU run.

    ``torch.backends.cudnn.benchmark = benchmark``; CUDA results are then not bit-reproducible
    (they are not anyway: BatchNorm and index backward use atomics). Returns the previous settings.
    """
    previous = {"benchmark": bool(torch.backends.cudnn.benchmark)}
    torch.backends.cudnn.benchmark = bool(benchmark)
    return previous


def resident_bytes(*tensors: Tensor) -> int:
    """Bytes held by the distinct storages behind ``tensors`` (views and shared storages count once)."""
    seen: dict[tuple[str, int], int] = {}
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"expected tensors, got {type(t).__name__}")
        storage = t.untyped_storage()
        seen[(str(t.device), storage.data_ptr())] = storage.nbytes()
    return sum(seen.values())


def reset_peak_memory(device: torch.device) -> None:
    """Reset the peak-memory counter of a CUDA ``device`` (no-op elsewhere)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_bytes(device: torch.device) -> int | None:
    """Peak bytes allocated by tensors on a CUDA ``device`` since the last reset; ``None`` elsewhere."""
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


def synchronize(device: torch.device) -> None:
    """Wait for all queued work on ``device`` (CUDA only; the CPU runs synchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
