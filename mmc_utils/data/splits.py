"""Index arithmetic of the data sets: stratified splits, the per-class cue rule, derangements.

All functions are vectorised over samples (loops run at most over classes) and draw
randomness only from the generator they are given.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..checks import check_fraction, check_int, check_labels


def _class_labels(labels: object) -> Tensor:
    """Class labels for index arithmetic: an int64 ``[N]`` tensor of non-negative values."""
    if isinstance(labels, Tensor) and labels.dim() != 1:
        raise ValueError(f"labels must have shape [N], got {tuple(labels.shape)}")
    n = labels.shape[0] if isinstance(labels, Tensor) else 0
    return check_labels("labels", labels, n, 0, 2**62)


def rank_in_class(labels: Tensor) -> Tensor:
    """Position of each sample among the samples of its class, in the order given.

    Args:
        labels: int64 ``[N]`` non-negative.

    Returns:
        int64 ``[N]``: ``r[i]`` = number of ``j < i`` with ``labels[j] == labels[i]``.
    """
    n = _class_labels(labels).shape[0]
    if n == 0:
        return labels.clone()
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(labels)
    rank[order] = torch.arange(n, device=labels.device) - starts[labels[order]]
    return rank


def first_fraction_per_class(labels: Tensor, p: float) -> Tensor:
    """The paper's cue rule: per class, the first ``floor(n_c * p)`` samples (in the given order).

    Args:
        labels: int64 ``[N]`` class labels.
        p: fraction in [0, 1] (``ValueError`` otherwise). ``n_c * p`` is floored after adding
            1e-9, so that e.g. ``100 * 0.29`` counts as 29, not 28.

    Returns:
        bool ``[N]``: True for the selected (cued) samples.
    """
    p = check_fraction("p", p)
    _class_labels(labels)
    if labels.shape[0] == 0:
        return torch.zeros(0, dtype=torch.bool, device=labels.device)
    counts = torch.bincount(labels)
    quota = torch.floor(counts.double() * p + 1e-9).long()
    return rank_in_class(labels) < quota[labels]


def stratified_split(labels: Tensor, n_first: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Split sample indices at random into two disjoint parts with the class proportions kept.

    Each class ``c`` of ``n_c`` samples gives ``floor(n_first * n_c / N)`` samples to the
    first part; the remaining places go, one each, to the classes with the largest
    fractional remainders (ties to the smaller class index).

    Args:
        labels: int64 ``[N]`` class labels (CPU).
        n_first: size of the first part, ``0 <= n_first <= N``.
        generator: CPU generator for the random order.

    Returns:
        ``(first, rest)``: int64 index tensors of sizes ``n_first`` and ``N - n_first``, each
        in random order, disjoint, together covering ``range(N)``.
    """
    n = _class_labels(labels).shape[0]
    n_first = check_int("n_first", n_first, minimum=0, maximum=n)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator (the split is drawn from it alone), "
                        f"got {type(generator).__name__}")
    perm = torch.randperm(n, generator=generator)
    if n == 0:
        return perm, perm
    lab = labels.cpu()[perm]
    counts = torch.bincount(lab)
    exact = counts.double() * n_first / n
    quota = torch.floor(exact).long()
    short = n_first - int(quota.sum())
    if short:
        quota[torch.argsort(quota - exact, stable=True)[:short]] += 1        # largest remainder first
    first = rank_in_class(lab) < quota[lab]
    return perm[first], perm[~first]


def derangement(n: int, generator: torch.Generator) -> Tensor:
    """A random permutation with no fixed point (one random cycle through all ``n`` items).

    Returns:
        int64 ``[n]`` with ``d[i] != i`` for all ``i`` when ``n >= 2`` (``[0]`` when ``n == 1``).
    """
    n = check_int("n", n, minimum=0)
    order = torch.randperm(n, generator=generator)
    d = torch.empty_like(order)
    d[order] = order.roll(-1)
    return d
