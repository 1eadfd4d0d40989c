"""Tests of the data layer (mmc_utils.data): shapes, bases, cues, sets, splits, configs.

Everything runs offline. The torchvision bases are tested on tiny files that the tests
write themselves in each data set's on-disk format; CIFAR's official format is a Python
pickle, so the CIFAR fixtures are written with ``pickle`` here (test fixture data only; the
library itself never pickles).
"""
from __future__ import annotations

import colorsys
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from mmc_utils.data import (BoxCue, Cue, CueDataConfig, CueSet, DominoesCue, build_data, cue_names, derangement,
                            first_fraction_per_class, load_base, make_cue, make_shapes, num_classes,
                            rank_in_class, register_cue, stratified_split)
from mmc_utils.data import cues as cues_module
from mmc_utils.runtime import make_generator

GREEN = torch.tensor([-1.0, 1.0, -1.0])


@pytest.fixture(autouse=True)
def _no_scale_env(monkeypatch):
    monkeypatch.delenv("MMC_SCALE", raising=False)
    monkeypatch.delenv("MMC_DATA_DIR", raising=False)


def smoke(**overrides) -> CueDataConfig:
    return CueDataConfig.for_scale("smoke", **overrides)


@pytest.fixture(scope="module")
def data():
    return build_data(CueDataConfig.for_scale("smoke"))


# ---------------------------------------------------------------- shapes and bases

def test_shapes_shape_range_balance():
    x, y = make_shapes(105, size=16, seed=3)
    assert x.shape == (105, 3, 16, 16) and x.dtype == torch.float32
    assert y.shape == (105,) and y.dtype == torch.int64
    assert float(x.min()) >= -1 and float(x.max()) <= 1
    counts = torch.bincount(y, minlength=10)
    assert int(counts.min()) == 10 and int(counts.max()) == 11
    x8, _ = make_shapes(20, size=8, seed=0, num_classes=4)
    assert x8.shape == (20, 3, 8, 8)


def test_shapes_deterministic_and_seeded():
    a, la = make_shapes(50, seed=1)
    b, lb = make_shapes(50, seed=1)
    c, _ = make_shapes(50, seed=2)
    assert torch.equal(a, b) and torch.equal(la, lb)
    assert not torch.equal(a, c)


def test_shapes_avoid_pure_green():
    x, _ = make_shapes(500, seed=0)
    dist = (x - GREEN[None, :, None, None]).norm(dim=1)   # distance of every pixel to the cue colour
    assert float(dist.min()) > 0.3


def test_shapes_bad_input():
    with pytest.raises(ValueError, match="num_classes"):
        make_shapes(10, num_classes=11)
    with pytest.raises(ValueError, match="size"):
        make_shapes(10, size=2)
    with pytest.raises(TypeError, match="n"):
        make_shapes(1.5)


def test_load_base_shapes_splits_differ():
    xtr, _ = load_base("shapes", "train", n=40, size=16, seed=0)
    xte, _ = load_base("shapes", "test", n=40, size=16, seed=0)
    assert xtr.shape == xte.shape == (40, 3, 16, 16)
    assert float(torch.cdist(xtr.flatten(1), xte.flatten(1)).min()) > 0
    assert num_classes("shapes") == 10 and num_classes("cifar100") == 100


def test_load_base_bad_input():
    with pytest.raises(ValueError, match="name"):
        load_base("imagenet", "train")
    with pytest.raises(ValueError, match="split"):
        load_base("shapes", "valid")
    with pytest.raises(ValueError, match="name"):
        num_classes("svhn")


def test_missing_dataset_message(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_base("cifar10", "train", data_dir=tmp_path)
    msg = str(err.value)
    assert str(tmp_path) in msg and "download=True" in msg and "CIFAR10" in msg


# --- tiny on-disk fixtures in torchvision's formats

def _write_cifar(root, which: str, n_per_file: int = 12):
    rng = np.random.default_rng(0)
    folder, files, key, meta, meta_key, k = {
        "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], "labels",
                    "batches.meta", "label_names", 10),
        "cifar100": ("cifar-100-python", ["train", "test"], "fine_labels", "meta", "fine_label_names", 100),
    }[which]
    os.makedirs(root / folder)
    for name in files:
        data = rng.integers(0, 256, (n_per_file, 3072), dtype=np.uint8)
        data[0] = 0
        data[1] = 255
        with open(root / folder / name, "wb") as f:
            pickle.dump({"data": data, key: [i % k for i in range(n_per_file)]}, f)
    with open(root / folder / meta, "wb") as f:
        pickle.dump({meta_key: [f"class{i}" for i in range(k)]}, f)


def _write_idx(path, array: np.ndarray):
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 8, array.ndim))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def _write_mnist(root, cls_name: str, n: int = 30):
    raw = root / cls_name / "raw"
    os.makedirs(raw)
    rng = np.random.default_rng(1)
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)


@pytest.fixture
def disk_data(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    # The fixtures cannot match the official md5 sums: check presence only.
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))
    _write_cifar(tmp_path, "cifar10")
    _write_cifar(tmp_path, "cifar100")
    _write_mnist(tmp_path, "MNIST")
    _write_mnist(tmp_path, "FashionMNIST")
    return tmp_path


@pytest.mark.parametrize("name, n_train, n_test", [("cifar10", 60, 12), ("cifar100", 12, 12)])
def test_cifar_offline(disk_data, name, n_train, n_test):
    x, y = load_base(name, "train", data_dir=disk_data)
    assert x.shape == (n_train, 3, 32, 32) and y.shape == (n_train,)
    assert float(x[0].max()) == -1.0 and float(x[1].min()) == 1.0   # uint8 0 -> -1, 255 -> 1
    assert y.tolist()[:3] == [0, 1, 2]
    xt, _ = load_base(name, "test", size=16, data_dir=disk_data)
    assert xt.shape == (n_test, 3, 16, 16) and float(xt.min()) >= -1 and float(xt.max()) <= 1
    xs, ys = load_base(name, "train", n=5, seed=1, data_dir=disk_data)
    xs2, ys2 = load_base(name, "train", n=5, seed=1, data_dir=disk_data)
    assert xs.shape[0] == 5 and torch.equal(xs, xs2) and torch.equal(ys, ys2)
    with pytest.raises(ValueError, match="n must be"):
        load_base(name, "train", n=10_000, data_dir=disk_data)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_mnist_like_offline(disk_data, name):
    x, y = load_base(name, "train", data_dir=disk_data)
    assert x.shape == (30, 3, 28, 28) and y.tolist()[:3] == [0, 1, 2]
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 0], x[:, 2])   # grey repeated
    x32, _ = load_base(name, "test", size=32, data_dir=disk_data)
    assert x32.shape == (30, 3, 32, 32) and float(x32.min()) >= -1 and float(x32.max()) <= 1


def test_build_data_on_cifar_fixture(disk_data):
    cfg = CueDataConfig(base="cifar10", n_train=40, n_clean=10, n_test=12, image_size=32, data_dir=str(disk_data))
    d = build_data(cfg)
    assert len(d.train) == 40 and len(d.clean) == 10 and len(d.test) == 12
    assert not set(d.train.ids.tolist()) & set(d.clean.ids.tolist())
    with pytest.raises(ValueError, match="n_train"):
        build_data(cfg.replace(n_train=100))


def test_dominoes_fashion_mnist_source(disk_data):
    cue = make_cue("dominoes", 10, 16, data_dir=str(disk_data))
    assert cue.source == "fashion_mnist" and cue.bank.shape == (10, 3, 16, 16)  # 3 per class in the fixture
    with pytest.raises(FileNotFoundError):
        DominoesCue(10, 16, source="fashion_mnist", data_dir=str(disk_data / "nothing"))
    assert DominoesCue(10, 16, data_dir=str(disk_data / "nothing")).source == "glyph"


# ---------------------------------------------------------------- cues

BOX_AT_16 = {0: (0, 0), 1: (0, 7), 2: (0, 15), 3: (7, 0), 4: (7, 7), 5: (7, 15), 6: (15, 0), 7: (15, 7), 8: (15, 15)}


def _changed(cue: Cue, labels: list[int], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.zeros(len(labels), 3, size, size)
    out = cue.apply(x, torch.tensor(labels))
    return out, (out != x).any(1)                                           # [B, S, S] changed pixels


def test_box_cue_location_and_colour_10_classes():
    cue = make_cue("box", 10, 16)
    assert cue.box_size == 1
    out, changed = _changed(cue, list(range(10)) + [-1], 16)
    for label, (r, c) in BOX_AT_16.items():
        assert changed[label].nonzero().tolist() == [[r, c]]
        assert torch.equal(out[label, :, r, c], GREEN)
    assert not changed[9].any() and not changed[10].any()                # class 9 and "no cue": no box


def test_box_cue_scales_with_resolution():
    cue = BoxCue(10, 32)
    assert cue.box_size == 3
    _, changed = _changed(cue, [0, 4, 8], 32)
    assert changed[0, :3, :3].all() and int(changed[0].sum()) == 9
    assert changed[1, 14:17, 14:17].all() and int(changed[1].sum()) == 9
    assert changed[2, 29:, 29:].all() and int(changed[2].sum()) == 9


def test_box_cue_replaces_pixels_and_keeps_input():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    before = x.clone()
    out = make_cue("box", 10, 16).apply(x, torch.tensor([0, 0, -1, 3]))
    assert torch.equal(x, before)                                          # input untouched
    assert torch.equal(out[0, :, 0, 0], GREEN) and torch.equal(out[2], x[2])
    out[0, :, 0, 0] = x[0, :, 0, 0]
    assert torch.equal(out[0], x[0])                                        # only the box pixel changed


def test_box_cue_non_contiguous_input():
    x = torch.rand(4, 16, 16, 3).permute(0, 3, 1, 2) * 2 - 1                  # channels-last view
    out = make_cue("box", 10, 16).apply(x, torch.tensor([0, 1, 2, -1]))
    assert torch.equal(out[0, :, 0, 0], GREEN) and torch.equal(out[3], x[3])


def test_box_cue_cifar100_rule():
    cue = BoxCue(100, 32)
    labels = list(range(100))
    out, changed = _changed(cue, labels, 32)
    loc_pixel = {}
    for label in labels:
        first, second = divmod(label, 10)
        rows, cols = changed[label].nonzero().T
        assert len(rows) == 9                                               # every class has a 3x3 box
        loc_pixel.setdefault(second, (int(rows.min()), int(cols.min())))
        assert (int(rows.min()), int(cols.min())) == loc_pixel[second]      # location: second digit
        expected = torch.tensor(colorsys.hsv_to_rgb(first / 10, 1.0, 1.0), dtype=torch.float32) * 2 - 1
        assert torch.allclose(out[label, :, rows[0], cols[0]], expected)    # hue: first digit
    assert loc_pixel[9] == (14 - 8, 14 - 8)                                 # 10th location: centre offset
    assert len(set(loc_pixel.values())) == 10


def test_cue_bad_input():
    cue = make_cue("box", 10, 16)
    with pytest.raises(ValueError, match="x"):
        cue.apply(torch.zeros(2, 1, 16, 16), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="x"):
        cue.apply(torch.zeros(2, 3, 8, 8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="cue_labels"):
        cue.apply(torch.zeros(2, 3, 16, 16), torch.tensor([0, 10]))
    with pytest.raises(TypeError, match="cue_labels"):
        cue.apply(torch.zeros(2, 3, 16, 16), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="cue"):
        make_cue("sticker", 10, 16)
    with pytest.raises(ValueError, match="box_size"):
        BoxCue(10, 16, box_size=0)
    with pytest.raises(ValueError, match="source"):
        DominoesCue(10, 16, source="mnist")


def test_dominoes_cue_shape_and_blank_top():
    cue = DominoesCue(10, 16, source="glyph", per_class=8)
    x = torch.rand(12, 3, 16, 16) * 2 - 1
    cl = torch.tensor(list(range(10)) + [-1, -1])
    out = cue.apply(x, cl)
    assert out.shape == (12, 3, 32, 16) == cue.out_shape(x.shape)
    assert torch.equal(out[:, :, 16:], x)                                  # base image at the bottom
    assert (out[10:, :, :16] == -1).all()                                   # uncued: blank top
    assert (out[:10, :, :16] > -1).flatten(1).any(1).all()                  # cued: something on top
    tops = out[:10, 0, :16].flatten(1)
    assert float(torch.cdist(tops, tops).add(torch.eye(10) * 1e3).min()) > 1   # classes differ
    again = cue.apply(x, cl, keys=torch.arange(12))
    assert torch.equal(out, again)                                         # same key -> same exemplar
    assert float(out.min()) >= -1 and float(out.max()) <= 1


def test_dominoes_glyph_100_classes():
    cue = DominoesCue(100, 16, per_class=4)
    assert cue.source == "glyph" and cue.bank.shape == (100, 4, 16, 16)


def test_register_custom_cue():
    @register_cue("test_invert")
    class InvertCue(Cue):
        def _apply(self, x, cue_labels, keys):
            return torch.where((cue_labels >= 0)[:, None, None, None], -x, x)

    try:
        assert "test_invert" in cue_names()
        cue = make_cue("test_invert", 10, 16)
        x = torch.rand(2, 3, 16, 16)
        out = cue.apply(x, torch.tensor([3, -1]))
        assert torch.equal(out[0], -x[0]) and torch.equal(out[1], x[1])
        d = build_data(smoke(cue="test_invert", n_train=50, n_clean=10, n_test=10))
        assert d.train.input_shape == (3, 16, 16)
    finally:
        cues_module._REGISTRY.pop("test_invert")


# ---------------------------------------------------------------- splits and cue rule

@pytest.mark.parametrize("p", [0.0, 0.29, 0.5, 0.8, 1.0])
def test_cue_counts_per_class(p):
    d = build_data(smoke(p=p, n_train=310))
    y, cued = d.train.labels, d.train.cued
    for k in range(10):
        in_class = y == k
        n_c = int(in_class.sum())
        assert int(cued[in_class].sum()) == int(np.floor(n_c * p + 1e-9))
    assert torch.equal(d.train.cue_labels[cued], y[cued]) and (d.train.cue_labels[~cued] == -1).all()
    # the cued samples are the first of each class in the stored order
    assert torch.equal(cued, rank_in_class(y) < torch.floor(torch.bincount(y).double() * p + 1e-9).long()[y])


def test_first_fraction_uneven_classes():
    labels = torch.tensor([2, 0, 2, 2, 0, 1, 2, 0, 2])
    mask = first_fraction_per_class(labels, 0.5)
    assert mask.tolist() == [True, True, True, False, False, False, False, False, False]
    assert int(first_fraction_per_class(torch.arange(100) % 10 * 0 + 1, 0.29).sum()) == 29


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_bad_p(p):
    with pytest.raises(ValueError, match="p"):
        CueDataConfig(p=p)
    with pytest.raises(ValueError, match="p"):
        first_fraction_per_class(torch.arange(10), p)


def test_config_bad_input():
    with pytest.raises(ValueError, match="base"):
        CueDataConfig(base="imagenet")
    with pytest.raises(ValueError, match="cue"):
        CueDataConfig(cue="sticker")
    with pytest.raises(ValueError, match="n_train"):
        CueDataConfig(n_train=0)
    with pytest.raises(ValueError, match="overrides"):
        CueDataConfig.for_scale("book", batch=3)
    with pytest.raises(ValueError, match="scale"):
        CueDataConfig.for_scale("huge")
    with pytest.raises(TypeError, match="config"):
        build_data({"base": "shapes"})


def test_base_kwargs_difficulty():
    easy = build_data(smoke(n_train=50, n_clean=10, n_test=10, base_kwargs={"noise": 0.0, "texture": 0.0}))
    hard = build_data(smoke(n_train=50, n_clean=10, n_test=10, base_kwargs={"noise": 0.3}))
    assert not torch.equal(easy.train.images, hard.train.images)
    assert torch.equal(easy.train.labels, hard.train.labels)
    assert easy.config.to_dict()["base_kwargs"] == {"noise": 0.0, "texture": 0.0}
    with pytest.raises(ValueError, match="options"):
        load_base("shapes", "train", n=10, options={"blur": 1})
    with pytest.raises(ValueError, match="base_kwargs"):
        CueDataConfig(base="cifar10", base_kwargs={"noise": 0.1})


def test_config_presets_and_dict(monkeypatch):
    book = CueDataConfig.for_scale("book")
    assert (book.base, book.image_size, book.p, book.n_clean, book.n_test) == ("shapes", 16, 0.6, 2000, 2000)
    assert book.cue_kwargs == {"box_size": 2} and book.base_kwargs["clutter"] == 3
    # another base or cue drops the preset's options for the old one; other changes keep them
    assert CueDataConfig.for_scale("book", cue="dominoes").cue_kwargs == {}
    assert book.replace(cue="dominoes").cue_kwargs == {} and book.replace(p=0.9).cue_kwargs == {"box_size": 2}
    assert book.replace(cue="dominoes", cue_kwargs={"per_class": 4}).cue_kwargs == {"per_class": 4}
    paper = CueDataConfig.for_scale("paper")
    assert (paper.base, paper.n_train, paper.n_clean, paper.n_test, paper.image_size) == (
        "shapes", 47_500, 2_500, 10_000, 32)
    assert CueDataConfig.for_scale("smoke", p=0.6).p == 0.6
    monkeypatch.setenv("MMC_SCALE", "smoke")
    assert CueDataConfig.for_scale("book").n_train == CueDataConfig(**smoke().to_dict()).n_train
    d = book.to_dict()
    assert "data_dir" not in d and CueDataConfig(**d) == book


def test_train_clean_disjoint(data):
    tr, cl = data.train, data.clean
    assert len(tr) == 600 and len(cl) == 200 and len(data.test) == 200
    assert not set(tr.ids.tolist()) & set(cl.ids.tolist())
    assert float(torch.cdist(tr.images.flatten(1), cl.images.flatten(1)).min()) > 0
    assert float(torch.cdist(tr.images.flatten(1), data.test.images.flatten(1)).min()) > 0
    assert torch.bincount(cl.labels, minlength=10).tolist() == [20] * 10      # stratified
    assert cl.num_cued == 0 and data.test.num_cued == 0
    assert data.clean_train.images is tr.images and data.clean_train.num_cued == 0


def test_stratified_split_and_derangement():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    first, rest = stratified_split(labels, 10, make_generator(0))
    assert len(first) == 10 and len(rest) == 90
    assert sorted(first.tolist() + rest.tolist()) == list(range(100))
    assert torch.bincount(labels[first], minlength=3).tolist() == [5, 3, 2]
    d = derangement(1000, make_generator(1))
    assert sorted(d.tolist()) == list(range(1000)) and not (d == torch.arange(1000)).any()


# ---------------------------------------------------------------- evaluation sets

def test_eval_sets_semantics(data):
    ev = data.eval_sets()
    assert set(ev) == {"NC", "C", "RC", "RI"}
    t = data.test
    assert (ev["NC"].cue_labels == -1).all()
    assert torch.equal(ev["C"].cue_labels, t.labels)
    for name in ("NC", "C", "RC", "RI"):
        assert torch.equal(ev[name].labels, t.labels) and len(ev[name]) == len(t)
    # RC: a cue on every image, drawn independently of the label
    rc = ev["RC"].cue_labels
    assert (rc >= 0).all() and len(set(rc.tolist())) == 10
    assert float((rc == t.labels).float().mean()) < 0.25
    assert torch.equal(ev["RC"].images, t.images)
    # RI: each image comes from another test sample; the cue is the label's
    ri = ev["RI"]
    assert torch.equal(ri.cue_labels, t.labels)
    assert not (ri.ids == t.ids).any()
    assert torch.equal(ri.images, t.images[ri.ids])
    assert sorted(ri.ids.tolist()) == sorted(t.ids.tolist())
    # materialised: C carries the label's box, RI too; values in range
    for name, s in ev.items():
        x, y = s.materialize()
        assert x.shape == (len(t), 3, 16, 16) and float(x.min()) >= -1 and float(x.max()) <= 1
    xc, _ = ev["C"].materialize()
    is0 = t.labels == 0
    assert (xc[is0, :, 0, 0] == GREEN).all()


def test_all_cued(data):
    s = data.all_cued("train")
    assert s.num_cued == len(s) and torch.equal(s.cue_labels, s.labels)
    assert data.all_cued("clean").num_cued == len(data.clean)
    with pytest.raises(ValueError, match="split"):
        data.all_cued("valid")


def test_build_data_deterministic():
    a, b = build_data(smoke(n_train=100, n_clean=20, n_test=30)), build_data(smoke(n_train=100, n_clean=20, n_test=30))
    c = build_data(smoke(n_train=100, n_clean=20, n_test=30, seed=1))
    for name in ("train", "clean", "test"):
        sa, sb = getattr(a, name), getattr(b, name)
        assert torch.equal(sa.images, sb.images) and torch.equal(sa.cue_labels, sb.cue_labels)
        assert not torch.equal(sa.images, getattr(c, name).images)
    for name in ("RC", "RI"):
        assert torch.equal(a.eval_sets()[name].materialize()[0], b.eval_sets()[name].materialize()[0])
    assert not torch.equal(a.eval_sets()["RC"].cue_labels, c.eval_sets()["RC"].cue_labels)


def test_dominoes_build(data):
    d = build_data(smoke(cue="dominoes", n_train=50, n_clean=10, n_test=20, cue_kwargs={"per_class": 8}))
    assert d.input_shape == (3, 32, 16)
    x, _ = d.train.materialize()
    assert (x[~d.train.cued, :, :16] == -1).all() and x.shape == (50, 3, 32, 16)


# ---------------------------------------------------------------- CueSet mechanics

def test_batches_cover_and_shuffle(data):
    s = data.train
    xs, ys = zip(*s.batches(128))
    assert torch.equal(torch.cat(ys), s.labels) and torch.equal(torch.cat(xs), s.materialize()[0])
    assert [len(y) for y in ys] == [128] * 4 + [88]
    assert len(list(s.batches(128, drop_last=True))) == 4 == s.num_batches(128, drop_last=True)
    sh1 = torch.cat([y for _, y in s.batches(64, shuffle=True, generator=5)])
    sh2 = torch.cat([y for _, y in s.batches(64, shuffle=True, generator=make_generator(5))])
    assert torch.equal(sh1, sh2) and not torch.equal(sh1, s.labels)
    assert torch.equal(torch.bincount(sh1), torch.bincount(s.labels))
    # shuffled batches carry the cue of the sample they hold
    x, y = next(s.batches(600, shuffle=True, generator=3))
    full_x, _ = s.materialize()
    order = torch.randperm(600, generator=make_generator(3))
    assert torch.equal(x, full_x[order]) and torch.equal(y, s.labels[order])
    with pytest.raises(ValueError, match="generator"):
        next(s.batches(64, shuffle=True))
    with pytest.raises(ValueError, match="batch_size"):
        next(s.batches(0))


def test_batches_leave_stored_images_alone():
    d = build_data(smoke(n_train=100, n_clean=10, n_test=10))
    before = d.train.images.clone()
    for shuffle in (False, True):
        for _ in d.train.batches(32, shuffle=shuffle, generator=0):
            pass
    d.train.materialize()
    assert torch.equal(d.train.images, before)


def test_subset_and_to(data):
    s = data.train
    sub = s.subset(torch.tensor([5, 1, 7]))
    assert len(sub) == 3 and torch.equal(sub.labels, s.labels[[5, 1, 7]])
    assert torch.equal(sub.materialize()[0], s.materialize()[0][[5, 1, 7]])
    assert len(s.subset(s.cued)) == s.num_cued
    assert s.to("cpu") is s
    with pytest.raises(ValueError, match="labels"):
        CueSet(s.images, s.labels[:-1], s.cue_labels, s.cue)


def test_shapes_object_size_and_clutter_options():
    from mmc_utils.data.shapes import make_shapes
    plain, labels = make_shapes(40, 16, seed=3)
    same, _ = make_shapes(40, 16, seed=3, clutter=0)
    assert torch.equal(plain, same)                        # clutter=0 draws nothing extra
    cl, cl_labels = make_shapes(40, 16, seed=3, clutter=3)
    assert torch.equal(labels, cl_labels)
    changed = (cl != plain).any(1)                          # [n, S, S] pixels painted
    assert 0 < changed.flatten(1).sum(1).min() and changed.flatten(1).sum(1).max() <= 3 * 4
    rgb = (cl.permute(0, 2, 3, 1)[changed] + 1) / 2         # painted colours in [0, 1]
    assert (rgb[:, 1] <= torch.maximum(rgb[:, 0], rgb[:, 2]) + 0.3 + 1e-6).all()  # never near the cue's green
    small, _ = make_shapes(40, 16, seed=3, radius_min=0.2, radius_max=0.3, spread=0.25)
    border = torch.ones(16, 16, dtype=torch.bool)
    border[2:-2, 2:-2] = False
    # smaller, centred objects leave the border closer to the background than the default objects do
    assert (small - small.mean((2, 3), keepdim=True))[..., border].abs().mean() < \
        (plain - plain.mean((2, 3), keepdim=True))[..., border].abs().mean()
    for kwargs in ({"radius_min": 0.3, "radius_max": 0.2}, {"radius_max": 0.6}, {"spread": 1.5},
                   {"clutter": -1}, {"spread": float("nan")}):
        with pytest.raises((ValueError, TypeError)):
            make_shapes(4, 16, seed=0, **kwargs)
