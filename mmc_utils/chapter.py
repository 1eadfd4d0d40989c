"""What every chapter does first: resolve its parameters, seed, and open its claims.

A chapter's first code cell after the parameters is::

    ch = chapter.start("01_cue_datasets", SCALE, SEED, DEVICE)

and then uses ``ch.scale``, ``ch.seed``, ``ch.device``, ``ch.check(...)`` for claims,
``ch.glue(...)`` for numbers in the prose and :func:`show_code` to print the source of a
key function for the reader. In a checkout, :func:`start` also glues ``book_time``: the
chapter's last measured time at ``book`` scale (see :mod:`mmc_utils.booktime`), which the
box at the top of the chapter shows.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch

from .booktime import chapter_time
from .claims import Claims
from .codeview import method_source
from .runtime import pick_device, seed_everything
from .scales import resolve_scale


@dataclass
class Chapter:
    """The resolved run parameters of one notebook and its claims book."""

    name: str
    scale: str
    seed: int
    device: torch.device
    claims: Claims

    def check(self, claim_id: str, statement: str, holds: bool, **values: Any) -> bool:
        """Record and enforce a claim (see :meth:`mmc_utils.claims.Claims.check`)."""
        return self.claims.check(claim_id, statement, holds, **values)

    def glue(self, name: str, value: Any, display: bool = False) -> Any:
        """Glue ``value`` under ``name`` for the prose (myst-nb), and return it.

        Numbers are converted to plain Python floats/ints so that format specs such as
        ``{glue:text}`name:.1f``` work.
        """
        if isinstance(value, torch.Tensor):
            value = value.item() if value.numel() == 1 else value.tolist()
        if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
            value = value.item()
        try:
            from myst_nb import glue
        except ImportError:  # pragma: no cover - myst-nb is a dependency
            return value
        glue(name, value, display=display)
        return value


def start(name: str, scale: str | None, seed: int, device: str | None = "auto") -> Chapter:
    """Resolve ``scale`` (``MMC_SCALE`` wins), pick the device, seed everything, open claims.

    In a notebook of a checkout it also glues ``book_time``, the chapter's measured time.
    """
    scale = resolve_scale(scale)
    dev = pick_device(device)
    seed_everything(seed)
    ch = Chapter(name=name, scale=scale, seed=int(seed), device=dev, claims=Claims(name, scale, seed))
    measured = chapter_time(name)
    if measured is not None and _in_ipython():
        from IPython.display import Markdown

        ch.glue("book_time", Markdown(measured))
    return ch


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    return get_ipython() is not None


def show_code(obj: Any, method_only: bool = False) -> None:
    """Display the source code of a function or class from ``mmc_utils`` in the notebook.

    Args:
        obj: the function, method or class.
        method_only: show only the method: the docstring's first paragraph and the statements
            that do the work, without the argument checks (see :mod:`mmc_utils.codeview`).
    """
    from IPython.display import Markdown, display

    source = method_source(obj) if method_only else inspect.getsource(obj)
    module = inspect.getmodule(obj)
    where = f"`{module.__name__}.{obj.__qualname__}`" if module else f"`{obj.__qualname__}`"
    display(Markdown(f"{where}:\n\n```python\n{source}\n```"))
