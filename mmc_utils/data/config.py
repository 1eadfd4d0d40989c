"""What data an experiment uses: :class:`CueDataConfig` and its presets per scale."""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..scales import preset
from ..checks import check_choice, check_finite_real, check_fraction, check_int, check_seed
from .bases import _SHAPES_OPTIONS, BASES
from .cues import check_cue_kwargs, cue_names

# smoke: seconds, for tests; book: the rendered book on a CPU; paper: the paper's CIFAR-10 sizes
# on the embedded base at CIFAR resolution (pass base="cifar10" when CIFAR-10 is on disk).
# smoke and book: small objects near the centre, three flat distractor squares per image and a 2-pixel box
# (benchmarks/RESULTS.md, "Fidelity sweep"): the cue models then rely on the cue as the paper's do, while a clean
# model, which has seen flat squares everywhere, is barely disturbed by the box.
_BOOK_BASE = {"radius_min": 0.2, "radius_max": 0.3, "spread": 0.25, "clutter": 3}
_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(base="shapes", cue="box", p=0.6, n_train=600, n_clean=200, n_test=200, image_size=16,
                  base_kwargs=_BOOK_BASE, cue_kwargs={"box_size": 2}),
    "book": dict(base="shapes", cue="box", p=0.6, n_train=20_000, n_clean=2_000, n_test=2_000, image_size=16,
                 base_kwargs=_BOOK_BASE, cue_kwargs={"box_size": 2}),
    "paper": dict(base="shapes", cue="box", p=0.8, n_train=47_500, n_clean=2_500, n_test=10_000, image_size=32),
}


def _plain_option(field_name: str, key: Any, value: Any) -> Any:
    """A cue/base option as a JSON-able Python value (NumPy scalars converted); ``TypeError`` naming the key
    otherwise."""
    if not isinstance(key, str):
        raise TypeError(f"{field_name} keys must be str, got {type(key).__name__} {key!r}")
    if isinstance(value, np.generic):
        value = value.item()
    try:
        json.dumps(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{field_name}[{key!r}] must be a JSON-able value (number, str, list), got "
                        f"{type(value).__name__} {value!r}") from err
    return value


@dataclass(frozen=True)
class CueDataConfig:
    """Everything that determines the data of an experiment.

    Attributes:
        base: base data set, one of :data:`~.bases.BASES`.
        cue: registered cue name (see :func:`~.cues.cue_names`).
        p: fraction of each class's cue-training images that carry the cue, in [0, 1].
        n_train: cue-training images (>= 1).
        n_clean: held-out clean images, disjoint from the training images (>= 0).
        n_test: test images (>= 1), from the base's test split.
        image_size: side of the base images in pixels (>= 4).
        seed: data seed (base generation / subsets, split, RC and RI draws).
        data_dir: where torchvision bases live (``None``: default); not part of :meth:`to_dict`.
        cue_kwargs: extra keyword arguments for the cue (e.g. ``{"box_size": 2}``).
        base_kwargs: options of the base generator, ``"shapes"`` only (e.g.
            ``{"noise": 0.1, "texture": 0.12}``: the difficulty knobs of the natural attribute).
    """

    base: str = "shapes"
    cue: str = "box"
    p: float = 0.8
    n_train: int = 20_000
    n_clean: int = 2_000
    n_test: int = 2_000
    image_size: int = 16
    seed: int = 0
    data_dir: str | None = None
    cue_kwargs: Mapping[str, Any] = field(default_factory=dict)
    base_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("base", self.base, BASES)
        check_choice("cue", self.cue, cue_names())
        object.__setattr__(self, "p", check_fraction("p", self.p))
        # NumPy integers are accepted and stored as Python ints (the config must stay JSON-able)
        for name, minimum in (("n_train", 1), ("n_clean", 0), ("n_test", 1), ("image_size", 4)):
            object.__setattr__(self, name, check_int(name, getattr(self, name), minimum=minimum))
        object.__setattr__(self, "seed", check_seed("seed", self.seed))
        if self.data_dir is not None and not isinstance(self.data_dir, (str, os.PathLike)):
            raise TypeError(f"data_dir must be a str, os.PathLike or None, got {type(self.data_dir).__name__}")
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            object.__setattr__(self, "data_dir", os.fspath(self.data_dir))
        for name in ("cue_kwargs", "base_kwargs"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise TypeError(f"{name} must be a mapping, got {type(value).__name__}")
            object.__setattr__(self, name, {k: _plain_option(name, k, v) for k, v in value.items()})
        check_cue_kwargs(self.cue, self.cue_kwargs)
        if self.base_kwargs and self.base != "shapes":
            raise ValueError(f"base_kwargs are only accepted by base 'shapes', got {self.base_kwargs} for {self.base!r}")
        unknown = sorted(set(self.base_kwargs) - _SHAPES_OPTIONS)
        if unknown:
            raise ValueError(f"base_kwargs has unknown keys {unknown}; accepted: {', '.join(sorted(_SHAPES_OPTIONS))}")
        for k, v in self.base_kwargs.items():  # noise / texture: finite standard deviations (values kept as given)
            check_finite_real(f"base_kwargs[{k!r}]", v, minimum=0.0)

    @classmethod
    def for_scale(cls, scale: str | None = None, **overrides: Any) -> "CueDataConfig":
        """The preset for ``scale`` (``"smoke"``, ``"book"``, ``"paper"``; ``None`` → ``MMC_SCALE`` or book),
        with any field replaced by ``overrides``. Overriding ``base`` (``cue``) with another one drops the
        preset's ``base_kwargs`` (``cue_kwargs``) unless those are overridden too.

        Raises:
            ValueError: unknown scale, or an override that is not a field or not valid.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(f"overrides must be fields of CueDataConfig ({', '.join(sorted(fields))}); got {unknown}")
        base = preset(_PRESETS, scale)
        return cls(**{**base, **overrides, **_dropped_options(base, overrides)})

    def replace(self, **changes: Any) -> "CueDataConfig":
        """A copy with some fields changed (validated again). Changing ``base`` (``cue``) to another one
        drops ``base_kwargs`` (``cue_kwargs``) unless those are changed too."""
        return dataclasses.replace(self, **{**changes, **_dropped_options({"base": self.base, "cue": self.cue}, changes)})

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of the fields that determine the data (for hashing and metadata).

        ``data_dir`` is left out: it says where the files are, not what they are.
        ``CueDataConfig(**config.to_dict())`` rebuilds the config.
        """
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "data_dir"}
        d["cue_kwargs"] = dict(sorted(self.cue_kwargs.items()))
        d["base_kwargs"] = dict(sorted(self.base_kwargs.items()))
        return d


def _dropped_options(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``{"base_kwargs": {}}`` / ``{"cue_kwargs": {}}`` for a base / cue that ``changes`` replaces without giving
    new options: the old options belong to the old base or cue."""
    return {f"{name}_kwargs": {} for name in ("base", "cue")
            if name in changes and f"{name}_kwargs" not in changes and changes[name] != current[name]}
