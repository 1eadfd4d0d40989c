"""A tensor-resident data set whose cue is applied batch by batch.

:class:`CueSet` keeps the *uncued* base images together with a cue label per sample
(``-1`` = no cue) and the :class:`~.cues.Cue` that draws it. Batches are cued on the fly,
vectorised over the batch, so that one set of base images serves every variant (clean,
cued, randomised cue, …) without copies, and shuffling never touches the global RNG.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

from ..runtime import make_generator
from ..checks import check_device, check_images, check_index, check_int, check_labels
from .cues import Cue
from .rng import derive_generator
from .splits import derangement


class CueSet:
    """Images, labels and cue labels held as tensors, plus the cue that draws them.

    Args:
        images: float ``[N, 3, S, S]`` base images in [-1, 1], ``S = cue.image_size``.
        labels: int64 ``[N]`` class labels in ``[0, cue.num_classes)``.
        cue_labels: int64 ``[N]``: the class whose cue each image carries, ``-1`` for none.
        cue: the :class:`~.cues.Cue` applied to every batch.
        ids: int64 ``[N]`` non-negative identifiers of the base images (index in the split
            they came from; default ``arange(N)``); they key per-sample cue exemplars and
            make overlap checks possible.
        name: a short description, shown in ``repr``.
    """

    def __init__(self, images: Tensor, labels: Tensor, cue_labels: Tensor, cue: Cue,
                 ids: Tensor | None = None, name: str = "") -> None:
        if not isinstance(cue, Cue):
            raise TypeError(f"cue must be a Cue, got {type(cue).__name__}")
        check_images("images", images, 3, cue.image_size)
        n = images.shape[0]
        check_labels("labels", labels, n, 0, cue.num_classes)
        check_labels("cue_labels", cue_labels, n, -1, cue.num_classes)
        ids = torch.arange(n, device=images.device) if ids is None else check_labels("ids", ids, n, 0, 2**62)
        devices = {t.device for t in (images, labels, cue_labels, ids)}
        if len(devices) != 1:
            raise ValueError(f"images, labels, cue_labels and ids must be on one device, got {devices}")
        self.images, self.labels, self.cue_labels, self.ids = images, labels, cue_labels, ids
        self.cue, self.name = cue, name

    def __len__(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        return (f"CueSet({self.name!r}, n={len(self)}, cued={self.num_cued}, input_shape={self.input_shape}, "
                f"cue={self.cue!r}, device={self.device})")

    @property
    def device(self) -> torch.device:
        """Device of the tensors."""
        return self.images.device

    @property
    def num_classes(self) -> int:
        """Number of classes (the cue's)."""
        return self.cue.num_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Shape ``(C, H, W)`` of one cued image, i.e. of a model's input."""
        return self.cue.out_shape(tuple(self.images.shape[1:]))  # type: ignore[return-value]

    @property
    def cued(self) -> Tensor:
        """Bool ``[N]``: which samples carry a cue."""
        return self.cue_labels >= 0

    @property
    def num_cued(self) -> int:
        """Number of samples that carry a cue."""
        return int(self.cued.sum())

    def with_cue_labels(self, cue_labels: Tensor, name: str | None = None) -> "CueSet":
        """The same images and labels with other cue labels (int64 ``[N]``, -1 = none); no copy of images."""
        if not isinstance(cue_labels, Tensor):
            raise TypeError(f"cue_labels must be a torch.Tensor of dtype int64, got {type(cue_labels).__name__}")
        return CueSet(self.images, self.labels, cue_labels.to(self.device), self.cue, self.ids,
                      self.name if name is None else name)

    def with_random_cues(self, seed: int, name: str = "RC") -> "CueSet":
        """RC: every sample's cue class drawn uniformly at random, independent of the label.

        The draw comes from ``derive_generator(seed, "eval", "RC")``: with the data seed it is
        the RC set of :meth:`~mmc_utils.data.CueData.eval_sets`.
        """
        cl = torch.randint(0, self.num_classes, (len(self),), generator=derive_generator(seed, "eval", "RC"))
        return self.with_cue_labels(cl, name)

    def with_images_deranged(self, seed: int, name: str = "RI") -> "CueSet":
        """RI: every sample's image replaced by another sample's (a seeded derangement), labels and cues kept.

        The derangement comes from ``derive_generator(seed, "eval", "RI")``: with the data seed and
        the label's cue on every sample it is the RI set of :meth:`~mmc_utils.data.CueData.eval_sets`.
        """
        if len(self) < 2:
            raise ValueError(f"randomising the image needs at least two samples, got {len(self)}")
        src = derangement(len(self), derive_generator(seed, "eval", "RI")).to(self.device)
        return CueSet(self.images[src], self.labels, self.cue_labels, self.cue, self.ids[src], name)

    def subset(self, idx: Tensor | slice | list[int] | list[bool], name: str | None = None) -> "CueSet":
        """The samples selected by ``idx``, in that order: int indices (a tensor, list or tuple of ints),
        a bool mask ``[N]`` (a tensor, list or tuple of bools) or a slice (see :func:`~mmc_utils.checks.check_index`)."""
        idx = check_index("idx", idx, len(self))
        if isinstance(idx, Tensor):
            idx = idx.to(self.device)
        return CueSet(self.images[idx], self.labels[idx], self.cue_labels[idx], self.cue, self.ids[idx],
                      self.name if name is None else name)

    def to(self, device: str | torch.device) -> "CueSet":
        """A copy on ``device`` (``self`` when already there); an unknown or unavailable device is a ``ValueError``."""
        device = check_device("device", device)
        if device == self.device:
            return self
        return CueSet(self.images.to(device), self.labels.to(device), self.cue_labels.to(device), self.cue,
                      self.ids.to(device), self.name)

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        """How many batches :meth:`batches` yields."""
        batch_size = check_int("batch_size", batch_size, minimum=1)
        return len(self) // batch_size if drop_last else -(-len(self) // batch_size)

    def _cued(self, sel: Tensor | slice) -> tuple[Tensor, Tensor]:
        """Cued batch of the samples ``sel`` (a slice or int64 indices). The tensors were validated
        at construction, so the cue's unchecked ``_apply`` is called (this is the hot path)."""
        if isinstance(sel, slice):   # views of the stored tensors: the cue must copy
            x, cl, y = self.images[sel], self.cue_labels[sel], self.labels[sel]
            keys = self.ids[sel] if self.cue.uses_keys else None
            return self.cue._apply(x, cl, keys, inplace=False), y
        x, cl, y = (t.index_select(0, sel) for t in (self.images, self.cue_labels, self.labels))
        keys = self.ids.index_select(0, sel) if self.cue.uses_keys else None
        return self.cue._apply(x, cl, keys, inplace=True), y      # x is a fresh copy

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | int | None = None,
                drop_last: bool = False) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield cued batches ``(x [b, C, H, W], y [b])`` on the set's device.

        Args:
            batch_size: samples per batch (>= 1); the last batch may be smaller unless ``drop_last``.
            shuffle: visit the samples in a random order drawn from ``generator``.
            generator: a CPU ``torch.Generator`` or an int seed; required when ``shuffle``
                (the global RNG is never used).
            drop_last: drop a final incomplete batch.
        """
        batch_size = check_int("batch_size", batch_size, minimum=1)
        for flag, value in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be a bool, got {type(value).__name__} {value!r}")
        n = len(self)
        stop = n - n % batch_size if drop_last else n
        if not shuffle:
            for start in range(0, stop, batch_size):
                yield self._cued(slice(start, min(start + batch_size, stop)))
            return
        if generator is None:
            raise ValueError("generator must be a torch.Generator or an int seed when shuffle=True")
        if isinstance(generator, bool) or not isinstance(generator, (int, torch.Generator)):
            raise TypeError(f"generator must be a torch.Generator, an int seed or None, got {type(generator).__name__}")
        g = make_generator(generator) if isinstance(generator, int) else generator
        order = torch.randperm(n, generator=g, device=g.device).to(self.device)
        for start in range(0, stop, batch_size):
            yield self._cued(order[start:min(start + batch_size, stop)])

    def materialize(self, batch_size: int = 8192) -> tuple[Tensor, Tensor]:
        """All cued images and labels as full tensors ``(x [N, C, H, W], y [N])`` (built in chunks)."""
        batch_size = check_int("batch_size", batch_size, minimum=1)
        x = torch.empty((len(self), *self.input_shape), dtype=self.images.dtype, device=self.device)
        for start in range(0, len(self), batch_size):
            x[start:start + batch_size] = self._cued(slice(start, start + batch_size))[0]
        return x, self.labels
