"""The theory in miniature: one-hidden-layer ReLU networks on a 2-D toy problem.

The data have two attributes that both predict a label ``y`` in {-1, +1}:

- a *simple* (linear) attribute, the first coordinate: ``x1 > 0`` for ``y = +1``, ``x1 < 0``
  for ``y = -1`` (a margin of 0.15 around 0);
- a *complex* (slab, or band) attribute, the second coordinate: ``|x2| < 0.25`` for
  ``y = +1``, ``|x2| > 0.5`` for ``y = -1``. No single ReLU unit computes it.

The network is ``f(x) = sum_j a_j relu(w_j . x + b_j) + c`` (:class:`OneHiddenReLU`), trained
with the squared loss on the targets ``y``, so that a minimizer can *interpolate*: zero loss on
every training point. Its *activation pattern* on a data set is the boolean matrix
``[N, H]``, ``relu`` active or not for every sample and hidden unit
(:func:`activation_patterns`).

The paper's theoretical setting (its appendix) is a one-hidden-layer ReLU network with a
*fixed* read-out; this module trains the read-out ``a, c`` too. That is the book's variant:
the statement below is proved for it in chapter 3, not taken from the paper.

The statement proved for this setting (see the book, chapter 3): if two interpolating
networks are linearly connected with zero loss barrier on D, then, generically, their
activation patterns on D are identical. Hidden units can be permuted without changing the
function, so "up to permutation" means: identical after matching units. :func:`best_matching`
finds the permutation that maximises the number of agreeing (sample, unit) entries with the
Hungarian algorithm; if even the best permutation leaves a disagreement, no permutation
makes the patterns identical, and the two networks cannot be linearly connected under any
permutation.

This module only depends on torch, SciPy and :mod:`mmc_utils.paths` (the linear path and
the barrier), and runs in seconds.
"""
from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn
from torch.func import functional_call

from .checks import check_config_real, check_finite, check_int, check_seed
from .paths import LinearPath, barrier, default_ts
from .runtime import make_generator

__all__ = [
    "ATTRIBUTES", "OneHiddenReLU", "attribute_values", "make_toy_data", "randomise_attribute", "train_toy",
    "toy_loss", "toy_accuracy", "activation_patterns", "pattern_agreement", "agreement_matrix",
    "best_matching", "match_hidden", "permute_hidden", "path_losses", "linear_barrier", "switching_fraction",
]

ATTRIBUTES: tuple[str, ...] = ("linear", "slab")
LINEAR_MARGIN = 0.15
SLAB_INNER, SLAB_OUTER = 0.25, 0.5


def _check_attribute(name: str) -> str:
    if name not in ATTRIBUTES:
        raise ValueError(f"attribute must be one of {ATTRIBUTES}, got {name!r}")
    return name


def attribute_values(attribute: str, labels: Tensor, generator: torch.Generator) -> Tensor:
    """Values of one attribute drawn for the classes ``labels`` (in {-1, +1}), float ``[N]``.

    ``"linear"``: ``label * U(0.15, 1)``. ``"slab"``: ``U(-0.25, 0.25)`` for +1, ``±U(0.5, 1)``
    (random sign) for -1.
    """
    _check_attribute(attribute)
    n = labels.shape[0]
    u = torch.rand(n, generator=generator)
    if attribute == "linear":
        return labels.float() * (LINEAR_MARGIN + (1 - LINEAR_MARGIN) * u)
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    inside = SLAB_INNER * (2 * u - 1)
    outside = sign * (SLAB_OUTER + (1 - SLAB_OUTER) * u)
    return torch.where(labels > 0, inside, outside)


def _random_labels(n: int, generator: torch.Generator) -> Tensor:
    return torch.where(torch.rand(n, generator=generator) < 0.5, -1, 1).long()


def make_toy_data(n: int, predictive: Sequence[str] = ATTRIBUTES, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` points ``X [n, 2]`` (x1 linear attribute, x2 slab) and labels ``y [n]`` in {-1, +1}.

    Args:
        n: number of points (balanced classes, alternating).
        predictive: the attributes that follow the label; the others are drawn for a random
            class, independently of the label. ``("linear", "slab")``: the joint data D.
        seed: seeds every draw.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    predictive = tuple(_check_attribute(a) for a in predictive)
    g = make_generator(check_seed("seed", seed))
    y = torch.where(torch.arange(n) % 2 == 0, 1, -1).long()
    cols = [attribute_values(a, y if a in predictive else _random_labels(n, g), g) for a in ATTRIBUTES]
    return torch.stack(cols, 1), y


def randomise_attribute(X: Tensor, attribute: str, seed: int = 0) -> Tensor:
    """A unit intervention on the toy data: ``attribute`` redrawn for a random class, the other kept."""
    j = ATTRIBUTES.index(_check_attribute(attribute))
    g = make_generator(check_seed("seed", seed) + 7919)
    out = X.clone()
    out[:, j] = attribute_values(attribute, _random_labels(X.shape[0], g), g)
    return out


class OneHiddenReLU(nn.Module):
    """``f(x) = out(relu(hidden(x)))``: 2 inputs, ``width`` ReLU units, one output."""

    def __init__(self, width: int = 32, in_dim: int = 2) -> None:
        super().__init__()
        self.hidden = nn.Linear(in_dim, width)
        self.out = nn.Linear(width, 1)

    @property
    def width(self) -> int:
        return self.hidden.out_features

    def forward(self, x: Tensor) -> Tensor:
        return self.out(torch.relu(self.hidden(x))).squeeze(-1)


def _check_xy(X: object, y: object, in_dim: int | None = 2, pm_one: bool = False) -> None:
    """``X``: finite float ``[N, in_dim]``; ``y``: ``[N]`` (``pm_one``: values in {-1, +1})."""
    shape = tuple(X.shape) if isinstance(X, Tensor) else type(X).__name__
    if not isinstance(X, Tensor) or not X.is_floating_point() or X.dim() != 2 or (in_dim and X.shape[1] != in_dim):
        raise ValueError(f"X must have shape [N, {in_dim or 'D'}] (a float tensor), got {shape}")
    check_finite("X", X)
    if not isinstance(y, Tensor) or tuple(y.shape) != (X.shape[0],):
        raise ValueError(f"y must have shape [{X.shape[0]}] (one target per row of X), got "
                         f"{tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__}")
    if pm_one and not bool(((y == 1) | (y == -1)).all()):
        raise ValueError(f"y values must be -1 or +1, got {sorted(set(y.tolist()))[:5]}")


def _in_dim(model: nn.Module) -> int | None:
    return model.hidden.in_features if isinstance(model, OneHiddenReLU) else None


def toy_loss(model: nn.Module, X: Tensor, y: Tensor, state: dict | None = None) -> float:
    """Mean squared error of ``model`` (or of ``state`` run through it) against the targets ``y``."""
    _check_xy(X, y, _in_dim(model))
    with torch.no_grad():
        out = model(X) if state is None else functional_call(model, state, (X,))
        return float(((out - y.float()) ** 2).mean())


def toy_accuracy(model: nn.Module, X: Tensor, y: Tensor) -> float:
    """Fraction of points with ``sign(f(x)) == y``."""
    _check_xy(X, y, _in_dim(model))
    with torch.no_grad():
        return float((torch.where(model(X) > 0, 1, -1) == y).float().mean())


def train_toy(X: Tensor, y: Tensor, width: int = 32, seed: int = 0, steps: int = 3000,
              lr: float = 0.01) -> OneHiddenReLU:
    """Full-batch Adam on the squared loss to the targets ``y`` (in {-1, +1}); a model in eval mode.

    A few thousand steps drive the loss to ~1e-4 or below on a few hundred points (an
    interpolating minimum, up to optimisation precision).
    """
    _check_xy(X, y, 2, pm_one=True)
    check_int("width", width, minimum=1)
    check_int("steps", steps, minimum=1)
    seed = check_seed("seed", seed)
    check_config_real("lr", lr, 0.0, float("inf"), lo_open=True, hi_open=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and it leaves the other cores free
    try:
        torch.manual_seed(seed)
        model = OneHiddenReLU(width)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        target = y.float()
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = ((model(X) - target) ** 2).mean()
            loss.backward()
            opt.step()
            sched.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def activation_patterns(model: OneHiddenReLU, X: Tensor, state: dict | None = None) -> Tensor:
    """Bool ``[N, H]``: whether each hidden unit is active (pre-activation > 0) on each point."""
    with torch.no_grad():
        if state is None:
            pre = model.hidden(X)
        else:
            pre = X @ state["hidden.weight"].T + state["hidden.bias"]
        return pre > 0


def pattern_agreement(p1: Tensor, p2: Tensor) -> float:
    """Fraction of (point, unit) entries on which two patterns ``[N, H]`` agree (units in the given order)."""
    if p1.shape != p2.shape or p1.dtype != torch.bool or p2.dtype != torch.bool:
        raise ValueError(f"patterns must be bool tensors of one shape, got {p1.shape}, {p2.shape}")
    return float((p1 == p2).float().mean())


def agreement_matrix(p1: Tensor, p2: Tensor) -> Tensor:
    """``M[j, k]``: number of points on which unit ``j`` of pattern 1 and unit ``k`` of pattern 2 agree."""
    if p1.shape[0] != p2.shape[0] or p1.dtype != torch.bool or p2.dtype != torch.bool:
        raise ValueError("patterns must be bool tensors [N, H] over the same points")
    a, b = p1.float(), p2.float()
    return a.T @ b + (1 - a).T @ (1 - b)


def best_matching(p1: Tensor, p2: Tensor, similarity: Tensor | None = None) -> tuple[Tensor, float]:
    """The permutation of pattern 2's units that maximises agreement with pattern 1 (Hungarian).

    Args:
        p1, p2: bool activation patterns ``[N, H]`` on the same points.
        similarity: optional ``[H, H]`` scores in [-1, 1] that only break ties between matchings of
            equal agreement (e.g. units that are inactive on every point): they are scaled so that
            together they never outweigh one agreeing entry.

    Returns:
        ``(perm, agreement)``: unit ``perm[j]`` of the second network is matched to unit ``j`` of
        the first, and ``agreement = pattern_agreement(p1, p2[:, perm])`` is the maximum over all
        permutations. ``agreement < 1`` means no permutation makes the patterns identical.
    """
    if p1.shape != p2.shape:
        raise ValueError(f"patterns must have one shape, got {tuple(p1.shape)} and {tuple(p2.shape)}")
    m = agreement_matrix(p1, p2).double()
    if similarity is not None:
        if similarity.shape != m.shape:
            raise ValueError(f"similarity must have shape {tuple(m.shape)}, got {tuple(similarity.shape)}")
        m = m + similarity.double().clamp(-1, 1) * (0.5 / m.shape[0])
    rows, cols = linear_sum_assignment(m.numpy(), maximize=True)
    perm = torch.empty(p1.shape[1], dtype=torch.long)
    perm[torch.from_numpy(rows.astype(np.int64))] = torch.from_numpy(cols.astype(np.int64))
    return perm, pattern_agreement(p1, p2[:, perm])


def match_hidden(reference: OneHiddenReLU, other: OneHiddenReLU, X: Tensor) -> tuple[Tensor, float]:
    """:func:`best_matching` of two networks' patterns on ``X``, ties broken by pre-activation distance.

    Among matchings of equal pattern agreement, the one pairing units with the closest
    pre-activations on ``X`` (Euclidean, in float64) wins, so a shuffled copy is matched exactly.
    Returns ``(perm, agreement)``; ``permute_hidden(other, perm)`` is ``other`` aligned to ``reference``.
    """
    with torch.no_grad():
        z1, z2 = reference.hidden(X).double(), other.hidden(X).double()
    dist = torch.cdist(z1.T, z2.T)
    similarity = 1 - dist / dist.max().clamp_min(1e-12)
    return best_matching(activation_patterns(reference, X), activation_patterns(other, X), similarity=similarity)


def permute_hidden(model: OneHiddenReLU, perm: Tensor) -> OneHiddenReLU:
    """A copy of ``model`` whose hidden unit ``j`` is the original's unit ``perm[j]`` (same function)."""
    perm = torch.as_tensor(perm, dtype=torch.long)
    if sorted(perm.tolist()) != list(range(model.width)):
        raise ValueError(f"perm must be a permutation of range({model.width})")
    new = copy.deepcopy(model)
    with torch.no_grad():
        new.hidden.weight.copy_(model.hidden.weight[perm])
        new.hidden.bias.copy_(model.hidden.bias[perm])
        new.out.weight.copy_(model.out.weight[:, perm])
    return new


def path_losses(start: nn.Module, end: nn.Module, X: Tensor, y: Tensor,
                ts: Sequence[float] | None = None) -> tuple[list[float], list[float]]:
    """``(ts, losses)``: squared loss on ``(X, y)`` along the straight line ``start`` (t=0) → ``end`` (t=1)."""
    ts = default_ts(41) if ts is None else list(ts)
    path = LinearPath(start.state_dict(), end.state_dict())
    return ts, [toy_loss(start, X, y, path.point(t)) for t in ts]


def linear_barrier(start: nn.Module, end: nn.Module, X: Tensor, y: Tensor,
                   ts: Sequence[float] | None = None) -> float:
    """Loss barrier (squared loss) of the straight line between two toy networks on ``(X, y)``."""
    return barrier(*path_losses(start, end, X, y, ts))


def switching_fraction(start: OneHiddenReLU, end: OneHiddenReLU, X: Tensor) -> float:
    """Fraction of (point, unit) pairs whose activation differs between the two ends, units as ordered.

    Along the straight line each pre-activation is linear in t, so exactly these pairs switch
    once on the way (at ``t* = z_0 / (z_0 - z_1)``): each switch puts a kink in the output
    unless the unit's outgoing weight is zero there or another switch cancels it.
    """
    return 1.0 - pattern_agreement(activation_patterns(start, X), activation_patterns(end, X))
