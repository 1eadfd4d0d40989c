"""Paths between trained networks: curves, BatchNorm handling, evaluation, barriers, midpoints.

Parameters are data: a point of a path is a state dict ``name -> tensor`` run through
``torch.func.functional_call``, so gradients flow through ``gamma(t)`` by autograd.
Orientation (as in the book): ``gamma(0) = start`` = theta_2 and ``gamma(1) = end`` = theta_1.

- :mod:`.curves`: :class:`LinearPath`, :class:`BezierPath` (quadratic = ``[start, mid, end]``),
  :class:`PolygonalChain`; ``path.point(t)`` and stacked ``path.points(ts)``.
- :mod:`.bn`: BatchNorm re-estimation (cumulative average over fixed, seeded batches).
- :mod:`.evaluate`: :func:`evaluate_path` (tidy table t, set, loss, acc, err), :func:`model_at`.
- :mod:`.barriers`: :func:`barrier`, :func:`barriers`, :func:`connected`.
- :mod:`.midpoint`: :func:`train_midpoint`, :func:`load_or_train_midpoint`.
- :mod:`.config`: :class:`PathConfig` presets per scale.
"""
from .barriers import barrier, barriers, connected
from .bn import BN_MODES, batchnorm_modules, fixed_batches, reestimate_bn_, reestimate_bn_stacked
from .config import PathConfig
from .curves import BezierPath, LinearPath, Path, PolygonalChain, State, as_state, default_ts
from .evaluate import METHODS, evaluate_path, model_at, subsample_sets
from .midpoint import MidpointState, load_or_train_midpoint, state_fingerprint, train_midpoint

__all__ = [
    "Path", "LinearPath", "BezierPath", "PolygonalChain", "State", "as_state", "default_ts",
    "BN_MODES", "batchnorm_modules", "fixed_batches", "reestimate_bn_", "reestimate_bn_stacked",
    "METHODS", "evaluate_path", "model_at", "subsample_sets",
    "barrier", "barriers", "connected",
    "MidpointState", "train_midpoint", "load_or_train_midpoint", "state_fingerprint",
    "PathConfig",
]
