"""Bad input across the public API of mmc_utils (issue #10).

One table: each row is a bad call, the exception it must raise (``ValueError`` or ``TypeError``)
and a regex its message must match, naming the offending parameter (and, for a closed set, the
accepted values). The error must be raised by mmc_utils itself, never by torch deep inside a
layer, and no bad call may return a result. Everything is tiny: the file runs in seconds.
"""
from __future__ import annotations

import copy
import types
from pathlib import Path as FsPath

import pandas as pd
import pytest
import torch

from mmc_utils import claims, reproduce, runtime, scales, toy, zoo
from mmc_utils.align import align, apply_permutation
from mmc_utils.data import (BoxCue, CueDataConfig, CueSet, build_data, first_fraction_per_class, make_cue,
                            stratified_split)
from mmc_utils.finetune import (FinetuneConfig, accuracies_pct, finetune, invariance_loss, load_or_finetune,
                                paper_table1, results_table)
from mmc_utils.interventions import (Intervention, counterfactual_sets, cue_set, invariance_profile,
                                     mechanistic_connectivity, profile_distance, randomise_image, remove_cue,
                                     standard_interventions)
from mmc_utils.landscape import LandscapeConfig, evaluate_plane, load_or_evaluate_plane, plane_through
from mmc_utils.models import build_model
from mmc_utils.paths import (BezierPath, LinearPath, PathConfig, barrier, barriers, connected, evaluate_path,
                             fixed_batches, model_at, reestimate_bn_, train_midpoint)
from mmc_utils.store import Store, load_or_train
from mmc_utils.train import TrainConfig, evaluate, evaluate_sets, tensors_to_model, train_model

from _support import TensorSet

NAN_WEIGHT = r"'blocks\.0\.conv\.weight'.*(NaN|non-finite)"


@pytest.fixture(scope="module")
def c(tmp_path_factory):
    """Every object the bad calls need, built once (tiny models, 8x8 images)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    ns = types.SimpleNamespace()
    ns.tmp = tmp_path_factory.mktemp("bad_input")
    ns.dcfg = CueDataConfig(n_train=40, n_clean=20, n_test=20, image_size=8)
    ns.data = build_data(ns.dcfg)
    ns.cs = ns.data.test
    ns.model = build_model("small_cnn", 10, width=4, init_seed=0)
    ns.model_b = build_model("small_cnn", 10, width=4, init_seed=1)
    ns.model_c = build_model("small_cnn", 10, width=4, init_seed=2)
    ns.wide = build_model("small_cnn", 10, width=8, init_seed=0)
    ns.resnet = build_model("resnet18", 10, width=4, init_seed=0)
    ns.model3 = build_model("small_cnn", 3, width=4, init_seed=0)
    ns.nan_model = copy.deepcopy(ns.model)
    with torch.no_grad():
        ns.nan_model.blocks[0].conv.weight[0, 0, 0, 0] = float("nan")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 8, 8, generator=g).clamp(-1, 1)
    y = torch.arange(16) % 10
    ns.ts = TensorSet(x, y)
    nan_x = x.clone()
    nan_x[3, 1, 2, 2] = float("nan")
    ns.nan_ts = TensorSet(nan_x, y)
    ns.empty_ts = TensorSet(x[:0], y[:0])
    ns.path = LinearPath(ns.model, ns.model_b)
    ns.tcfg = TrainConfig(epochs=1, lr=0.01, batch_size=8)
    ns.fcfg = FinetuneConfig(epochs=2, batch_size=8, warmup_epochs=1, cosine_start_epoch=1, llr_epochs=1,
                             llr_batch_size=8)
    ns.spec = {"name": "small_cnn", "num_classes": 10, "width": 4}
    ns.toy_X, ns.toy_y = toy.make_toy_data(20)
    torch.manual_seed(0)
    ns.toy4, ns.toy4b, ns.toy8 = toy.OneHiddenReLU(4), toy.OneHiddenReLU(4), toy.OneHiddenReLU(8)
    ns.toy_nan = copy.deepcopy(ns.toy4b)
    with torch.no_grad():
        ns.toy_nan.hidden.weight[0, 0] = float("nan")
    ns.plane = plane_through(ns.model, ns.model, ns.model_b, ns.model_c)
    yield ns
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _env(c, monkeypatch):
    monkeypatch.setenv("MMC_DEVICE", "cpu")
    monkeypatch.setenv("MMC_CACHE_DIR", str(c.tmp / "cache"))
    monkeypatch.setenv("MMC_CLAIMS_DIR", str(c.tmp / "claims"))
    monkeypatch.delenv("MMC_SCALE", raising=False)
    monkeypatch.delenv("MMC_STRICT_CLAIMS", raising=False)


def _store(c) -> Store:
    return Store(c.tmp / "store", version="test")


def _nan_images(c) -> torch.Tensor:
    x = c.cs.images.clone()
    x[0, 0, 0, 0] = float("nan")
    return x


def _claim_twice(c) -> None:
    book = claims.Claims("bad_input", "smoke", 0, display=False)
    book.check("a", "first", True)
    book.check("a", "again", True)


def _nan_bn_data(c) -> TensorSet:
    x = c.data.clean_train.materialize()[0].clone()
    x[:, 0, 0, 0] = float("nan")
    return TensorSet(x, c.data.clean_train.labels)


P = pytest.param
CASES = [
    # ------------------------------------------------------------------ runtime, scales
    P(lambda c: runtime.pick_device("tpu"), ValueError, r"device must be 'auto', 'cuda\[:i\]', 'mps' or 'cpu'.*'tpu'",
      id="pick_device-unknown"),
    P(lambda c: runtime.pick_device(3), TypeError, r"device must be a str, torch\.device or None", id="pick_device-type"),
    P(lambda c: runtime.seed_everything(-1), ValueError, r"seed must be a non-negative int, got -1",
      id="seed_everything-negative"),
    P(lambda c: runtime.seed_everything(0, deterministic="yes"), TypeError, r"deterministic must be a bool",
      id="seed_everything-deterministic-type"),
    P(lambda c: scales.resolve_scale("huge"), ValueError, r"scale must be one of smoke, book, paper; got 'huge'",
      id="resolve_scale-unknown"),
    # ------------------------------------------------------------------ data
    P(lambda c: CueDataConfig(p=1.5), ValueError, r"p must lie in \[0, 1\], got 1\.5", id="CueDataConfig-p>1"),
    P(lambda c: CueDataConfig(p=float("nan")), ValueError, r"p must lie in \[0, 1\], got nan", id="CueDataConfig-p-nan"),
    P(lambda c: CueDataConfig(p="0.5"), TypeError, r"p must be a real number in \[0, 1\]", id="CueDataConfig-p-type"),
    P(lambda c: CueDataConfig(cue="stripes"), ValueError, r"cue must be one of .*'box'.*'dominoes'.*got 'stripes'",
      id="CueDataConfig-cue-unknown"),
    P(lambda c: CueDataConfig(base="imagenet"), ValueError, r"base must be one of 'shapes', 'cifar10'.*got 'imagenet'",
      id="CueDataConfig-base-unknown"),
    P(lambda c: CueDataConfig(n_train=0), ValueError, r"n_train must be >= 1, got 0", id="CueDataConfig-n_train-zero"),
    P(lambda c: CueDataConfig(image_size=16.0), TypeError, r"image_size must be an int", id="CueDataConfig-size-type"),
    P(lambda c: CueDataConfig(cue_kwargs={"box_sise": 2}), ValueError,
      r"cue_kwargs has unknown keys \['box_sise'\] for cue 'box'; accepted: box_size, margin, colour",
      id="CueDataConfig-cue_kwargs-unknown"),
    P(lambda c: CueDataConfig.for_scale("huge"), ValueError, r"scale must be one of smoke, book, paper",
      id="CueDataConfig-scale-unknown"),
    P(lambda c: build_data("smoke"), TypeError, r"config must be a CueDataConfig, got str", id="build_data-type"),
    P(lambda c: make_cue("stripes", 10, 16), ValueError, r"cue must be one of .*'box'.*got 'stripes'",
      id="make_cue-unknown"),
    P(lambda c: make_cue("box", 10, 16, size=2), ValueError, r"cue_kwargs has unknown keys \['size'\] for cue 'box'",
      id="make_cue-kwargs-unknown"),
    P(lambda c: BoxCue(10, 16, box_size=0), ValueError, r"box_size must be >= 1, got 0", id="BoxCue-box_size-zero"),
    P(lambda c: BoxCue(10, 8).apply(torch.zeros(2, 1, 8, 8), torch.tensor([0, 1])), ValueError,
      r"x must have shape \[B, 3, H, W\], got \(2, 1, 8, 8\)", id="Cue.apply-shape"),
    P(lambda c: BoxCue(10, 8).apply(torch.zeros(2, 3, 8, 8), torch.tensor([0, 12])), ValueError,
      r"cue_labels values must lie in \[-1, 9\]", id="Cue.apply-label-range"),
    P(lambda c: BoxCue(10, 8).apply(torch.full((2, 3, 8, 8), float("nan")), torch.tensor([0, 1])), ValueError,
      r"x must be finite.*NaN", id="Cue.apply-nan-images"),
    P(lambda c: CueSet(_nan_images(c), c.cs.labels, c.cs.cue_labels, c.cs.cue), ValueError,
      r"images must be finite.*NaN", id="CueSet-nan-images"),
    P(lambda c: CueSet(c.cs.images, c.cs.labels.float(), c.cs.cue_labels, c.cs.cue), TypeError,
      r"labels must have dtype torch\.int64, got torch\.float32", id="CueSet-labels-dtype"),
    P(lambda c: CueSet(c.cs.images, c.cs.labels, c.cs.cue_labels, "box"), TypeError, r"cue must be a Cue, got str",
      id="CueSet-cue-type"),
    P(lambda c: list(c.cs.batches(0)), ValueError, r"batch_size must be >= 1, got 0", id="CueSet.batches-zero"),
    P(lambda c: list(c.cs.batches(4, shuffle=True)), ValueError,
      r"generator must be a torch\.Generator or an int seed when shuffle=True", id="CueSet.batches-no-generator"),
    P(lambda c: c.cs.subset(torch.tensor([0, 999])), ValueError, r"idx must lie in \[-20, 19\], got .*999",
      id="CueSet.subset-out-of-range"),
    P(lambda c: c.cs.subset(torch.tensor([0.5])), TypeError, r"idx must hold int64 indices or bools",
      id="CueSet.subset-float"),
    P(lambda c: c.data.all_cued("val"), ValueError, r"split must be one of 'train', 'clean', 'test'; got 'val'",
      id="CueData.all_cued-split"),
    P(lambda c: stratified_split(torch.arange(10) % 2, 11, torch.Generator()), ValueError, r"n_first must be <= 10",
      id="stratified_split-too-many"),
    P(lambda c: first_fraction_per_class(torch.arange(10) % 2, -0.1), ValueError, r"p must lie in \[0, 1\]",
      id="first_fraction_per_class-negative"),
    # ------------------------------------------------------------------ models
    P(lambda c: build_model("resnet50", 10), ValueError, r"name must be one of small_cnn, vgg13, resnet18; got 'resnet50'",
      id="build_model-name"),
    P(lambda c: build_model("small_cnn", 0), ValueError, r"num_classes must be a positive int, got 0",
      id="build_model-num_classes"),
    P(lambda c: build_model("small_cnn", 10, width=float("inf")), ValueError, r"width must be a positive finite",
      id="build_model-width-inf"),
    P(lambda c: build_model("small_cnn", 10, width="wide"), TypeError, r"width must be a float multiplier or an int",
      id="build_model-width-type"),
    P(lambda c: build_model("resnet18", 10, plan=[(8, 1)]), TypeError,
      r"build_model\('resnet18'\) got unknown keyword arguments \['plan'\]; accepted: none", id="build_model-kw-resnet"),
    P(lambda c: build_model("small_cnn", 10, depth=5), TypeError,
      r"build_model\('small_cnn'\) got unknown keyword arguments \['depth'\]; accepted: plan", id="build_model-kw"),
    P(lambda c: build_model("small_cnn", 10, init_seed=-1), ValueError, r"init_seed must be a non-negative int",
      id="build_model-init_seed"),
    P(lambda c: c.model(torch.zeros(2, 1, 8, 8)), ValueError, r"x must have shape \[B, 3, H, W\], got \(2, 1, 8, 8\)",
      id="forward-channels"),
    P(lambda c: c.model(torch.zeros(2, 3, 8, 8, dtype=torch.long)), TypeError, r"x must be a floating-point tensor",
      id="forward-int-images"),
    P(lambda c: c.model(torch.zeros(2, 3, 8, 8, dtype=torch.float64)), TypeError,
      r"x must have the model's dtype torch\.float32, got torch\.float64", id="forward-dtype-mismatch"),
    # ------------------------------------------------------------------ train
    P(lambda c: TrainConfig(epochs=0, lr=0.1), ValueError, r"epochs must be an int >= 1, got 0", id="TrainConfig-epochs"),
    P(lambda c: TrainConfig(epochs=1, lr=float("inf")), ValueError, r"lr must be a number in \(0\.0, inf\), got inf",
      id="TrainConfig-lr-inf"),
    P(lambda c: TrainConfig(epochs=1, lr=0.1, momentum=-0.5), ValueError, r"momentum must be a number in \[0\.0, 1\.0\)",
      id="TrainConfig-momentum-negative"),
    P(lambda c: TrainConfig(epochs=1, lr=0.1, schedule="linear"), ValueError,
      r"schedule must be one of 'cosine', 'step', 'constant'; got 'linear'", id="TrainConfig-schedule"),
    P(lambda c: TrainConfig.for_scale("book", learning_rate=1.0), TypeError,
      r"unknown TrainConfig fields \['learning_rate'\]; the fields are epochs, lr, ", id="TrainConfig-unknown-field"),
    P(lambda c: train_model(c.model, c.ts, "fast", seed=0), TypeError, r"config must be a TrainConfig, got str",
      id="train_model-config-type"),
    P(lambda c: train_model(c.model, c.ts, c.tcfg, seed=-1), ValueError, r"seed must be a non-negative int",
      id="train_model-seed"),
    P(lambda c: train_model(c.model, [1, 2], c.tcfg, seed=0), TypeError, r"data must have __len__ and batches",
      id="train_model-data-type"),
    P(lambda c: train_model(c.model, c.empty_ts, c.tcfg, seed=0), ValueError, r"data is empty", id="train_model-empty"),
    P(lambda c: train_model(copy.deepcopy(c.nan_model), c.ts, c.tcfg, seed=0), ValueError, r"model .*" + NAN_WEIGHT,
      id="train_model-nan-weights"),
    P(lambda c: train_model(copy.deepcopy(c.model), c.nan_ts, c.tcfg, seed=0), ValueError,
      r"data holds non-finite images \(NaN or inf\)", id="train_model-nan-images"),
    P(lambda c: train_model(copy.deepcopy(c.model3), c.cs, c.tcfg, seed=0), ValueError,
      r"data has 10 classes but the model's head has 3 outputs", id="train_model-class-mismatch"),
    P(lambda c: evaluate(c.model, c.empty_ts), ValueError, r"data is empty", id="evaluate-empty"),
    P(lambda c: evaluate(c.model, c.ts, batch_size=0), ValueError, r"batch_size must be a positive int, got 0",
      id="evaluate-batch_size"),
    P(lambda c: evaluate(c.nan_model, c.ts), ValueError, r"model .*" + NAN_WEIGHT, id="evaluate-nan-weights"),
    P(lambda c: evaluate(c.model, c.nan_ts), ValueError, r"data holds non-finite images \(NaN or inf\)",
      id="evaluate-nan-images"),
    P(lambda c: evaluate(c.model3, c.cs), ValueError, r"data has 10 classes but the model's head has 3 outputs",
      id="evaluate-class-mismatch"),
    P(lambda c: evaluate_sets(c.model, [c.ts]), TypeError, r"sets must be a mapping name -> data set",
      id="evaluate_sets-type"),
    P(lambda c: tensors_to_model(c.spec, c.wide.state_dict()), ValueError,
      r"tensors do not fit the model of spec .*size mismatch", id="tensors_to_model-mismatch"),
    # ------------------------------------------------------------------ store
    P(lambda c: Store(root=123), TypeError, r"root must be a str, os\.PathLike or None, got int", id="Store-root-type"),
    P(lambda c: Store(c.tmp, version=3), TypeError, r"version must be a non-empty str or None, got 3",
      id="Store-version-type"),
    P(lambda c: _store(c).save({"a": 1}, {"w": 1}), TypeError, r"tensors must be a dict of str -> torch\.Tensor",
      id="Store.save-tensors"),
    P(lambda c: _store(c).save({"a": 1}, {"w": torch.ones(1)}, meta=[1, 2]), TypeError,
      r"meta must be a JSON-able mapping or None, got list", id="Store.save-meta"),
    P(lambda c: _store(c).key("cfg"), TypeError, r"config must be a mapping, got str", id="Store.key-config"),
    P(lambda c: load_or_train({"a": 1}, "train", store=_store(c)), TypeError,
      r"train_fn must be a callable returning \(tensors, meta\)", id="load_or_train-train_fn-type"),
    P(lambda c: load_or_train({"a": 2}, lambda: "oops", store=_store(c)), TypeError,
      r"train_fn must return \(tensors, meta\)", id="load_or_train-train_fn-result"),
    P(lambda c: load_or_train({"a": object()}, lambda: ({}, {}), store=_store(c)), TypeError,
      r"config value of type object is not JSON-serialisable", id="load_or_train-config-json"),
    P(lambda c: load_or_train({"a": 3}, lambda: ({}, {}), store=str(c.tmp)), TypeError,
      r"store must be a mmc_utils\.store\.Store or None, got str", id="load_or_train-store-type"),
    # ------------------------------------------------------------------ paths
    P(lambda c: LinearPath(c.model, c.wide), ValueError, r"models of different shape: 'blocks\.0\.conv\.weight'",
      id="LinearPath-width-mismatch"),
    P(lambda c: LinearPath(c.model, c.resnet), ValueError, r"models of different shape: point 1 lacks",
      id="LinearPath-architecture-mismatch"),
    P(lambda c: LinearPath(c.model, c.nan_model), ValueError, r"points\[1\] .*" + NAN_WEIGHT, id="LinearPath-nan-end"),
    P(lambda c: LinearPath(c.model, "theta"), TypeError, r"points\[1\] must be an nn\.Module or a mapping",
      id="LinearPath-type"),
    P(lambda c: BezierPath([c.model]), ValueError, r"points must hold at least 2 states, got 1", id="BezierPath-one"),
    P(lambda c: c.path.point(1.5), ValueError, r"t must lie in \[0, 1\], got 1\.5", id="Path.point-t>1"),
    P(lambda c: c.path.point(float("nan")), ValueError, r"t must lie in \[0, 1\], got nan", id="Path.point-t-nan"),
    P(lambda c: c.path.point("half"), TypeError, r"t must be a float in \[0, 1\] or a 0-d tensor", id="Path.point-type"),
    P(lambda c: c.path.points([]), ValueError, r"ts must contain at least one t", id="Path.points-empty"),
    P(lambda c: evaluate_path(c.model, c.path, {}, bn="keep"), ValueError, r"sets must be a non-empty mapping",
      id="evaluate_path-no-sets"),
    P(lambda c: evaluate_path(c.model, c.path, {"NC": c.ts}, bn="recompute"), ValueError,
      r"bn must be one of reestimate, interpolate, keep; got 'recompute'", id="evaluate_path-bn"),
    P(lambda c: evaluate_path(c.model, c.path, {"NC": c.ts}, bn="keep", method="fast"), ValueError,
      r"method must be one of auto, loop, vmap; got 'fast'", id="evaluate_path-method"),
    P(lambda c: evaluate_path(c.model, c.path, {"NC": c.ts}, ts=[0, 2]), ValueError, r"t must lie in \[0, 1\], got 2",
      id="evaluate_path-ts"),
    P(lambda c: evaluate_path(c.model, c.path, {"NC": c.ts}, bn="keep", max_images=0), ValueError,
      r"max_images must be a positive int", id="evaluate_path-max-images"),
    P(lambda c: evaluate_path(c.wide, c.path, {"NC": c.ts}, bn="keep"), ValueError, r"model and path of different shape",
      id="evaluate_path-model-mismatch"),
    P(lambda c: evaluate_path(c.model, c.path, {"NC": c.ts}), ValueError, r"bn='reestimate' needs bn_data",
      id="evaluate_path-no-bn_data"),
    P(lambda c: evaluate_path(c.model, c.path, {"NC": c.ts}, bn_data=c.ts, bn_batch_size=1), ValueError,
      r"bn_batch_size must be an int >= 2, got 1", id="evaluate_path-bn_batch_size"),
    P(lambda c: evaluate_path(c.model, c.path, {"NC": c.ts}, bn_data=_nan_bn_data(c), bn_batch_size=8), ValueError,
      r"bn_data holds non-finite images \(NaN or inf\)", id="evaluate_path-nan-bn_data"),
    P(lambda c: evaluate_path(c.model, c.path, {"NC": c.nan_ts}, ts=[0, 1], bn="keep"), ValueError,
      r"data holds non-finite images", id="evaluate_path-nan-set"),
    P(lambda c: model_at(c.model, c.path, 2.0, bn="keep"), ValueError, r"t must lie in \[0, 1\]", id="model_at-t"),
    P(lambda c: reestimate_bn_(copy.deepcopy(c.model), []), ValueError, r"batches must hold at least one batch",
      id="reestimate_bn-empty"),
    P(lambda c: reestimate_bn_(copy.deepcopy(c.model), "x"), TypeError,
      r"batches must be a list of image tensors \[B, C, H, W\], got str", id="reestimate_bn-type"),
    P(lambda c: reestimate_bn_(copy.deepcopy(c.model), [torch.full((4, 3, 8, 8), float("nan"))]), ValueError,
      r"batches\[0\] must be finite \(no NaN or inf\), got \d+ NaN", id="reestimate_bn-nan"),
    P(lambda c: fixed_batches(c.ts, 0, 8), ValueError, r"bn_batches must be an int >= 1, got 0",
      id="fixed_batches-zero"),
    P(lambda c: barrier([0, 0.5], [0.1, 0.2]), ValueError, r"ts must include both end points 0 and 1",
      id="barrier-no-end"),
    P(lambda c: barrier([0, 0.5, 1], [0.1, float("nan"), 0.1]), ValueError, r"values must be finite",
      id="barrier-nan"),
    P(lambda c: barriers(pd.DataFrame({"t": [0.0], "set": ["C"], "err": [0.1]})), ValueError,
      r"df lacks columns \['loss'\]; expected t, set, loss, err", id="barriers-columns"),
    P(lambda c: barriers(pd.DataFrame(columns=["t", "set", "loss", "err"])), ValueError, r"df has no rows",
      id="barriers-empty"),
    P(lambda c: connected(0.1, eps=-1.0), ValueError, r"eps must be a finite number >= 0, got -1\.0",
      id="connected-eps"),
    P(lambda c: connected(0.1, eps=0.1, metric="acc"), ValueError, r"metric must be one of loss, err; got 'acc'",
      id="connected-metric"),
    P(lambda c: connected("0.1", 0.1), TypeError, r"df_or_barrier must be a float or a DataFrame",
      id="connected-type"),
    P(lambda c: PathConfig(num_points=1), ValueError, r"num_points must be an int >= 2, got 1", id="PathConfig-points"),
    P(lambda c: PathConfig(midpoint_lr=0.0), ValueError, r"midpoint_lr must be a number in \(0\.0, inf\), got 0\.0",
      id="PathConfig-lr"),
    P(lambda c: PathConfig.for_scale("smoke", points=3), TypeError,
      r"unknown PathConfig fields \['points'\]; the fields are num_points, ", id="PathConfig-unknown-field"),
    P(lambda c: train_midpoint(c.spec, c.model, c.wide, c.ts, epochs=1, lr=0.1, batch_size=8, seed=0), ValueError,
      r"models of different shape", id="train_midpoint-mismatch"),
    P(lambda c: train_midpoint(c.spec, c.model, c.nan_model, c.ts, epochs=1, lr=0.1, batch_size=8, seed=0),
      ValueError, r"end .*" + NAN_WEIGHT, id="train_midpoint-nan-end"),
    P(lambda c: train_midpoint(c.spec, c.model, c.model_b, c.ts, epochs=0, lr=0.1, batch_size=8, seed=0),
      ValueError, r"epochs must be an int >= 1, got 0", id="train_midpoint-epochs"),
    P(lambda c: train_midpoint(c.spec, c.model, c.model_b, TensorSet(c.ts.x[:1], c.ts.y[:1]), epochs=1, lr=0.1,
                               batch_size=8, seed=0), ValueError, r"data must hold at least 2 samples",
      id="train_midpoint-one-sample"),
    P(lambda c: train_midpoint("small_cnn", c.model, c.model_b, c.ts, epochs=1, lr=0.1, batch_size=8, seed=0),
      TypeError, r"model_spec_or_builder must be a build_model spec", id="train_midpoint-spec-type"),
    # ------------------------------------------------------------------ align
    P(lambda c: align(c.model, c.wide, c.ts), ValueError,
      r"other must have the same architecture and shapes as reference; they differ at \['blocks\.0\.bn\.bias'",
      id="align-width-mismatch"),
    P(lambda c: align(c.model, c.resnet, c.ts), ValueError, r"other must have the architecture of reference: got "
      r"ResNet18 and SmallCNN", id="align-architecture-mismatch"),
    P(lambda c: align(c.model, c.nan_model, c.ts), ValueError, r"other .*" + NAN_WEIGHT, id="align-nan-weights"),
    P(lambda c: align(c.model, c.model_b, c.nan_ts), ValueError, r"data holds non-finite images",
      id="align-nan-images"),
    P(lambda c: align(torch.nn.Linear(2, 2), c.model, c.ts), ValueError, r"reference must have \.blocks",
      id="align-not-a-cnn"),
    P(lambda c: align(c.model, c.model_b, c.empty_ts), ValueError, r"data must not be empty", id="align-empty"),
    P(lambda c: align(c.model, c.model_b, c.ts, num_batches=0), ValueError, r"num_batches must be a positive int",
      id="align-num_batches"),
    P(lambda c: apply_permutation(c.model, {"blocks.9": torch.arange(4)}), ValueError,
      r"perms has unknown groups \['blocks\.9'\]; the model's groups are \['blocks\.0'", id="apply_permutation-group"),
    P(lambda c: apply_permutation(c.model, {"blocks.0": torch.tensor([0, 0, 1, 2])}), ValueError,
      r"perms\['blocks\.0'\] must hold each of 0\.\.3 exactly once", id="apply_permutation-not-a-permutation"),
    # ------------------------------------------------------------------ finetune
    P(lambda c: FinetuneConfig(t_dist="beta"), ValueError,
      r"t_dist must be one of 'clipped_normal', 'uniform', 'fixed'; got 'beta'", id="FinetuneConfig-t_dist"),
    P(lambda c: FinetuneConfig(lr=0.0), ValueError, r"lr must be a number in \(0\.0, inf\), got 0\.0",
      id="FinetuneConfig-lr"),
    P(lambda c: FinetuneConfig(epochs=2.0), ValueError, r"epochs must be an int >= 1, got 2\.0",
      id="FinetuneConfig-epochs-type"),
    P(lambda c: FinetuneConfig(t_mean=0.9), ValueError, r"t_mean ± t_scale·t_clip must lie in \[0, 1\]",
      id="FinetuneConfig-t-range"),
    P(lambda c: FinetuneConfig.for_scale("smoke", "bogus"), ValueError,
      r"method must be one of ft, llr, lpft, cbft, cbft_no_barrier, cbft_no_invariance, ft_small", id="FinetuneConfig-method"),
    P(lambda c: FinetuneConfig.for_scale("smoke", "ft", learning_rate=1), TypeError,
      r"unknown FinetuneConfig fields \['learning_rate'\]; the fields are epochs, lr, ", id="FinetuneConfig-unknown-field"),
    P(lambda c: finetune(c.model, "sgd", c.ts, seed=0), ValueError, r"method must be one of ft, llr",
      id="finetune-method"),
    P(lambda c: finetune(c.model, "cbft", c.ts, config=c.fcfg, seed=0), ValueError, r"cue must be given for method 'cbft'",
      id="finetune-cbft-no-cue"),
    P(lambda c: finetune(c.nan_model, "ft", c.ts, config=c.fcfg, seed=0), ValueError, r"model .*" + NAN_WEIGHT,
      id="finetune-nan-weights"),
    P(lambda c: finetune(c.model, "cbft", c.ts, cue=c.nan_ts, config=c.fcfg, seed=0), ValueError,
      r"cue holds non-finite images", id="finetune-cbft-nan-cue"),
    P(lambda c: finetune(c.model3, "ft", c.cs, config=c.fcfg, seed=0), ValueError,
      r"clean has 10 classes but the model's head has 3 outputs", id="finetune-class-mismatch"),
    P(lambda c: finetune(c.model, "ft", c.ts, config="fast", seed=0), TypeError,
      r"config must be a FinetuneConfig or None, got str", id="finetune-config-type"),
    P(lambda c: finetune(c.model, "ft_small", c.ts, config=c.fcfg, seed=0), ValueError,
      r"method 'ft_small' fixes lr=0\.001, but config\.lr=0\.01", id="finetune-alias-lr"),
    P(lambda c: finetune("model", "ft", c.ts, seed=0), TypeError, r"model must be an mmc_utils\.models network",
      id="finetune-model-type"),
    P(lambda c: finetune(c.model, "ft", c.ts, config=c.fcfg, seed=-3), ValueError, r"seed must be a non-negative int",
      id="finetune-seed"),
    P(lambda c: invariance_loss(torch.zeros(4, 8), torch.zeros(5, dtype=torch.long), torch.zeros(4, 8),
                                torch.zeros(4, dtype=torch.long), 10), ValueError,
      r"y_clean must be an int64 tensor of shape \[4\]", id="invariance_loss-shape"),
    P(lambda c: invariance_loss(torch.zeros(4, 8), torch.zeros(4, dtype=torch.long), torch.zeros(4, 6),
                                torch.zeros(4, dtype=torch.long), 10), ValueError,
      r"z_cue must be a floating tensor of shape \[B', 8\]", id="invariance_loss-dim"),
    P(lambda c: accuracies_pct({"NC": 1.5}), ValueError, r"precomputed accuracies must be fractions in \[0, 1\]; 'NC' is 1\.5",
      id="accuracies_pct-range"),
    P(lambda c: accuracies_pct({"NC": float("nan")}), ValueError, r"'NC' is nan", id="accuracies_pct-nan"),
    P(lambda c: results_table({}), ValueError, r"runs must be a non-empty mapping", id="results_table-empty"),
    P(lambda c: paper_table1(0.7), ValueError, r"p must be one of \[0\.6, 0\.9\]", id="paper_table1-p"),
    P(lambda c: load_or_finetune("key", c.model, "ft", c.ts, seed=0), TypeError,
      r"source_key must be a JSON-able mapping", id="load_or_finetune-key"),
    # ------------------------------------------------------------------ zoo, reproduce
    P(lambda c: zoo.pretrained("dirty", c.dcfg, seed=0), ValueError, r"kind must be 'clean' or 'cue', got 'dirty'",
      id="zoo.pretrained-kind"),
    P(lambda c: zoo.pretrained("clean", {"p": 0.8}, seed=0), TypeError, r"config must be a CueDataConfig .*got dict",
      id="zoo.pretrained-config-type"),
    P(lambda c: zoo.data_config("huge", 0), ValueError, r"scale must be one of smoke, book, paper",
      id="zoo.data_config-scale"),
    P(lambda c: zoo.data_config("smoke", 0, p=2), ValueError, r"p must lie in \[0, 1\]", id="zoo.data_config-p"),
    P(lambda c: zoo.finetuned(c.model, "bogus", c.dcfg, seed=0, scale="smoke"), ValueError,
      r"method must be one of ft, llr", id="zoo.finetuned-method"),
    P(lambda c: zoo.model_spec("smoke", 0), ValueError, r"num_classes must be >= 1, got 0", id="zoo.model_spec-classes"),
    P(lambda c: zoo.model_seed("dirty", 0), ValueError, r"kind must be one of 'clean', 'cue', 'scratch'; got 'dirty'",
      id="zoo.model_seed-kind"),
    P(lambda c: zoo.model_seed("cue", -1, 0.6), ValueError, r"seed must be", id="zoo.model_seed-seed"),
    P(lambda c: zoo.model_seed("cue", 0, 1.5), ValueError, r"p must lie in \[0, 1\], got 1\.5", id="zoo.model_seed-p"),
    P(lambda c: zoo.model_seed("cue", 0, "0.6"), TypeError, r"p must be a real number in \[0, 1\]", id="zoo.model_seed-p-type"),
    P(lambda c: zoo.from_scratch({"p": 0.6}, seed=0, scale="smoke"), TypeError, r"config must be a CueDataConfig .*got dict",
      id="zoo.from_scratch-config"),
    P(lambda c: zoo.from_scratch(c.dcfg, seed=-3, scale="smoke"), ValueError, r"seed must be", id="zoo.from_scratch-seed"),
    P(lambda c: zoo.scratch_config("huge"), ValueError, r"scale must be one of smoke, book, paper", id="zoo.scratch_config-scale"),
    P(lambda c: reproduce.table1_runs([], [0], scale="smoke"), ValueError, r"ps must be a non-empty sequence",
      id="table1_runs-empty"),
    P(lambda c: reproduce.table1_runs(0.8, [0], scale="smoke"), TypeError, r"ps must be a non-empty sequence",
      id="table1_runs-ps-type"),
    P(lambda c: reproduce.table1_runs([0.8, 1.5], [0], scale="smoke"), ValueError, r"ps\[1\] must lie in \[0, 1\]",
      id="table1_runs-p-range"),
    P(lambda c: reproduce.table1_runs([0.8], [-1], scale="smoke"), ValueError, r"seeds\[0\] must be >= 0",
      id="table1_runs-seed"),
    P(lambda c: reproduce.table1_runs([0.8], [0], scale="smoke", methods={"X": "bogus"}), ValueError,
      r"method must be one of ft, llr", id="table1_runs-method"),
    P(lambda c: reproduce.table1_grid("huge"), ValueError, r"scale must be one of", id="table1_grid-scale"),
    P(lambda c: reproduce.table1_frame("runs"), TypeError, r"runs must be a mapping p -> \{method: \[accuracies\]\}",
      id="table1_frame-type"),
    # ------------------------------------------------------------------ interventions
    P(lambda c: cue_set(c.ts), TypeError, r"base must be a CueSet, got TensorSet", id="cue_set-type"),
    P(lambda c: Intervention("X", "x", lambda b: b).apply(c.ts), TypeError, r"base must be a CueSet",
      id="Intervention.apply-type"),
    P(lambda c: randomise_image()(c.cs.subset([0])), ValueError, r"at least two samples", id="randomise_image-one"),
    P(lambda c: counterfactual_sets(c.cs, []), TypeError, r"interventions must be a non-empty sequence",
      id="counterfactual_sets-empty"),
    P(lambda c: counterfactual_sets(c.cs, [remove_cue(), remove_cue()]), ValueError,
      r"intervention names must be unique", id="counterfactual_sets-duplicates"),
    P(lambda c: invariance_profile(c.model, c.cs, standard_interventions(), tol=-1), ValueError,
      r"tol must be a finite number >= 0, got -1", id="invariance_profile-tol"),
    P(lambda c: invariance_profile(c.model, c.cs, standard_interventions(), loss_tol=float("nan")), ValueError,
      r"loss_tol must be a finite number >= 0", id="invariance_profile-loss_tol-nan"),
    P(lambda c: invariance_profile(c.model, c.cs, standard_interventions(), tol=None, loss_tol=None), ValueError,
      r"tol and loss_tol are both None", id="invariance_profile-no-tolerance"),
    P(lambda c: invariance_profile(c.nan_model, c.cs, standard_interventions()), ValueError, r"model .*" + NAN_WEIGHT,
      id="invariance_profile-nan-weights"),
    P(lambda c: mechanistic_connectivity(c.model, c.path, c.cs, [remove_cue()], eps_loss=-1.0, ts=[0, 1], bn="keep"),
      ValueError, r"eps_loss must be a finite number >= 0, got -1\.0", id="mechanistic_connectivity-eps"),
    P(lambda c: profile_distance(pd.DataFrame({"d_acc": [0.0], "invariant": [True]}), "x"), TypeError,
      r"p2 must be a DataFrame from invariance_profile", id="profile_distance-type"),
    # ------------------------------------------------------------------ toy
    P(lambda c: toy.make_toy_data(1), ValueError, r"n must be an int >= 2, got 1", id="make_toy_data-n"),
    P(lambda c: toy.make_toy_data(10, predictive=("colour",)), ValueError,
      r"attribute must be one of \('linear', 'slab'\), got 'colour'", id="make_toy_data-attribute"),
    P(lambda c: toy.randomise_attribute(c.toy_X, "colour"), ValueError, r"attribute must be one of",
      id="randomise_attribute-attribute"),
    P(lambda c: toy.train_toy(c.toy_X, c.toy_y[:7], steps=1), ValueError, r"y must have shape \[20\] .*got \(7,\)",
      id="train_toy-y-shape"),
    P(lambda c: toy.train_toy(c.toy_X, c.toy_y + 1, steps=1), ValueError, r"y values must be -1 or \+1",
      id="train_toy-y-values"),
    P(lambda c: toy.train_toy(c.toy_X, c.toy_y, width=0, steps=1), ValueError, r"width must be >= 1, got 0",
      id="train_toy-width"),
    P(lambda c: toy.train_toy(c.toy_X, c.toy_y, steps=1, lr=-0.1), ValueError, r"lr must be a number in \(0\.0, inf\)",
      id="train_toy-lr"),
    P(lambda c: toy.train_toy(torch.full((20, 2), float("nan")), c.toy_y, steps=1), ValueError,
      r"X must be finite.*NaN", id="train_toy-nan"),
    P(lambda c: toy.toy_loss(c.toy4, torch.zeros(20, 3), c.toy_y), ValueError, r"X must have shape \[N, 2\] .*got \(20, 3\)",
      id="toy_loss-X-shape"),
    P(lambda c: toy.pattern_agreement(torch.zeros(4, 3, dtype=torch.bool), torch.zeros(4, 2, dtype=torch.bool)),
      ValueError, r"patterns must be bool tensors of one shape", id="pattern_agreement-shape"),
    P(lambda c: toy.permute_hidden(c.toy4, [0, 0, 1, 2]), ValueError, r"perm must be a permutation of range\(4\)",
      id="permute_hidden-perm"),
    P(lambda c: toy.linear_barrier(c.toy4, c.toy8, c.toy_X, c.toy_y), ValueError, r"models of different shape",
      id="linear_barrier-width-mismatch"),
    P(lambda c: toy.linear_barrier(c.toy4, c.toy_nan, c.toy_X, c.toy_y), ValueError,
      r"points\[1\] .*'hidden\.weight'.*(NaN|non-finite)", id="linear_barrier-nan-end"),
    # ------------------------------------------------------------------ landscape
    P(lambda c: plane_through(c.model, c.model, c.model, c.model_b), ValueError, r"theta1 equals theta0",
      id="plane_through-degenerate"),
    P(lambda c: plane_through(c.model, c.model, c.model_b, c.wide), ValueError, r"plane states of different shape",
      id="plane_through-mismatch"),
    P(lambda c: plane_through(c.model, c.model, c.model_b, c.nan_model), ValueError, r"theta2 .*" + NAN_WEIGHT,
      id="plane_through-nan"),
    P(lambda c: LandscapeConfig(grid=1), ValueError, r"grid must be an int >= 2, got 1", id="LandscapeConfig-grid"),
    P(lambda c: LandscapeConfig(margin=-0.5), ValueError, r"margin must be a number in \[0\.0, inf\), got -0\.5",
      id="LandscapeConfig-margin"),
    P(lambda c: LandscapeConfig.for_scale("smoke", points=3), TypeError,
      r"unknown LandscapeConfig fields \['points'\]; the fields are grid, margin", id="LandscapeConfig-unknown-field"),
    P(lambda c: evaluate_plane(c.model, c.plane, {"C": c.cs}, [], [0.0], bn_data=c.data.clean_train, bn_batch_size=8), ValueError,
      r"alphas must be a non-empty sequence of finite numbers", id="evaluate_plane-no-alphas"),
    P(lambda c: evaluate_plane(c.model, c.plane, {}, [0.0], [0.0], bn_data=c.data.clean_train, bn_batch_size=8), ValueError,
      r"sets must be a non-empty mapping", id="evaluate_plane-no-sets"),
    P(lambda c: evaluate_plane(c.wide, c.plane, {"C": c.cs}, [0.0], [0.0], bn_data=c.data.clean_train, bn_batch_size=8), ValueError,
      r"model and plane of different shape", id="evaluate_plane-model-mismatch"),
    P(lambda c: load_or_evaluate_plane(c.model, c.model, c.model_b, c.model_c, {"C": c.cs},
                                       bn_data=c.data.clean_train, config="book"), TypeError,
      r"config must be a LandscapeConfig or None, got str", id="load_or_evaluate_plane-config"),
    # ------------------------------------------------------------------ claims
    P(lambda c: claims.Claims("a/b", "smoke", 0), ValueError, r"notebook must be a file stem", id="Claims-notebook"),
    P(lambda c: claims.Claims("bad_input", "huge", 0), ValueError, r"scale must be one of smoke, book, paper; got 'huge'",
      id="Claims-scale"),
    P(lambda c: claims.Claims("bad_input", "smoke", "zero"), TypeError, r"seed must be an int", id="Claims-seed"),
    P(lambda c: claims.Claims("bad_input", "smoke", 0, display=False).check("x", "s", float("nan")), TypeError,
      r"holds must be a bool", id="Claims.check-holds-nan"),
    P(lambda c: claims.Claims("bad_input", "smoke", 0, display=False).check("", "s", True), ValueError,
      r"claim_id must be a non-empty str", id="Claims.check-empty-id"),
    P(_claim_twice, ValueError, r"claim_id 'a' is already used", id="Claims.check-duplicate"),
]


def assert_clear_error(c, call, exc, pattern) -> None:
    """``call(c)`` raises ``exc`` (a plain ValueError/TypeError) matching ``pattern``, from mmc_utils's own code."""
    with pytest.raises(exc, match=pattern) as info:
        call(c)
    assert type(info.value) in (ValueError, TypeError), f"raised {type(info.value).__name__}, not a plain error"
    # raised by mmc_utils's own checks, not by torch/numpy deep inside a layer
    frame = info.traceback[-1]
    assert "mmc_utils" in FsPath(str(frame.path)).parts, f"raised from {frame.path}:{frame.lineno}"


@pytest.mark.parametrize("call,exc,pattern", CASES)
def test_bad_call_raises_clear_error(c, call, exc, pattern):
    assert_clear_error(c, call, exc, pattern)


def test_table_is_large_enough():
    assert len(CASES) >= 40 and len({p.id for p in CASES}) == len(CASES)
