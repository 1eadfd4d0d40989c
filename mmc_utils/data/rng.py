"""Independent, named random streams derived from one data seed.

Every random choice of the data layer (base images, split, RC cues, RI permutation, …)
draws from its own ``torch.Generator`` whose seed is a hash of ``(seed, stream name)``.
Changing how one stream is used therefore never shifts another, and nothing touches
the global RNG.
"""
from __future__ import annotations

import hashlib

import torch

from ..checks import check_seed
from ..runtime import make_generator


def derive_seed(seed: int, *tags: object) -> int:
    """A 63-bit seed that depends deterministically on ``seed`` and the ``tags``.

    Example: ``derive_seed(0, "split")`` and ``derive_seed(0, "rc")`` give unrelated streams.
    """
    seed = check_seed("seed", seed)
    text = repr((seed,) + tuple(str(t) for t in tags)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") & (2**63 - 1)


def derive_generator(seed: int, *tags: object) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`derive_seed` ``(seed, *tags)``."""
    return make_generator(derive_seed(seed, *tags))
