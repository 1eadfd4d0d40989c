"""Fast tests of mmc_utils.paths (a few seconds on 2 CPU cores)."""
from __future__ import annotations

import copy
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from mmc_utils.paths import (
    BezierPath, LinearPath, MidpointState, PathConfig, PolygonalChain, barrier, barriers, connected,
    evaluate_path, fixed_batches, load_or_train_midpoint, model_at, reestimate_bn_, reestimate_bn_stacked,
    state_fingerprint, subsample_sets, train_midpoint,
)
from mmc_utils.paths.bn import reset_bn_state
from mmc_utils.store import Store
from mmc_utils.train import evaluate

from _support import TensorSet




class TinyNet(nn.Module):
    """conv-BN-ReLU x2, global average pool, linear: [B, 3, H, W] -> [B, k]."""

    def __init__(self, k: int = 3, width: int = 6) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.Conv2d(width, width, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        self.head = nn.Linear(width, k)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


def separable_set(n: int = 96, k: int = 3, side: int = 8, seed: int = 0, dtype=torch.float32) -> TensorSet:
    """Class c lights up colour channel c (plus noise)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    x = 0.5 * torch.randn(n, 3, side, side, generator=g)
    x[torch.arange(n), y] += 1.0
    return TensorSet(x.to(dtype), y)


def trained_net(seed: int, data: TensorSet, steps: int = 30, width: int = 6) -> TinyNet:
    torch.manual_seed(seed)
    net = TinyNet(width=width)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(steps // 3):
        for x, y in data.batches(32, shuffle=True, generator=g):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    return net.eval()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is as fast, and 2 threads crawl on a busy machine
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _cpu(monkeypatch):
    monkeypatch.setenv("MMC_DEVICE", "cpu")
    monkeypatch.delenv("MMC_SCALE", raising=False)


@pytest.fixture(scope="module")
def setup():
    data = separable_set(96, seed=0)
    test = separable_set(60, seed=1)
    a, b = trained_net(0, data), trained_net(1, data)
    return data, test, a, b


def _assert_states_equal(s1, s2):
    assert s1.keys() == s2.keys()
    for k in s1:
        assert torch.equal(s1[k], s2[k]), k


# ----------------------------------------------------------------------------- curves
def test_paths_hit_their_end_points_exactly(setup):
    _, _, a, b = setup
    sa, sb = a.state_dict(), b.state_dict()
    mid = {k: (v + 1 if v.is_floating_point() else v + 5) for k, v in sa.items()}
    for path in (LinearPath(a, b), BezierPath([sa, mid, sb]), PolygonalChain([sa, mid, sb])):
        _assert_states_equal(path.point(0.0), sa)
        _assert_states_equal(path.point(1), sb | {k: sa[k] for k in sa if not sa[k].is_floating_point()})
        stacked = path.points([0.0, 1.0])
        for k in sa:  # integer buffers are copied from the start
            ref_end = sb[k] if sa[k].is_floating_point() else sa[k]
            assert torch.equal(stacked[k][0], sa[k]) and torch.equal(stacked[k][1], ref_end)
    t, w = 0.3, "body.0.weight"
    quad = BezierPath([sa, mid, sb]).point(t)[w]
    torch.testing.assert_close(quad, (1 - t) ** 2 * sa[w] + 2 * t * (1 - t) * mid[w] + t ** 2 * sb[w])
    torch.testing.assert_close(LinearPath(sa, sb).point(t)[w], t * sb[w] + (1 - t) * sa[w])
    chain = PolygonalChain([sa, mid, sb])
    _assert_states_equal({w: chain.point(0.5)[w]}, {w: mid[w]})
    torch.testing.assert_close(chain.point(0.75)[w], 0.5 * mid[w] + 0.5 * sb[w])
    # cubic Bezier: coefficients are the Bernstein polynomials, summing to one
    c = BezierPath([sa, mid, mid, sb]).coefficients(torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64))
    torch.testing.assert_close(c.sum(1), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(c[1], torch.tensor([27, 27, 9, 1], dtype=torch.float64) / 64)


def test_gradients_flow_through_the_path():
    torch.manual_seed(0)
    net = TinyNet().double().train()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.track_running_stats = False
    data = separable_set(16, dtype=torch.float64)
    x, y = data.x, data.y
    sa = {k: v.detach().clone() for k, v in net.named_parameters()}
    sb = {k: v + 0.3 * torch.randn_like(v) for k, v in sa.items()}
    mid = {k: (v + 0.2 * torch.randn_like(v)).requires_grad_(True) for k, v in sa.items()}
    path = BezierPath([sa, mid, sb])

    def loss_at(t, m=mid):
        return F.cross_entropy(functional_call(net, BezierPath([sa, m, sb]).point(t), (x,)), y)

    t = torch.tensor(0.37, dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(functional_call(net, path.point(t), (x,)), y)
    g_t, g_w = torch.autograd.grad(loss, [t, mid["head.weight"]])
    h = 1e-6
    with torch.no_grad():
        fd_t = (loss_at(0.37 + h) - loss_at(0.37 - h)) / (2 * h)
        e = torch.zeros_like(mid["head.weight"])
        e[1, 2] = h
        plus = {**mid, "head.weight": mid["head.weight"] + e}
        minus = {**mid, "head.weight": mid["head.weight"] - e}
        fd_w = (loss_at(0.37, plus) - loss_at(0.37, minus)) / (2 * h)
    assert abs(float(g_t) - float(fd_t)) < 1e-6 * max(1.0, abs(float(fd_t)))
    assert abs(float(g_w[1, 2]) - float(fd_w)) < 1e-6
    assert torch.autograd.gradcheck(lambda s: loss_at(s), (torch.tensor(0.6, dtype=torch.float64,
                                                                         requires_grad=True),))


# ----------------------------------------------------------------------------- BatchNorm
def test_reestimation_is_a_cumulative_average(setup):
    data, _, a, _ = setup
    batches = fixed_batches(data, 3, 20, seed=4)
    assert len(batches) == 3 and all(x.shape[0] == 20 for x in batches)
    assert all(torch.equal(u, v) for u, v in zip(batches, fixed_batches(data, 3, 20, seed=4)))
    # direct: per-batch mean and unbiased variance of every BN input in a train-mode pass, averaged
    net = copy.deepcopy(a).train()
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    seen = {i: [] for i in range(len(bns))}
    hooks = [m.register_forward_pre_hook(lambda m, inp, i=i: seen[i].append(inp[0].detach()))
             for i, m in enumerate(bns)]
    with torch.no_grad():
        for x in batches:
            net(x)
    for h in hooks:
        h.remove()
    ours = reestimate_bn_(copy.deepcopy(a), batches)
    ours_bns = [m for m in ours.modules() if isinstance(m, nn.BatchNorm2d)]
    stacked = reestimate_bn_stacked(copy.deepcopy(a), LinearPath(a, a).points([0.0, 0.5]), batches)
    for i, m in enumerate(ours_bns):
        mean = torch.stack([z.mean((0, 2, 3)) for z in seen[i]]).mean(0)
        var = torch.stack([z.var((0, 2, 3), unbiased=True) for z in seen[i]]).mean(0)
        torch.testing.assert_close(m.running_mean, mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(m.running_var, var, rtol=1e-5, atol=1e-6)
        assert int(m.num_batches_tracked) == 3
        name = [n for n, mm in ours.named_modules() if mm is m][0]
        for j in range(2):
            torch.testing.assert_close(stacked[f"{name}.running_mean"][j], m.running_mean, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(stacked[f"{name}.running_var"][j], m.running_var, rtol=1e-5, atol=1e-6)
    assert ours.training is False and all(m.momentum == 0.1 for m in ours_bns)  # modes and momenta restored


def test_reset_bn_state_shapes(setup):
    _, _, a, _ = setup
    s = reset_bn_state(a, a.state_dict())
    assert torch.equal(s["body.1.running_var"], torch.ones(6)) and int(s["body.1.num_batches_tracked"]) == 0


# ----------------------------------------------------------------------------- evaluation
def test_end_points_reproduce_the_models(setup):
    data, test, a, b = setup
    sets = {"train": data, "test": test}
    ref = {name: (evaluate(a, ds), evaluate(b, ds)) for name, ds in sets.items()}
    df = evaluate_path(a, LinearPath(a, b), sets, ts=[0.0, 1.0], bn="interpolate", batch_size=25)
    assert list(df.columns) == ["t", "set", "loss", "acc", "err"] and len(df) == 4
    for name, (ra, rb) in ref.items():
        r0 = df[(df.t == 0.0) & (df.set == name)].iloc[0]
        r1 = df[(df.t == 1.0) & (df.set == name)].iloc[0]
        assert r0.loss == pytest.approx(ra["loss"], rel=1e-6) and r0.acc == ra["acc"]
        assert r1.loss == pytest.approx(rb["loss"], rel=1e-6) and r1.acc == rb["acc"]
        assert r0.err == pytest.approx(1 - r0.acc)
    # keep: start's buffers everywhere, so t = 0 is theta_2 and t = 1 is theta_1 with theta_2's BN statistics
    keep = evaluate_path(a, LinearPath(a, b), {"test": test}, ts=[0.0, 1.0], bn="keep")
    hybrid = copy.deepcopy(b)
    hybrid.load_state_dict({**b.state_dict(), **dict(a.named_buffers())})
    assert keep.loss.iloc[0] == pytest.approx(ref["test"][0]["loss"], rel=1e-6)
    assert keep.loss.iloc[1] == pytest.approx(evaluate(hybrid, test)["loss"], rel=1e-6)
    # reestimate: each end point with its own statistics re-estimated on the same batches
    est = evaluate_path(a, LinearPath(a, b), {"test": test}, ts=[0.0, 1.0], bn_data=data, bn_batches=3,
                        bn_batch_size=20, seed=2)
    batches = fixed_batches(data, 3, 20, seed=2)
    for i, net in enumerate((a, b)):
        r = evaluate(reestimate_bn_(copy.deepcopy(net), batches), test)
        assert est.loss.iloc[i] == pytest.approx(r["loss"], rel=1e-6) and est.acc.iloc[i] == r["acc"]
    # model_at gives the same network
    net = model_at(a, LinearPath(a, b), 1.0, bn_data=data, bn_batches=3, bn_batch_size=20, seed=2)
    assert evaluate(net, test)["loss"] == pytest.approx(est.loss.iloc[1], rel=1e-6) and not net.training


@pytest.mark.parametrize("bn", ["reestimate", "interpolate", "keep"])
def test_vmap_equals_loop(setup, bn):
    data, test, a, b = setup
    mid = {k: (v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v)
           for k, v in a.state_dict().items()}
    path = BezierPath([a, mid, b])
    kw = dict(ts=[0.0, 0.25, 0.5, 1.0], bn=bn, bn_data=data, bn_batches=2, bn_batch_size=24, batch_size=32)
    loop = evaluate_path(a, path, {"train": data, "test": test}, method="loop", **kw)
    vm = evaluate_path(a, path, {"train": data, "test": test}, method="vmap", **kw)
    pd.testing.assert_frame_equal(loop[["t", "set"]], vm[["t", "set"]])
    torch.testing.assert_close(torch.tensor(vm.loss.values), torch.tensor(loop.loss.values), rtol=1e-5, atol=1e-6)
    assert (vm.acc.values == loop.acc.values).all()


def test_default_grid_and_input_model_untouched(setup):
    data, test, a, b = setup
    before = {k: v.clone() for k, v in a.state_dict().items()}
    a.train()
    df = evaluate_path(a, LinearPath(a, b), {"test": test}, bn_data=data, bn_batches=1, bn_batch_size=32)
    assert df.t.tolist() == [k / 10 for k in range(11)] and df.t.iloc[-1] == 1.0
    assert a.training and all(m.training for m in a.modules())
    _assert_states_equal(a.state_dict(), before)
    a.eval()


def test_bad_input(setup):
    data, test, a, b = setup
    wide = TinyNet(width=8)
    with pytest.raises(ValueError, match="different shape"):
        LinearPath(a, wide)
    with pytest.raises(ValueError, match="different shape"):
        BezierPath([a.state_dict(), {k: v for k, v in list(b.state_dict().items())[1:]}, b.state_dict()])
    with pytest.raises(ValueError, match="different shape"):
        evaluate_path(wide, LinearPath(a, b), {"test": test}, bn="keep")
    path = LinearPath(a, b)
    for t in (-0.1, 1.5, float("nan"), torch.tensor([0.2, 0.3])):
        with pytest.raises(ValueError):
            path.point(t)
    with pytest.raises(TypeError):
        path.point("0.5")
    with pytest.raises(ValueError, match="t must lie in"):
        evaluate_path(a, path, {"test": test}, ts=[0.0, 1.2], bn="keep")
    with pytest.raises(ValueError, match="bn must be one of"):
        evaluate_path(a, path, {"test": test}, bn="average")
    with pytest.raises(ValueError, match="method must be one of"):
        evaluate_path(a, path, {"test": test}, bn="keep", method="fast")
    with pytest.raises(ValueError, match="sets must be a non-empty"):
        evaluate_path(a, path, {}, bn="keep")
    with pytest.raises(ValueError, match="is empty"):
        evaluate_path(a, path, {"none": TensorSet(test.x[:0], test.y[:0])}, bn="keep")
    with pytest.raises(ValueError, match="needs bn_data"):
        evaluate_path(a, path, {"test": test})
    with pytest.raises(ValueError, match="at least 2"):
        BezierPath([a])
    with pytest.raises(ValueError, match="fewer than bn_batch_size"):
        fixed_batches(test, 1, 200)


# ----------------------------------------------------------------------------- barriers
def test_barrier_arithmetic():
    ts = [0.0, 0.25, 0.5, 0.75, 1.0]
    assert barrier(ts, [1.0] * 5) == 0.0  # flat
    assert barrier(ts, [1.0, 1.75, 2.0, 1.75, 1.0]) == pytest.approx(1.0)  # bump
    assert barrier(ts, [1.0, 2.0, 3.5, 4.0, 5.0]) == pytest.approx(0.5)  # bump over a sloped line
    assert barrier(ts, [1.0, 0.2, 0.1, 0.3, 1.0]) == 0.0  # below the line: only the end points count
    assert barrier([1.0, 0.0, 0.5], [3.0, 1.0, 4.0]) == pytest.approx(2.0)  # order of points is free
    with pytest.raises(ValueError, match="end points"):
        barrier([0.0, 0.5], [1.0, 2.0])
    with pytest.raises(ValueError, match="same length"):
        barrier([0.0, 1.0], [1.0])
    df = pd.DataFrame({"t": ts * 2, "set": ["C"] * 5 + ["NC"] * 5,
                       "loss": [1.0, 1.75, 2.0, 1.75, 1.0] + [0.5] * 5,
                       "acc": [0.9, 0.5, 0.4, 0.6, 0.8] + [0.9] * 5})
    b = barriers(df)
    assert b.set.tolist() == ["C", "NC"]
    assert b.loss_barrier.tolist() == pytest.approx([1.0, 0.0])
    assert b.err_barrier.tolist() == pytest.approx([0.45, 0.0])  # err 0.6 at t=0.5 vs line 0.15
    assert connected(b, 1.0) and not connected(b, 0.5) and not connected(df, 0.4, metric="err")
    assert connected(0.1, 0.1) and not connected(0.2, 0.1)
    with pytest.raises(ValueError, match="eps"):
        connected(0.1, -1.0)
    with pytest.raises(ValueError, match="metric"):
        connected(b, 0.1, metric="acc")


# ----------------------------------------------------------------------------- midpoint
def test_midpoint_training_lowers_the_path_loss(setup):
    data, _, a, b = setup
    kw = dict(epochs=10, lr=0.1, batch_size=16, seed=3)
    mid = train_midpoint(TinyNet, a, b, data, **kw)
    assert isinstance(mid, MidpointState) and mid.keys() == a.state_dict().keys()
    assert len(mid.history["loss"]) == 10 and mid.history["steps"] == 60
    torch.testing.assert_close(mid["body.1.running_mean"], (a.body[1].running_mean + b.body[1].running_mean) / 2)
    torch.manual_seed(3)
    init = TinyNet().state_dict()
    ev = dict(ts=[0.25, 0.5, 0.75], bn_data=data, bn_batches=2, bn_batch_size=24)
    before = evaluate_path(a, BezierPath([a, init, b]), {"train": data}, **ev)
    after = evaluate_path(a, BezierPath([a, mid, b]), {"train": data}, **ev)
    assert after.loss.max() < 0.5 * before.loss.max()  # the worst point (t = 0.5) improves most
    assert (after.loss.values < before.loss.values).all()
    again = train_midpoint(TinyNet, a, b, data, **kw)  # deterministic for a seed
    _assert_states_equal(dict(again), dict(mid))
    # end points are frozen
    assert state_fingerprint(a) == state_fingerprint(copy.deepcopy(a)) != state_fingerprint(b)


def test_load_or_train_midpoint_caches(setup, tmp_path):
    data = separable_set(48, side=8)
    from mmc_utils.models import build_model

    spec = {"name": "small_cnn", "num_classes": 3, "width": 4}
    a, b = build_model(**spec, init_seed=0).eval(), build_model(**spec, init_seed=1).eval()
    store = Store(tmp_path, version="test")
    kw = dict(epochs=1, lr=0.05, batch_size=16, seed=0, store=store)
    m1, meta1 = load_or_train_midpoint(spec, a, b, data, {"name": "sep48"}, **kw)
    m2, meta2 = load_or_train_midpoint(spec, a, b, data, {"name": "sep48"}, **kw)
    assert not meta1["cached"] and meta2["cached"] and len(m2.history["loss"]) == 1
    _assert_states_equal(dict(m1), dict(m2))
    _, meta3 = load_or_train_midpoint(spec, b, a, data, {"name": "sep48"}, **kw)  # other end points
    assert not meta3["cached"]


def test_path_config_presets():
    book = PathConfig.for_scale("book")
    assert book.ts == [k / 10 for k in range(11)] and (book.bn_batches, book.eval_images) == (5, 500)
    smoke = PathConfig.for_scale("smoke")
    assert smoke.ts == [0.0, 0.5, 1.0] and smoke.bn_batches == 2
    paper = PathConfig.for_scale("paper")
    assert (paper.midpoint_epochs, paper.midpoint_lr, paper.midpoint_batch_size) == (15, 0.1, 128)
    # the authors' step schedule at paper scale: lr 0.1, x0.1 after 10 epochs; the book keeps a cosine
    kw = paper.midpoint_kwargs()
    assert (kw["schedule"], kw["step_size"], kw["gamma"], kw["momentum"], kw["weight_decay"]) == ("step", 10, 0.1, 0.9, 1e-4)
    assert book.midpoint_kwargs()["schedule"] == "cosine"
    with pytest.raises(ValueError, match="midpoint_schedule"):
        PathConfig(midpoint_schedule="linear")
    assert set(book.eval_kwargs()) == {"ts", "bn_batches", "bn_batch_size", "batch_size", "max_images"}
    assert paper.eval_images is None and smoke.eval_images is None
    with pytest.raises(ValueError, match="eval_images"):
        PathConfig(eval_images=0)
    assert book.midpoint_kwargs()["epochs"] == 5
    with pytest.raises(ValueError, match="num_points"):
        PathConfig(num_points=1)
    with pytest.raises(TypeError, match="unknown"):
        PathConfig.for_scale("book", grid=3)
    assert math.isclose(PathConfig.for_scale("book", midpoint_lr=0.1).midpoint_lr, 0.1)


def test_subsample_sets_paired_seeded_and_exact_when_small():
    from mmc_utils.data import CueDataConfig, build_data

    data = build_data(CueDataConfig.for_scale("smoke", seed=0))
    sets = data.eval_sets()
    n = len(sets["NC"])
    cut = subsample_sets(sets, n // 2, seed=3)
    assert all(len(ds) == n // 2 for ds in cut.values())
    # NC and C are the same test images with and without the cue: still the same images and labels
    assert torch.equal(cut["NC"].labels, cut["C"].labels)
    again = subsample_sets(sets, n // 2, seed=3)
    assert torch.equal(again["RI"].materialize()[0], cut["RI"].materialize()[0])
    other = subsample_sets(sets, n // 2, seed=4)
    assert not torch.equal(other["NC"].materialize()[0], cut["NC"].materialize()[0])
    assert subsample_sets(sets, None, seed=0)["NC"] is sets["NC"]
    assert subsample_sets(sets, n, seed=0)["NC"] is sets["NC"]
    with pytest.raises(ValueError, match="max_images"):
        subsample_sets(sets, 0, seed=0)
    plain = TensorSet(torch.zeros(10, 3, 4, 4), torch.zeros(10, dtype=torch.long))
    with pytest.raises(TypeError, match="no subset"):
        subsample_sets({"x": plain}, 5, seed=0)


class _SubsettableSet(TensorSet):
    def subset(self, idx):
        return _SubsettableSet(self.x[idx], self.y[idx])


def test_evaluate_path_max_images_scores_the_subset(setup):
    data, test, a, b = setup
    sets = {"A": _SubsettableSet(test.x, test.y), "B": _SubsettableSet(test.x.flip(0), test.y.flip(0))}
    path = LinearPath(a.state_dict(), b.state_dict())
    kw = dict(ts=[0.0, 0.5, 1.0], bn_data=data, bn_batches=2, bn_batch_size=32, seed=5, device="cpu")
    cut = evaluate_path(a, path, sets, max_images=25, **kw)
    same = evaluate_path(a, path, subsample_sets(sets, 25, seed=5), **kw)
    pd.testing.assert_frame_equal(cut, same)
    full = evaluate_path(a, path, sets, **kw)
    assert not cut["loss"].equals(full["loss"])
