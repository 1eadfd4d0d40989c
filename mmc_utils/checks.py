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
``check_finite_data``, ``check_num_classes``, ``check_label_batch``, ``check_module``) that keep
NaN weights or images, bad labels, and models that do not fit their data, from silently producing
NaN results or deep torch errors; and the checks of the values every public boundary shares:
``check_seed`` (seeds), ``check_device`` (device strings), ``check_index`` (index selections),
``check_finite_real`` (real numbers) and ``env_flag`` (boolean environment variables).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
import re
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
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


# ----------------------------------------------------------------------------- shared boundary values
SEED_LIMIT = 2**63  # seeds are non-negative and below 2**63 (torch's generators take int64 offsets of them)


def check_seed(name: str, value: object) -> int:
    """Return ``value`` as an ``int`` after checking it is an integer seed in ``[0, 2**63)``.

    Any bad seed, wrong type included (``bool``, ``float``, ``str`` ...), is a ``ValueError`` (the package's
    convention for seeds since its first release); NumPy integers are accepted and converted.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a non-negative int (below 2**63), got {type(value).__name__} {value!r}")
    value = int(value)
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value}")
    if value >= SEED_LIMIT:
        raise ValueError(f"{name} must be below 2**63 = {SEED_LIMIT}, got {value}")
    return value


_DEVICE_RE = re.compile(r"^(cpu|cuda|mps)(?::(\d+))?$")


def check_device(name: str, value: object) -> torch.device:
    """Return ``value`` (``str`` or ``torch.device``) as an available ``torch.device``.

    Accepted: ``"cpu"``, ``"cuda"``, ``"cuda:i"`` (``i`` below the number of GPUs), ``"mps"``
    (``"cpu:0"`` and ``"mps:0"`` too). Nothing is allocated: an unavailable device is a
    ``ValueError`` here, never a driver error later.

    Raises:
        TypeError: ``value`` is not a str or ``torch.device``.
        ValueError: an unknown device string, or a device this machine does not have.
    """
    if isinstance(value, torch.device):
        value = str(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, torch.device or None, got {type(value).__name__}")
    m = _DEVICE_RE.match(value)
    if m is None:
        raise ValueError(f"{name} must be 'auto', 'cuda[:i]', 'mps' or 'cpu', got {value!r}")
    kind, index = m.group(1), m.group(2)
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name} {value!r} requested but CUDA is not available; use 'auto' or 'cpu'")
        if index is not None and int(index) >= torch.cuda.device_count():
            raise ValueError(f"{name} {value!r} requested but this machine has {torch.cuda.device_count()} "
                             "CUDA device(s)")
    elif kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"{name} 'mps' requested but MPS is not available; use 'auto' or 'cpu'")
    if index is not None and kind != "cuda" and int(index) != 0:
        raise ValueError(f"{name} {value!r}: {kind} has only device index 0")
    return torch.device(value)


def check_index(name: str, idx: object, n: int) -> Tensor | slice:
    """Check a selection of ``n`` samples: a slice, a bool mask ``[n]`` or integer indices in ``[-n, n)``.

    Lists and tuples are read by the type of their elements: all ``bool`` is a mask, all integers
    are indices; anything else (floats, strings, a mix) is a ``TypeError``. Returns a slice or a
    CPU tensor (``torch.bool`` ``[n]`` or ``torch.int64`` ``[k]``).
    """
    if isinstance(idx, slice):
        return idx
    if isinstance(idx, (list, tuple)):
        if idx and all(isinstance(i, (bool, np.bool_)) for i in idx):
            idx = torch.tensor([bool(i) for i in idx], dtype=torch.bool)
        elif all(isinstance(i, numbers.Integral) and not isinstance(i, (bool, np.bool_)) for i in idx):
            idx = torch.tensor([int(i) for i in idx], dtype=torch.int64)
        else:
            kinds = sorted({type(i).__name__ for i in idx})
            raise TypeError(f"{name} must hold int indices or bools (not a mix), got elements of type {kinds}")
    if not isinstance(idx, Tensor):
        raise TypeError(f"{name} must be a Tensor, list of ints, list of bools or slice, got {type(idx).__name__}")
    if idx.dtype == torch.bool:
        if tuple(idx.shape) != (n,):
            raise ValueError(f"{name} as a bool mask must have shape [{n}], got {tuple(idx.shape)}")
        return idx
    if idx.dtype not in (torch.int64, torch.int32):  # uint8 would be read as a mask by torch: refused
        raise TypeError(f"{name} must hold int64 indices or bools, got dtype {idx.dtype}")
    if idx.dim() != 1:
        raise ValueError(f"{name} must be a 1-d tensor of indices, got shape {tuple(idx.shape)}")
    idx = idx.to(torch.int64)
    if idx.numel() and (int(idx.min()) < -n or int(idx.max()) >= n):
        raise ValueError(f"{name} must lie in [{-n}, {n - 1}], got values from {int(idx.min())} to {int(idx.max())}")
    return idx


def check_finite_real(name: str, value: object, minimum: float | None = None) -> float:
    """Return ``value`` as a ``float`` after checking it is a finite real number (``>= minimum`` if given)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{name} must be a finite number{bound}, got {value}")
    return value


def check_module(name: str, model: object) -> nn.Module:
    """``TypeError`` unless ``model`` is a ``torch.nn.Module``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module (a network), got {type(model).__name__}")
    return model


def check_label_batch(name: str, y: object, num_classes: int | None, values: bool = True) -> None:
    """Check a batch of labels from a duck-typed data set: int64 ``[B]`` with values in ``[0, num_classes)``
    (``num_classes=None``: only ``>= 0``). The value check (``values=True``) reads the device (a host
    sync on CUDA); dtype and shape are metadata. Data sets that validate their labels once (see
    :func:`labels_checked`) skip it."""
    if not isinstance(y, Tensor):
        raise TypeError(f"{name} labels must be torch.Tensors, got {type(y).__name__}")
    if y.dtype != torch.int64:
        raise TypeError(f"{name} labels must have dtype torch.int64, got {y.dtype}")
    if y.dim() != 1:
        raise ValueError(f"{name} labels must have shape [B], got {tuple(y.shape)}")
    if values and y.numel():
        lo, hi = int(y.min()), int(y.max())
        top = num_classes if num_classes is not None else None
        if lo < 0 or (top is not None and hi >= top):
            allowed = f"[0, {top - 1}]" if top is not None else "[0, ...)"
            raise ValueError(f"{name} labels must lie in {allowed}, got values from {lo} to {hi}")


def labels_checked(name: str, data: Any, num_classes: int | None) -> bool:
    """If ``data`` exposes its labels as ``data.labels`` (an int64 tensor, e.g. a ``CueSet``), check them
    all once (:func:`check_label_batch`) and return True: its batches need no per-batch check. Else False."""
    labels = getattr(data, "labels", None)
    if not isinstance(labels, Tensor):
        return False
    check_label_batch(name, labels, num_classes)
    return True


def check_data_labels(name: str, data: Any, num_classes: int | None, batch_size: int = 4096) -> None:
    """Check every label of a data set before it is used: once through ``data.labels`` when it has them
    (:func:`labels_checked`), else by one pass over ``data.batches`` (for code that cannot check batch
    by batch)."""
    if labels_checked(name, data, num_classes):
        return
    for _, y in data.batches(batch_size, shuffle=False):
        check_label_batch(name, y, num_classes)


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine (``None`` where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(what: str, nbytes: int) -> None:
    """``ValueError`` if ``nbytes`` (the size of what a call would allocate) exceeds the machine's physical
    memory: a bound that turns a request for terabytes into an error instead of an endless swap or a kill."""
    total = physical_memory()
    if total is not None and nbytes > total:
        raise ValueError(f"{what} would need {nbytes / 2**30:,.1f} GiB, more than this machine's "
                         f"{total / 2**30:,.1f} GiB of memory")


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def env_flag(name: str, default: bool = False) -> bool:
    """A boolean environment variable: ``1/true/yes/on`` or ``0/false/no/off`` (any case; unset or empty:
    ``default``); any other value is a ``ValueError`` naming the variable, never a silent ``False``."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return default if value == "" else False
    raise ValueError(f"environment variable {name} must be one of 1/true/yes/on or 0/false/no/off, got {raw!r}")


@contextmanager
def batchnorm_batch_guard(x: Tensor) -> Iterator[None]:
    """Turn torch's error for a train-mode BatchNorm that sees one value per channel (a batch of one
    image that the network reduces to 1x1) into a ``ValueError`` that names the batch and the way out."""
    try:
        yield
    except ValueError as err:
        if "Expected more than 1 value per channel" not in str(err):
            raise
        raise ValueError(f"a training batch of {x.shape[0]} image(s) of {tuple(x.shape[-2:])} pixels leaves a "
                         "train-mode BatchNorm layer one value per channel; use larger images, more than one "
                         "image per batch (another batch_size, or drop_last=True)") from err
