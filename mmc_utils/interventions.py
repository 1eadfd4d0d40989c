"""Interventions, invariance and mechanistic connectivity, as first-class objects.

The paper's vocabulary {cite:p}`lubana2023mechanistic`, in code:

- A *unit intervention* changes one generative attribute of every sample and keeps the rest.
  It is an :class:`Intervention`: a name and a map from a data set to its *counterfactual*.
  Three are defined for any cue type (they act on a :class:`~mmc_utils.data.CueSet`'s cue
  labels or images, never on pixels directly, so box and dominoes cues work alike):

  * ``RC`` (:func:`randomise_cue`): the cue's class is redrawn uniformly at random,
    independently of the label; the image is kept.
  * ``RI`` (:func:`randomise_image`): the natural image is replaced by another sample's
    (a derangement, so never its own); the cue is kept.
  * ``NC`` (:func:`remove_cue`): the cue is removed; the image is kept.

  The *original* data are the cue set C: a base set with the label's cue on every sample
  (:func:`cue_set`). Applied to the test split's C with the data seed, the three
  interventions give exactly the book's evaluation sets NC, RC and RI
  (:meth:`mmc_utils.data.CueData.eval_sets`).
- A model is *invariant* to an intervention if its loss on the counterfactual equals that on
  the original, within a tolerance in nats (:func:`invariance_profile`; an accuracy tolerance
  can be added as a second view).
- Two models are *mechanistically similar* if they are invariant to the same interventions
  (:func:`invariant_set`, :func:`mechanistically_similar`); :func:`profile_distance` is a
  graded version.
- Two models are *mechanistically connected* along a path if they are mode connected on the
  original data AND on every counterfactual (:func:`mechanistic_connectivity`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .checks import check_tolerance
from .data import CueSet
from .paths import Path, barriers, evaluate_path
from .train import evaluate

__all__ = [
    "Intervention", "cue_set", "randomise_cue", "randomise_image", "remove_cue", "standard_interventions",
    "counterfactual_sets", "invariance_profile", "invariant_set", "profile_distance", "mechanistically_similar",
    "mechanistic_connectivity", "profiles_table", "PROFILE_COLUMNS", "LOSS_TOL",
]

PROFILE_COLUMNS: tuple[str, ...] = ("intervention", "loss", "acc", "d_loss", "d_acc", "invariant")
# The default invariance tolerance on |Δloss| (nats). At book scale (seed 0) a clean model's loss
# moves by 0.01-0.31 nats when a box it never saw is added or randomised, a cue model's by 0.8 or
# more when the cue is removed or randomised.
LOSS_TOL = 0.5


@dataclass(frozen=True)
class Intervention:
    """A unit intervention: ``apply(base)`` is the counterfactual of the data set ``base``.

    Attributes:
        name: a short name (used as the set's name and as the profile's row key).
        description: what it changes, in words.
        fn: ``CueSet -> CueSet``; must keep the number, order and labels of the samples.
    """

    name: str
    description: str
    fn: Callable[[CueSet], CueSet] = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty str, got {self.name!r}")
        if not isinstance(self.description, str):
            raise TypeError(f"description must be a str, got {type(self.description).__name__}")
        if not callable(self.fn):
            raise TypeError(f"fn must be a callable CueSet -> CueSet, got {type(self.fn).__name__}")

    def apply(self, base: CueSet) -> CueSet:
        """The counterfactual of ``base`` (same samples, same labels, one attribute changed)."""
        if not isinstance(base, CueSet):
            raise TypeError(f"base must be a CueSet, got {type(base).__name__}")
        out = self.fn(base)
        if not isinstance(out, CueSet):
            raise TypeError(f"intervention {self.name!r} must return a CueSet, returned {type(out).__name__}")
        if len(out) != len(base) or not torch.equal(out.labels, base.labels):
            raise RuntimeError(f"intervention {self.name!r} changed the samples or their labels")
        return out

    def __call__(self, base: CueSet) -> CueSet:
        return self.apply(base)


def cue_set(base: CueSet, name: str = "C") -> CueSet:
    """The original data of the interventions: ``base`` with each label's cue on every sample."""
    if not isinstance(base, CueSet):
        raise TypeError(f"base must be a CueSet, got {type(base).__name__}")
    return base.with_cue_labels(base.labels, name)


def randomise_cue(seed: int = 0) -> Intervention:
    """RC: every sample's cue class drawn uniformly at random (seeded), independent of the label.

    With the data seed, the draw is the one of :meth:`~mmc_utils.data.CueData.eval_sets`.
    """
    def fn(base: CueSet) -> CueSet:
        return base.with_random_cues(seed, "RC")
    return Intervention("RC", "randomise the cue: its class drawn independently of the label", fn)


def randomise_image(seed: int = 0) -> Intervention:
    """RI: every sample's natural image replaced by another sample's (a seeded derangement), cue kept."""
    def fn(base: CueSet) -> CueSet:
        return base.with_images_deranged(seed, "RI")
    return Intervention("RI", "randomise the image: another sample's natural image, the cue kept", fn)


def remove_cue() -> Intervention:
    """NC: the cue removed from every sample, the image kept."""
    def fn(base: CueSet) -> CueSet:
        return base.with_cue_labels(torch.full_like(base.labels, -1), "NC")
    return Intervention("NC", "remove the cue, keep the image", fn)


def standard_interventions(seed: int = 0) -> list[Intervention]:
    """The book's three unit interventions ``[RC, RI, NC]`` (``seed``: the data seed)."""
    return [randomise_cue(seed), randomise_image(seed), remove_cue()]


def counterfactual_sets(original: CueSet, interventions: Sequence[Intervention],
                        original_name: str = "C") -> dict[str, CueSet]:
    """``{original_name: original, intervention name: counterfactual, ...}``.

    Raises:
        ValueError: ``original_name`` is empty or the name of one of the interventions (the original
            would be silently replaced by a counterfactual).
    """
    ivs = _check_interventions(interventions)
    if not isinstance(original_name, str) or not original_name:
        raise ValueError(f"original_name must be a non-empty str, got {original_name!r}")
    if original_name in {iv.name for iv in ivs}:
        raise ValueError(f"original_name {original_name!r} is also the name of an intervention; the sets must "
                         f"have distinct names (interventions: {[iv.name for iv in ivs]})")
    interventions = ivs
    return {original_name: original, **{iv.name: iv.apply(original) for iv in interventions}}


def _check_interventions(interventions: Any) -> list[Intervention]:
    if isinstance(interventions, (Intervention, str)) or not hasattr(interventions, "__iter__"):
        raise TypeError("interventions must be a non-empty sequence of Intervention objects, got "
                        f"{type(interventions).__name__}")
    ivs = list(interventions)
    if not ivs or not all(isinstance(iv, Intervention) for iv in ivs):
        raise TypeError("interventions must be a non-empty sequence of Intervention objects")
    names = [iv.name for iv in ivs]
    if len(set(names)) != len(names):
        raise ValueError(f"intervention names must be unique, got {names}")
    return ivs


def invariance_profile(model: nn.Module, original: CueSet, interventions: Sequence[Intervention],
                       tol: float | None = None, loss_tol: float | None = LOSS_TOL,
                       batch_size: int | None = None) -> pd.DataFrame:
    """How ``model``'s loss and accuracy change under each intervention of ``original``.

    The paper's Definition 3 is on loss: a model is invariant to an intervention when its loss
    on the counterfactual equals its loss on the original. With finite data "equals" needs a
    tolerance: ``loss_tol`` on ``|Δloss|`` decides by default; ``tol`` on ``|Δacc|`` is an
    optional accuracy view (give ``loss_tol=None`` to decide on accuracy alone).

    Args:
        model: the network (evaluated in eval mode, unchanged).
        original: the original data (the cue set C, see :func:`cue_set`).
        interventions: the unit interventions.
        tol: optional tolerance on ``|Δacc|`` in accuracy points (>= 0; ``None``: not used).
        loss_tol: tolerance on ``|Δloss|`` in nats (>= 0; default :data:`LOSS_TOL`; ``None``: not used).
        batch_size: evaluation batch size.

    Returns:
        One row per intervention, indexed by its name: ``loss`` (nats), ``acc`` (%, on the
        counterfactual), ``d_loss`` (nats) and ``d_acc`` (points), both counterfactual minus
        original, and ``invariant`` (every given tolerance met). ``df.attrs`` holds the
        original's ``loss`` and ``acc`` and the tolerances.

    Raises:
        ValueError: a negative or non-finite tolerance, or neither tolerance given.
    """
    if tol is None and loss_tol is None:
        raise ValueError("tol and loss_tol are both None: give at least one tolerance")
    ivs = _check_interventions(interventions)
    if not isinstance(original, CueSet):
        raise TypeError(f"original must be a CueSet, got {type(original).__name__}")
    if tol is not None:
        check_tolerance("tol", tol)
    if loss_tol is not None:
        check_tolerance("loss_tol", loss_tol)
    base = evaluate(model, original, batch_size)
    rows = []
    for iv in ivs:
        r = evaluate(model, iv.apply(original), batch_size)
        d_loss, d_acc = r["loss"] - base["loss"], 100 * (r["acc"] - base["acc"])
        inv = (tol is None or abs(d_acc) <= tol) and (loss_tol is None or abs(d_loss) <= loss_tol)
        rows.append({"intervention": iv.name, "loss": r["loss"], "acc": 100 * r["acc"], "d_loss": d_loss,
                     "d_acc": d_acc, "invariant": bool(inv)})
    df = pd.DataFrame(rows, columns=list(PROFILE_COLUMNS)).set_index("intervention")
    df.attrs.update({"original_loss": base["loss"], "original_acc": 100 * base["acc"], "tol": tol,
                     "loss_tol": loss_tol})
    return df


def _check_profile(p: Any, name: str) -> pd.DataFrame:
    if not isinstance(p, pd.DataFrame) or not {"d_acc", "invariant"} <= set(p.columns):
        raise TypeError(f"{name} must be a DataFrame from invariance_profile")
    d_acc = pd.to_numeric(p["d_acc"], errors="coerce")
    if not np.isfinite(d_acc.to_numpy(dtype=float)).all():
        raise ValueError(f"{name}['d_acc'] must hold finite numbers, got {p['d_acc'].tolist()}")
    return p


def invariant_set(profile: pd.DataFrame) -> frozenset[str]:
    """The names of the interventions the model is invariant to."""
    p = _check_profile(profile, "profile")
    return frozenset(str(k) for k in p.index[p["invariant"].astype(bool)])


def profile_distance(p1: pd.DataFrame, p2: pd.DataFrame) -> float:
    """Graded mechanistic dissimilarity: mean over interventions of ``|Δacc_1 − Δacc_2|`` (points).

    0 for models that react identically to every intervention; at most 100.

    Raises:
        ValueError: the profiles cover different interventions.
    """
    a, b = _check_profile(p1, "p1"), _check_profile(p2, "p2")
    if set(a.index) != set(b.index):
        raise ValueError(f"profiles cover different interventions: {sorted(a.index)} vs {sorted(b.index)}")
    return float((a["d_acc"] - b["d_acc"].reindex(a.index)).abs().mean())


def mechanistically_similar(p1: pd.DataFrame, p2: pd.DataFrame) -> bool:
    """Whether two models are invariant to the same set of interventions."""
    a, b = _check_profile(p1, "p1"), _check_profile(p2, "p2")
    if set(a.index) != set(b.index):
        raise ValueError(f"profiles cover different interventions: {sorted(a.index)} vs {sorted(b.index)}")
    return invariant_set(a) == invariant_set(b)


def mechanistic_connectivity(model: nn.Module, path: Path, original: CueSet,
                             interventions: Sequence[Intervention], *, eps_loss: float = 0.1,
                             eps_err: float = 0.05, original_name: str = "C", return_curves: bool = False,
                             **eval_kwargs: Any) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Barriers of ``path`` on the original data and on every counterfactual.

    Mode connectivity (a barrier at most ``eps``) on the original is ordinary connectivity;
    on the original AND every counterfactual it is *mechanistic* connectivity.

    Args:
        model: the architecture (see :func:`~mmc_utils.paths.evaluate_path`).
        path: the path.
        original: the original data (the cue set C).
        interventions: the unit interventions.
        eps_loss: loss-barrier tolerance (nats) of "connected".
        eps_err: error-barrier tolerance (fraction) of "connected".
        original_name: the original's name in the table.
        return_curves: also return the :func:`~mmc_utils.paths.evaluate_path` table.
        **eval_kwargs: passed to :func:`~mmc_utils.paths.evaluate_path` (``ts``, ``bn_data``,
            ``bn_batches``, ``seed``, ``device``, ...).

    Returns:
        One row per set (original first): ``set``, ``loss_barrier`` (nats), ``err_barrier``
        (fraction) and ``connected`` (both barriers within tolerance). ``df.attrs["mechanistic"]``
        is True when every set is connected. With ``return_curves``, ``(barriers, curves)``.
    """
    check_tolerance("eps_loss", eps_loss)
    check_tolerance("eps_err", eps_err)
    sets = counterfactual_sets(original, interventions, original_name)
    curves = evaluate_path(model, path, sets, **eval_kwargs)
    b = barriers(curves)
    b["connected"] = (b["loss_barrier"] <= eps_loss) & (b["err_barrier"] <= eps_err)
    b.attrs["mechanistic"] = bool(b["connected"].all())
    b.attrs["eps_loss"], b.attrs["eps_err"] = eps_loss, eps_err
    return (b, curves) if return_curves else b


def profiles_table(profiles: Mapping[str, pd.DataFrame], column: str = "d_acc") -> pd.DataFrame:
    """One row per model, one column per intervention: ``column`` of each profile (for display)."""
    return pd.DataFrame({name: p[column] for name, p in profiles.items()}).T
