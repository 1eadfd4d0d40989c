"""Tests of mmc_utils.interventions (seconds on a CPU)."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from mmc_utils.data import BoxCue, CueDataConfig, CueSet, build_data
from mmc_utils.interventions import (LOSS_TOL, Intervention, counterfactual_sets, cue_set, invariance_profile, invariant_set,
                                     mechanistic_connectivity, mechanistically_similar, profile_distance,
                                     profiles_table, randomise_cue, randomise_image, remove_cue,
                                     standard_interventions)
from mmc_utils.paths import LinearPath

K, S = 10, 16
LABEL_ROW = 10  # row where the "natural" attribute lives: pixel (LABEL_ROW, k + 3) lit for class k


@pytest.fixture(autouse=True)
def _no_scale_env(monkeypatch):
    monkeypatch.delenv("MMC_SCALE", raising=False)


def base_set(n: int = 400) -> CueSet:
    """Uncued base images: all -1, except the red channel at (LABEL_ROW, label + 3), which is +1.

    The label pixel never lies under a box (boxes sit on rows 0, 7 and 15 at 16 px).
    """
    cue = BoxCue(K, S)
    labels = torch.arange(n) % K
    images = -torch.ones(n, 3, S, S)
    images[torch.arange(n), 0, LABEL_ROW, labels + 3] = 1.0
    return CueSet(images, labels, torch.full((n,), -1), cue, name="base")


def shape_reader() -> nn.Module:
    """Reads only the natural attribute (never a box pixel): invariant to RC and NC."""
    lin = nn.Linear(3 * S * S, K)
    with torch.no_grad():
        w = torch.zeros(K, 3, S, S)
        for k in range(K):
            w[k, 0, LABEL_ROW, k + 3] = 10.0
        lin.weight.copy_(w.flatten(1))
        lin.bias.zero_()
    return nn.Sequential(nn.Flatten(), lin)


def cue_reader() -> nn.Module:
    """Reads only the box pixels (green channel at each class's box; class 9: no box)."""
    cue = BoxCue(K, S)
    lin = nn.Linear(3 * S * S, K)
    with torch.no_grad():
        w = torch.zeros(K, 3, S, S)
        for k in range(K - 1):
            rows, cols = cue.box_slices(k)
            w[k, 1, rows, cols] = 10.0
        lin.weight.copy_(w.flatten(1))
        lin.bias.zero_()
    return nn.Sequential(nn.Flatten(), lin)


# ----------------------------------------------------------------------------- semantics
def test_cue_set_carries_the_label_cue():
    c = cue_set(base_set())
    assert torch.equal(c.cue_labels, c.labels) and c.name == "C"


def test_randomise_cue_is_independent_of_label():
    c = cue_set(base_set(5000))
    rc = randomise_cue(seed=3).apply(c)
    assert torch.equal(rc.images, c.images) and torch.equal(rc.labels, c.labels)
    assert (rc.cue_labels >= 0).all()
    match = (rc.cue_labels == rc.labels).float().mean().item()
    assert abs(match - 1 / K) < 0.02
    # the cue class is independent of the label: every class's cue class is close to uniform
    for k in range(K):
        counts = torch.bincount(rc.cue_labels[rc.labels == k], minlength=K).float()
        assert counts.min() > 0.4 * counts.mean()
    assert torch.equal(randomise_cue(seed=3).apply(c).cue_labels, rc.cue_labels)  # seeded


def test_randomise_image_takes_another_sample_and_keeps_cue():
    c = cue_set(base_set())
    ri = randomise_image(seed=1).apply(c)
    assert torch.equal(ri.labels, c.labels) and torch.equal(ri.cue_labels, c.cue_labels)
    src = ri.ids  # ids of the images each sample now carries
    assert (src != c.ids).all()
    assert torch.equal(ri.images, c.images[src])
    assert sorted(src.tolist()) == list(range(len(c)))


def test_remove_cue_leaves_no_cue():
    c = cue_set(base_set())
    nc = remove_cue().apply(c)
    assert (nc.cue_labels == -1).all() and torch.equal(nc.images, c.images)
    x_nc, _ = nc.materialize()
    x_base, _ = base_set().materialize()
    assert torch.equal(x_nc, x_base)


def test_interventions_reproduce_the_eval_sets():
    cfg = CueDataConfig.for_scale("smoke")
    data = build_data(cfg)
    ev = data.eval_sets()
    cf = counterfactual_sets(cue_set(data.test), standard_interventions(cfg.seed))
    assert list(cf) == ["C", "RC", "RI", "NC"]
    for name in ("C", "RC", "RI", "NC"):
        a, b = cf[name].materialize(), ev[name].materialize()
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]), name


def test_interventions_work_for_dominoes():
    data = build_data(CueDataConfig.for_scale("smoke", cue="dominoes", n_train=50, n_clean=20, n_test=40))
    c = cue_set(data.test)
    for iv in standard_interventions(0):
        x, y = iv.apply(c).materialize()
        assert x.shape[-2:] == (2 * S, S) and torch.equal(y, c.labels)
    x_nc, _ = remove_cue().apply(c).materialize()
    assert (x_nc[:, :, :S] == -1).all()  # blank top half


def test_intervention_must_keep_labels():
    bad = Intervention("bad", "shuffles labels", lambda s: CueSet(s.images, s.labels.flip(0), s.cue_labels, s.cue))
    with pytest.raises(RuntimeError):
        bad.apply(cue_set(base_set()))
    with pytest.raises(TypeError):
        remove_cue().apply("not a set")
    with pytest.raises(ValueError):
        counterfactual_sets(cue_set(base_set()), [remove_cue(), remove_cue()])


# ----------------------------------------------------------------------------- invariance
def test_profiles_of_shape_reader_and_cue_reader():
    c = cue_set(base_set())
    ivs = standard_interventions(0)
    ps, pc = invariance_profile(shape_reader(), c, ivs), invariance_profile(cue_reader(), c, ivs)
    assert ps.attrs["original_acc"] == pytest.approx(100.0) and pc.attrs["original_acc"] == pytest.approx(100.0)
    assert invariant_set(ps) == frozenset({"RC", "NC"})
    assert invariant_set(pc) == frozenset({"RI"})
    assert ps.loc["RC", "d_acc"] == 0 and ps.loc["NC", "d_loss"] == pytest.approx(0.0, abs=1e-6)
    assert ps.loc["RI", "d_acc"] < -80
    assert pc.loc["NC", "acc"] == pytest.approx(10.0)  # always "class 9"
    assert not mechanistically_similar(ps, pc) and mechanistically_similar(ps, ps)
    assert profile_distance(ps, ps) == 0.0
    d = profile_distance(ps, pc)
    assert d == pytest.approx(profile_distance(pc, ps)) and 50 < d <= 100
    assert list(ps.columns) == ["loss", "acc", "d_loss", "d_acc", "invariant"]
    assert set(profiles_table({"s": ps, "c": pc}).columns) == {"RC", "RI", "NC"}


def test_tolerances():
    c = cue_set(base_set())
    ivs = standard_interventions(0)
    loose = invariance_profile(cue_reader(), c, ivs, tol=100.0, loss_tol=None)
    assert invariant_set(loose) == frozenset({"RC", "RI", "NC"})
    strict_loss = invariance_profile(cue_reader(), c, ivs, tol=100.0, loss_tol=1e-6)
    assert invariant_set(strict_loss) == frozenset({"RI"})
    # Definition 3 is on loss: by default the loss tolerance alone decides, the accuracy view is optional
    default = invariance_profile(cue_reader(), c, ivs)
    assert default.attrs["loss_tol"] == LOSS_TOL and default.attrs["tol"] is None
    assert list(default["invariant"]) == list(default["d_loss"].abs() <= LOSS_TOL)
    with pytest.raises(ValueError):
        invariance_profile(cue_reader(), c, ivs, tol=-1)
    with pytest.raises(ValueError, match="both None"):
        invariance_profile(cue_reader(), c, ivs, tol=None, loss_tol=None)
    with pytest.raises(ValueError):
        profile_distance(loose, loose.drop(index="RI"))


def test_mechanistic_connectivity():
    c = cue_set(base_set())
    ivs = standard_interventions(0)
    a, b = shape_reader(), cue_reader()
    same = mechanistic_connectivity(a, LinearPath(a.state_dict(), a.state_dict()), c, ivs, ts=[0, 0.5, 1])
    assert list(same["set"]) == ["C", "RC", "RI", "NC"]
    assert (same[["loss_barrier", "err_barrier"]].abs() < 1e-6).all().all() and same.attrs["mechanistic"]
    table, curves = mechanistic_connectivity(a, LinearPath(a.state_dict(), b.state_dict()), c, ivs,
                                             ts=[0, 0.25, 0.5, 0.75, 1], return_curves=True)
    assert isinstance(curves, pd.DataFrame) and set(curves["set"]) == {"C", "RC", "RI", "NC"}
    assert table["connected"].tolist() == [
        (lb <= 0.1) and (eb <= 0.05) for lb, eb in zip(table["loss_barrier"], table["err_barrier"])]
    assert table.attrs["mechanistic"] == bool(table["connected"].all())
    # both ends are perfect on C and agree there: connected on C ...
    assert table.set_index("set").loc["C", "err_barrier"] == pytest.approx(0.0, abs=1e-9)
