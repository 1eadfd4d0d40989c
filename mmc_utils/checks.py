"""Argument validation shared by the data modules.

Every check raises ``TypeError`` (wrong type) or ``ValueError`` (wrong value) with a
message that names the offending parameter and what it accepts.
"""
from __future__ import annotations

import numbers
from typing import Iterable

import torch


def check_int(name: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` after checking it is an integer in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_fraction(name: str, value: object) -> float:
    """Return ``value`` as a ``float`` after checking it is a real number in ``[0, 1]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(value).__name__} {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    return value


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """Return ``value`` after checking it is one of ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_images(name: str, x: object, channels: int = 3, size: int | None = None) -> torch.Tensor:
    """Check ``x`` is a floating tensor of shape ``[B, channels, size, size]`` (``size=None``: any square)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [B, {channels}, H, W], got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} must have shape [B, {channels}, H, W], got {tuple(x.shape)}")
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        raise ValueError(f"{name} must have spatial size {size}x{size}, got {tuple(x.shape[-2:])}")
    return x


def check_labels(name: str, labels: object, length: int, low: int, high: int) -> torch.Tensor:
    """Check ``labels`` is an integer tensor ``[length]`` with values in ``[low, high)``."""
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of dtype int64, got {type(labels).__name__}")
    if labels.dtype != torch.int64:
        raise TypeError(f"{name} must have dtype torch.int64, got {labels.dtype}")
    if labels.dim() != 1 or labels.shape[0] != length:
        raise ValueError(f"{name} must have shape [{length}], got {tuple(labels.shape)}")
    if length and (int(labels.min()) < low or int(labels.max()) >= high):
        raise ValueError(f"{name} values must lie in [{low}, {high - 1}], got range "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    return labels
