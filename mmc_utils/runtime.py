"""Runtime plumbing: device choice, seeding, deterministic execution and progress bars.

Nothing here knows about the science; every other module may import it.
"""
from __future__ import annotations

import os
import random
import sys
from typing import Iterable, Iterator, TypeVar

import numpy as np
import torch

T = TypeVar("T")

_DEVICE_ORDER = ("cuda", "mps", "cpu")


def pick_device(preference: str | torch.device | None = None) -> torch.device:
    """Choose the compute device.

    Args:
        preference: ``None`` or ``"auto"`` picks the first available of cuda, mps, cpu;
            otherwise a device string such as ``"cpu"``, ``"cuda"`` or ``"cuda:1"``.
            The environment variable ``MMC_DEVICE`` overrides ``None``/``"auto"``.

    Returns:
        The ``torch.device`` to use.

    Raises:
        ValueError: if the preference names an unknown or unavailable device.
    """
    if isinstance(preference, torch.device):
        preference = str(preference)
    if preference is None or preference == "auto":
        preference = os.environ.get("MMC_DEVICE", "auto") or "auto"
    if not isinstance(preference, str):
        raise TypeError(f"device must be a str, torch.device or None, got {type(preference).__name__}")
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = preference.split(":")[0]
    if kind not in _DEVICE_ORDER:
        raise ValueError(f"device must be 'auto', 'cuda[:i]', 'mps' or 'cpu', got {preference!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preference!r} requested but CUDA is not available; use 'auto' or 'cpu'")
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device 'mps' requested but MPS is not available; use 'auto' or 'cpu'")
    return torch.device(preference)


def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch, and (optionally) request deterministic kernels.

    Args:
        seed: a non-negative integer.
        deterministic: make CPU results bit-reproducible (``torch.use_deterministic_algorithms``
            with ``warn_only=True`` so that CUDA ops without a deterministic variant still run).

    Returns:
        A CPU ``torch.Generator`` seeded with ``seed``, for code that wants its own stream.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not isinstance(deterministic, bool):
        raise TypeError(f"deterministic must be a bool, got {deterministic!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return make_generator(seed)


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (independent of the global RNG)."""
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(int(seed))
    return g


def interactive() -> bool:
    """True when running in a notebook or terminal a person watches (not under tests or CI)."""
    if os.environ.get("MMC_PROGRESS") in ("0", "1"):
        return os.environ["MMC_PROGRESS"] == "1"
    if os.environ.get("CI") or os.environ.get("PYTEST_CURRENT_TEST") or os.environ.get("MMC_STRICT_CLAIMS") == "1":
        return False
    try:  # a live Jupyter kernel with a front end
        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None and type(ip).__name__ == "ZMQInteractiveShell":
            return True
    except ImportError:  # pragma: no cover - IPython is a dependency
        pass
    return sys.stderr.isatty()


def progress(iterable: Iterable[T], desc: str | None = None, total: int | None = None, **kwargs) -> Iterator[T]:
    """Wrap ``iterable`` in a ``tqdm.auto`` progress bar that is silent when nobody watches.

    Set ``MMC_PROGRESS=1`` (or ``0``) to force bars on (or off).
    """
    from tqdm.auto import tqdm

    return iter(tqdm(iterable, desc=desc, total=total, disable=not interactive(), leave=False, **kwargs))
