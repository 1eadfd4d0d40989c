"""Base image data sets: the procedural shapes and torchvision data sets read from disk.

Every base is returned the same way: float32 images ``[N, 3, H, W]`` in [-1, 1] (grey
images are repeated over three channels) and int64 labels ``[N]``. Nothing is ever
downloaded: the torchvision data sets are opened with ``download=False`` from
``data_dir`` (default: the environment variable ``MMC_DATA_DIR``, else ``<repo>/data``, or the
user's data folder outside a checkout),
and a missing one raises a single ``FileNotFoundError`` that says where it was looked for
and how to fetch it on a machine with internet access.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..checks import check_choice, check_int
from ..locations import data_dir
from .rng import derive_generator, derive_seed
from .shapes import make_shapes

SPLITS: tuple[str, ...] = ("train", "test")

# name -> (torchvision class name, number of classes, default image side)
_TORCHVISION: dict[str, tuple[str, int, int]] = {
    "cifar10": ("CIFAR10", 10, 32),
    "cifar100": ("CIFAR100", 100, 32),
    "mnist": ("MNIST", 10, 28),
    "fashion_mnist": ("FashionMNIST", 10, 28),
}
BASES: tuple[str, ...] = ("shapes",) + tuple(_TORCHVISION)
_SHAPES_DEFAULT_N = {"train": 50_000, "test": 10_000}
_SHAPES_DEFAULT_SIZE = 16
_SHAPES_OPTIONS = {"noise", "texture", "radius_min", "radius_max", "spread", "clutter"}
_RESIZE_CHUNK = 8192


def num_classes(name: str) -> int:
    """Number of classes of the base data set ``name`` (one of :data:`BASES`)."""
    check_choice("name", name, BASES)
    return 10 if name == "shapes" else _TORCHVISION[name][1]


def default_data_dir() -> Path:
    """``$MMC_DATA_DIR`` if set, else ``<repository root>/data`` (see :func:`mmc_utils.locations.data_dir`)."""
    return data_dir()


def _missing_message(name: str, root: Path) -> str:
    cls = _TORCHVISION[name][0]
    return (
        f"Base data set {name!r} was not found under {root} (torchvision.datasets.{cls} with "
        f"download=False). This project never downloads at run time. On a machine with internet "
        f"access run\n    python -c \"import torchvision; torchvision.datasets.{cls}('{root}', train=True, "
        f"download=True); torchvision.datasets.{cls}('{root}', train=False, download=True)\"\n"
        f"and copy the folder to {root}, or point MMC_DATA_DIR (or data_dir=) at a folder that holds it. "
        f"The procedural base 'shapes' needs no files."
    )


def load_raw(name: str, split: str, data_dir: str | os.PathLike | None = None) -> tuple[Tensor, Tensor]:
    """Read a torchvision base from disk without converting it.

    Args:
        name: one of the torchvision bases (``"cifar10"``, ``"cifar100"``, ``"mnist"``,
            ``"fashion_mnist"``).
        split: ``"train"`` or ``"test"``.
        data_dir: folder that holds the data set in torchvision's layout (see
            :func:`default_data_dir`).

    Returns:
        ``(images, labels)``: uint8 ``[N, C, h, w]`` (C = 3 for CIFAR, 1 for MNIST-like) and
        int64 ``[N]``.

    Raises:
        FileNotFoundError: if the files are missing or corrupted.
    """
    check_choice("name", name, tuple(_TORCHVISION))
    check_choice("split", split, SPLITS)
    import torchvision

    root = Path(data_dir) if data_dir is not None else default_data_dir()
    cls = getattr(torchvision.datasets, _TORCHVISION[name][0])
    try:
        ds = cls(str(root), train=(split == "train"), download=False)
    except RuntimeError as err:  # torchvision's "Dataset not found or corrupted"
        raise FileNotFoundError(_missing_message(name, root)) from err
    data = ds.data
    if isinstance(data, np.ndarray):               # CIFAR: [N, 32, 32, 3] uint8
        images = torch.from_numpy(np.ascontiguousarray(data)).permute(0, 3, 1, 2)
    else:                                           # MNIST-like: uint8 tensor [N, 28, 28]
        images = data[:, None]
    labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    return images.contiguous(), labels


def to_unit_range(images: Tensor, size: int | None = None) -> Tensor:
    """Convert uint8 images ``[N, C, h, w]`` to float32 ``[N, 3, size, size]`` in [-1, 1].

    Grey images (C = 1) are repeated over three channels; ``size`` (if given and different)
    resizes with antialiased bilinear interpolation, in chunks to bound memory.
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be uint8 [N, 1 or 3, h, w], got {images.dtype} {tuple(images.shape)}")
    n, c, h, w = images.shape
    out_hw = (h, w) if size is None else (size, size)
    out = torch.empty(n, 3, *out_hw)
    for start in range(0, n, _RESIZE_CHUNK):
        x = images[start:start + _RESIZE_CHUNK].float().div_(127.5).sub_(1.0)
        if out_hw != (h, w):
            x = F.interpolate(x, size=out_hw, mode="bilinear", antialias=True, align_corners=False)
        out[start:start + _RESIZE_CHUNK] = x.expand(-1, 3, -1, -1)
    return out.clamp_(-1.0, 1.0)


def load_base(
    name: str,
    split: str,
    *,
    n: int | None = None,
    size: int | None = None,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[Tensor, Tensor]:
    """Load (or generate) the images and labels of a base data set.

    Args:
        name: one of :data:`BASES`.
        split: ``"train"`` or ``"test"``. For ``"shapes"`` the two splits are generated from
            different seeds (``derive_seed(seed, "shapes", split)``), so they never share an image.
        n: number of images. ``"shapes"``: how many to generate (default 50,000 train /
            10,000 test). Torchvision bases: ``None`` keeps all; otherwise a seeded random
            subset of size ``n`` (``ValueError`` if larger than the split).
        size: image side in pixels. ``"shapes"`` renders at this size (default 16);
            torchvision bases are resized (antialiased bilinear) when it differs.
        seed: non-negative seed for the generation or the subset.
        data_dir: folder of the torchvision data sets (default :func:`default_data_dir`).
        device: where to put the result (default CPU).
        options: extra keyword arguments of the generator, ``"shapes"`` only (e.g.
            ``{"noise": 0.1, "texture": 0.12}``, see :func:`~.shapes.make_shapes`).

    Returns:
        ``(images, labels)``: float32 ``[N, 3, size, size]`` in [-1, 1] and int64 ``[N]``.

    Raises:
        ValueError: unknown ``name`` or ``split``, bad ``n``/``size``/``seed``.
        FileNotFoundError: a torchvision base is not on disk.
    """
    check_choice("name", name, BASES)
    check_choice("split", split, SPLITS)
    seed = check_int("seed", seed, minimum=0)
    if n is not None:
        n = check_int("n", n, minimum=0)
    if size is not None:
        size = check_int("size", size, minimum=4)
    options = dict(options or {})
    if name == "shapes":
        unknown = sorted(set(options) - _SHAPES_OPTIONS)
        if unknown:
            raise ValueError(f"options for 'shapes' must be among {sorted(_SHAPES_OPTIONS)}; got {unknown}")
        n = _SHAPES_DEFAULT_N[split] if n is None else n
        size = _SHAPES_DEFAULT_SIZE if size is None else size
        return make_shapes(n, size, seed=derive_seed(seed, "shapes", split), device=device, **options)
    if options:
        raise ValueError(f"options are only accepted by the 'shapes' base, got {sorted(options)} for {name!r}")
    raw, labels = load_raw(name, split, data_dir)
    if n is not None:
        if n > len(labels):
            raise ValueError(f"n must be <= {len(labels)} (the size of {name} {split}), got {n}")
        idx = torch.randperm(len(labels), generator=derive_generator(seed, "subset", name, split))[:n]
        raw, labels = raw[idx], labels[idx]
    images = to_unit_range(raw, size)
    if device is not None:
        images, labels = images.to(device), labels.to(device)
    return images, labels
