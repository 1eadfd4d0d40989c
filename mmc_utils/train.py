"""Seeded training and evaluation of classifiers on tensor-resident batches.

Data sets are duck-typed: any object with ``len(ds)`` and
``ds.batches(batch_size, shuffle=False, generator=None, drop_last=False)`` yielding
``(x [B, C, H, W] float, y [B] int64)`` works. Batches are moved to the model's device if
they live elsewhere.

Conventions: losses are mean cross-entropy in nats; accuracies are fractions in [0, 1];
learning rates are set per optimizer step (see :meth:`TrainConfig.lr_at`).
"""
from __future__ import annotations

import dataclasses
import math
import time
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import accel
from .checks import (batchnorm_batch_guard, check_choice, check_config_fields, check_config_int, check_config_real,
                     check_finite_data, check_finite_state, check_label_batch, check_module, check_num_classes,
                     check_seed, labels_checked, model_num_classes)
from .models import build_model, model_spec
from .runtime import make_generator, pick_device, progress
from .scales import preset

__all__ = [
    "TrainConfig",
    "train_model",
    "evaluate",
    "evaluate_sets",
    "predict_logits",
    "eval_mode",
    "mode_under_no_grad",
    "state_to_tensors",
    "tensors_to_model",
    "load_or_train_model",
    "EVAL_BATCH_CPU",
    "EVAL_BATCH_ACCEL",
]

SCHEDULES: tuple[str, ...] = ("cosine", "step", "constant")
# Left out of cache keys: they change only float rounding. ``amp`` stays in (bf16 forwards are a
# different recipe); load_or_train_model records it as applied: True on CUDA only.
RUNTIME_ONLY_FIELDS: tuple[str, ...] = ("compile", "channels_last")
# Default evaluation batch sizes. On a 2-core CPU, SmallCNN inference on 16x16 images runs at
# ~37k img/s for batches of 64-512 but ~16k img/s at 1024 (activations fall out of cache).
# cross_entropy's ignore_index (-100 by default) would silently skip samples labelled -100; no label is this value,
# so every out-of-range label is an error (valid labels are unaffected).
NO_IGNORE = -(2**62)
EVAL_BATCH_CPU = 256
EVAL_BATCH_ACCEL = 1024


# ----------------------------------------------------------------------------- configuration
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of SGD training (no warm-up).

    Attributes:
        epochs: passes over the data (>= 1).
        lr: peak learning rate (> 0).
        momentum: SGD momentum in [0, 1).
        weight_decay: L2 coefficient (>= 0), applied to every parameter.
        batch_size: samples per step (>= 1).
        schedule: ``"cosine"`` (per-step, from ``lr`` to 0), ``"step"`` (``lr * gamma ** (epoch // step_size)``)
            or ``"constant"``.
        step_size: epochs between decays for ``"step"`` (>= 1).
        gamma: decay factor for ``"step"``, in (0, 1].
        label_smoothing: cross-entropy label smoothing in [0, 1).
        drop_last: drop the last incomplete batch of every epoch.
        amp: bf16 autocast (CUDA only; ignored elsewhere).
        channels_last: channels-last memory format (CUDA only; ignored elsewhere).
        compile: ``torch.compile`` the training forward pass: ``False``, ``True`` (mode "default") or a
            mode of :data:`mmc_utils.accel.COMPILE_MODES`; falls back to eager on failure.
    """

    epochs: int
    lr: float
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    schedule: str = "cosine"
    step_size: int = 40
    gamma: float = 0.1
    label_smoothing: float = 0.0
    drop_last: bool = False
    amp: bool = False
    channels_last: bool = False
    compile: bool | str = False

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "step_size"):
            check_config_int(name, getattr(self, name), 1)
        check_config_real("lr", self.lr, 0.0, math.inf, lo_open=True, hi_open=True)
        check_config_real("momentum", self.momentum, 0.0, 1.0, hi_open=True)
        check_config_real("weight_decay", self.weight_decay, 0.0, math.inf, hi_open=True)
        check_config_real("gamma", self.gamma, 0.0, 1.0, lo_open=True)
        check_config_real("label_smoothing", self.label_smoothing, 0.0, 1.0, hi_open=True)
        check_choice("schedule", self.schedule, SCHEDULES)
        for name in ("drop_last", "amp", "channels_last"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        accel.compile_mode(self.compile)

    @classmethod
    def for_scale(cls, scale: str | None = None, **overrides: Any) -> "TrainConfig":
        """Preset for a scale (``MMC_SCALE`` overrides ``scale``, see :func:`mmc_utils.scales.resolve_scale`).

        paper: SGD lr 0.1, momentum 0.9, wd 1e-4, batch 256, 100 epochs, lr x0.1 every 40 epochs, bf16
        autocast and channels-last on CUDA;
        book: lr 0.05 cosine, momentum 0.9, wd 5e-4, batch 128, 7 epochs (the book's time budget; measured
        on 20,000 images, 2 CPU cores, seed 0: θ_NC reached 92.2% clean test accuracy after 6 epochs, 96.4%
        after 8 (27 s), 98.5% after 12 (41 s)); smoke: as book, 1 epoch.
        ``overrides`` replace fields (unknown names raise TypeError).
        """
        check_config_fields(cls, overrides)
        return cls(**{**preset(_PRESETS, scale), **overrides})

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-able dict (``TrainConfig(**cfg.to_dict()) == cfg``)."""
        return dataclasses.asdict(self)

    def key_dict(self) -> dict[str, Any]:
        """Fields that affect the result (for cache keys): :meth:`to_dict` minus runtime-only flags."""
        return {k: v for k, v in self.to_dict().items() if k not in RUNTIME_ONLY_FIELDS}

    def steps_per_epoch(self, n: int) -> int:
        """Optimizer steps per epoch on ``n`` samples."""
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """Learning rate of optimizer step ``step`` (0-based) given ``steps_per_epoch``.

        cosine: ``lr * (1 + cos(pi * step / total_steps)) / 2``; step: ``lr * gamma ** (epoch // step_size)``
        with ``epoch = step // steps_per_epoch``; constant: ``lr``.
        """
        if self.schedule == "cosine":
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * step / (self.epochs * steps_per_epoch)))
        if self.schedule == "step":
            return self.lr * self.gamma ** ((step // steps_per_epoch) // self.step_size)
        return self.lr


_PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(epochs=100, lr=0.1, momentum=0.9, weight_decay=1e-4, batch_size=256,
                  schedule="step", step_size=40, gamma=0.1, amp=True, channels_last=True),
    "book": dict(epochs=7, lr=0.05, momentum=0.9, weight_decay=5e-4, batch_size=128, schedule="cosine"),
    "smoke": dict(epochs=1, lr=0.05, momentum=0.9, weight_decay=5e-4, batch_size=128, schedule="cosine"),
}


# ----------------------------------------------------------------------------- helpers
def _check_data(data: Any, name: str = "data") -> int:
    if not hasattr(data, "batches") or not hasattr(data, "__len__"):
        raise TypeError(f"{name} must have __len__ and batches(batch_size, shuffle, generator, drop_last); "
                        f"got {type(data).__name__}")
    n = len(data)
    if n == 0:
        raise ValueError(f"{name} is empty")
    return n


def _check_batch_size(batch_size: Any, device: torch.device | None = None) -> int:
    """Validate ``batch_size``; ``None`` means :data:`EVAL_BATCH_CPU` on the CPU, else :data:`EVAL_BATCH_ACCEL`."""
    if batch_size is None and device is not None:
        return EVAL_BATCH_CPU if device.type == "cpu" else EVAL_BATCH_ACCEL
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextmanager
def mode_under_no_grad(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """Put ``model`` in train (``training=True``) or eval mode under ``torch.no_grad`` and
    restore every submodule's own mode afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.train(training)
    try:
        with torch.no_grad():
            yield model
    finally:
        for m, was_training in modes:
            m.training = was_training


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode under ``torch.no_grad`` and restore every submodule's mode afterwards."""
    with mode_under_no_grad(model, False):
        yield model


def _eval_batches(model: nn.Module, data: Any, batch_size: int | None) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(logits [B, K] float32, y [B])`` over ``data`` in order, on the model's device."""
    check_module("model", model)
    _check_data(data)
    check_finite_state("model", model)
    k = model_num_classes(model)
    check_num_classes("data", data, k)
    checked = labels_checked("data", data, k)
    device = _model_device(model)
    for x, y in data.batches(_check_batch_size(batch_size, device), shuffle=False):
        if not checked:
            check_label_batch("data", y, k)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        yield model(x).float(), y


# ----------------------------------------------------------------------------- evaluation
def evaluate(model: nn.Module, data: Any, batch_size: int | None = None) -> dict[str, float | int]:
    """Mean cross-entropy (nats) and accuracy of ``model`` on ``data``, in eval mode without gradients.

    ``batch_size=None`` picks :data:`EVAL_BATCH_CPU` (256) on the CPU and :data:`EVAL_BATCH_ACCEL`
    (1024) elsewhere; the batch size does not change the result beyond float rounding.

    Returns:
        ``{"loss": float, "acc": float in [0, 1], "n": int}``. The model's (and every
        submodule's) training mode is restored afterwards.
    """
    check_module("model", model)
    loss_sum = correct = None
    n = 0
    with eval_mode(model):
        for logits, y in _eval_batches(model, data, batch_size):
            batch_loss = F.cross_entropy(logits, y, reduction="sum")
            batch_correct = (logits.argmax(1) == y).sum()
            loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
            correct = batch_correct if correct is None else correct + batch_correct
            n += y.numel()
    result = {"loss": float(loss_sum) / n, "acc": float(correct) / n, "n": n}
    if not math.isfinite(result["loss"]):
        check_finite_data("data", data)  # error path: name NaN/inf images rather than return a NaN loss
    return result


def evaluate_sets(model: nn.Module, sets: Mapping[str, Any], batch_size: int | None = None) -> dict[str, dict]:
    """:func:`evaluate` on each named data set: ``{name: {"loss", "acc", "n"}}``."""
    if not isinstance(sets, Mapping):
        raise TypeError(f"sets must be a mapping name -> data set, got {type(sets).__name__}")
    return {name: evaluate(model, ds, batch_size) for name, ds in sets.items()}


def predict_logits(model: nn.Module, data: Any, batch_size: int | None = None) -> Tensor:
    """Logits ``[N, num_classes]`` (float32, on the CPU) of ``model`` on ``data`` in order, in eval mode."""
    check_module("model", model)
    with eval_mode(model):
        logits = torch.cat([logits.cpu() for logits, _ in _eval_batches(model, data, batch_size)])
    if not bool(torch.isfinite(logits).all()):
        check_finite_data("data", data)  # error path, as in evaluate
    return logits


# ----------------------------------------------------------------------------- training
def train_model(model: nn.Module, data: Any, config: TrainConfig, *, seed: int,
                device: str | torch.device | None = None, desc: str = "") -> dict[str, Any]:
    """Train ``model`` in place with SGD on ``data`` and return the history.

    Shuffling uses a CPU ``torch.Generator`` seeded with ``seed``; the initial weights are the
    caller's business (see ``build_model(init_seed=...)``). On the CPU the result is
    bit-identical for a given model, data and seed. On CUDA, ``amp``, ``channels_last`` and ``compile``
    apply (:mod:`mmc_utils.accel`) and the host waits for the device at epoch boundaries only, never per step.

    Args:
        model: a classifier ``[B, C, H, W] -> [B, K]``; moved to ``device`` and left in train mode.
        data: a data set (see module docstring).
        config: the hyper-parameters.
        seed: non-negative int seeding the shuffling.
        device: passed to :func:`mmc_utils.runtime.pick_device` (``None``: auto / ``MMC_DEVICE``).
        desc: progress-bar label.

    Returns:
        ``{"loss": [per-epoch mean training CE, nats], "acc": [per-epoch training accuracy],
        "lr": [lr of each epoch's last step], "seconds": [wall time per epoch], "steps": total steps}``.
    """
    check_module("model", model)
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    seed = check_seed("seed", seed)
    n = _check_data(data)
    check_finite_state("model", model)
    num_classes = model_num_classes(model)
    check_num_classes("data", data, num_classes)
    labels_ok = labels_checked("data", data, num_classes)
    spe = config.steps_per_epoch(n)
    if spe == 0:
        raise ValueError(f"data has {n} samples, fewer than batch_size={config.batch_size} with drop_last=True")
    device = pick_device(device)
    model.to(device)
    if config.channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr_at(0, spe), momentum=config.momentum,
                                weight_decay=config.weight_decay)
    mode = accel.compile_mode(config.compile)
    forward, autocast = accel.compile_model(model, mode), accel.autocast(device, config.amp)

    def sgd_step(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:  # no host sync: everything stays queued
        accel.mark_step(mode if forward is not model else None)
        optimizer.zero_grad(set_to_none=True)
        with autocast(), batchnorm_batch_guard(x):
            logits = forward(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing, ignore_index=NO_IGNORE)
        loss.backward()
        optimizer.step()
        return logits, loss

    generator = make_generator(seed)
    history: dict[str, Any] = {"loss": [], "acc": [], "lr": [], "seconds": [], "steps": 0}
    step = 0
    for epoch in range(config.epochs):
        t0, seen = time.perf_counter(), 0
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        batches = data.batches(config.batch_size, shuffle=True, generator=generator, drop_last=config.drop_last)
        for x, y in progress(batches, desc=f"{desc or 'train'} {epoch + 1}/{config.epochs}", total=spe):
            if not labels_ok:  # a duck-typed set: dtype and shape per batch, values on the error path (no sync)
                check_label_batch("data", y, num_classes, values=False)
            x, y = accel.as_input(x, device, config.channels_last), y.to(device, non_blocking=True)
            for group in optimizer.param_groups:
                group["lr"] = config.lr_at(step, spe)
            try:
                logits, loss = sgd_step(x, y)
            except Exception as err:  # noqa: BLE001 - only a compiled forward (or its backward) may fail here
                if forward is model:
                    if not labels_ok:  # error path: out-of-range labels get a clear error, not torch's IndexError
                        check_label_batch("data", y, num_classes)
                    raise
                warnings.warn(f"compiled model failed ({type(err).__name__}: {err}); training eagerly",
                              stacklevel=2)
                forward = model
                logits, loss = sgd_step(x, y)
            with torch.no_grad():  # accumulate on the device: no host sync per step
                loss_sum += loss.detach() * y.numel()
                correct += (logits.argmax(1) == y).sum()
            seen += y.numel()
            step += 1
        history["loss"].append(float(loss_sum) / max(seen, 1))
        history["acc"].append(float(correct) / max(seen, 1))
        history["lr"].append(optimizer.param_groups[0]["lr"])
        history["seconds"].append(time.perf_counter() - t0)
        if not math.isfinite(history["loss"][-1]):
            check_finite_data("data", data, config.batch_size)  # NaN/inf images: an error, not a warning
            warnings.warn(f"{desc or 'training'}: non-finite loss in epoch {epoch + 1}", stacklevel=2)
    history["steps"] = step
    return history


# ----------------------------------------------------------------------------- storage
def state_to_tensors(model: nn.Module) -> dict[str, Tensor]:
    """The full ``state_dict`` (parameters and buffers, incl. BN running stats and
    ``num_batches_tracked``) as detached, contiguous CPU clones (safe for safetensors)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def tensors_to_model(spec: Mapping[str, Any], tensors: Mapping[str, Tensor],
                     device: str | torch.device | None = "cpu") -> nn.Module:
    """Rebuild a model with ``build_model(**spec)`` and load ``tensors`` strictly; returned in eval mode.

    Args:
        spec: build arguments (as from :func:`mmc_utils.models.model_spec`).
        tensors: a full state dict (as from :func:`state_to_tensors`).
        device: where to put the model (``None``: :func:`mmc_utils.runtime.pick_device`).
    """
    if not isinstance(spec, Mapping) or "name" not in spec:
        raise TypeError(f"spec must be a mapping of build_model arguments with a 'name', got {spec!r}")
    model = build_model(**spec)
    try:
        model.load_state_dict(dict(tensors), strict=True)
    except RuntimeError as err:
        raise ValueError(f"tensors do not fit the model of spec {dict(spec)}: {' '.join(str(err).split())}") from err
    return model.to(pick_device(device)).eval()


def load_or_train_model(spec: Mapping[str, Any], train_cfg: TrainConfig, data: Any, data_key: Mapping[str, Any],
                        *, seed: int, device: str | torch.device | None = None, store: Any = None,
                        desc: str = "") -> tuple[nn.Module, dict]:
    """Load a trained model from the checkpoint store, or build (``init_seed=seed``), train and store it.

    The cache key is ``{"spec": canonical model spec, "train": train_cfg.key_dict() with "amp" as applied
    (True on CUDA only), "data": data_key, "seed": seed}``; ``data_key`` must describe ``data`` completely.
    Both paths return the model rebuilt from the stored tensors, on ``device``, in eval mode.

    Returns:
        ``(model, meta)`` with ``meta["history"]`` the training history (see :func:`train_model`).
    """
    from .store import load_or_train  # lazy: the store is optional for everything else

    if not isinstance(train_cfg, TrainConfig):
        raise TypeError(f"train_cfg must be a TrainConfig, got {type(train_cfg).__name__}")
    if not isinstance(data_key, Mapping):
        raise TypeError(f"data_key must be a JSON-able mapping describing the data, got {type(data_key).__name__}")
    if not isinstance(spec, Mapping):
        raise TypeError(f"spec must be a mapping of build_model arguments, got {type(spec).__name__}")
    seed = check_seed("seed", seed)
    _check_data(data)
    canonical = model_spec(build_model(**spec, init_seed=0))  # init_seed: leave the global RNG alone
    applied = {"amp": train_cfg.amp and pick_device(device).type == "cuda"}  # amp is ignored off CUDA
    config = {"spec": canonical, "train": {**train_cfg.key_dict(), **applied}, "data": dict(data_key), "seed": seed}

    def train_fn() -> tuple[dict[str, Tensor], dict]:
        model = build_model(**canonical, init_seed=seed)
        history = train_model(model, data, train_cfg, seed=seed, device=device, desc=desc)
        return state_to_tensors(model), {"spec": canonical, "train": train_cfg.to_dict(), "seed": seed,
                                         "history": history}

    tensors, meta = load_or_train(config, train_fn, store=store, desc=desc, check=fits_spec(canonical))
    return tensors_to_model(canonical, tensors, device), meta


def fits_spec(spec: Mapping[str, Any]) -> Any:
    """A ``check(tensors, meta)`` for :func:`mmc_utils.store.load_or_train`: ``ValueError`` unless the
    cached tensors load into ``build_model(**spec)`` and are finite (else the entry is rebuilt)."""
    def check(tensors: Mapping[str, Tensor], meta: Mapping[str, Any]) -> None:
        tensors_to_model(spec, tensors, "cpu")
        check_finite_state("cached tensors", tensors)
    return check
