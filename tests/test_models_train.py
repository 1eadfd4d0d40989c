"""Fast tests of mmc_utils.models and mmc_utils.train (a few seconds on 2 CPU cores)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmc_utils.models import (
    BasicBlock, ConvBlock, build_model, count_params, model_spec,
)
from mmc_utils.scales import SCALES
from mmc_utils.train import (
    TrainConfig, eval_mode, evaluate, evaluate_sets, load_or_train_model, predict_logits,
    state_to_tensors, tensors_to_model, train_model,
)

from _support import TensorSet




def separable_set(n: int = 192, k: int = 3, side: int = 8, seed: int = 0) -> TensorSet:
    """Class c lights up colour channel c (plus noise): trivially separable."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    x = 0.3 * torch.randn(n, 3, side, side, generator=g)
    x[torch.arange(n), y] += 1.0
    return TensorSet(x, y)


@pytest.fixture(autouse=True)
def _cpu_and_default_scale(monkeypatch):
    monkeypatch.setenv("MMC_DEVICE", "cpu")
    monkeypatch.delenv("MMC_SCALE", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is as fast and immune to a busy machine
    yield
    torch.set_num_threads(threads)


TINY = dict(epochs=4, lr=0.05, batch_size=32, schedule="cosine", weight_decay=5e-4)


# ----------------------------------------------------------------------------- models
@pytest.mark.parametrize("name,side,width", [("small_cnn", 16, 1.0), ("vgg13", 32, 0.125), ("resnet18", 32, 0.125)])
def test_shapes_and_head(name, side, width):
    torch.manual_seed(0)
    model = build_model(name, num_classes=7, width=width).eval()
    x = torch.randn(2, 3, side, side)
    z = model.features(x)
    assert z.shape == (2, model.feature_dim)
    assert isinstance(model.head, nn.Linear) and model.head.in_features == model.feature_dim
    assert model.head.out_features == 7
    torch.testing.assert_close(model(x), model.head(z), rtol=0, atol=0)
    # non-square input (the dominoes stack two images vertically)
    assert model(torch.randn(2, 3, 2 * side, side)).shape == (2, 7)
    # the conv stack is a Sequential of ConvBlocks / BasicBlocks with .conv / .bn
    assert isinstance(model.blocks, nn.Sequential)
    assert all(isinstance(b, (ConvBlock, BasicBlock)) for b in model.blocks)
    assert isinstance(model.blocks[0], ConvBlock) and isinstance(model.blocks[0].bn, nn.BatchNorm2d)


def test_paper_feature_dims_and_small_cnn_size():
    assert build_model("small_cnn", 10).feature_dim == 64
    assert 130_000 < count_params(build_model("small_cnn", 10)) < 150_000
    small = build_model("small_cnn", 10, width=48).blocks
    assert [b.conv.out_channels for b in small] == [48, 48, 96, 96, 96, 96]
    assert [b.conv.stride[0] for b in small] == [1, 2, 1, 2, 1, 2]  # 16 px reach the pool as 2x2, like VGG-13 at 32
    vgg = build_model("vgg13", 10)
    assert vgg.feature_dim == 512 and len(vgg.blocks) == 10
    assert [b.conv.stride[0] for b in vgg.blocks] == [1, 2, 1, 2, 1, 2, 1, 2, 1, 1]
    assert build_model("resnet18", 10).feature_dim == 512


def test_spec_roundtrip_and_init_seed():
    import json

    m = build_model("small_cnn", 5, in_channels=1, width=48, init_seed=3)
    spec = json.loads(json.dumps(model_spec(m)))
    assert spec == {"name": "small_cnn", "num_classes": 5, "in_channels": 1, "width": 1.5}
    m2 = build_model(**spec, init_seed=3)
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    assert not torch.equal(build_model(**spec, init_seed=4).head.weight, m.head.weight)
    plan = build_model("small_cnn", 3, plan=[(8, 1), (16, 2)])
    assert build_model(**model_spec(plan)).feature_dim == 16


@pytest.mark.parametrize("kwargs,err", [
    (dict(name="vgg16", num_classes=10), ValueError),
    (dict(name="small_cnn", num_classes=0), ValueError),
    (dict(name="small_cnn", num_classes=10, width=-1.0), ValueError),
    (dict(name="small_cnn", num_classes=10, width="wide"), TypeError),
    (dict(name="small_cnn", num_classes=10, plan=[(8, 3)]), ValueError),
    (dict(name="resnet18", num_classes=10, depth=34), TypeError),
])
def test_build_model_rejects_bad_input(kwargs, err):
    with pytest.raises(err):
        build_model(**kwargs)


def test_features_rejects_wrong_channels():
    with pytest.raises(ValueError, match="shape"):
        build_model("small_cnn", 10).features(torch.randn(2, 1, 8, 8))


# ----------------------------------------------------------------------------- config
def test_presets_and_validation():
    for scale in SCALES:
        cfg = TrainConfig.for_scale(scale)
        assert TrainConfig(**cfg.to_dict()) == cfg
    paper = TrainConfig.for_scale("paper")
    assert (paper.lr, paper.momentum, paper.weight_decay, paper.batch_size, paper.epochs) == (0.1, 0.9, 1e-4, 256, 100)
    assert paper.schedule == "step" and paper.lr_at(40 * 10, 10) == pytest.approx(0.01)
    assert paper.lr_at(39 * 10 + 9, 10) == pytest.approx(0.1)
    assert TrainConfig.for_scale("smoke").epochs == 1
    assert TrainConfig.for_scale("book", epochs=3).epochs == 3
    book = TrainConfig.for_scale("book")
    assert book.lr_at(0, 10) == pytest.approx(book.lr)
    assert book.lr_at(book.epochs * 5, 10) == pytest.approx(book.lr / 2)
    assert "compile" not in book.key_dict() and "amp" in book.key_dict()
    with pytest.raises(ValueError, match="scale"):
        TrainConfig.for_scale("huge")
    with pytest.raises(TypeError, match="unknown"):
        TrainConfig.for_scale("book", learning_rate=1.0)


@pytest.mark.parametrize("field,value,err", [
    ("epochs", 0, ValueError), ("epochs", 2.5, ValueError), ("lr", 0.0, ValueError),
    ("lr", float("nan"), ValueError), ("momentum", 1.0, ValueError), ("weight_decay", -1e-4, ValueError),
    ("batch_size", 0, ValueError), ("schedule", "linear", ValueError), ("gamma", 0.0, ValueError),
    ("label_smoothing", 1.0, ValueError), ("amp", "yes", TypeError),
])
def test_train_config_rejects_bad_values(field, value, err):
    with pytest.raises(err, match=field):
        TrainConfig(**{**TINY, field: value})


# ----------------------------------------------------------------------------- training
def _train(seed: int, data: TensorSet | None = None, epochs: int = TINY["epochs"]):
    model = build_model("small_cnn", 3, width=0.25, init_seed=0)
    hist = train_model(model, data or separable_set(), TrainConfig(**{**TINY, "epochs": epochs}), seed=seed)
    return model, hist


def test_training_learns_separable_data():
    data = separable_set()
    model = build_model("small_cnn", 3, width=0.25, init_seed=0)
    before = evaluate(model, data)
    model, hist = _train(0, data=data)
    after = evaluate(model, separable_set(seed=1))
    assert len(hist["loss"]) == len(hist["acc"]) == len(hist["lr"]) == TINY["epochs"]
    assert hist["steps"] == TINY["epochs"] * math.ceil(len(data) / TINY["batch_size"])
    assert hist["loss"][-1] < hist["loss"][0] and after["loss"] < before["loss"]
    assert after["acc"] >= 0.95 and after["n"] == 192
    assert model.training  # train_model leaves the model in train mode


def test_training_is_deterministic_per_seed():
    data = separable_set(n=64)
    a, _ = _train(seed=0, data=data, epochs=2)
    b, _ = _train(seed=0, data=data, epochs=2)
    c, _ = _train(seed=1, data=data, epochs=2)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_train_model_rejects_bad_input():
    model = build_model("small_cnn", 3, width=0.25)
    with pytest.raises(TypeError, match="config"):
        train_model(model, separable_set(), dict(TINY), seed=0)
    with pytest.raises(ValueError, match="seed"):
        train_model(model, separable_set(), TrainConfig(**TINY), seed=-1)
    with pytest.raises(TypeError, match="data"):
        train_model(model, [1, 2, 3], TrainConfig(**TINY), seed=0)


# ----------------------------------------------------------------------------- evaluation
class FixedLogits(nn.Module):
    """Logits = the first K pixels of channel 0 (so a test can choose them by hand); has a BN."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x):
        return x[:, 0, 0, : self.k]


def test_evaluate_hand_made_case_and_modes():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    y = torch.tensor([0, 1, 2, 1])  # the last one is wrong
    x = torch.zeros(4, 1, 1, 3)
    x[:, 0, 0] = logits
    data = TensorSet(x, y)
    model = FixedLogits(3)
    model.train()
    model.bn.eval()  # a submodule in its own mode (e.g. frozen BN) must keep it
    res = evaluate(model, data, batch_size=3)
    assert res["n"] == 4 and res["acc"] == pytest.approx(0.75)
    assert res["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    assert model.training and not model.bn.training
    torch.testing.assert_close(predict_logits(model, data, batch_size=3), logits)
    sets = evaluate_sets(model, {"a": data, "b": TensorSet(x[:3], y[:3])})
    assert sets["b"]["acc"] == 1.0 and set(sets) == {"a", "b"}
    with eval_mode(model):
        assert not model.training and not torch.is_grad_enabled()
    assert model.training
    with pytest.raises(ValueError, match="empty"):
        evaluate(model, TensorSet(x[:0], y[:0]))


# ----------------------------------------------------------------------------- storage
def test_state_roundtrip_and_load_or_train(tmp_path):
    from mmc_utils.store import Store

    data = separable_set(n=64)
    cfg = TrainConfig(**{**TINY, "epochs": 1})
    spec = {"name": "small_cnn", "num_classes": 3, "width": 0.25}
    store = Store(root=tmp_path, version="test")
    m1, meta1 = load_or_train_model(spec, cfg, data, {"set": "separable", "n": 64}, seed=0, device="cpu",
                                    store=store)
    m2, meta2 = load_or_train_model(spec, cfg, data, {"set": "separable", "n": 64}, seed=0, device="cpu",
                                    store=store)
    assert meta1["cached"] is False and meta2["cached"] is True
    assert meta2["history"]["steps"] == 2 and not m2.training
    s1, s2 = state_to_tensors(m1), state_to_tensors(m2)
    assert any(k.endswith("num_batches_tracked") for k in s1) and any(k.endswith("running_var") for k in s1)
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    m3 = tensors_to_model(model_spec(m1), s1)
    torch.testing.assert_close(predict_logits(m3, data), predict_logits(m1, data), rtol=0, atol=0)


def test_compile_failure_falls_back_to_eager(monkeypatch):
    def broken_compile(model, *args, **kwargs):
        def fail(*a, **k):
            raise RuntimeError("no compiler here")
        return fail

    monkeypatch.setattr(torch, "compile", broken_compile)
    data = separable_set(n=64)
    eager, _ = _train(seed=0, data=data, epochs=1)
    model = build_model("small_cnn", 3, width=0.25, init_seed=0)
    with pytest.warns(UserWarning, match="eagerly"):
        train_model(model, data, TrainConfig(**{**TINY, "epochs": 1, "compile": True}), seed=0)
    assert all(torch.equal(a, b) for a, b in zip(eager.state_dict().values(), model.state_dict().values()))
