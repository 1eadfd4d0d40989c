"""Fine-tuned models through the checkpoint store: :func:`load_or_finetune`."""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor, nn

from ..models import model_spec
from ..checks import check_seed
from ..runtime import pick_device
from ..train import _check_data, fits_spec, state_to_tensors, tensors_to_model
from .config import FinetuneConfig, resolve_method
from .methods import _check_model, finetune, resolve_config

__all__ = ["load_or_finetune", "finetune_key"]


def finetune_key(source_key: Mapping[str, Any], model: nn.Module, method: str, clean: Any, cue: Any,
                 config: FinetuneConfig, seed: int) -> dict[str, Any]:
    """The cache key of a fine-tuning run (JSON-able)."""
    canonical, _ = resolve_method(method)
    return {"kind": "finetune", "source": dict(source_key), "spec": model_spec(model), "method": canonical,
            "config": config.to_dict(), "seed": seed, "n_clean": len(clean),
            "n_cue": len(cue) if (cue is not None and canonical.startswith("cbft")) else None}


def load_or_finetune(source_key: Mapping[str, Any], model: nn.Module, method: str, clean: Any, cue: Any = None,
                     config: FinetuneConfig | None = None, *, seed: int, device: str | torch.device | None = None,
                     store: Any = None, desc: str = "") -> tuple[nn.Module, dict]:
    """Load a fine-tuned model from the checkpoint store, or run :func:`finetune` and store it.

    Args:
        source_key: JSON-able identity of the source model *and* of the data (e.g. the ``config``
            used to train θ_C plus ``CueDataConfig.to_dict()``): the store cannot see tensors, so
            this is what distinguishes runs from different sources.
        model, method, clean, cue, config, seed, device: as :func:`finetune`.
        store: a :class:`mmc_utils.store.Store` (default: the default cache directory).
        desc: progress-bar label.

    The key is ``{"kind": "finetune", "source", "spec", "method" (canonical), "config"
    (FinetuneConfig.to_dict()), "seed", "n_clean", "n_cue"}``.

    Returns:
        ``(model, meta)``: the model rebuilt from the stored tensors, on ``device``, in eval mode;
        ``meta`` holds ``"history"`` (see :func:`finetune`), ``"method"``, ``"config"``, ``"seed"``
        and ``"cached"``.
    """
    from ..store import load_or_train  # lazy, as in mmc_utils.train

    if not isinstance(source_key, Mapping):
        raise TypeError(f"source_key must be a JSON-able mapping identifying the source model and data, "
                        f"got {type(source_key).__name__}")
    _check_model(model)
    _check_data(clean, "clean")
    seed = check_seed("seed", seed)
    pick_device(device)  # an unknown device fails before the cache is looked at
    cfg = resolve_config(method, config)
    key = finetune_key(source_key, model, method, clean, cue, cfg, seed)
    spec = key["spec"]

    def train_fn() -> tuple[dict[str, Tensor], dict]:
        new, history = finetune(model, method, clean, cue, cfg, seed=seed, device=device, desc=desc)
        return state_to_tensors(new), {"method": key["method"], "config": cfg.to_dict(), "seed": seed,
                                       "history": history}

    tensors, meta = load_or_train(key, train_fn, store=store, desc=desc or method, check=fits_spec(spec))
    return tensors_to_model(spec, tensors, device), meta
