"""Permutation alignment of two networks by activation matching.

Hidden units of a network can be reordered without changing the function it computes: permute
the output channels of a convolution (with its BatchNorm's affine parameters and running
statistics) and the input channels of every layer that reads them, and every logit stays the
same. Two independently trained networks may therefore sit in different "copies" of what is
really one basin. Before comparing them along a linear path, we pick the permutation of one
network (``other``) that best lines its units up with those of a ``reference`` network.

**Permutation groups.** A *group* is a set of channels that must be permuted together, named by
a string:

- :class:`~mmc_utils.models.SmallCNN` and :class:`~mmc_utils.models.VGG13`: one group per
  ``ConvBlock``, named ``"blocks.<i>"``; it permutes ``blocks[i].conv``'s output channels,
  ``blocks[i].bn``, and the input channels of ``blocks[i+1].conv`` (or the columns of
  ``model.head`` after the last block).
- :class:`~mmc_utils.models.ResNet18`: each residual stream is one group, ``"stage<s>"``
  (``s = 1..4``); the stem's output and the outputs of every ``BasicBlock`` of a stage share
  the stream's channels because the identity shortcut adds them, so ``stage1`` permutes the stem,
  ``blocks.1.c2`` and ``blocks.2.c2``; ``stage2`` permutes ``blocks.3.shortcut``, ``blocks.3.c2``
  and ``blocks.4.c2``; and so on. The internal channels of each block (``c1``'s output, read only
  by ``c2``) form their own group ``"blocks.<i>.c1"``.

A permutation ``perm`` of a group (an int64 tensor holding ``0..n-1`` once each) means: *new
channel j is old channel perm[j]*. :func:`apply_permutation` applies one per group and returns a
new model that computes exactly the same function (up to float rounding).

**Matching.** :func:`align` runs both models in eval mode on the same batches of (clean) data and
records, for every group, the activations where its channels are visible: the output of each
``ConvBlock`` (after ReLU) for plain networks, and for ResNet-18 the stem's output and each
``BasicBlock``'s output (after the residual addition and ReLU) for a stream, ``c1``'s output
(after ReLU) for a block's internal group. Each channel is a unit; every ``(image, h, w)``
position is one observation. From these it forms the correlation matrix
``C[i, j] = corr(reference channel i, other channel j)`` (summed over the tied activation points
of a residual stream) and solves the assignment problem ``max_perm sum_i C[i, perm[i]]`` with
the Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`).

All groups are matched at once, from one pass of the *unpermuted* ``other``. This is the same as
matching layer by layer on the already-permuted network: permuting one group only reorders that
group's channels in every activation and leaves all other activations untouched, so the
correlation matrix of a group does not depend on the permutations of the others.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from .checks import check_finite_state, check_module, check_seed
from .models import BasicBlock, ConvBlock

__all__ = [
    "PermGroup",
    "permutation_groups",
    "apply_permutation",
    "random_permutation",
    "identity_permutation",
    "activation_correlations",
    "align",
]


# ----------------------------------------------------------------------------- the groups
@dataclass
class PermGroup:
    """Channels permuted together.

    Attributes:
        name: the group's name (the key of its permutation).
        size: number of channels.
        producers: module paths of the ``ConvBlock`` s whose output channels (conv output, BN
            parameters and statistics) belong to the group.
        consumers: module paths of the ``nn.Conv2d`` / ``nn.Linear`` layers whose input channels
            belong to the group.
        points: module paths whose forward outputs ``[B, size, H, W]`` show the group's channels;
            their correlations are summed when matching.
    """

    name: str
    size: int
    producers: list[str] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)
    points: list[str] = field(default_factory=list)


def _check_model(model: Any, name: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ValueError(f"{name} must be a model built by mmc_utils.models (an nn.Module), "
                         f"got {type(model).__name__}")
    blocks, head = getattr(model, "blocks", None), getattr(model, "head", None)
    if not isinstance(blocks, nn.Sequential) or len(blocks) == 0 or not isinstance(head, nn.Linear):
        raise ValueError(f"{name} must have .blocks (nn.Sequential of ConvBlock / BasicBlock) and "
                         f".head (nn.Linear), as the models of mmc_utils.models do; got {type(model).__name__}")
    return model


def _groups(model: nn.Module, name: str = "model") -> dict[str, PermGroup]:
    """Walk ``model.blocks`` and return its permutation groups, in forward order."""
    model = _check_model(model, name)
    groups: dict[str, PermGroup] = {}
    if all(isinstance(b, ConvBlock) for b in model.blocks):          # SmallCNN, VGG13
        prev: PermGroup | None = None
        for i, block in enumerate(model.blocks):
            if prev is not None:
                prev.consumers.append(f"blocks.{i}.conv")
            g = PermGroup(f"blocks.{i}", block.conv.out_channels, [f"blocks.{i}"], [], [f"blocks.{i}"])
            groups[g.name] = prev = g
        prev.consumers.append("head")
        return groups
    stem = model.blocks[0]
    if not isinstance(stem, ConvBlock) or not all(isinstance(b, BasicBlock) for b in model.blocks[1:]):
        raise ValueError(f"{name}.blocks must hold only ConvBlocks, or a stem ConvBlock followed by "
                         f"BasicBlocks; got {[type(b).__name__ for b in model.blocks]}")
    stage = 1
    stream = PermGroup(f"stage{stage}", stem.conv.out_channels, ["blocks.0"], [], ["blocks.0"])
    groups[stream.name] = stream
    for i, block in enumerate(model.blocks):
        if i == 0:
            continue
        p = f"blocks.{i}"
        stream.consumers.append(f"{p}.c1.conv")
        inner = PermGroup(f"{p}.c1", block.c1.conv.out_channels, [f"{p}.c1"], [f"{p}.c2.conv"], [f"{p}.c1"])
        groups[inner.name] = inner
        if isinstance(block.shortcut, ConvBlock):                    # a new stream starts here
            stream.consumers.append(f"{p}.shortcut.conv")
            stage += 1
            stream = PermGroup(f"stage{stage}", block.c2.conv.out_channels, [f"{p}.shortcut"], [], [])
            groups[stream.name] = stream
        elif not isinstance(block.shortcut, nn.Identity):
            raise ValueError(f"{name}.{p}.shortcut must be nn.Identity or a ConvBlock, "
                             f"got {type(block.shortcut).__name__}")
        stream.producers.append(f"{p}.c2")
        stream.points.append(p)
    stream.consumers.append("head")
    return groups


def permutation_groups(model: nn.Module) -> dict[str, PermGroup]:
    """The permutation groups of ``model`` (see the module docstring), in forward order.

    Raises:
        ValueError: ``model`` is not one of the networks of :mod:`mmc_utils.models`.
    """
    return _groups(model)


def identity_permutation(model: nn.Module) -> dict[str, Tensor]:
    """``{group: arange(size)}`` for every group of ``model``."""
    return {k: torch.arange(g.size) for k, g in _groups(model).items()}


def random_permutation(model: nn.Module, seed: int) -> dict[str, Tensor]:
    """A random permutation of every group of ``model``, drawn from ``seed`` (global RNG untouched).

    ``apply_permutation(model, random_permutation(model, seed))`` is a differently ordered copy of
    ``model`` that computes the same function: the permutation symmetry of hidden units.
    """
    seed = check_seed("seed", seed)
    check_module("model", model)
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randperm(g.size, generator=gen) for k, g in _groups(model).items()}


def _check_perms(groups: Mapping[str, PermGroup], perms: Any) -> dict[str, Tensor]:
    if not isinstance(perms, Mapping):
        raise ValueError(f"perms must be a dict {{group: int64 permutation}}, got {type(perms).__name__}")
    unknown = sorted(set(perms) - set(groups))
    if unknown:
        raise ValueError(f"perms has unknown groups {unknown}; the model's groups are {list(groups)}")
    out = {}
    for k, p in perms.items():
        n = groups[k].size
        if not isinstance(p, Tensor):
            p = torch.as_tensor(p)
        if p.dtype.is_floating_point or p.dtype == torch.bool or p.dtype.is_complex or p.shape != (n,):
            raise ValueError(f"perms[{k!r}] must be an integer tensor of shape [{n}], "
                             f"got dtype {p.dtype} shape {tuple(p.shape)}")
        p = p.detach().to("cpu", torch.int64)
        if not torch.equal(torch.sort(p).values, torch.arange(n)):
            raise ValueError(f"perms[{k!r}] must hold each of 0..{n - 1} exactly once")
        out[k] = p
    return out


@torch.no_grad()
def _permute_(t: Tensor, perm: Tensor, dim: int) -> None:
    t.copy_(t.index_select(dim, perm.to(t.device)))


def apply_permutation(model: nn.Module, perms: Mapping[str, Tensor]) -> nn.Module:
    """A new model: a deep copy of ``model`` with the channels of each group permuted.

    Args:
        model: a network of :mod:`mmc_utils.models` (not modified).
        perms: ``{group: int64 tensor [size]}``; new channel ``j`` is old channel ``perm[j]``.
            Groups left out are not permuted.

    Returns:
        The permuted copy (same device, dtype and train/eval mode); it computes the same function.

    Raises:
        ValueError: ``model`` is not such a network, or ``perms`` has unknown groups or entries
            that are not permutations of the group's size.
    """
    groups = _groups(model)
    perms = _check_perms(groups, perms)
    new = copy.deepcopy(model)
    modules = dict(new.named_modules())
    for k, perm in perms.items():
        g = groups[k]
        for path in g.producers:
            block = modules[path]
            _permute_(block.conv.weight, perm, 0)
            bn = block.bn
            for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
                if t is not None:
                    _permute_(t, perm, 0)
        for path in g.consumers:
            _permute_(modules[path].weight, perm, 1)
    return new


# ----------------------------------------------------------------------------- matching
def _check_pair(reference: Any, other: Any) -> dict[str, PermGroup]:
    groups = _groups(reference, "reference")
    _groups(other, "other")
    if type(reference) is not type(other):
        raise ValueError(f"other must have the architecture of reference: got {type(other).__name__} "
                         f"and {type(reference).__name__}")
    ref_shapes = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    oth_shapes = {k: tuple(v.shape) for k, v in other.state_dict().items()}
    if ref_shapes != oth_shapes:
        diff = sorted(k for k in set(ref_shapes) | set(oth_shapes) if ref_shapes.get(k) != oth_shapes.get(k))
        raise ValueError(f"other must have the same architecture and shapes as reference; they differ at "
                         f"{diff[:5]}{' ...' if len(diff) > 5 else ''}")
    check_finite_state("reference", reference)
    check_finite_state("other", other)
    return groups


def _check_pos_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_data(data: Any) -> None:
    if not hasattr(data, "batches") or not hasattr(data, "__len__"):
        raise ValueError(f"data must have __len__ and batches(batch_size, shuffle, generator, drop_last); "
                         f"got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("data must not be empty")


def _device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


class _Stats:
    """Running sums for the correlation of the channels of two activations ``[B, n, H, W]``.

    Each batch is shifted by the first batch's channel means (so that ``E[xy] - E[x]E[y]`` does not
    cancel catastrophically) and reduced in float32; the sums accumulate in float64 (float32 on
    MPS, which lacks float64).
    """

    def __init__(self) -> None:
        self.count = 0
        self.shift_a = self.shift_b = None
        self.sa = self.sb = self.saa = self.sbb = self.sab = None

    def update(self, a: Tensor, b: Tensor) -> None:
        a = a.detach().float().transpose(0, 1).reshape(a.shape[1], -1)   # [n, B*H*W]
        b = b.detach().float().transpose(0, 1).reshape(b.shape[1], -1)
        if self.shift_a is None:
            acc = torch.float32 if a.device.type == "mps" else torch.float64
            self.shift_a, self.shift_b = a.mean(1, keepdim=True), b.mean(1, keepdim=True)
            self.sa = a.new_zeros(a.shape[0], dtype=acc)
            self.sb = b.new_zeros(b.shape[0], dtype=acc)
            self.saa, self.sbb = torch.zeros_like(self.sa), torch.zeros_like(self.sb)
            self.sab = a.new_zeros(a.shape[0], b.shape[0], dtype=acc)
        a, b = a - self.shift_a, b - self.shift_b
        self.count += a.shape[1]
        self.sa += a.sum(1)
        self.sb += b.sum(1)
        self.saa += (a * a).sum(1)
        self.sbb += (b * b).sum(1)
        self.sab += a @ b.T

    def corr(self) -> Tensor:
        """Correlation matrix ``[n_a, n_b]`` (float64, CPU); 0 where a channel is constant."""
        n = float(self.count)
        ma, mb = self.sa / n, self.sb / n
        va = (self.saa / n - ma * ma).clamp_min(0)
        vb = (self.sbb / n - mb * mb).clamp_min(0)
        cov = self.sab / n - ma[:, None] * mb[None, :]
        sa, sb = va.sqrt(), vb.sqrt()
        denom = sa[:, None] * sb[None, :]
        tiny = 1e-12 + 1e-8 * max(float(va.max()), float(vb.max()), 0.0)   # dead channels -> corr 0
        ok = (va[:, None] > tiny) & (vb[None, :] > tiny)
        c = torch.where(ok, cov / denom.clamp_min(1e-300), torch.zeros_like(cov))
        return c.clamp(-1, 1).to("cpu", torch.float64)


def activation_correlations(reference: nn.Module, other: nn.Module, data: Any, *, num_batches: int = 10,
                            batch_size: int = 500) -> tuple[dict[str, Tensor], int]:
    """Correlations between the channels of ``reference`` and ``other`` at every activation point.

    Both models run in eval mode without gradients on the first ``num_batches`` batches
    (``batch_size`` each, in order, not shuffled) of ``data``; their modes are restored afterwards.

    Returns:
        ``({point: C [n, n] float64 CPU}, num_samples)``: ``C[i, j]`` is the correlation, over all
        ``(image, h, w)`` positions, of reference channel ``i`` and other channel ``j`` at the output of
        module ``point`` (see :class:`PermGroup`), and the number of images used.

    Raises:
        ValueError: bad models (not networks of :mod:`mmc_utils.models`, or of different
            architecture / shapes), bad ``data`` (no ``batches``, or empty), bad ``num_batches`` or
            ``batch_size``.
    """
    groups = _check_pair(reference, other)
    _check_data(data)
    num_batches = _check_pos_int(num_batches, "num_batches")
    batch_size = _check_pos_int(batch_size, "batch_size")
    points = [p for g in groups.values() for p in g.points]
    stats = {p: _Stats() for p in points}
    dev_r, dev_o = _device(reference), _device(other)
    ref_mods, oth_mods = dict(reference.named_modules()), dict(other.named_modules())
    ref_acts: dict[str, Tensor] = {}

    def ref_hook(point: str):
        def hook(_m, _inp, out):
            ref_acts[point] = out
        return hook

    def oth_hook(point: str):
        def hook(_m, _inp, out):
            stats[point].update(ref_acts.pop(point), out.to(dev_r))
        return hook

    handles = [ref_mods[p].register_forward_hook(ref_hook(p)) for p in points]
    handles += [oth_mods[p].register_forward_hook(oth_hook(p)) for p in points]
    modes = [(m, m.training) for m in (*reference.modules(), *other.modules())]
    num_samples = 0
    try:
        reference.eval()
        other.eval()
        with torch.no_grad():
            for b, (x, _y) in enumerate(data.batches(batch_size, shuffle=False)):
                if b >= num_batches:
                    break
                if not bool(torch.isfinite(x).all()):
                    raise ValueError(f"data holds non-finite images (NaN or inf) in batch {b}; "
                                     "correlations of NaN activations are meaningless")
                reference(x.to(dev_r))
                other(x.to(dev_o))
                ref_acts.clear()
                num_samples += x.shape[0]
    finally:
        for h in handles:
            h.remove()
        for m, training in modes:
            m.training = training
    if num_samples == 0:
        raise ValueError("data must not be empty (it yielded no batches)")
    return {p: s.corr() for p, s in stats.items()}, num_samples


def align(reference: nn.Module, other: nn.Module, data: Any, *, num_batches: int = 10, batch_size: int = 500,
          return_info: bool = False) -> nn.Module | tuple[nn.Module, dict[str, Any]]:
    """Permute the hidden units of ``other`` to match those of ``reference`` (activation matching).

    For every permutation group (see the module docstring) the correlation matrix between the
    reference's and other's channels is computed on the first ``num_batches`` batches of ``data``
    (summed over a residual stream's tied activation points), and the permutation maximising the
    total matched correlation is found with the Hungarian algorithm. All groups are matched from
    one pass of the unpermuted ``other``, which is equivalent to matching layer by layer (a group's
    correlations do not depend on the other groups' permutations).

    Args:
        reference: the network to align to (not modified).
        other: a network of the same architecture and shapes (not modified).
        data: clean data with ``len(data)`` and ``data.batches(batch_size, shuffle=False)``.
        num_batches: how many batches to use at most.
        batch_size: images per batch.
        return_info: also return a dict of diagnostics.

    Returns:
        A new model, ``apply_permutation(other, perms)``, computing the same function as ``other``;
        with ``return_info``, ``(model, info)`` where ``info`` holds

        - ``"perms"``: ``{group: int64 [size]}``, the permutations applied;
        - ``"mean_corr"``: ``{group: float}``, the mean correlation of matched channel pairs
          (averaged over a stream's tied points);
        - ``"mean_corr_before"``: ``{group: float}``, the same for the identity matching (unaligned);
        - ``"point_corr"``: ``{point: float}``, matched mean correlation at each activation point;
        - ``"num_samples"``: number of images used.

    Raises:
        ValueError: as :func:`activation_correlations`.
    """
    groups = _check_pair(reference, other)
    corrs, num_samples = activation_correlations(reference, other, data, num_batches=num_batches,
                                                 batch_size=batch_size)
    perms: dict[str, Tensor] = {}
    mean_corr: dict[str, float] = {}
    before: dict[str, float] = {}
    point_corr: dict[str, float] = {}
    for k, g in groups.items():
        total = sum(corrs[p] for p in g.points)
        rows, cols = linear_sum_assignment(total.numpy(), maximize=True)
        perm = torch.empty(g.size, dtype=torch.int64)
        perm[torch.from_numpy(rows.astype(np.int64))] = torch.from_numpy(cols.astype(np.int64))
        perms[k] = perm
        idx = torch.arange(g.size)
        mean_corr[k] = float(total[idx, perm].mean()) / len(g.points)
        before[k] = float(total.diagonal().mean()) / len(g.points)
        for p in g.points:
            point_corr[p] = float(corrs[p][idx, perm].mean())
    aligned = apply_permutation(other, perms)
    if not return_info:
        return aligned
    info = {"perms": perms, "mean_corr": mean_corr, "mean_corr_before": before, "point_corr": point_corr,
            "num_samples": num_samples}
    return aligned, info
