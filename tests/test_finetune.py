"""Fast tests of mmc_utils.finetune (a few seconds on 2 CPU cores)."""
from __future__ import annotations

import copy
import json
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

import mmc_utils.finetune.methods as ft_methods
from mmc_utils.data import CueDataConfig, build_data
from mmc_utils.finetune import (
    METHODS, PAPER_TABLE1, FinetuneConfig, barrier_loss, cbft_path, compare_with_paper, draw_t, finetune,
    invariance_loss, load_or_finetune, paper_table1, results_table, run_cbft,
)
from mmc_utils.models import build_model
from mmc_utils.store import Store

ALL_METHODS = METHODS + ("ft_small", "ft_medium", "ft_large")


@pytest.fixture(autouse=True)
def _cpu_one_thread(monkeypatch):
    monkeypatch.setenv("MMC_DEVICE", "cpu")
    monkeypatch.delenv("MMC_SCALE", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    return build_data(CueDataConfig.for_scale("smoke", n_train=256, n_clean=96, n_test=64, image_size=8))


@pytest.fixture()
def model():
    return build_model("small_cnn", 10, width=4, init_seed=0)


def cfg(method: str = "cbft", **kw) -> FinetuneConfig:
    return FinetuneConfig.for_scale("smoke", method, batch_size=32, llr_batch_size=32, **kw)


def state(m) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def assert_same(a: dict, b: dict, keys=None) -> None:
    for k in keys if keys is not None else a:
        assert torch.equal(a[k], b[k]), k


def differs(a: dict, b: dict) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- every method
@pytest.mark.parametrize("method", ALL_METHODS)
def test_method_returns_new_model_and_leaves_input_untouched(method, model, data):
    before = state(model)
    new, hist = finetune(model, method, data.clean, data.train, cfg(method), seed=0)
    assert new is not model and not new.training
    assert_same(before, state(model))
    assert differs(before, state(new))
    json.dumps(hist)  # JSON-able (stored as metadata)
    assert hist["method"] == (method if method in METHODS else "ft")


def test_llr_changes_only_the_head_and_keeps_bn_statistics(model, data):
    model(torch.randn(4, 3, 8, 8))  # non-trivial running statistics
    before = state(model)
    new, hist = finetune(model, "llr", data.clean, config=cfg("llr"), seed=0)
    after = state(new)
    body = [k for k in before if not k.startswith("head.")]
    assert any("running_mean" in k for k in body) and any("num_batches_tracked" in k for k in body)
    assert_same(before, after, body)
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert hist["llr"]["steps"] == cfg("llr").llr_epochs * 3


def test_lpft_first_phase_is_exactly_llr(model, data, monkeypatch):
    llr, h_llr = finetune(model, "llr", data.clean, config=cfg("lpft"), seed=3)
    full, h_lpft = finetune(model, "lpft", data.clean, config=cfg("lpft"), seed=3)
    assert h_lpft["llr"]["loss"] == h_llr["llr"]["loss"]
    assert differs(state(llr), state(full))
    monkeypatch.setattr(ft_methods, "_ft_phase", lambda *a, **k: {})
    phase1, _ = finetune(model, "lpft", data.clean, config=cfg("lpft"), seed=3)
    assert_same(state(llr), state(phase1))


# ----------------------------------------------------------------------------- CBFT
def test_cbft_never_modifies_reference(model, data):
    theta, ref = copy.deepcopy(model), copy.deepcopy(model)
    before = state(ref)
    hist = run_cbft(theta, ref, data.clean, data.train, cfg(), seed=0, device=torch.device("cpu"))
    assert_same(before, state(ref))
    assert differs(before, state(theta))
    assert all(not p.requires_grad for p in ref.parameters())
    assert hist["steps"] == 2 * hist["iterations"]  # a barrier step every iteration, warm-up included


def test_path_orientation(model):
    theta, ref = copy.deepcopy(model), build_model("small_cnn", 10, width=4, init_seed=1)
    path = cbft_path(theta, ref)
    for k, p in theta.named_parameters():
        assert torch.equal(path.point(0.0)[k], p)
        assert torch.equal(path.point(1.0)[k], ref.state_dict()[k])
        torch.testing.assert_close(path.point(0.25)[k], 0.25 * ref.state_dict()[k] + 0.75 * p.detach())


def test_barrier_gradient_matches_finite_difference_and_chain_rule(data):
    torch.manual_seed(0)
    theta = build_model("small_cnn", 10, width=4, init_seed=0).double().train()
    ref = build_model("small_cnn", 10, width=4, init_seed=1).double().requires_grad_(False)
    x, y = next(data.train.batches(16))
    x = x.double()
    t, target = 0.3, 5.0  # CE at init is ~2.3 < target: the |.| is smooth here
    path = cbft_path(theta, ref)
    b, ce = barrier_loss(theta, path, x, y, t, target)
    assert b.item() == pytest.approx(target - ce.item())
    theta.zero_grad()
    b.backward()
    params = dict(theta.named_parameters())
    grads = {k: p.grad.clone() for k, p in params.items()}
    g = torch.Generator().manual_seed(1)
    v = {k: torch.randn(p.shape, generator=g, dtype=p.dtype) for k, p in params.items()}
    directional = sum((grads[k] * v[k]).sum() for k in params).item()
    eps = 1e-7  # small enough that no ReLU changes side between the two evaluations (float64)

    def value_at(sign: float) -> float:
        with torch.no_grad():
            for k, p in params.items():
                p.add_(sign * eps * v[k])
            out = barrier_loss(theta, path, x, y, t, target)[0].item()
            for k, p in params.items():
                p.sub_(sign * eps * v[k])
            return out

    fd = (value_at(1.0) - value_at(-1.0)) / (2 * eps)
    assert directional == pytest.approx(fd, rel=1e-6, abs=1e-9)
    # chain rule: d/dθ |λ - CE(γ(t))| = -(1 - t) ∇CE at γ(t) (no hand scaling anywhere)
    point = {k: v.detach().clone().requires_grad_(True) for k, v in path.point(t).items()}
    buffers = {k: v.clone() for k, v in theta.named_buffers()}
    F.cross_entropy(functional_call(theta, {**point, **buffers}, (x,)), y).backward()
    for k in params:
        torch.testing.assert_close(grads[k], -(1 - t) * point[k].grad)


def test_barrier_forward_does_not_touch_theta_running_stats(model, data):
    theta, ref = copy.deepcopy(model).train(), copy.deepcopy(model).requires_grad_(False)
    before = state(theta)
    x, y = next(data.train.batches(16))
    barrier_loss(theta, cbft_path(theta, ref), x, y, 0.5, 1.0)
    assert_same(before, state(theta))


def test_invariance_loss_by_hand():
    z_clean = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
    y_clean = torch.tensor([0, 0, 1, 2])
    z_cue = torch.tensor([[0.0, 1.0], [0.0, 3.0], [1.0, 1.0]])
    y_cue = torch.tensor([0, 1, 3])
    # class 0: (1, 0) vs (0, 1) -> 2; class 1: (0, 1) vs (0, 1) -> 0; classes 2 and 3 not in both
    assert invariance_loss(z_clean, y_clean, z_cue, y_cue, 4).item() == pytest.approx(2.0)
    assert invariance_loss(z_clean, y_clean, z_cue, torch.tensor([3, 3, 3]), 4).item() == 0.0


def test_ablations_change_the_active_terms(model, data):
    runs = {m: finetune(model, m, data.clean, data.train, cfg(m), seed=0)[1]["cbft"]
            for m in ("cbft", "cbft_no_barrier", "cbft_no_invariance")}
    assert runs["cbft"]["terms"] == ["ce", "barrier", "invariance"]
    assert runs["cbft_no_barrier"]["terms"] == ["ce", "invariance"]
    assert runs["cbft_no_invariance"]["terms"] == ["ce", "barrier"]
    for h in runs.values():  # warm-up epoch: the task step is the clean CE only; the barrier step runs
        assert h["invariance"][0] is None
        if "barrier" in h["terms"]:
            assert h["barrier"][0] > 0 and h["loss"][0] == pytest.approx(h["ce"][0] + h["barrier"][0])
        else:
            assert h["barrier"][0] is None and h["loss"][0] == h["ce"][0]
    assert runs["cbft_no_barrier"]["barrier"][1] is None and runs["cbft_no_barrier"]["invariance"][1] > 0
    assert runs["cbft_no_invariance"]["invariance"][1] is None and runs["cbft_no_invariance"]["barrier"][1] > 0
    assert runs["cbft_no_barrier"]["steps"] == runs["cbft_no_barrier"]["iterations"]
    one = finetune(model, "cbft", data.clean, data.train, cfg(single_step=True), seed=0)[1]["cbft"]
    assert one["steps"] == one["iterations"] and one["loss"][1] != runs["cbft"]["loss"][1]


def test_cbft_without_extra_terms_is_plain_ft(model, data):
    c = cfg(cosine_start_epoch=0, invariance_weight=0.0, lr=0.02)
    a, _ = finetune(model, "cbft_no_barrier", data.clean, data.train, c, seed=5)
    b, _ = finetune(model, "ft", data.clean, config=c, seed=5)
    assert_same(state(a), state(b))


def test_t_distribution_and_schedule():
    c, g = FinetuneConfig.for_scale("paper", "cbft"), torch.Generator().manual_seed(0)
    ts = torch.tensor([draw_t(c, g) for _ in range(4000)])
    assert ts.min() == 0.25 and ts.max() == 0.75
    assert 0.27 < (ts == 0.25).float().mean() < 0.35 and 0.27 < (ts == 0.75).float().mean() < 0.35
    assert draw_t(c.replace(t_dist="fixed", t_mean=0.4), g) == 0.4
    assert c.cbft_lr_at(0, 10) == c.cbft_lr_at(19, 10) == 0.01
    assert c.cbft_lr_at(20, 10) == pytest.approx(0.01) and c.cbft_lr_at(110, 10) == pytest.approx(0.005)
    assert c.cbft_lr_at(199, 10) < 1e-4


# ----------------------------------------------------------------------------- config
def test_presets():
    paper = FinetuneConfig.for_scale("paper", "ft_small")
    assert (paper.epochs, paper.lr, paper.momentum, paper.weight_decay, paper.batch_size) == (20, 1e-3, 0.9, 1e-4, 256)
    assert [FinetuneConfig.for_scale("paper", f"ft_{s}").lr for s in ("medium", "large")] == [1e-2, 1e-1]
    cb = FinetuneConfig.for_scale("paper", "cbft")
    assert (cb.epochs, cb.lr, cb.cosine_start_epoch, cb.batch_size, cb.barrier_target, cb.warmup_epochs,
            cb.single_step, cb.t_dist) == (20, 0.01, 2, 256, 1.0, 1, False, "clipped_normal")
    # Where the paper is silent, the paper preset follows the authors' code: LLR lr 30, 200 epochs, no wd,
    # batch 256; LP-FT's FT phase at lr 1e-2. The book keeps its own (documented) choices.
    pl = FinetuneConfig.for_scale("paper", "llr")
    assert (pl.llr_lr, pl.llr_epochs, pl.llr_weight_decay, pl.llr_batch_size, pl.llr_momentum) == (30.0, 200, 0.0, 256, 0.9)
    assert pl.llr_train_config().schedule == "cosine"
    assert FinetuneConfig.for_scale("paper", "lpft").lr == 1e-2 and FinetuneConfig.for_scale("book", "lpft").lr == 1e-3
    book = FinetuneConfig.for_scale("book", "llr")
    assert (book.batch_size, book.epochs, book.llr_lr, book.llr_epochs) == (200, 12, 1.0, 100)
    assert [FinetuneConfig.for_scale("book", m).epochs for m in ("cbft", "cbft_no_barrier", "lpft")] == [20, 20, 12]
    assert FinetuneConfig.for_scale("smoke", "ft").epochs <= 2
    for scale in ("smoke", "book", "paper"):
        c = FinetuneConfig.for_scale(scale, "cbft", barrier_target=0.5)
        assert FinetuneConfig(**json.loads(json.dumps(c.to_dict()))) == c and c.barrier_target == 0.5
    with pytest.raises(TypeError, match="unknown"):
        FinetuneConfig.for_scale("book", "ft", learning_rate=1.0)
    with pytest.raises(ValueError, match="lr"):
        FinetuneConfig(lr=0.0)
    with pytest.raises(ValueError, match="t_dist"):
        FinetuneConfig(t_dist="beta")
    with pytest.raises(ValueError, match="t_mean"):
        FinetuneConfig(t_mean=0.9, t_scale=0.5, t_clip=0.5)


# ----------------------------------------------------------------------------- bad input
def test_bad_input_raises(model, data):
    with pytest.raises(ValueError, match="method must be one of.*cbft"):
        finetune(model, "sgd", data.clean, seed=0)
    with pytest.raises(ValueError, match="clean is empty"):
        finetune(model, "ft", data.clean.subset(torch.zeros(0, dtype=torch.int64)), config=cfg("ft"), seed=0)
    with pytest.raises(ValueError, match="clean has 10 classes.*3 outputs"):
        finetune(build_model("small_cnn", 3, width=4), "llr", data.clean, config=cfg("llr"), seed=0)
    with pytest.raises(ValueError, match="cue must be given"):
        finetune(model, "cbft", data.clean, config=cfg(), seed=0)
    with pytest.raises(ValueError, match="cue is empty"):
        finetune(model, "cbft", data.clean, data.train.subset(torch.zeros(0, dtype=torch.int64)), cfg(), seed=0)
    with pytest.raises(ValueError, match="fixes lr"):
        finetune(model, "ft_large", data.clean, config=cfg("ft_small"), seed=0)
    with pytest.raises(ValueError, match="seed"):
        finetune(model, "ft", data.clean, config=cfg("ft"), seed=-1)
    with pytest.raises(TypeError, match="config"):
        finetune(model, "ft", data.clean, config={"lr": 0.1}, seed=0)


# ----------------------------------------------------------------------------- determinism
def test_same_seed_is_bit_identical(model, data):
    a, ha = finetune(model, "cbft", data.clean, data.train, cfg(), seed=0)
    b, hb = finetune(model, "cbft", data.clean, data.train, cfg(), seed=0)
    c, _ = finetune(model, "cbft", data.clean, data.train, cfg(), seed=1)
    assert_same(state(a), state(b))
    assert ha["cbft"]["loss"] == hb["cbft"]["loss"]
    assert differs(state(a), state(c))


# ----------------------------------------------------------------------------- store
def test_load_or_finetune_caches(model, data, tmp_path):
    store = Store(tmp_path)
    key = {"source": "test", "data": data.config.to_dict()}
    m1, meta1 = load_or_finetune(key, model, "ft_small", data.clean, config=cfg("ft_small"), seed=0, store=store)
    m2, meta2 = load_or_finetune(key, model, "ft_small", data.clean, config=cfg("ft_small"), seed=0, store=store)
    assert meta1["cached"] is False and meta2["cached"] is True
    assert meta2["history"]["ft"]["loss"] == meta1["history"]["ft"]["loss"] and meta2["method"] == "ft"
    assert_same(state(m1), state(m2))
    direct, _ = finetune(model, "ft_small", data.clean, config=cfg("ft_small"), seed=0)
    assert_same(state(direct), state(m2))
    m3, meta3 = load_or_finetune(key, model, "ft_small", data.clean, config=cfg("ft_small"), seed=1, store=store)
    assert meta3["cached"] is False


# ----------------------------------------------------------------------------- tables
def test_results_table_and_paper_numbers(model, data):
    runs = {"ft_small": [{"NC": 0.70, "C": 0.99, "RC": 0.5, "RI": 0.4}, {"NC": 0.72, "C": 0.97, "RC": 0.5, "RI": 0.6}],
            "cbft": {"NC": {"acc": 0.74}, "C": {"acc": 0.64}, "RC": {"acc": 0.71}, "RI": {"acc": 0.09}},
            "model": [model]}
    sets = {k: v for k, v in data.eval_sets().items()}
    df = results_table(runs, sets)
    assert list(df.columns) == ["NC", "C", "RC", "RI", "seeds"]
    assert df.loc["ft_small", "NC"] == f"71.0 ± {math.sqrt(2):.1f}" and df.loc["ft_small", "seeds"] == 2
    assert df.loc["cbft", "RI"] == "9.0"
    num = results_table(runs, sets, numeric=True)
    assert num.loc["ft_small", ("C", "mean")] == pytest.approx(98.0)
    assert 0 <= num.loc["model", ("NC", "mean")] <= 100
    with pytest.raises(ValueError, match="fractions"):
        results_table({"x": {"NC": 71.0}})
    paper = paper_table1(0.9)
    assert tuple(paper.loc["CBFT"]) == (67.9, 72.5, 68.1, 13.1) and paper.loc["from scratch", "NC"] == 47.5
    assert PAPER_TABLE1["results"][0.6]["CBFT"][3] == 8.75 and "paper" in PAPER_TABLE1["source"]
    both = compare_with_paper(df, p=0.6)
    assert both.loc["cbft", ("RI", "paper (CIFAR-10)")] == "8.75"
    assert both.loc["cbft", ("NC", "ours")] == "74.0"
    assert both.loc["LP-FT", ("NC", "ours")] == "—" and both.loc["model", ("NC", "paper (CIFAR-10)")] == "—"
    assert isinstance(both, pd.DataFrame)
