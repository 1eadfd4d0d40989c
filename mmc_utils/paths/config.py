"""Scale presets of path experiments: grid size, BN re-estimation, midpoint training recipe."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..checks import check_choice, check_config_fields, check_config_int, check_config_real
from ..scales import preset
from .curves import default_ts

__all__ = ["PathConfig"]


@dataclasses.dataclass(frozen=True)
class PathConfig:
    """Settings of path evaluation and quadratic-midpoint training.

    Attributes:
        num_points: size of the evenly spaced t grid (>= 2; 11 gives 0, 0.1, ..., 1).
        bn_batches: batches used to re-estimate BatchNorm statistics at each point (>= 1).
        bn_batch_size: images per BN batch (>= 2).
        eval_batch_size: evaluation batch size (>= 1).
        eval_images: evaluate paths on a seeded random subset of at most this many images of each
            set (>= 1), or ``None`` for every image.
        midpoint_epochs: epochs of midpoint training (>= 1).
        midpoint_lr: peak learning rate (> 0).
        midpoint_schedule: ``"cosine"`` (per step, to 0) or ``"step"`` (``midpoint_lr`` times
            ``midpoint_gamma ** (epoch // midpoint_step_size)``, the authors' code).
        midpoint_step_size, midpoint_gamma: the step schedule's epochs between decays (>= 1) and factor.
        midpoint_batch_size: midpoint training batch size (>= 2).
        midpoint_momentum: SGD momentum in [0, 1).
        midpoint_weight_decay: L2 coefficient on theta_m (>= 0).
    """

    num_points: int = 11
    bn_batches: int = 20
    bn_batch_size: int = 200
    eval_batch_size: int = 500
    eval_images: int | None = None
    midpoint_epochs: int = 3
    midpoint_lr: float = 0.05
    midpoint_schedule: str = "cosine"
    midpoint_step_size: int = 10
    midpoint_gamma: float = 0.1
    midpoint_batch_size: int = 128
    midpoint_momentum: float = 0.9
    midpoint_weight_decay: float = 5e-4

    def __post_init__(self) -> None:
        for name, lo in (("num_points", 2), ("bn_batches", 1), ("bn_batch_size", 2), ("eval_batch_size", 1),
                         ("midpoint_epochs", 1), ("midpoint_batch_size", 2), ("midpoint_step_size", 1)):
            check_config_int(name, getattr(self, name), lo)
        if self.eval_images is not None:
            check_config_int("eval_images", self.eval_images, 1)
        for name, lo, hi, lo_open, hi_open in (("midpoint_lr", 0.0, math.inf, True, True),
                                               ("midpoint_momentum", 0.0, 1.0, False, True),
                                               ("midpoint_weight_decay", 0.0, math.inf, False, True),
                                               ("midpoint_gamma", 0.0, 1.0, True, False)):
            check_config_real(name, getattr(self, name), lo, hi, lo_open, hi_open)
        check_choice("midpoint_schedule", self.midpoint_schedule, ("cosine", "step"))

    @classmethod
    def for_scale(cls, scale: str | None = None, **overrides: Any) -> "PathConfig":
        """Preset for a scale (``MMC_SCALE`` overrides ``scale``); ``overrides`` replace fields.

        smoke: 3 points, 2 BN batches of 50, 1 midpoint epoch (batch 64).
        book: 11 points, 5 BN batches of 200, 500 images per set (as the landscape), 5 midpoint epochs at
        lr 0.05, cosine (batch 128; our choice for the time budget).
        paper: 11 points, 100 BN batches of 256; the midpoint as in the authors' code: 15 epochs, SGD
        momentum 0.9, wd 1e-4, batch 128, lr 0.1 times 0.1 every 10 epochs (the code scales each step's
        lr by 2t(1-t), which our autograd gradient through the curve already contains).
        """
        check_config_fields(cls, overrides)
        return cls(**{**preset(_PRESETS, scale), **overrides})

    @property
    def ts(self) -> list[float]:
        """The t grid: ``num_points`` evenly spaced values with exact end points 0 and 1."""
        return default_ts(self.num_points)

    def eval_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~mmc_utils.paths.evaluate_path` (ts, bn_batches, bn_batch_size, batch_size,
        max_images)."""
        return {"ts": self.ts, "bn_batches": self.bn_batches, "bn_batch_size": self.bn_batch_size,
                "batch_size": self.eval_batch_size, "max_images": self.eval_images}

    def midpoint_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~mmc_utils.paths.train_midpoint` (epochs, lr, batch_size, momentum,
        weight_decay, schedule, step_size, gamma)."""
        return {"epochs": self.midpoint_epochs, "lr": self.midpoint_lr, "batch_size": self.midpoint_batch_size,
                "momentum": self.midpoint_momentum, "weight_decay": self.midpoint_weight_decay,
                "schedule": self.midpoint_schedule, "step_size": self.midpoint_step_size,
                "gamma": self.midpoint_gamma}

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-able dict."""
        return dataclasses.asdict(self)


_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(num_points=3, bn_batches=2, bn_batch_size=50, eval_batch_size=500, midpoint_epochs=1,
                  midpoint_lr=0.05, midpoint_batch_size=64),
    "book": dict(num_points=11, bn_batches=5, bn_batch_size=200, eval_batch_size=500, eval_images=500,
                 midpoint_epochs=5, midpoint_lr=0.05, midpoint_batch_size=128),
    "paper": dict(num_points=11, bn_batches=100, bn_batch_size=256, eval_batch_size=500, midpoint_epochs=15,
                  midpoint_lr=0.1, midpoint_schedule="step", midpoint_step_size=10, midpoint_gamma=0.1,
                  midpoint_batch_size=128, midpoint_weight_decay=1e-4),
}
