"""Checked claims: every finding a chapter states is computed and asserted by code.

A notebook opens a :class:`Claims` book with its name, scale and seed, and calls
:meth:`Claims.check` for each finding. Each check is recorded in
``$MMC_CLAIMS_DIR/<notebook>.json`` (default ``_build/claims/``, see :mod:`.locations`) as an object with ``id``,
``statement``, ``holds`` and ``values`` (the numbers it was judged on). A failed claim
raises :class:`ClaimFailed` when ``MMC_STRICT_CLAIMS`` is ``1``/``true``/``yes``/``on`` (the test
harness sets ``1``; an unknown value is a ``ValueError``) and
otherwise shows a visible warning, so a reader exploring another seed or scale sees what
no longer holds instead of a crash.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checks import SEED_LIMIT, check_int, env_flag
from .scales import SCALES
from .locations import claims_dir
from .store import canonical_json


class ClaimFailed(AssertionError):
    """A chapter's claim did not hold under strict checking."""


class ClaimWarning(UserWarning):
    """A chapter's claim did not hold (non-strict mode)."""


def strict() -> bool:
    """True when failed claims must raise: ``MMC_STRICT_CLAIMS`` is ``1``, ``true``, ``yes`` or ``on`` (any case).

    Raises:
        ValueError: any other value than those or ``0``, ``false``, ``no``, ``off`` or empty (a misspelt
            setting must not silently turn strict checking off).
    """
    return env_flag("MMC_STRICT_CLAIMS")


def _plain(value: Any) -> Any:
    """Turn tensors / numpy scalars into JSON numbers (NaN becomes None)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _json_values(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as plain JSON (see :func:`_plain`); ``TypeError`` naming the first value that is not."""
    out = {}
    for key, value in values.items():
        plain = _plain(value)
        try:
            canonical_json(plain)
        except (TypeError, ValueError, RecursionError) as err:
            raise TypeError(f"claim value {key!r} must be a number, str, bool, list, dict, array or tensor, got "
                            f"{type(value).__name__}: {err}") from None
        out[key] = plain
    return out


class Claims:
    """The claims of one notebook.

    Args:
        notebook: the notebook's stem, e.g. ``"01_cue_datasets"`` (names the JSON file).
        scale: the scale the notebook ran at.
        seed: the seed the notebook ran with.
        display: show a one-line verdict under the cell for each claim (in Jupyter).
    """

    def __init__(self, notebook: str, scale: str, seed: int, display: bool = True):
        if not notebook or not isinstance(notebook, str) or "/" in notebook:
            raise ValueError(f"notebook must be a file stem such as '01_cue_datasets', got {notebook!r}")
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
        seed = check_int("seed", seed, minimum=0, maximum=SEED_LIMIT - 1)
        if not isinstance(display, bool):
            raise TypeError(f"display must be a bool, got {type(display).__name__} {display!r}")
        strict()  # a misspelt MMC_STRICT_CLAIMS fails here, at the notebook's start, not at the first failed claim
        self.notebook, self.scale, self.seed, self.display = notebook, scale, int(seed), display
        self.records: list[dict[str, Any]] = []
        self.path = claims_dir() / f"{notebook}.json"
        self._write()

    def check(self, claim_id: str, statement: str, holds: bool, **values: Any) -> bool:
        """Record a claim and enforce it.

        Args:
            claim_id: a short stable identifier (unique within the notebook).
            statement: the finding in words, as the chapter states it.
            holds: whether the computed numbers support the statement.
            **values: the numbers the verdict was judged on (recorded in the JSON).

        Returns:
            ``holds``.

        Raises:
            ClaimFailed: if it does not hold and ``MMC_STRICT_CLAIMS=1``.
        """
        if not isinstance(claim_id, str) or not claim_id:
            raise ValueError(f"claim_id must be a non-empty str, got {claim_id!r}")
        if not isinstance(holds, (bool, np.bool_)) and not (isinstance(holds, torch.Tensor) and holds.dtype == torch.bool
                                                             and holds.dim() == 0):
            raise TypeError(f"holds must be a bool (the verdict of a comparison), got {type(holds).__name__} {holds!r}")
        if not isinstance(statement, str):
            raise TypeError(f"statement must be a str, got {type(statement).__name__}")
        if any(r["id"] == claim_id for r in self.records):
            raise ValueError(f"claim_id {claim_id!r} is already used in {self.notebook}")
        holds = bool(holds)
        record = {"id": claim_id, "statement": statement, "holds": holds, "values": _json_values(values)}
        self.records.append(record)  # only a record that can be written: a bad value never stays behind
        self._write()
        if self.display:
            self._show(record)
        if not holds:
            message = f"claim {claim_id!r} does not hold at scale={self.scale}, seed={self.seed}: {statement} {record['values']}"
            if strict():
                raise ClaimFailed(message)
            warnings.warn(message, ClaimWarning, stacklevel=2)
        return holds

    def summary(self) -> list[dict[str, Any]]:
        """All records so far (a list of dicts)."""
        return list(self.records)

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"notebook": self.notebook, "scale": self.scale, "seed": self.seed, "claims": self.records}
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(json.loads(canonical_json(doc)), indent=1))
        os.replace(tmp, self.path)

    def _show(self, record: dict[str, Any]) -> None:
        try:
            from IPython import get_ipython
            from IPython.display import Markdown, display
        except ImportError:  # pragma: no cover
            return
        if get_ipython() is None:
            return
        mark = "✅ holds" if record["holds"] else "❌ does NOT hold"
        display(Markdown(f"**Claim** `{record['id']}` {mark}: {record['statement']}"))
