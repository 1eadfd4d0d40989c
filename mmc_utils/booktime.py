"""How long each chapter takes at ``book`` scale: the last measurement, for the box that opens a chapter.

``benchmarks/book_timing.py`` executes every chapter from an empty checkpoint cache and writes
``benchmarks/results/book_timing.json``::

    {"measured": "2026-12-02", "machine": "2-core x86_64 CPU", "scale": "book", "seed": 0,
     "cache": "empty", "seconds": {"01_cue_datasets": 123, ...}, "html_build_seconds": 8}

:func:`chapter_time` turns a chapter's entry into the sentence the book shows (glued by
:func:`mmc_utils.chapter.start` as ``book_time``). The file is part of the repository, not of
the wheel: outside a checkout there is no measurement to show, and nothing is glued.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from .locations import checkout_root

TIMING_FILE = Path("benchmarks") / "results" / "book_timing.json"


def timing_path() -> Path | None:
    """The committed measurement file of the checkout, or None outside a checkout."""
    root = checkout_root()
    return root / TIMING_FILE if root is not None else None


def load_timings(path: Path | None = None) -> dict[str, Any] | None:
    """The measurement (see the module's docstring), or None when there is no file."""
    path = timing_path() if path is None else Path(path)
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text())


def describe(chapter: str, timings: Mapping[str, Any]) -> str | None:
    """A phrase for ``chapter`` (a notebook stem), e.g. ``"123 s (about 2 min) on a 2-core ..."``; None if absent."""
    seconds = timings.get("seconds", {}).get(chapter)
    if seconds is None:
        return None
    return (f"{seconds:.0f} s (about {max(1, round(seconds / 60))} min) on a {timings['machine']} "
            f"(measured on {timings['measured']}, the chapters run in order from an empty checkpoint cache)")


def chapter_time(chapter: str) -> str | None:
    """The sentence for ``chapter`` from the checkout's measurement file, or None."""
    timings = load_timings()
    return describe(chapter, timings) if timings else None
