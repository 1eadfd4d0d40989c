"""The book's shared models: one place that says how each chapter's models are made.

Every chapter asks this module for its data and its trained models, so a model trained in
chapter 1 is the very model chapter 2 loads from the checkpoint store, and a reader who
changes a setting here changes it for the whole book. The data depend on the data seed;
a model depends on its data, its own seed and the scale's training recipe.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    import pandas as pd

from .checks import check_device, check_int, check_module, check_seed
from .data import CueData, CueDataConfig, build_data
from .store import canonical_json
from .scales import preset, resolve_scale
from .train import TrainConfig, load_or_train_model

# Model per scale: the small CNN at smoke/book scale, VGG-13 at paper scale.
_MODEL = {
    "smoke": dict(name="small_cnn", width=0.5),
    "book": dict(name="small_cnn", width=1.0),
    "paper": dict(name="vgg13", width=1.0),
}


CUE_SEED_OFFSET = 10_000


def data_config(scale: str | None, seed: int, **overrides: Any) -> CueDataConfig:
    """The data configuration of ``scale`` with data seed ``seed`` (fields overridable)."""
    return CueDataConfig.for_scale(resolve_scale(scale), seed=seed, **overrides)


_DATA_CACHE: dict[str, CueData] = {}


def load_data(config: CueDataConfig, device: str | torch.device = "cpu") -> CueData:
    """Build (once per process, at most 8 kept) the data of ``config`` on ``device``."""
    if not isinstance(config, CueDataConfig):
        raise TypeError(f"config must be a CueDataConfig (see data_config), got {type(config).__name__}")
    device = check_device("device", device)
    key = canonical_json({"config": config.to_dict(), "data_dir": config.data_dir, "device": str(device)})
    if key not in _DATA_CACHE:
        if len(_DATA_CACHE) >= 8:
            _DATA_CACHE.pop(next(iter(_DATA_CACHE)))
        _DATA_CACHE[key] = build_data(config, device=device)
    return _DATA_CACHE[key]


def model_spec(scale: str | None, num_classes: int, in_channels: int = 3) -> dict[str, Any]:
    """Build arguments (for :func:`mmc_utils.models.build_model`) of the scale's network."""
    check_int("num_classes", num_classes, minimum=1)
    check_int("in_channels", in_channels, minimum=1)
    return {**preset(_MODEL, scale), "num_classes": num_classes, "in_channels": in_channels}


def train_config(scale: str | None, **overrides: Any) -> TrainConfig:
    """The scale's pre-training recipe (:meth:`TrainConfig.for_scale`)."""
    return TrainConfig.for_scale(resolve_scale(scale), **overrides)


def pretrained(kind: str, config: CueDataConfig, *, seed: int, device: str | torch.device = "cpu",
               scale: str | None = None, **train_overrides: Any) -> tuple[nn.Module, dict]:
    """Load or train one of the book's pre-trained models.

    Args:
        kind: ``"clean"`` (θ_NC: the cue-training images without any cue) or ``"cue"``
            (θ_C: the cue-training set, a fraction ``config.p`` of each class cued).
        config: the data configuration.
        seed: the model's seed (initialisation and batch order).
        device: where the model lives.
        scale: the scale whose recipe to use (default: ``MMC_SCALE`` or ``"book"``).
        **train_overrides: fields of :class:`TrainConfig` to change.

    Returns:
        ``(model in eval mode, metadata)``; ``metadata["cached"]`` tells whether it was loaded.

    θ_C uses ``seed + CUE_SEED_OFFSET`` for its initialisation and batch order, so that θ_C
    and θ_NC of one seed never share an initialisation (two models from one initialisation
    are much closer in parameter space than two independent minimizers).
    """
    if kind not in ("clean", "cue"):
        raise ValueError(f"kind must be 'clean' or 'cue', got {kind!r}")
    seed = check_seed("seed", seed)
    data = load_data(config, device)
    train_set = data.clean_train if kind == "clean" else data.train
    key = {"data": config.to_dict(), "set": "clean_train" if kind == "clean" else "train"}
    spec = model_spec(scale, data.num_classes)
    model_seed = seed if kind == "clean" else seed + CUE_SEED_OFFSET
    return load_or_train_model(spec, train_config(scale, **train_overrides), train_set, key, seed=model_seed,
                               device=device, desc=f"θ_{'NC' if kind == 'clean' else 'C'} seed {seed}")


def path_table(model: nn.Module, path: Any, sets: dict[str, Any], data: CueData, *, scale: str | None = None,
               bn: str = "reestimate", seed: int = 0, device: str | torch.device = "cpu",
               desc: str = "") -> "pd.DataFrame":
    """Evaluate ``path`` with the scale's grid and BN budget, BN re-estimated on the clean training images.

    Returns the tidy table of :func:`mmc_utils.paths.evaluate_path` (t, set, loss, acc, err).
    """
    from .paths import PathConfig, evaluate_path

    cfg = PathConfig.for_scale(scale)
    if not isinstance(data, CueData):
        raise TypeError(f"data must be a CueData (see load_data), got {type(data).__name__}")
    return evaluate_path(model, path, sets, bn=bn, bn_data=data.clean_train, seed=seed, device=device,
                         desc=desc, **cfg.eval_kwargs())


def quadratic_midpoint(start: nn.Module, end: nn.Module, config: CueDataConfig, *, seed: int,
                       scale: str | None = None, device: str | torch.device = "cpu") -> Any:
    """Load or fit θ_m of the quadratic path from ``start`` to ``end`` on the all-cued training images.

    As in the paper, θ_m starts from a fresh initialisation and is fitted on data where both
    end points have low loss (the cue on every image), with the scale's midpoint recipe.
    """
    from .paths import PathConfig, load_or_train_midpoint

    check_module("start", start)
    check_module("end", end)
    seed = check_seed("seed", seed)
    data = load_data(config, device)
    spec = model_spec(scale, data.num_classes)
    key = {"data": config.to_dict(), "set": "train (all cued)"}
    mid, _ = load_or_train_midpoint(spec, start, end, data.all_cued("train"), key, seed=seed, device=device,
                                    desc="quadratic midpoint", **PathConfig.for_scale(scale).midpoint_kwargs())
    return mid


def finetuned(source: nn.Module, method: str, config: CueDataConfig, *, seed: int, scale: str | None = None,
              device: str | torch.device = "cpu", **overrides: Any) -> tuple[nn.Module, dict]:
    """Load or run ``method`` (see :func:`mmc_utils.finetune.finetune`) from ``source`` on the clean split.

    The cache key holds a fingerprint of ``source``'s tensors and the data configuration;
    CBFT methods also get the cue-training set. ``overrides`` change fields of the scale's
    :class:`~mmc_utils.finetune.FinetuneConfig` (e.g. ``barrier_target=0.5``).
    """
    from .finetune import FinetuneConfig, load_or_finetune, resolve_method
    from .paths import state_fingerprint

    resolve_method(method)  # an unknown method fails before any data is built
    check_module("source", source)
    seed = check_seed("seed", seed)
    data = load_data(config, device)
    ft_cfg = FinetuneConfig.for_scale(resolve_scale(scale), method, **overrides)
    key = {"source": state_fingerprint(source), "data": config.to_dict()}
    cue = data.train if method.startswith("cbft") else None
    return load_or_finetune(key, source, method, data.clean, cue, ft_cfg, seed=seed, device=device, desc=method)
