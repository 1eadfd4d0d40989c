"""The loss landscape on a 2-D plane through three networks.

Three states ``theta_0, theta_1, theta_2`` of one architecture span a plane in parameter space:
``theta(a, b) = theta_0 + a u + b v`` with ``u, v`` an orthonormal basis of
``span(theta_1 - theta_0, theta_2 - theta_0)`` (Gram-Schmidt over the *parameters* only; the
BatchNorm buffers are not coordinates of the plane). With ``theta_0 = theta_NC``,
``theta_1 = theta_C`` and ``theta_2`` the quadratic path's control point ``theta_m``, the plane
holds the straight line between the end points *and* the whole quadratic path (every point of
a Bezier curve is an affine combination of its control points).

Every grid point is evaluated like a point of a path: BatchNorm statistics reset and
re-estimated (cumulative average) on the same fixed batches of clean training images
(:func:`mmc_utils.paths.reestimate_bn_`), then loss and accuracy on each evaluation set.
:func:`load_or_evaluate_plane` stores the grids in the checkpoint store, keyed by the three
states' fingerprints, the grid and the data, so a re-run is instant.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .checks import check_config_fields, check_config_int, check_config_real, check_finite_state, check_seed
from .paths import Path, fixed_batches, reestimate_bn_, state_fingerprint
from .paths.curves import StateLike, as_state, check_compatible
from .runtime import pick_device, progress
from .scales import preset
from .store import load_or_train
from .train import evaluate

__all__ = ["Plane", "plane_through", "LandscapeConfig", "evaluate_plane", "load_or_evaluate_plane",
           "project_path", "set_fingerprint"]


@dataclasses.dataclass
class Plane:
    """An affine plane ``origin + a u + b v`` in parameter space.

    Attributes:
        origin: the full state at ``(0, 0)`` (its buffers are used where the plane has none).
        u, v: orthonormal directions (over ``keys``), ``{name: tensor}``.
        keys: the parameter names the plane spans (floating-point parameters).
    """

    origin: dict[str, Tensor]
    u: dict[str, Tensor]
    v: dict[str, Tensor]
    keys: tuple[str, ...]

    def point(self, a: float, b: float) -> dict[str, Tensor]:
        """The full state at plane coordinates ``(a, b)`` (buffers from ``origin``)."""
        out = {k: t.clone() for k, t in self.origin.items()}
        for k in self.keys:
            out[k] = self.origin[k] + a * self.u[k] + b * self.v[k]
        return out

    def coords(self, state: StateLike) -> tuple[float, float, float]:
        """``(a, b, residual)``: orthogonal projection of ``state``'s parameters onto the plane and the
        distance from the plane (0 for a state in it)."""
        s = as_state(state)
        d = {k: s[k].to(self.origin[k]).double() - self.origin[k].double() for k in self.keys}
        a = sum(float((d[k] * self.u[k].double()).sum()) for k in self.keys)
        b = sum(float((d[k] * self.v[k].double()).sum()) for k in self.keys)
        sq = sum(float(((d[k] - a * self.u[k].double() - b * self.v[k].double()) ** 2).sum()) for k in self.keys)
        return a, b, float(np.sqrt(max(sq, 0.0)))

    def basis_gram(self) -> np.ndarray:
        """The 2×2 Gram matrix of ``(u, v)`` (the identity for an orthonormal basis)."""
        vecs = [self.u, self.v]
        return np.array([[sum(float((x[k].double() * y[k].double()).sum()) for k in self.keys) for y in vecs]
                         for x in vecs])


def _dot(x: Mapping[str, Tensor], y: Mapping[str, Tensor], keys: Sequence[str]) -> float:
    return sum(float((x[k].double() * y[k].double()).sum()) for k in keys)


def plane_through(model: nn.Module, theta0: StateLike, theta1: StateLike, theta2: StateLike) -> Plane:
    """The plane through three states, origin ``theta0``, ``u`` towards ``theta1`` (Gram-Schmidt).

    Args:
        model: the architecture; its ``named_parameters`` name the plane's coordinates.
        theta0, theta1, theta2: states (or models) of that architecture.

    Raises:
        ValueError: incompatible states, or three (nearly) collinear points.
    """
    states = [as_state(s, f"theta{i}") for i, s in enumerate((theta0, theta1, theta2))]
    check_compatible(states, what="plane states")
    for i, s in enumerate(states):
        check_finite_state(f"theta{i}", s)
    keys = tuple(name for name, p in model.named_parameters() if p.is_floating_point())
    missing = [k for k in keys if k not in states[0]]
    if missing:
        raise ValueError(f"states lack the model's parameters {missing[:3]}")
    o = {k: v.detach().clone() for k, v in states[0].items()}
    d1 = {k: (states[1][k].detach().double() - o[k].double()) for k in keys}
    d2 = {k: (states[2][k].detach().double() - o[k].double()) for k in keys}
    n1 = np.sqrt(_dot(d1, d1, keys))
    if n1 == 0:
        raise ValueError("theta1 equals theta0: no direction")
    u = {k: d1[k] / n1 for k in keys}
    proj = _dot(d2, u, keys)
    w = {k: d2[k] - proj * u[k] for k in keys}
    n2 = np.sqrt(_dot(w, w, keys))
    if n2 <= 1e-6 * max(n1, np.sqrt(_dot(d2, d2, keys))):
        raise ValueError("the three states are collinear: they do not span a plane")
    v = {k: w[k] / n2 for k in keys}
    dtype = {k: o[k].dtype for k in keys}
    return Plane(o, {k: u[k].to(dtype[k]) for k in keys}, {k: v[k].to(dtype[k]) for k in keys}, keys)


@dataclasses.dataclass(frozen=True)
class LandscapeConfig:
    """Grid and evaluation budget of a plane.

    Attributes:
        grid: points per axis (``grid × grid`` networks evaluated).
        margin: the grid extends this fraction of the points' span beyond them on every side.
        n_per_set: images per evaluation set (the first ``n`` of each set).
        bn_batches, bn_batch_size: BatchNorm re-estimation budget at each grid point.
        batch_size: evaluation batch size.
    """

    grid: int = 9
    margin: float = 0.25
    n_per_set: int = 500
    bn_batches: int = 5
    bn_batch_size: int = 200
    batch_size: int = 500

    def __post_init__(self) -> None:
        for name, lo in (("grid", 2), ("n_per_set", 1), ("bn_batches", 1), ("bn_batch_size", 2), ("batch_size", 1)):
            check_config_int(name, getattr(self, name), lo)
        check_config_real("margin", self.margin, 0.0, np.inf, hi_open=True)

    @classmethod
    def for_scale(cls, scale: str | None = None, **overrides: Any) -> "LandscapeConfig":
        """smoke: 3×3 grid, 100 images per set; book: 9×9, 500; paper: 21×21, 2,000 (BN: 20 batches)."""
        check_config_fields(cls, overrides)
        return cls(**{**preset(_PRESETS, scale), **overrides})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(grid=3, n_per_set=100, bn_batches=1, bn_batch_size=100),
    "book": dict(grid=9, n_per_set=500, bn_batches=5, bn_batch_size=200),
    "paper": dict(grid=21, n_per_set=2000, bn_batches=20, bn_batch_size=256),
}


def _axis(values: Sequence[float], grid: int, margin: float) -> np.ndarray:
    lo, hi = min(values), max(values)
    pad = margin * (hi - lo)
    return np.linspace(lo - pad, hi + pad, grid)


def evaluate_plane(model: nn.Module, plane: Plane, sets: Mapping[str, Any], alphas: Sequence[float],
                   betas: Sequence[float], *, bn_data: Any, bn_batches: int = 5, bn_batch_size: int = 200,
                   batch_size: int = 500, seed: int = 0, device: str | torch.device | None = None,
                   desc: str = "plane") -> dict[str, np.ndarray]:
    """Loss and accuracy of ``plane.point(a, b)`` for every ``a`` in ``alphas``, ``b`` in ``betas``.

    BatchNorm is re-estimated at every point on the same fixed batches of ``bn_data``.

    Returns:
        ``{"alphas": [A], "betas": [B], "loss/<set>": [B, A], "acc/<set>": [B, A] (fraction)}``
        (rows: b, columns: a, the layout of ``plt.contourf(alphas, betas, z)``).
    """
    if not isinstance(plane, Plane):
        raise TypeError(f"plane must be a Plane (see plane_through), got {type(plane).__name__}")
    if not isinstance(sets, Mapping) or not sets:
        raise ValueError(f"sets must be a non-empty mapping name -> data set, got {sets!r}")
    for name, values in (("alphas", alphas), ("betas", betas)):
        try:
            arr = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            arr = np.empty(0)
        if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
            raise ValueError(f"{name} must be a non-empty sequence of finite numbers, got {values!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    check_compatible([dict(model.state_dict()), plane.origin], what="model and plane")
    seed = check_seed("seed", seed)
    dev = pick_device(device)
    net = copy.deepcopy(model).to(dev)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
    batches = fixed_batches(bn_data, bn_batches, bn_batch_size, seed, dev) if has_bn else None
    A, B = np.asarray(alphas, float), np.asarray(betas, float)
    out = {"alphas": A, "betas": B}
    for name in sets:
        out[f"loss/{name}"] = np.zeros((len(B), len(A)))
        out[f"acc/{name}"] = np.zeros((len(B), len(A)))
    grid = [(i, j) for i in range(len(B)) for j in range(len(A))]
    for i, j in progress(grid, desc=desc, total=len(grid)):
        net.load_state_dict({k: v.to(dev) for k, v in plane.point(float(A[j]), float(B[i])).items()})
        if batches is not None:
            reestimate_bn_(net, batches)
        for name, ds in sets.items():
            r = evaluate(net, ds, batch_size)
            out[f"loss/{name}"][i, j], out[f"acc/{name}"][i, j] = r["loss"], r["acc"]
    return out


def set_fingerprint(ds: Any) -> str:
    """A short identity of a :class:`~mmc_utils.data.CueSet` (images, labels, cue labels, cue) for cache keys."""
    h = hashlib.sha256(state_fingerprint({"images": ds.images, "labels": ds.labels,
                                          "cue_labels": ds.cue_labels}).encode())
    h.update(repr(ds.cue).encode())
    return h.hexdigest()[:32]


def load_or_evaluate_plane(model: nn.Module, theta0: StateLike, theta1: StateLike, theta2: StateLike,
                           sets: Mapping[str, Any], *, bn_data: Any, config: LandscapeConfig | None = None,
                           seed: int = 0, device: str | torch.device | None = None, store: Any = None,
                           desc: str = "plane") -> tuple[Plane, dict[str, np.ndarray], dict]:
    """The plane through ``theta0, theta1, theta2`` and its grids, through the checkpoint store.

    The grid covers the three points with ``config.margin`` to spare; each set is cut to its
    first ``config.n_per_set`` images. The key holds the three states' fingerprints, the sets'
    and the BN data's fingerprints, the config and the seed.

    Returns:
        ``(plane, grids, meta)``: ``grids`` as in :func:`evaluate_plane` plus ``"points"`` ``[3, 2]``
        (the plane coordinates of the three states); ``meta["cached"]`` tells whether it was loaded.
    """
    if config is not None and not isinstance(config, LandscapeConfig):
        raise TypeError(f"config must be a LandscapeConfig or None, got {type(config).__name__}")
    config = config or LandscapeConfig()
    seed = check_seed("seed", seed)
    pick_device(device)  # a bad device fails before the cache is looked at
    if not isinstance(sets, Mapping) or not sets or not all(hasattr(ds, "subset") for ds in sets.values()):
        raise TypeError("sets must be a non-empty mapping name -> CueSet (data sets with subset())")
    plane = plane_through(model, theta0, theta1, theta2)
    pts = np.array([plane.coords(s)[:2] for s in (theta0, theta1, theta2)])
    alphas = _axis(pts[:, 0], config.grid, config.margin)
    betas = _axis(pts[:, 1], config.grid, config.margin)
    small = {k: ds.subset(torch.arange(min(config.n_per_set, len(ds)))) for k, ds in sets.items()}
    key = {"kind": "loss_plane", "states": [state_fingerprint(s) for s in (theta0, theta1, theta2)],
           "sets": {k: set_fingerprint(ds) for k, ds in small.items()}, "bn_data": set_fingerprint(bn_data),
           "config": config.to_dict(), "seed": seed}

    def compute() -> tuple[dict[str, Tensor], dict]:
        grids = evaluate_plane(model, plane, small, alphas, betas, bn_data=bn_data, bn_batches=config.bn_batches,
                               bn_batch_size=config.bn_batch_size, batch_size=config.batch_size, seed=seed,
                               device=device, desc=desc)
        return {k: torch.as_tensor(v) for k, v in grids.items()}, {"sets": list(small)}

    tensors, meta = load_or_train(key, compute, store=store, device="cpu", desc=desc)
    grids = {k: v.numpy() for k, v in tensors.items()}
    grids["points"] = pts
    return plane, grids, meta


def project_path(plane: Plane, path: Path, ts: Sequence[float]) -> np.ndarray:
    """Plane coordinates ``[T, 3]`` (a, b, residual distance) of ``path`` at each ``t``."""
    return np.array([plane.coords(path.point(float(t))) for t in ts])
