"""One entry point for every fine-tuning method: :func:`finetune`.

All methods start from a deep copy of the given model (which is never modified) and use only
the held-out clean split, except CBFT, which also draws batches of cue-training data.

- FT: :func:`mmc_utils.train.train_model` on the clean split (BN in train mode).
- LLR: features of the clean split computed once, in eval mode (BN frozen, statistics untouched);
  a fresh linear head (seeded) trained on them with :func:`~mmc_utils.train.train_model`; only the
  head changes.
- LP-FT: exactly LLR, then FT of the whole network.
- CBFT and its ablations: :func:`mmc_utils.finetune.cbft.run_cbft`.
"""
from __future__ import annotations

import copy
import time
from typing import Any

import torch
from torch import Tensor, nn

from ..checks import check_data_labels, check_finite_state, check_num_classes, check_seed
from ..runtime import pick_device
from ..train import _check_data, eval_mode, train_model
from .cbft import run_cbft
from .config import ALIASES, FinetuneConfig, resolve_method

__all__ = ["finetune", "resolve_config", "frozen_features", "FeatureSet"]


class FeatureSet:
    """Precomputed features and labels with the ``batches`` protocol of :mod:`mmc_utils.train`."""

    def __init__(self, features: Tensor, labels: Tensor) -> None:
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return self.labels.shape[0]

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
                drop_last: bool = False):
        n = len(self)
        if shuffle:
            order = torch.randperm(n, generator=generator).to(self.features.device)
        else:
            order = torch.arange(n, device=self.features.device)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start:min(start + batch_size, stop)]
            yield self.features[idx], self.labels[idx]


# ----------------------------------------------------------------------------- validation
def _check_model(model: Any) -> int:
    if not isinstance(model, nn.Module) or not hasattr(model, "features") or not isinstance(
            getattr(model, "head", None), nn.Linear):
        raise TypeError(f"model must be an mmc_utils.models network with .features() and a linear .head, "
                        f"got {type(model).__name__}")
    return model.head.out_features


def resolve_config(method: str, config: FinetuneConfig | None) -> FinetuneConfig:
    """The config to use: ``config``, or the preset of ``method`` at the current scale when ``None``.

    Raises:
        ValueError: unknown method, or an ``ft_small/medium/large`` alias with a config whose
            ``lr`` differs from the alias's (use ``method="ft"`` with your own ``lr``).
        TypeError: ``config`` is not a :class:`FinetuneConfig`.
    """
    _, alias_lr = resolve_method(method)
    if config is None:
        return FinetuneConfig.for_scale(None, method)
    if not isinstance(config, FinetuneConfig):
        raise TypeError(f"config must be a FinetuneConfig or None, got {type(config).__name__}")
    if alias_lr is not None and config.lr != alias_lr:
        raise ValueError(f"method {method!r} fixes lr={alias_lr}, but config.lr={config.lr}; use method='ft' "
                         f"with config.lr to choose another lr (aliases: {', '.join(ALIASES)})")
    return config


# ----------------------------------------------------------------------------- phases
def frozen_features(model: nn.Module, data: Any, batch_size: int, device: torch.device) -> FeatureSet:
    """Penultimate features of ``data`` (in order) in eval mode, without gradients: BN statistics untouched."""
    feats, labels = [], []
    with eval_mode(model):
        for x, y in data.batches(batch_size, shuffle=False):
            feats.append(model.features(x.to(device)).float())
            labels.append(y.to(device))
    return FeatureSet(torch.cat(feats), torch.cat(labels))


def _llr_phase(model: nn.Module, clean: Any, cfg: FinetuneConfig, seed: int, device: torch.device,
               desc: str) -> dict[str, Any]:
    """Replace ``model.head`` by a fresh (seeded) head trained on the frozen features; nothing else changes."""
    feats = frozen_features(model, clean, cfg.llr_batch_size, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head = nn.Linear(model.head.in_features, model.head.out_features)
    head.to(device=device, dtype=model.head.weight.dtype)
    history = train_model(head, feats, cfg.llr_train_config(), seed=seed, device=device, desc=desc)
    with torch.no_grad():
        model.head.weight.copy_(head.weight)
        model.head.bias.copy_(head.bias)
    return history


def _ft_phase(model: nn.Module, clean: Any, cfg: FinetuneConfig, seed: int, device: torch.device,
              desc: str) -> dict[str, Any]:
    """Fine-tune every parameter on ``clean`` with :func:`~mmc_utils.train.train_model` (cosine, SGD)."""
    return train_model(model, clean, cfg.ft_train_config(), seed=seed, device=device, desc=desc)


# ----------------------------------------------------------------------------- entry point
def finetune(model: nn.Module, method: str, clean: Any, cue: Any = None, config: FinetuneConfig | None = None,
             *, seed: int, device: str | torch.device | None = None, desc: str = "") -> tuple[nn.Module, dict]:
    """Fine-tune a copy of ``model`` with ``method`` on the clean split.

    Args:
        model: the trained network (θ_C); never modified.
        method: ``"ft"`` (with ``config.lr``), ``"ft_small"`` / ``"ft_medium"`` / ``"ft_large"``
            (lr 1e-3 / 1e-2 / 1e-1), ``"llr"``, ``"lpft"``, ``"cbft"``, ``"cbft_no_barrier"``,
            ``"cbft_no_invariance"``.
        clean: the held-out clean split (``len`` and ``batches(...)``, see :mod:`mmc_utils.train`).
        cue: cue-training data (batches of cued images and labels); required by the CBFT methods,
            ignored by the others.
        config: hyper-parameters (``None``: ``FinetuneConfig.for_scale(None, method)``).
        seed: non-negative int; seeds shuffling, the fresh LLR head and CBFT's t and cue draws.
        device: see :func:`mmc_utils.runtime.pick_device`.
        desc: progress-bar label (default: the method).

    Returns:
        ``(new_model, history)``: the fine-tuned copy on ``device`` in eval mode, and a JSON-able
        history ``{"method", "seed", "config", "seconds", <phase>: per-phase history}`` with phases
        ``"ft"`` (:func:`~mmc_utils.train.train_model`'s history), ``"llr"`` (idem, of the head) and
        ``"cbft"`` (see :func:`~mmc_utils.finetune.cbft.run_cbft`). On the CPU the result is
        bit-identical for a given model, data, config and seed.

    Raises:
        ValueError: unknown ``method``; empty ``clean`` or ``cue``; ``clean``/``cue`` with another
            number of classes than the model's head; a CBFT method without ``cue``; a bad seed.
        TypeError: ``model``, ``config`` or a data set of the wrong type.
    """
    canonical, _ = resolve_method(method)
    num_classes = _check_model(model)
    check_finite_state("model", model)
    seed = check_seed("seed", seed)
    _check_data(clean, "clean")
    check_num_classes("clean", clean, num_classes)
    check_data_labels("clean", clean, num_classes)
    if canonical.startswith("cbft"):
        if cue is None:
            raise ValueError(f"cue must be given for method {method!r}: CBFT needs cue-training data "
                             "(batches of cued images with labels), e.g. data.train")
        _check_data(cue, "cue")
        check_num_classes("cue", cue, num_classes)
        check_data_labels("cue", cue, num_classes)
    cfg = resolve_config(method, config)
    dev = pick_device(device)
    desc = desc or method
    t0 = time.perf_counter()
    new = copy.deepcopy(model).to(dev)
    history: dict[str, Any] = {"method": canonical, "seed": seed, "config": cfg.to_dict()}
    if canonical == "ft":
        history["ft"] = _ft_phase(new, clean, cfg, seed, dev, desc)
    elif canonical == "llr":
        history["llr"] = _llr_phase(new, clean, cfg, seed, dev, desc)
    elif canonical == "lpft":
        history["llr"] = _llr_phase(new, clean, cfg, seed, dev, f"{desc} (LP)")
        history["ft"] = _ft_phase(new, clean, cfg, seed, dev, f"{desc} (FT)")
    else:
        reference = copy.deepcopy(model).to(dev).eval().requires_grad_(False)
        history["cbft"] = run_cbft(new, reference, clean, cue, cfg, seed=seed, device=dev,
                                   barrier=canonical != "cbft_no_barrier",
                                   invariance=canonical != "cbft_no_invariance", desc=desc)
    history["seconds"] = time.perf_counter() - t0
    return new.eval(), history
