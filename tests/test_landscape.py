"""Tests of mmc_utils.landscape (seconds on a CPU)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mmc_utils.data import BoxCue, CueSet
from mmc_utils.landscape import (LandscapeConfig, evaluate_plane, load_or_evaluate_plane, plane_through,
                                 project_path)
from mmc_utils.paths import BezierPath, LinearPath
from mmc_utils.store import Store


class TinyNet(nn.Module):
    def __init__(self, k: int = 10, width: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU())
        self.head = nn.Linear(width, k)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


def nets(n=3):
    out = []
    for s in range(n):
        torch.manual_seed(s)
        out.append(TinyNet())
    return out


def small_set(n=60):
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 10
    return CueSet(torch.rand(n, 3, 16, 16, generator=g) * 2 - 1, labels, labels.clone(), BoxCue(10, 16))


def flat(state, keys):
    return torch.cat([state[k].double().flatten() for k in keys])


def test_basis_is_orthonormal_and_points_are_reproduced():
    a, b, c = nets()
    plane = plane_through(a, a, b, c)
    assert np.allclose(plane.basis_gram(), np.eye(2), atol=1e-6)
    assert set(plane.keys) == {n for n, _ in a.named_parameters()}
    for m in (a, b, c):
        x, y, res = plane.coords(m.state_dict())
        assert res < 1e-4
        st = plane.point(x, y)
        assert torch.allclose(flat(st, plane.keys), flat(m.state_dict(), plane.keys), atol=1e-5)
    x0, y0, _ = plane.coords(a.state_dict())
    x1, y1, _ = plane.coords(b.state_dict())
    assert (x0, y0) == pytest.approx((0.0, 0.0), abs=1e-7)
    d = (flat(b.state_dict(), plane.keys) - flat(a.state_dict(), plane.keys)).norm().item()
    assert (x1, y1) == pytest.approx((d, 0.0), abs=1e-5)
    # buffers come from the origin
    assert torch.equal(plane.point(1.0, 1.0)["body.1.running_mean"], a.state_dict()["body.1.running_mean"])


def test_paths_lie_in_the_plane():
    a, b, c = nets()
    plane = plane_through(a, a, b, c)
    ts = [0, 0.3, 0.5, 1]
    for path in (LinearPath(a.state_dict(), b.state_dict()), BezierPath([a.state_dict(), c.state_dict(),
                                                                         b.state_dict()])):
        assert project_path(plane, path, ts)[:, 2].max() < 1e-4
    torch.manual_seed(9)
    off = TinyNet()
    assert plane.coords(off.state_dict())[2] > 1e-2


def test_collinear_points_are_rejected():
    a, b, _ = nets()
    mid = {k: (v + b.state_dict()[k]) / 2 if v.is_floating_point() else v for k, v in a.state_dict().items()}
    with pytest.raises(ValueError):
        plane_through(a, a, b, mid)


def test_evaluate_plane_and_cache(tmp_path):
    a, b, c = nets()
    data = small_set()
    plane = plane_through(a, a, b, c)
    grids = evaluate_plane(a, plane, {"C": data}, [0.0, 1.0], [0.0, 0.5, 1.0], bn_data=data, bn_batches=1,
                           bn_batch_size=20)
    assert grids["loss/C"].shape == (3, 2) and ((grids["acc/C"] >= 0) & (grids["acc/C"] <= 1)).all()
    store = Store(tmp_path)
    cfg = LandscapeConfig.for_scale("smoke", n_per_set=30, bn_batch_size=20)
    p1, g1, m1 = load_or_evaluate_plane(a, a, b, c, {"C": data, "NC": data}, bn_data=data, config=cfg, store=store)
    p2, g2, m2 = load_or_evaluate_plane(a, a, b, c, {"C": data, "NC": data}, bn_data=data, config=cfg, store=store)
    assert not m1["cached"] and m2["cached"]
    assert g1["loss/C"].shape == (3, 3) and np.allclose(g1["loss/NC"], g2["loss/NC"])
    assert g1["points"].shape == (3, 2) and np.allclose(g1["points"][0], 0)
    # the grid covers the three points
    assert g1["alphas"].min() < g1["points"][:, 0].min() and g1["alphas"].max() > g1["points"][:, 0].max()


def test_profile_bars_and_pair_scatter_views():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from mmc_utils.plots_landscape import pair_scatter, profile_bars

    prof = pd.DataFrame({"d_loss": [0.1, 2.0], "d_acc": [-1.0, -40.0], "invariant": [True, False]}, index=["RC", "NC"])
    fig = profile_bars({"a": prof, "b": prof}, tol=0.5, column="d_loss")
    assert fig.axes[0].get_ylabel() == "Δloss vs C (nats)"
    assert [round(p.get_height(), 3) for p in fig.axes[0].patches[:2]] == [0.1, 0.1]
    with pytest.raises(ValueError, match="column"):
        profile_bars({"a": prof}, column="loss")
    pairs = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0.0, 0.5, 1.0], "similar": [True, False, False],
                          "shared_origin": [True, False, True]})
    fig2 = pair_scatter(pairs, "x", "y", hue="similar", style="shared_origin", label=None)
    labels = sorted(t.get_text() for t in fig2.axes[0].get_legend().get_texts())
    assert labels == ["not similar, not shared_origin", "not similar, shared_origin", "similar, shared_origin"]
    plt.close("all")
