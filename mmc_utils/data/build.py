"""From a :class:`CueDataConfig` to every data set an experiment needs.

:func:`build_data` loads (or generates) ``n_train + n_clean`` images of the base's
training split and splits them, class-stratified and at random, into the cue-training set
and a **disjoint** held-out clean set; the test images come from the base's test split.
The cue rule is the paper's: per class, the first ``floor(n_c * p)`` training samples (in
the stored, random order) carry their label's cue. The four evaluation sets NC, C, RC and
RI are built from the test split with the cue on 100 % of the C, RC and RI images.

Pitfall: because the cued samples come first within each class, ``train.subset(range(k))``
is mostly cued; draw evaluation subsets of the training data at random.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..checks import check_choice, check_device, check_memory
from .bases import load_base, num_classes
from .config import CueDataConfig
from .cues import Cue, make_cue
from .rng import derive_generator
from .sets import CueSet
from .splits import first_fraction_per_class, stratified_split

EVAL_SETS: tuple[str, ...] = ("NC", "C", "RC", "RI")
EVAL_SET_DESCRIPTIONS: dict[str, str] = {
    "NC": "no cue: clean test images",
    "C": "cue: the label's cue on every test image",
    "RC": "randomised cue: a cue on every image, its class drawn uniformly at random, independent of the label",
    "RI": "randomised image: the image replaced by another random test image, the label's cue kept",
}
SPLIT_NAMES: tuple[str, ...] = ("train", "clean", "test")


@dataclass
class CueData:
    """The data sets of one configuration.

    Attributes:
        config: the configuration they were built from.
        cue: the cue object shared by all sets.
        train: cue-training set (per class the first ``floor(n_c p)`` samples cued).
        clean: held-out clean set, disjoint from ``train``, no cue.
        test: clean test set.
        clean_train: the training images without any cue (to train a cue-free model θ_NC).
    """

    config: CueDataConfig
    cue: Cue
    train: CueSet
    clean: CueSet
    test: CueSet
    clean_train: CueSet
    _eval: dict[str, CueSet] | None = field(default=None, repr=False)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return self.cue.num_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of a model input (cued image)."""
        return self.train.input_shape

    @property
    def device(self) -> torch.device:
        """Device of the tensors."""
        return self.train.device

    def eval_sets(self) -> dict[str, CueSet]:
        """The four evaluation sets from the test split, keyed ``"NC"``, ``"C"``, ``"RC"``, ``"RI"``.

        NC has no cue; C carries each label's cue; RC carries the cue of a class drawn
        uniformly at random (seeded, independent of the label, so it matches the label one
        time in ``num_classes``); RI replaces each image by another test image (a seeded
        derangement, so never itself) and keeps the *label's* cue. The sets share the test
        images (RI holds a permuted copy) and are built once, then cached.
        """
        if self._eval is None:
            t, seed = self.test, self.config.seed
            cued = t.with_cue_labels(t.labels, "C")
            self._eval = {
                "NC": t.with_cue_labels(torch.full_like(t.labels, -1), "NC"),
                "C": cued,
                "RC": t.with_random_cues(seed, "RC"),
                "RI": cued.with_images_deranged(seed, "RI"),
            }
        return dict(self._eval)

    def all_cued(self, split: str) -> CueSet:
        """The images of ``split`` (``"train"``, ``"clean"`` or ``"test"``) with the label's cue on every one
        (e.g. to fit a quadratic path on data where both endpoints have low loss)."""
        check_choice("split", split, SPLIT_NAMES)
        base = {"train": self.clean_train, "clean": self.clean, "test": self.test}[split]
        return base.with_cue_labels(base.labels, f"{split} (all cued)")

    def to(self, device: str | torch.device) -> "CueData":
        """A copy with every set on ``device`` (an unknown or unavailable device is a ``ValueError``)."""
        device = check_device("device", device)
        sets = {name: getattr(self, name).to(device) for name in ("train", "clean", "test", "clean_train")}
        return CueData(self.config, self.cue, **sets)

    def summary(self) -> dict[str, object]:
        """Sizes and cue counts of the sets, for display."""
        return {
            "base": self.config.base, "cue": repr(self.cue), "p": self.config.p, "input_shape": self.input_shape,
            **{f"n_{name}": len(getattr(self, name)) for name in ("train", "clean", "test")},
            "n_train_cued": self.train.num_cued,
        }


def build_data(config: CueDataConfig, device: str | torch.device | None = None) -> CueData:
    """Build every data set of ``config`` (deterministic given ``config``).

    Args:
        config: the data configuration.
        device: where the tensors live (default CPU); generation always runs on the CPU.

    Returns:
        A :class:`CueData` with ``train``, ``clean``, ``test``, ``clean_train``,
        :meth:`~CueData.eval_sets` and :meth:`~CueData.all_cued`.

    Raises:
        TypeError: ``config`` is not a :class:`CueDataConfig`.
        ValueError: more images requested than the base has.
        FileNotFoundError: a torchvision base is not on disk.
    """
    if not isinstance(config, CueDataConfig):
        raise TypeError(f"config must be a CueDataConfig, got {type(config).__name__}")
    if device is not None:
        device = check_device("device", device)  # before any image is generated
    c = config
    n_images = c.n_train + c.n_clean + c.n_test
    check_memory(f"n_train + n_clean + n_test = {n_images:,} images of {c.image_size}x{c.image_size} pixels "
                 "(lower them or image_size)", n_images * 3 * c.image_size ** 2 * 4)
    k = num_classes(c.base)
    cue = make_cue(c.cue, k, c.image_size, **c.cue_kwargs)
    common = dict(size=c.image_size, seed=c.seed, data_dir=c.data_dir, options=c.base_kwargs)
    try:
        pool_x, pool_y = load_base(c.base, "train", n=c.n_train + c.n_clean, **common)
        test_x, test_y = load_base(c.base, "test", n=c.n_test, **common)
    except ValueError as err:
        raise ValueError(f"n_train + n_clean or n_test too large for base {c.base!r}: {err}") from err
    clean_idx, train_idx = stratified_split(pool_y, c.n_clean, derive_generator(c.seed, "split"))
    train_y = pool_y[train_idx]
    cued = first_fraction_per_class(train_y, c.p)
    train_x = pool_x[train_idx]
    no_cue = torch.full_like(train_y, -1)
    sets = {
        "train": CueSet(train_x, train_y, torch.where(cued, train_y, no_cue), cue, train_idx, "train"),
        "clean_train": CueSet(train_x, train_y, no_cue, cue, train_idx, "clean_train"),
        "clean": CueSet(pool_x[clean_idx], pool_y[clean_idx], torch.full_like(clean_idx, -1), cue, clean_idx,
                        "clean"),
        "test": CueSet(test_x, test_y, torch.full_like(test_y, -1), cue, None, "test"),
    }
    data = CueData(c, cue, **sets)
    return data.to(device) if device is not None else data
