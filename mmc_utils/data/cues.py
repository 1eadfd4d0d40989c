"""Synthetic cues: a small registry of label-predictive image edits.

A cue turns a batch of base images ``x [B, 3, S, S]`` (values in [-1, 1]) and a batch of
*cue labels* ``[B]`` into cued images. The cue label says which class's cue to draw:
normally the sample's label, a random class for the randomised-cue set (RC), and ``-1``
for "no cue". Cues are applied batch-wise and fully vectorised.

Adding a cue type is a subclass of :class:`Cue` that implements ``_apply`` (and
``out_shape`` if it changes the image shape) plus ``@register_cue("name")``; it is then
available to :func:`make_cue` and to the data configuration.

Registered cues: ``"box"`` (:class:`BoxCue`, the paper's box), ``"dominoes"``
(:class:`DominoesCue`, a class image stacked on top) and ``"none"`` (identity).
"""
from __future__ import annotations

import colorsys
import inspect
from typing import Callable, ClassVar, Sequence, TypeVar

import torch
from torch import Tensor

from ..checks import check_choice, check_images, check_int, check_labels
from .bases import load_raw, to_unit_range
from .rng import derive_generator

C = TypeVar("C", bound=type)
_REGISTRY: dict[str, type["Cue"]] = {}

PURE_GREEN: tuple[float, float, float] = (0.0, 1.0, 0.0)


def register_cue(name: str) -> Callable[[C], C]:
    """Class decorator that registers a :class:`Cue` subclass under ``name``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")

    def deco(cls: C) -> C:
        if not (isinstance(cls, type) and issubclass(cls, Cue)):
            raise TypeError(f"register_cue({name!r}) must decorate a subclass of Cue, got {cls!r}")
        if name in _REGISTRY and _REGISTRY[name].__qualname__ != cls.__qualname__:
            raise ValueError(f"cue name {name!r} is already registered to {_REGISTRY[name].__qualname__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def cue_names() -> tuple[str, ...]:
    """Names of the registered cues."""
    return tuple(_REGISTRY)


def make_cue(name: str, num_classes: int, image_size: int, **kwargs: object) -> "Cue":
    """Build the registered cue ``name`` for ``num_classes`` classes and ``image_size``-pixel images.

    Extra keyword arguments go to the cue's constructor (e.g. ``box_size`` for ``"box"``).
    """
    check_cue_kwargs(name, kwargs)
    return _REGISTRY[name](num_classes, image_size, **kwargs)


def check_cue_kwargs(name: str, kwargs: dict) -> None:
    """Check ``name`` is a registered cue and ``kwargs`` are options of its constructor.

    Raises:
        ValueError: unknown cue, or keys that its constructor does not accept (the accepted ones are listed).
    """
    check_choice("cue", name, cue_names())
    params = inspect.signature(_REGISTRY[name].__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [k for k in params if k not in ("self", "num_classes", "image_size")]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"cue_kwargs has unknown keys {unknown} for cue {name!r}; "
                         f"accepted: {', '.join(accepted) or 'none'}")


class Cue:
    """Base class of cues.

    Args:
        num_classes: number of classes (>= 1).
        image_size: side ``S`` of the square base images the cue is applied to (>= 4).
    """

    name: ClassVar[str] = "cue"
    uses_keys: ClassVar[bool] = False  # True when _apply reads the per-sample keys

    def __init__(self, num_classes: int, image_size: int) -> None:
        self.num_classes = check_int("num_classes", num_classes, minimum=1)
        self.image_size = check_int("image_size", image_size, minimum=4)

    def out_shape(self, in_shape: Sequence[int]) -> tuple[int, ...]:
        """Shape of the cued images for base images of shape ``in_shape`` (``[..., 3, S, S]``)."""
        return tuple(int(s) for s in in_shape)

    def apply(self, x: Tensor, cue_labels: Tensor, keys: Tensor | None = None) -> Tensor:
        """Apply the cue to a batch; the input is not modified.

        Args:
            x: float images ``[B, 3, S, S]`` in [-1, 1], ``S = image_size``.
            cue_labels: int64 ``[B]`` in ``[-1, num_classes)``; ``-1`` means no cue.
            keys: optional int64 ``[B]`` non-negative per-sample identifiers (dataset indices),
                used by cues that pick one of several exemplars per class so that a sample
                always gets the same one; default ``arange(B)``.

        Returns:
            Cued images of shape :meth:`out_shape` ``(x.shape)`` on ``x``'s device and dtype.
        """
        check_images("x", x, 3, self.image_size)
        check_labels("cue_labels", cue_labels, x.shape[0], -1, self.num_classes)
        if keys is None:
            keys = torch.arange(x.shape[0], device=x.device)
        else:
            check_labels("keys", keys, x.shape[0], 0, 2**62)
        return self._apply(x, cue_labels.to(x.device), keys.to(x.device))

    def _apply(self, x: Tensor, cue_labels: Tensor, keys: Tensor | None, inplace: bool = False) -> Tensor:
        """Subclasses implement the cue here, on validated inputs on one device.

        ``keys`` may be ``None`` when ``uses_keys`` is False. ``inplace=True`` means the caller
        owns ``x`` (a fresh copy) and the cue may overwrite it; otherwise ``x`` must not change.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_classes={self.num_classes}, image_size={self.image_size})"


@register_cue("none")
class NoCue(Cue):
    """The identity: returns ``x`` itself (no copy) whatever the cue labels."""

    def _apply(self, x: Tensor, cue_labels: Tensor, keys: Tensor | None, inplace: bool = False) -> Tensor:
        return x


def default_box_size(image_size: int) -> int:
    """Box side in pixels: 1 up to 16 px (so it never covers the object), else ``round(3 S / 32)`` (3 at 32 px, as in the paper)."""
    return 1 if image_size <= 16 else max(1, round(3 * image_size / 32))


@register_cue("box")
class BoxCue(Cue):
    """The paper's box cue: a small square of one colour that *replaces* pixels.

    Location: ``label % 10`` on a 3×3 grid of positions hugging the border (0 upper-left,
    1 upper-centre, 2 upper-right, 3 middle-left, 4 centre, …, 8 lower-right). With exactly
    10 classes, class 9 gets no box. With more classes (CIFAR-100 rule, up to 100) the
    second digit ``label % 10`` picks the location, 9 being a tenth location offset from the
    centre by a quarter of the side towards the upper-left, and the first digit
    ``label // 10`` picks the hue (``digit / 10``, full saturation and value).

    Args:
        num_classes: 1–100.
        image_size: image side ``S``.
        box_size: box side in pixels (default :func:`default_box_size`).
        margin: pixels between the border and the border boxes (default 0, as in the paper).
        colour: RGB in [0, 1] for <= 10 classes (default pure green).
    """

    def __init__(self, num_classes: int, image_size: int, box_size: int | None = None, margin: int = 0,
                 colour: Sequence[float] = PURE_GREEN) -> None:
        super().__init__(num_classes, image_size)
        if self.num_classes > 100:
            raise ValueError(f"num_classes must be <= 100 for the box cue, got {self.num_classes}")
        s = self.image_size
        self.box_size = check_int("box_size", default_box_size(s) if box_size is None else box_size, 1, s // 3)
        self.margin = check_int("margin", margin, 0, (s - 3 * self.box_size) // 2)
        if len(colour) != 3 or not all(0.0 <= float(c) <= 1.0 for c in colour):
            raise ValueError(f"colour must be 3 numbers in [0, 1], got {colour!r}")
        self.colour = tuple(float(c) for c in colour)
        rgb = torch.tensor([self._rgb(label) for label in range(self.num_classes)], dtype=torch.float32)
        self.colours = rgb * 2 - 1                                              # [K, 3] in [-1, 1]
        self.masks = torch.zeros(self.num_classes, s, s, dtype=torch.bool)      # [K, S, S] box pixels
        # Scatter tables, row c + 1 for cue label c (row 0: no cue): flat offsets of the box pixels
        # within one image [K+1, 3 b^2], their colours, and whether the class has a box at all.
        b2 = self.box_size ** 2
        offsets = torch.zeros(self.num_classes + 1, 3, b2, dtype=torch.int64)
        values = torch.zeros(self.num_classes + 1, 3, b2)
        has_box = torch.zeros(self.num_classes + 1, 1, dtype=torch.bool)
        pixel = torch.arange(s * s).view(s, s)
        for label in range(self.num_classes):
            sl = self.box_slices(label)
            if sl is not None:
                self.masks[label][sl] = True
                offsets[label + 1] = pixel[sl].flatten() + torch.arange(3)[:, None] * s * s
                values[label + 1] = self.colours[label][:, None]
                has_box[label + 1] = True
        self._tables = (offsets.flatten(1), values.flatten(1), has_box)
        self._cache: dict[tuple[torch.device, torch.dtype], tuple[Tensor, ...]] = {}

    def box_slices(self, label: int) -> tuple[slice, slice] | None:
        """(row slice, column slice) of the box of ``label``, or ``None`` when it has no box."""
        label = check_int("label", label, 0, self.num_classes - 1)
        s, b, m = self.image_size, self.box_size, self.margin
        loc = label % 10
        if loc == 9:
            if self.num_classes <= 10:
                return None
            r0 = c0 = (s - b) // 2 - s // 4
        else:
            starts = (m, (s - b) // 2, s - b - m)
            r0, c0 = starts[loc // 3], starts[loc % 3]
        return slice(r0, r0 + b), slice(c0, c0 + b)

    def _rgb(self, label: int) -> tuple[float, float, float]:
        if self.num_classes <= 10:
            return self.colour
        return colorsys.hsv_to_rgb((label // 10) / 10, 1.0, 1.0)

    def _apply(self, x: Tensor, cue_labels: Tensor, keys: Tensor | None, inplace: bool = False) -> Tensor:
        key = (x.device, x.dtype)
        if key not in self._cache:
            off, val, has = self._tables
            self._cache[key] = (off.to(x.device), val.to(device=x.device, dtype=x.dtype), has.to(x.device))
        offsets, values, has_box = self._cache[key]
        out = x if inplace and x.is_contiguous() else x.clone(memory_format=torch.contiguous_format)
        flat = out.view(out.shape[0], -1)
        rows = cue_labels + 1
        idx = offsets.index_select(0, rows)                                          # [B, 3 b^2]
        # write the box colour where there is a box, else write the pixels back unchanged
        new = torch.where(has_box.index_select(0, rows), values.index_select(0, rows), flat.gather(1, idx))
        flat.scatter_(1, idx, new)
        return out

    def __repr__(self) -> str:
        return (f"BoxCue(num_classes={self.num_classes}, image_size={self.image_size}, "
                f"box_size={self.box_size}, margin={self.margin})")


# Seven-segment glyphs: segment rectangles (x0, x1, y0, y1) in a unit box (y down) and digits.
_T = 0.2
_SEGMENTS = (
    (0.0, 1.0, 0.0, _T), (1 - _T, 1.0, 0.0, 0.5 + _T / 2), (1 - _T, 1.0, 0.5 - _T / 2, 1.0),
    (0.0, 1.0, 1 - _T, 1.0), (0.0, _T, 0.5 - _T / 2, 1.0), (0.0, _T, 0.0, 0.5 + _T / 2),
    (0.0, 1.0, 0.5 - _T / 2, 0.5 + _T / 2),
)  # a b c d e f g
_DIGITS = ("abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg")


def glyph_bank(num_classes: int, size: int, per_class: int, seed: int = 0, noise: float = 0.1) -> Tensor:
    """Procedural class images: the class number as seven-segment digit(s), grey on black.

    Each exemplar is jittered (position ±10 % of the side, scale ±10 %, brightness 0.4–1)
    and gets Gaussian pixel noise of standard deviation ``noise``.

    Returns:
        float32 ``[num_classes, per_class, size, size]`` in [-1, 1] (background -1).
    """
    g = derive_generator(seed, "glyphs", num_classes, size)
    n_digits = 1 if num_classes <= 10 else len(str(num_classes - 1))
    n = num_classes * per_class
    labels = torch.arange(num_classes).repeat_interleave(per_class)                       # [n]
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size                       # (0, 1)
    scale = 1 + 0.2 * (torch.rand(n, 1, 1, generator=g) - 0.5)
    off = 0.2 * (torch.rand(n, 2, 1, 1, generator=g) - 0.5)
    height = (0.7 if n_digits == 1 else 0.5) * scale
    width = height / 1.6 * n_digits                                                        # glyph block
    y = (coords[None, :, None] - 0.5 - off[:, 1]) / height + 0.5                          # [n, S, 1]
    x = (coords[None, None, :] - 0.5 - off[:, 0]) / width + 0.5                           # [n, 1, S]
    on = torch.tensor([[c in d for c in "abcdefg"] for d in _DIGITS])                     # [10, 7]
    img = torch.zeros(n, size, size, dtype=torch.bool)
    for i in range(n_digits):
        digit = (labels // 10 ** (n_digits - 1 - i)) % 10
        xi = (x * n_digits - i) * 1.25 - 0.125                                             # digit-local x
        for s, (x0, x1, y0, y1) in enumerate(_SEGMENTS):
            inside = (xi >= x0) & (xi < x1) & (y >= y0) & (y < y1)
            img |= inside & on[digit, s][:, None, None]
    level = 0.4 + 0.6 * torch.rand(n, 1, 1, generator=g)
    out = img.float() * (level + 1) - 1 + noise * torch.randn(n, size, size, generator=g)
    return out.clamp_(-1, 1).view(num_classes, per_class, size, size)


def fashion_mnist_bank(num_classes: int, size: int, per_class: int, seed: int = 0,
                       data_dir: str | None = None) -> Tensor:
    """Fashion-MNIST training images of each class (a seeded random choice), resized to ``size``.

    Returns:
        float32 ``[num_classes, m, size, size]`` in [-1, 1], ``m = min(per_class, smallest class count)``.

    Raises:
        ValueError: ``num_classes`` > 10, ``per_class`` < 1, or a class without images.
        FileNotFoundError: Fashion-MNIST is not on disk.
    """
    check_int("num_classes", num_classes, 1, 10)
    check_int("per_class", per_class, minimum=1)
    raw, labels = load_raw("fashion_mnist", "train", data_dir)
    m = min(per_class, int(torch.bincount(labels, minlength=num_classes)[:num_classes].min()))
    if m == 0:
        raise ValueError("the Fashion-MNIST files hold no image of some class")
    g = derive_generator(seed, "fashion_mnist_bank")
    picks = []
    for k in range(num_classes):
        idx = (labels == k).nonzero().flatten()
        picks.append(idx[torch.randperm(len(idx), generator=g)[:m]])
    return to_unit_range(raw[torch.cat(picks)], size)[:, 0].reshape(num_classes, m, size, size)


@register_cue("dominoes")
class DominoesCue(Cue):
    """Dominoes: a simple image of the cue's class stacked on top of the base image.

    Output ``[B, 3, 2S, S]``: rows ``0..S-1`` show the class image (grey, repeated over the
    channels), rows ``S..2S-1`` the base image. Uncued samples (cue label -1) get a blank
    top half (all -1). A sample's exemplar is ``bank[cue label, key % per_class]``, so each
    dataset index keeps its own exemplar (as in the paper, where every CIFAR image is tied to
    one Fashion-MNIST image).

    Args:
        num_classes: number of classes.
        image_size: side ``S`` of the base images.
        source: ``"fashion_mnist"`` (the paper; needs the files, at most 10 classes),
            ``"glyph"`` (procedural seven-segment class numbers, see :func:`glyph_bank`) or
            ``"auto"`` (Fashion-MNIST when it is on disk and ``num_classes <= 10``, else
            glyphs). The choice made is stored in ``self.source``.
        per_class: exemplars per class (default ``max(16, 10000 // num_classes)``).
        seed: seed of the exemplar bank.
        data_dir: where to look for Fashion-MNIST (default as in :mod:`.bases`).
    """

    SOURCES: ClassVar[tuple[str, ...]] = ("auto", "fashion_mnist", "glyph")
    uses_keys: ClassVar[bool] = True

    def __init__(self, num_classes: int, image_size: int, source: str = "auto", per_class: int | None = None,
                 seed: int = 0, data_dir: str | None = None) -> None:
        super().__init__(num_classes, image_size)
        check_choice("source", source, self.SOURCES)
        per_class = max(16, 10_000 // self.num_classes) if per_class is None else per_class
        self.per_class = check_int("per_class", per_class, minimum=1)
        bank = None
        if source == "fashion_mnist" or (source == "auto" and self.num_classes <= 10):
            try:  # raises ValueError for more than 10 classes
                bank = fashion_mnist_bank(self.num_classes, self.image_size, self.per_class, seed, data_dir)
                self.source = "fashion_mnist"
            except FileNotFoundError:
                if source == "fashion_mnist":
                    raise
        if bank is None:
            bank, self.source = glyph_bank(self.num_classes, self.image_size, self.per_class, seed), "glyph"
        self.bank, self.per_class = bank, bank.shape[1]                         # [K, M, S, S]
        self._cache: dict[torch.device, Tensor] = {}

    def out_shape(self, in_shape: Sequence[int]) -> tuple[int, ...]:
        *lead, c, h, w = (int(s) for s in in_shape)
        return (*lead, c, 2 * h, w)

    def _apply(self, x: Tensor, cue_labels: Tensor, keys: Tensor | None, inplace: bool = False) -> Tensor:
        if x.device not in self._cache:
            self._cache[x.device] = self.bank.to(x.device)
        bank = self._cache[x.device]
        top = bank[cue_labels.clamp(min=0), keys % bank.shape[1]].to(x.dtype)          # [B, S, S]
        top = torch.where((cue_labels >= 0)[:, None, None], top, torch.full_like(top, -1.0))
        return torch.cat((top[:, None].expand_as(x), x), dim=2)

    def __repr__(self) -> str:
        return (f"DominoesCue(num_classes={self.num_classes}, image_size={self.image_size}, "
                f"source={self.source!r}, per_class={self.per_class})")
