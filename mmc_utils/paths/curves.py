"""Curves in parameter space: linear, Bezier and polygonal paths between trained models.

A *state* is a dict ``name -> tensor`` holding every entry of a model's ``state_dict``
(parameters and buffers). A path is a fixed linear combination of control states,

    gamma(t) = sum_k c_k(t) * P_k,     t in [0, 1],

with coefficients ``c(t)`` that sum to one. Orientation (as in the book): ``gamma(0)`` is the
first control state, ``start`` = theta_2, and ``gamma(1)`` the last, ``end`` = theta_1, so the
linear path is ``gamma(t) = t * theta_1 + (1 - t) * theta_2``.

Floating-point entries (weights and float buffers such as BatchNorm running statistics) are
combined; every other entry (integer buffers such as ``num_batches_tracked``) is copied from
``start``. Everything is plain autograd: ``point(t)`` is differentiable in ``t`` (a 0-d tensor
with ``requires_grad``) and in the control states' tensors.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..checks import check_finite_state

__all__ = ["State", "as_state", "check_t", "check_ts", "default_ts", "Path", "BezierPath", "LinearPath",
           "PolygonalChain"]

State = dict[str, Tensor]
StateLike = Mapping[str, Tensor] | nn.Module


def as_state(obj: Any, name: str = "state") -> State:
    """A state dict ``name -> tensor`` from an ``nn.Module`` (its detached ``state_dict``) or a mapping.

    Tensors of a mapping are kept as they are (so gradients can flow into them).

    Raises:
        TypeError: if ``obj`` is neither, or a value is not a tensor.
    """
    if isinstance(obj, nn.Module):
        return dict(obj.state_dict())
    if not isinstance(obj, Mapping):
        raise TypeError(f"{name} must be an nn.Module or a mapping name -> tensor, got {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(v, Tensor)]
    if bad:
        raise TypeError(f"{name} must map names to tensors; {bad[:3]} are not tensors")
    return dict(obj)


def check_compatible(states: Sequence[State], what: str = "models") -> None:
    """Raise ``ValueError`` unless all states have the same names, shapes and dtype kinds."""
    ref = states[0]
    for i, s in enumerate(states[1:], start=1):
        if s.keys() != ref.keys():
            missing, extra = sorted(ref.keys() - s.keys()), sorted(s.keys() - ref.keys())
            raise ValueError(f"{what} of different shape: point {i} lacks {missing[:3]} and has extra "
                             f"{extra[:3]} compared with point 0")
        for k, v in s.items():
            if v.shape != ref[k].shape:
                raise ValueError(f"{what} of different shape: {k!r} is {tuple(v.shape)} in point {i} "
                                 f"but {tuple(ref[k].shape)} in point 0")
            if v.is_floating_point() != ref[k].is_floating_point():
                raise ValueError(f"{what} of different dtype: {k!r} is {v.dtype} in point {i} "
                                 f"but {ref[k].dtype} in point 0")


def check_t(t: Any) -> Tensor | float:
    """Validate a path coordinate: a real number or 0-d floating tensor in [0, 1].

    Returns ``t`` unchanged (a Python float for numbers).

    Raises:
        TypeError: not a number or tensor; ValueError: not 0-d, not finite, or outside [0, 1].
    """
    if isinstance(t, Tensor):
        if t.dim() != 0:
            raise ValueError(f"t must be a float or a 0-d tensor, got a tensor of shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise TypeError(f"t must be a floating tensor, got dtype {t.dtype}")
        value = float(t.detach())
    elif isinstance(t, bool) or not isinstance(t, (int, float)):
        raise TypeError(f"t must be a float in [0, 1] or a 0-d tensor, got {type(t).__name__}")
    else:
        value = t = float(t)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"t must lie in [0, 1], got {value!r}")
    return t


def check_ts(ts: Any) -> list[float]:
    """Validate a grid of path coordinates; returns a non-empty list of floats in [0, 1]."""
    if isinstance(ts, Tensor):
        ts = ts.detach().reshape(-1).tolist()
    try:
        out = [float(check_t(t)) for t in ts]
    except TypeError:
        raise TypeError(f"ts must be a sequence of floats in [0, 1], got {ts!r}") from None
    if not out:
        raise ValueError("ts must contain at least one t in [0, 1]")
    return out


def default_ts(n: int = 11) -> list[float]:
    """``n`` evenly spaced t in [0, 1] with exact end points (``n = 11``: 0, 0.1, ..., 1)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    return [k / (n - 1) for k in range(n)]


class Path:
    """A path ``gamma(t) = sum_k c_k(t) P_k`` through control states ``P_0 .. P_{K-1}``.

    ``gamma(0) = P_0 = start`` (theta_2) and ``gamma(1) = P_{K-1} = end`` (theta_1).
    Subclasses define :meth:`coefficients`.

    Args:
        points: at least two states (``nn.Module`` or mapping name -> tensor) with the same
            names and shapes.

    Raises:
        ValueError: fewer than two points, or models of different shape.
    """

    min_points = 2

    def __init__(self, points: Sequence[StateLike]) -> None:
        if isinstance(points, (Mapping, nn.Module)) or not isinstance(points, Sequence):
            raise TypeError(f"points must be a sequence of states, got {type(points).__name__}")
        if len(points) < self.min_points:
            raise ValueError(f"points must hold at least {self.min_points} states, got {len(points)}")
        states = [as_state(p, f"points[{i}]") for i, p in enumerate(points)]
        check_compatible(states)
        for i, s in enumerate(states):
            check_finite_state(f"points[{i}]", s)
        self._points: tuple[State, ...] = tuple(states)
        self.float_keys: tuple[str, ...] = tuple(k for k, v in states[0].items() if v.is_floating_point())

    # ------------------------------------------------------------------ structure
    @property
    def control_points(self) -> tuple[State, ...]:
        """The control states ``P_0 .. P_{K-1}``."""
        return self._points

    @property
    def start(self) -> State:
        """``gamma(0)`` = theta_2."""
        return self._points[0]

    @property
    def end(self) -> State:
        """``gamma(1)`` = theta_1."""
        return self._points[-1]

    def to(self, device: str | torch.device) -> "Path":
        """A copy of the path with every control state on ``device`` (tensors shared if already there)."""
        new = copy.copy(self)
        new._points = tuple({k: v.to(device) for k, v in p.items()} for p in self._points)
        return new

    def coefficients(self, t: Tensor) -> Tensor:
        """Weights of the control points: ``t`` of shape ``[]`` or ``[T]`` -> ``[K]`` or ``[T, K]``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ evaluation
    def _combine(self, c: Tensor) -> State:
        """``sum_k c[..., k] P_k`` for float entries; other entries from ``start``.

        ``c``: ``[K]`` (one point, entries shaped like the state) or ``[T, K]`` (entries ``[T, ...]``).
        """
        out: State = {}
        stacked = c.dim() == 2
        for name, ref in self.start.items():
            if name in self.float_keys:
                w = c.to(ref.dtype)
                acc = None
                for k, p in enumerate(self._points):
                    wk = w[..., k].reshape((-1,) + (1,) * ref.dim()) if stacked else w[k]
                    term = wk * p[name]
                    acc = term if acc is None else acc + term
                out[name] = acc
            else:
                out[name] = ref.expand((c.shape[0],) + ref.shape).clone() if stacked else ref.clone()
        return out

    def point(self, t: float | Tensor) -> State:
        """The state ``gamma(t)``, differentiable in ``t`` and in the control states.

        Args:
            t: a float in [0, 1] or a 0-d floating tensor (possibly with ``requires_grad``).

        Raises:
            ValueError: ``t`` outside [0, 1]; TypeError: ``t`` not a number.
        """
        t = check_t(t)
        tt = t if isinstance(t, Tensor) else torch.tensor(t, dtype=self._coef_dtype())
        return self._combine(self.coefficients(tt.to(self._device())))

    def points(self, ts: Sequence[float] | Tensor) -> State:
        """The states at every ``t`` in ``ts``, stacked: entries ``[T, ...]`` (for ``torch.func.vmap``)."""
        ts = check_ts(ts)
        return self._combine(self.coefficients(torch.tensor(ts, dtype=self._coef_dtype(), device=self._device())))

    def _device(self) -> torch.device:
        return next(iter(self.start.values())).device

    def _coef_dtype(self) -> torch.dtype:
        # coefficients of float t are computed in float64 (MPS has none) and cast per entry
        return torch.float32 if self._device().type == "mps" else torch.float64

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self._points)} points, {len(self.start)} entries)"


def _powers(x: Tensor, n: int) -> list[Tensor]:
    """``[x**0, ..., x**n]`` by repeated products (finite gradients at ``x = 0``, unlike ``pow``)."""
    out = [torch.ones_like(x)]
    for _ in range(n):
        out.append(out[-1] * x)
    return out


class BezierPath(Path):
    """Bezier curve of order ``K-1`` with control states ``points``:
    ``gamma(t) = sum_k binom(K-1, k) t^k (1-t)^(K-1-k) P_k``.

    ``BezierPath([start, mid, end])`` is the paper's quadratic path
    ``gamma(t) = (1-t)^2 theta_2 + 2t(1-t) theta_m + t^2 theta_1`` with ``start`` = theta_2 at
    ``t = 0`` and ``end`` = theta_1 at ``t = 1``; the curve passes through ``start`` and ``end``
    only, not through interior control points.
    """

    def coefficients(self, t: Tensor) -> Tensor:
        n = len(self._points) - 1
        tp, sp = _powers(t, n), _powers(1 - t, n)
        return torch.stack([math.comb(n, k) * tp[k] * sp[n - k] for k in range(n + 1)], dim=-1)


class LinearPath(BezierPath):
    """The straight line ``gamma(t) = (1 - t) * start + t * end`` (``start`` = theta_2, ``end`` = theta_1)."""

    def __init__(self, start: StateLike, end: StateLike) -> None:
        super().__init__([start, end])


class PolygonalChain(Path):
    """Piecewise-linear path through ``points`` at evenly spaced knots ``t_k = k / (K - 1)``.

    ``gamma(t_k) = P_k`` exactly; between knots it is linear. The derivative in ``t`` at a knot is
    not defined (autograd returns 0 there).
    """

    def coefficients(self, t: Tensor) -> Tensor:
        k = len(self._points) - 1
        u = (t * k).unsqueeze(-1)
        knots = torch.arange(k + 1, dtype=t.dtype, device=t.device)
        return (1 - (u - knots).abs()).clamp_min(0)
