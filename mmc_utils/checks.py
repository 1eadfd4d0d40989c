"""Argument validation shared by the whole package.

Every check raises ``TypeError`` (wrong type) or ``ValueError`` (wrong value) with a
message that names the offending parameter and what it accepts. Two families:

- ``check_int``, ``check_fraction``, ``check_choice``, ``check_images``, ``check_labels``:
  function arguments (a wrong type is a ``TypeError``);
- ``check_config_int``, ``check_config_real``, ``check_config_fields``: fields of the
  configuration dataclasses (``TrainConfig``, ``PathConfig``, ``FinetuneConfig``,
  ``LandscapeConfig``), where any bad value, wrong type included, is a ``ValueError`` and an
  unknown field a ``TypeError``;

plus the finiteness and consistency checks of models and data (``check_finite_state``,
``check_finite_data``, ``check_num_classes``) that keep NaN weights or images, and models
that do not fit their data, from silently producing NaN results or deep torch errors.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Iterable, Mapping

import torch
from torch import Tensor, nn


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


def check_images(name: str, x: object, channels: int = 3, size: int | None = None,
                 finite: bool = True) -> torch.Tensor:
    """Check ``x`` is a floating tensor of shape ``[B, channels, size, size]`` (``size=None``: any square),
    and (``finite=True``) that it holds no NaN or inf."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [B, {channels}, H, W], got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} must have shape [B, {channels}, H, W], got {tuple(x.shape)}")
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        raise ValueError(f"{name} must have spatial size {size}x{size}, got {tuple(x.shape[-2:])}")
    if finite:
        check_finite(name, x)
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


# ----------------------------------------------------------------------------- finiteness
def check_finite(name: str, x: Tensor) -> Tensor:
    """Check a floating tensor holds no NaN or inf."""
    if x.is_floating_point() and x.numel() and not bool(torch.isfinite(x).all()):
        nan, inf = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
        raise ValueError(f"{name} must be finite (no NaN or inf), got {nan} NaN and {inf} inf values")
    return x


def check_finite_state(name: str, obj: Any) -> Any:
    """Check every floating tensor of a model's ``state_dict`` (or of a mapping name -> tensor) is finite.

    Other objects are returned unchecked (their type is the caller's business).

    Raises:
        ValueError: naming ``name`` and the first entries that hold NaN or inf.
    """
    if isinstance(obj, nn.Module):
        items = obj.state_dict().items()
    elif isinstance(obj, Mapping):
        items = obj.items()
    else:
        return obj
    floats = [(k, v) for k, v in items if isinstance(v, Tensor) and v.is_floating_point() and v.numel()]
    if not floats:
        return obj
    with torch.no_grad():
        dev = floats[0][1].device
        ok = torch.stack([torch.isfinite(v).all().to(dev) for _, v in floats])
        if bool(ok.all()):
            return obj
        bad = [k for (k, _), good in zip(floats, ok.tolist()) if not good]
    raise ValueError(f"{name} holds non-finite values (NaN or inf) in {bad[:3]}{' ...' if len(bad) > 3 else ''}; "
                     "a network with NaN or inf weights cannot be trained, evaluated or interpolated")


def check_finite_data(name: str, data: Any, batch_size: int = 256) -> None:
    """Raise ``ValueError`` if a batch of ``data`` (``batches()`` protocol) holds a NaN or inf image.

    Scans the whole data set: meant for the error path (a non-finite loss), not for every call.
    """
    for i, (x, _) in enumerate(data.batches(batch_size, shuffle=False)):
        if x.is_floating_point() and not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} holds non-finite images (NaN or inf), first in batch {i} "
                             f"(batch size {batch_size}); drop or repair those samples")


def model_num_classes(model: Any) -> int | None:
    """Number of outputs of a classifier's linear ``head`` (``None`` when it has none)."""
    head = getattr(model, "head", None)
    return head.out_features if isinstance(head, nn.Linear) else None


def check_num_classes(name: str, data: Any, num_classes: int | None) -> None:
    """Check a data set has ``num_classes`` classes (``data.num_classes``, else its labels' maximum).

    ``num_classes=None`` (a model without a linear head) skips the check.
    """
    if num_classes is None:
        return
    k = getattr(data, "num_classes", None)
    if k is None and isinstance(getattr(data, "labels", None), Tensor) and len(data):
        top = int(data.labels.max()) + 1
        k = top if top > num_classes else None
    if k is not None and k != num_classes:
        raise ValueError(f"{name} has {k} classes but the model's head has {num_classes} outputs; "
                         f"{name} and model must have the same number of classes")


def check_tolerance(name: str, value: Any) -> float:
    """A tolerance: a finite real number >= 0 (``ValueError`` otherwise, wrong type included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------- config fields
def check_config_int(name: str, value: Any, minimum: int) -> int:
    """A config field that must be a Python int >= ``minimum`` (``ValueError`` otherwise, wrong type included;
    NumPy scalars are refused because config dicts must stay JSON-able)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_config_real(name: str, value: Any, lo: float = -math.inf, hi: float = math.inf, lo_open: bool = False,
                      hi_open: bool = False) -> float:
    """A config field that must be a finite real number in the interval from ``lo`` to ``hi``
    (open ends as flagged), a Python int or float; ``ValueError`` otherwise, wrong type included."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)
    if not ok:
        interval = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return value


def check_config_fields(cls: type, overrides: Mapping[str, Any]) -> None:
    """``TypeError`` unless every key of ``overrides`` is a field of the dataclass ``cls``."""
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise TypeError(f"unknown {cls.__name__} fields {unknown}; the fields are {', '.join(fields)}")
