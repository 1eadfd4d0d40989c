"""Bad input at the public boundaries, second table (issue #17): devices, seeds, index types,
label ranges, finiteness, non-modules, metadata of the store, claims.

Same contract as ``test_bad_input.py`` (whose fixtures it reuses): each row is a bad call, the
exception it must raise (``ValueError`` or ``TypeError``) and a regex its message must match; the
error is raised by mmc_utils itself before anything is computed, never by torch, numpy or Python
deep inside. Behaviour that is not an exception (warn and return, rebuild) is tested in
``test_store.py`` and ``test_robustness.py``.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from mmc_utils import claims, runtime, toy, zoo
from mmc_utils.align import random_permutation
from mmc_utils.data import CueDataConfig, build_data, first_fraction_per_class, stratified_split
from mmc_utils.data.rng import derive_seed
from mmc_utils.data.shapes import make_shapes
from mmc_utils.finetune import finetune, load_or_finetune
from mmc_utils.interventions import (Intervention, counterfactual_sets, invariance_profile, mechanistic_connectivity,
                                     profile_distance, remove_cue, standard_interventions)
from mmc_utils.landscape import evaluate_plane, load_or_evaluate_plane
from mmc_utils.paths import (LinearPath, barrier, evaluate_path, fixed_batches, load_or_train_midpoint, reestimate_bn_,
                             train_midpoint)
from mmc_utils.store import Store, load_or_train
from mmc_utils.train import TrainConfig, evaluate, load_or_train_model, predict_logits, train_model

from _support import TensorSet
from test_bad_input import _env, assert_clear_error, c  # noqa: F401 - the shared fixtures and check

P = pytest.param
DEVICE = r"device must be 'auto', 'cuda\[:i\]', 'mps' or 'cpu', got "
NO_CUDA = "" if torch.cuda.is_available() else r"device 'cuda' requested but CUDA is not available"
BIG = 2**63
BAD_CUDA = "cuda:99" if torch.cuda.is_available() else "cuda"


def _labels(c, y: torch.Tensor) -> TensorSet:
    return TensorSet(c.ts.x[:len(y)], y)


def _circular() -> dict:
    d: dict = {}
    d["self"] = d
    return d


def _tiny_images(c) -> TensorSet:
    return TensorSet(torch.zeros(9, 3, 1, 1), torch.arange(9) % 10)


def _claim_after_bad_value(c) -> None:
    book = claims.Claims("bad_input_boundaries", "smoke", 0, display=False)
    book.check("a", "first", True, when=object())


def _strict(c, value: str) -> bool:
    import os
    os.environ["MMC_STRICT_CLAIMS"] = value  # the autouse fixture removes it again
    return claims.strict()


def _bad_midpoint_store(c):
    return load_or_train_midpoint(c.spec, c.model, c.model_b, c.ts, {"d": 1}, epochs=1, lr=0.1, batch_size=8,
                                  seed=0, store=Store(c.tmp / "mid", version="t"), device="cpu:abc")


MID = dict(epochs=1, lr=0.1, batch_size=8, seed=0)
VMAP = dict(ts=[0, 1], bn="keep", method="vmap")
LOOP = dict(ts=[0, 1], bn="keep", method="loop")

CASES = [
    # ------------------------------------------------------------------ devices
    P(lambda c: c.cs.to("cpu:abc"), ValueError, DEVICE + "'cpu:abc'", id="CueSet.to-cpu:abc"),
    P(lambda c: c.cs.to("tpu"), ValueError, DEVICE + "'tpu'", id="CueSet.to-tpu"),
    P(lambda c: c.cs.to(0), TypeError, r"device must be a str, torch\.device or None, got int", id="CueSet.to-int"),
    P(lambda c: c.data.to("cpu:abc"), ValueError, DEVICE + "'cpu:abc'", id="CueData.to-cpu:abc"),
    P(lambda c: build_data(c.dcfg, device="tpu"), ValueError, DEVICE + "'tpu'", id="build_data-tpu"),
    P(lambda c: zoo.load_data(c.dcfg, device="cpu:abc"), ValueError, DEVICE + "'cpu:abc'", id="zoo.load_data-cpu:abc"),
    P(lambda c: runtime.pick_device("cpu:1"), ValueError, r"device 'cpu:1': cpu has only device index 0",
      id="pick_device-cpu:1"),
    P(lambda c: runtime.pick_device(" cpu"), ValueError, DEVICE + "' cpu'", id="pick_device-space"),
    P(lambda c: runtime.make_generator(0, device="tpu"), ValueError, DEVICE + "'tpu'", id="make_generator-device"),
    # ------------------------------------------------------------------ seeds
    P(lambda c: runtime.seed_everything(BIG), ValueError, r"seed must be below 2\*\*63", id="seed_everything-2**63"),
    P(lambda c: runtime.seed_everything(2**64), ValueError, r"seed must be below 2\*\*63", id="seed_everything-2**64"),
    P(lambda c: runtime.make_generator("abc"), TypeError, r"seed must be an int, got str", id="make_generator-str"),
    P(lambda c: runtime.make_generator(2**64), ValueError, r"seed must be a non-negative int below 2\*\*64",
      id="make_generator-2**64"),
    P(lambda c: derive_seed("abc", "x"), ValueError, r"seed must be a non-negative int \(below 2\*\*63\), got str",
      id="derive_seed-str"),
    P(lambda c: c.cs.with_random_cues("abc"), ValueError, r"seed must be a non-negative int", id="with_random_cues-str"),
    P(lambda c: c.cs.with_images_deranged(2**64), ValueError, r"seed must be below 2\*\*63",
      id="with_images_deranged-2**64"),
    P(lambda c: CueDataConfig(seed=2**64), ValueError, r"seed must be below 2\*\*63", id="CueDataConfig-seed-2**64"),
    P(lambda c: CueDataConfig(seed="abc"), ValueError, r"seed must be a non-negative int", id="CueDataConfig-seed-str"),
    P(lambda c: zoo.pretrained("clean", c.dcfg, seed=BIG), ValueError, r"seed must be below 2\*\*63",
      id="zoo.pretrained-seed-2**63"),
    # ------------------------------------------------------------------ index types
    P(lambda c: c.cs.subset([0.7, 1.9]), TypeError, r"idx must hold int indices or bools .*\['float'\]",
      id="CueSet.subset-list-of-floats"),
    P(lambda c: c.cs.subset([True, 1]), TypeError, r"idx must hold int indices or bools \(not a mix\)",
      id="CueSet.subset-list-mixed"),
    P(lambda c: c.cs.subset([True, False]), ValueError, r"idx as a bool mask must have shape \[20\], got \(2,\)",
      id="CueSet.subset-short-bool-list"),
    P(lambda c: c.cs.subset("0:3"), TypeError, r"idx must be a Tensor, list of ints, list of bools or slice, got str",
      id="CueSet.subset-str"),
    P(lambda c: c.cs.subset(torch.zeros(2, 2, dtype=torch.long)), ValueError, r"idx must be a 1-d tensor",
      id="CueSet.subset-2d"),
    P(lambda c: c.cs.subset(torch.ones(20, dtype=torch.uint8)), TypeError,
      r"idx must hold int64 indices or bools, got dtype torch\.uint8", id="CueSet.subset-uint8"),
    P(lambda c: c.cs.with_cue_labels([0] * 20), TypeError, r"cue_labels must be a torch\.Tensor",
      id="CueSet.with_cue_labels-list"),
    # ------------------------------------------------------------------ config values
    P(lambda c: CueDataConfig(base_kwargs={"noise": float("nan")}), ValueError,
      r"base_kwargs\['noise'\] must be a finite number >= 0\.0, got nan", id="CueDataConfig-noise-nan"),
    P(lambda c: CueDataConfig(base_kwargs={"texture": float("inf")}), ValueError,
      r"base_kwargs\['texture'\] must be a finite number", id="CueDataConfig-texture-inf"),
    P(lambda c: CueDataConfig(base_kwargs={"noise": -0.1}), ValueError, r"base_kwargs\['noise'\] must be a finite",
      id="CueDataConfig-noise-negative"),
    P(lambda c: CueDataConfig(base_kwargs={"blur": 1.0}), ValueError, r"base_kwargs has unknown keys \['blur'\]",
      id="CueDataConfig-base_kwargs-unknown"),
    P(lambda c: CueDataConfig(cue_kwargs={"box_size": object()}), TypeError,
      r"cue_kwargs\['box_size'\] must be a JSON-able value", id="CueDataConfig-cue_kwargs-object"),
    P(lambda c: CueDataConfig(data_dir=3), TypeError, r"data_dir must be a str, os\.PathLike or None",
      id="CueDataConfig-data_dir-int"),
    P(lambda c: make_shapes(4, noise=float("nan")), ValueError, r"noise must be a finite number >= 0\.0, got nan",
      id="make_shapes-noise-nan"),
    P(lambda c: make_shapes(4, texture="0.1"), TypeError, r"texture must be a real number", id="make_shapes-texture-str"),
    # ------------------------------------------------------------------ non-modules where a model is expected
    P(lambda c: evaluate("model", c.ts), TypeError, r"model must be a torch\.nn\.Module", id="evaluate-str-model"),
    P(lambda c: predict_logits(None, c.ts), TypeError, r"model must be a torch\.nn\.Module", id="predict_logits-None"),
    P(lambda c: train_model({"w": 1}, c.ts, c.tcfg, seed=0), TypeError, r"model must be a torch\.nn\.Module",
      id="train_model-dict-model"),
    P(lambda c: invariance_profile(c.model, c.ts, standard_interventions()), TypeError,
      r"original must be a CueSet, got TensorSet", id="invariance_profile-original-type"),
    P(lambda c: zoo.quadratic_midpoint("theta", c.model, c.dcfg, seed=0), TypeError, r"start must be a torch\.nn\.Module",
      id="zoo.quadratic_midpoint-start"),
    P(lambda c: zoo.finetuned(None, "ft", c.dcfg, seed=0, scale="smoke"), TypeError, r"source must be a torch\.nn\.Module",
      id="zoo.finetuned-source"),
    P(lambda c: load_or_finetune({"s": 1}, "model", "ft", c.ts, seed=0), TypeError, r"model must be an mmc_utils\.models",
      id="load_or_finetune-model-type"),
    # ------------------------------------------------------------------ seeds at the training boundaries
    P(lambda c: train_model(c.model, c.ts, c.tcfg, seed=BIG), ValueError, r"seed must be below 2\*\*63",
      id="train_model-seed-2**63"),
    P(lambda c: train_model(c.model, c.ts, c.tcfg, seed="abc"), ValueError, r"seed must be a non-negative int .*'abc'",
      id="train_model-seed-str"),
    P(lambda c: train_midpoint(c.spec, c.model, c.model_b, c.ts, **{**MID, "seed": 2**64}), ValueError,
      r"seed must be below 2\*\*63", id="train_midpoint-seed-2**64"),
    P(lambda c: evaluate_path(c.model, c.path, {"NC": c.ts}, seed="abc", **LOOP), ValueError,
      r"seed must be a non-negative int", id="evaluate_path-seed-str"),
    P(lambda c: finetune(c.model, "ft", c.ts, config=c.fcfg, seed=2**64), ValueError, r"seed must be below 2\*\*63",
      id="finetune-seed-2**64"),
    P(lambda c: load_or_finetune({"s": 1}, c.model, "ft", c.ts, config=c.fcfg, seed=np.float64(1.0)), ValueError,
      r"seed must be a non-negative int", id="load_or_finetune-seed-float"),
    P(lambda c: load_or_train_model(c.spec, c.tcfg, c.ts, {"d": 1}, seed=-2), ValueError,
      r"seed must be a non-negative int, got -2", id="load_or_train_model-seed"),
    P(lambda c: claims.Claims("bad_input", "smoke", BIG), ValueError, r"seed must be <= ", id="Claims-seed-2**63"),
    # ------------------------------------------------------------------ labels of duck-typed data sets
    P(lambda c: train_model(c.model, _labels(c, c.ts.y.int()), c.tcfg, seed=0), TypeError,
      r"data labels must have dtype torch\.int64, got torch\.int32", id="train_model-int32-labels"),
    P(lambda c: train_model(c.model, _labels(c, c.ts.y - 1), c.tcfg, seed=0), ValueError,
      r"data labels must lie in \[0, 9\], got values from -1", id="train_model-negative-labels"),
    P(lambda c: train_model(c.model, _labels(c, c.ts.y + 5), c.tcfg, seed=0), ValueError,
      r"data labels must lie in \[0, 9\], got values from 5 to 14", id="train_model-labels-out-of-range"),
    P(lambda c: train_model(c.model, _labels(c, torch.where(c.ts.y == 3, -100, c.ts.y)), c.tcfg, seed=0), ValueError,
      r"data labels must lie in \[0, 9\], got values from -100", id="train_model-ignore-index-label"),
    P(lambda c: evaluate(c.model, _labels(c, c.ts.y - 100)), ValueError, r"data labels must lie in \[0, 9\]",
      id="evaluate-ignore-index-labels"),
    P(lambda c: evaluate(c.model3, c.ts), ValueError, r"data labels must lie in \[0, 2\], got values from 0 to 9",
      id="evaluate-duck-class-mismatch"),
    P(lambda c: evaluate(c.model, TensorSet(c.ts.x, c.ts.y.float())), TypeError, r"data labels must have dtype",
      id="evaluate-float-labels"),
    P(lambda c: train_midpoint(c.spec, c.model, c.model_b, _labels(c, c.ts.y + 10), **MID), ValueError,
      r"data labels must lie in \[0, 9\]", id="train_midpoint-labels-out-of-range"),
    P(lambda c: finetune(c.model, "ft", _labels(c, c.ts.y.int()), config=c.fcfg, seed=0), TypeError,
      r"clean labels must have dtype torch\.int64", id="finetune-int32-labels"),
    P(lambda c: finetune(c.model, "cbft", c.ts, cue=_labels(c, c.ts.y + 10), config=c.fcfg, seed=0), ValueError,
      r"cue labels must lie in \[0, 9\]", id="finetune-cbft-cue-labels"),
    # ------------------------------------------------------------------ evaluate_path: vmap checks as the loop
    P(lambda c: evaluate_path(c.model, c.path, {"NC": c.nan_ts}, **VMAP), ValueError,
      r"data holds non-finite images", id="evaluate_path-vmap-nan-set"),
    P(lambda c: evaluate_path(c.model3, LinearPath(c.model3, c.model3), {"C": c.cs}, **VMAP), ValueError,
      r"sets\['C'\] has 10 classes but the model's head has 3 outputs", id="evaluate_path-vmap-class-mismatch"),
    P(lambda c: evaluate_path(c.model3, LinearPath(c.model3, c.model3), {"C": c.cs}, **LOOP), ValueError,
      r"sets\['C'\] has 10 classes but the model's head has 3 outputs", id="evaluate_path-loop-class-mismatch"),
    P(lambda c: evaluate_path(c.model3, LinearPath(c.model3, c.model3), {"C": c.ts}, **VMAP), ValueError,
      r"data labels must lie in \[0, 2\]", id="evaluate_path-vmap-duck-labels"),
    P(lambda c: evaluate_path(c.model, c.path, {"C": _labels(c, c.ts.y.int())}, **VMAP), TypeError,
      r"data labels must have dtype torch\.int64", id="evaluate_path-vmap-int32-labels"),
    P(lambda c: evaluate_path(c.model, c.path, {"C": c.ts}, device="tpu", **VMAP), ValueError, DEVICE + "'tpu'",
      id="evaluate_path-device"),
    # ------------------------------------------------------------------ NaN and BatchNorm in training
    P(lambda c: train_midpoint(c.spec, c.model, c.model_b, c.nan_ts, **MID), ValueError,
      r"data holds non-finite images \(NaN or inf\)", id="train_midpoint-nan-images"),
    P(lambda c: train_midpoint(c.spec, c.model, c.model_b, c.ts, **{**MID, "lr": 1e30, "epochs": 2}), ValueError,
      r"theta_m \(diverged: lower lr\?\) holds non-finite values", id="train_midpoint-diverged"),
    P(lambda c: load_or_train_midpoint(c.spec, c.model, c.model_b, c.nan_ts, {"d": "nan"}, **MID,
                                       store=Store(c.tmp / "mid", version="t")), ValueError,
      r"data holds non-finite images", id="load_or_train_midpoint-nan-images"),
    P(_bad_midpoint_store, ValueError, DEVICE + "'cpu:abc'", id="load_or_train_midpoint-device"),
    P(lambda c: train_model(c.model, _tiny_images(c), TrainConfig(epochs=1, lr=0.01, batch_size=8), seed=0),
      ValueError, r"a training batch of 1 image\(s\) of \(1, 1\) pixels leaves a train-mode BatchNorm",
      id="train_model-bn-one-value"),
    # ------------------------------------------------------------------ store calls
    P(lambda c: Store(c.tmp / "s", version="t").load({"k": 1}, device="tpu"), ValueError, DEVICE + "'tpu'",
      id="Store.load-device"),
    P(lambda c: Store(c.tmp / "s", version="t").load({"k": 1}, device=BAD_CUDA), ValueError,
      r"CUDA is not available|CUDA device\(s\)", id="Store.load-cuda"),
    P(lambda c: load_or_train({"k": 1}, lambda: ({}, {}), store=Store(c.tmp / "s", version="t"), device="cpu:abc"),
      ValueError, DEVICE + "'cpu:abc'", id="load_or_train-device"),
    P(lambda c: Store(c.tmp / "s", version="t").save({"k": 1}, {0: torch.ones(1)}), TypeError,
      r"tensors must be a dict of str -> torch\.Tensor", id="Store.save-int-key"),
    P(lambda c: Store(c.tmp / "s", version="t").save({"k": 1}, {"w": torch.ones(1)}, {"x": {1, 2}}), TypeError,
      r"config value of type set is not JSON-serialisable", id="Store.save-meta-set"),
    # ------------------------------------------------------------------ claims, interventions
    P(lambda c: _strict(c, "maybe"), ValueError, r"MMC_STRICT_CLAIMS must be one of 1/true/yes/on or 0/false/no/off",
      id="claims.strict-unknown"),
    P(lambda c: (_strict(c, "treu"), claims.Claims("bad_input", "smoke", 0)), ValueError,
      r"MMC_STRICT_CLAIMS .*'treu'", id="Claims-strict-misspelt"),
    P(_claim_after_bad_value, TypeError, r"claim value 'when' must be a number, str", id="Claims.check-bad-value"),
    P(lambda c: claims.Claims("bad_input", "smoke", 0, display=False).check("x", 3, True), TypeError,
      r"statement must be a str", id="Claims.check-statement"),
    P(lambda c: claims.Claims("bad_input", "smoke", 0, display="no"), TypeError, r"display must be a bool",
      id="Claims-display"),
    P(lambda c: counterfactual_sets(c.cs, [remove_cue()], original_name="NC"), ValueError,
      r"original_name 'NC' is also the name of an intervention", id="counterfactual_sets-name-clash"),
    P(lambda c: mechanistic_connectivity(c.model, c.path, c.cs, standard_interventions(), original_name="RC",
                                         ts=[0, 1], bn="keep"), ValueError,
      r"original_name 'RC' is also the name of an intervention", id="mechanistic_connectivity-name-clash"),
    P(lambda c: counterfactual_sets(c.cs, [remove_cue()], original_name=""), ValueError,
      r"original_name must be a non-empty str", id="counterfactual_sets-empty-name"),
    P(lambda c: counterfactual_sets(c.cs, remove_cue()), TypeError,
      r"interventions must be a non-empty sequence of Intervention objects, got Intervention",
      id="counterfactual_sets-single"),
    # ------------------------------------------------------------------ seeds and devices elsewhere
    P(lambda c: random_permutation(c.model, "1"), ValueError, r"seed must be a non-negative int", id="random_permutation-str"),
    P(lambda c: random_permutation(c.model, -1), ValueError, r"seed must be a non-negative int, got -1",
      id="random_permutation-negative"),
    P(lambda c: toy.make_toy_data(10, seed=2**64), ValueError, r"seed must be below 2\*\*63", id="make_toy_data-seed"),
    P(lambda c: toy.randomise_attribute(c.toy_X, "linear", seed="abc"), ValueError, r"seed must be a non-negative int",
      id="randomise_attribute-seed-str"),
    P(lambda c: toy.train_toy(c.toy_X, c.toy_y, steps=1, seed=-1), ValueError, r"seed must be a non-negative int",
      id="train_toy-seed"),
    P(lambda c: fixed_batches(c.ts, 1, 8, seed="x"), ValueError, r"seed must be a non-negative int",
      id="fixed_batches-seed"),
    P(lambda c: fixed_batches(c.ts, 1, 8, device="cpu:abc"), ValueError, DEVICE + "'cpu:abc'", id="fixed_batches-device"),
    P(lambda c: evaluate_plane(c.model, c.plane, {"C": c.cs}, [0.0], [0.0], bn_data=c.data.clean_train, bn_batch_size=8,
                               seed=2**64), ValueError, r"seed must be below 2\*\*63", id="evaluate_plane-seed"),
    P(lambda c: load_or_evaluate_plane(c.model, c.model, c.model_b, c.model_c, {"C": c.cs}, bn_data=c.data.clean_train,
                                       device="tpu"), ValueError, DEVICE + "'tpu'", id="load_or_evaluate_plane-device"),
    P(lambda c: load_or_evaluate_plane(c.model, c.model, c.model_b, c.model_c, {"C": c.ts}, bn_data=c.data.clean_train),
      TypeError, r"sets must be a non-empty mapping name -> CueSet", id="load_or_evaluate_plane-sets"),
    # ------------------------------------------------------------------ bounds, JSON, modules (second pass)
    P(lambda c: build_data(CueDataConfig(n_train=10**9, n_clean=20, n_test=20, image_size=8)), ValueError,
      r"n_train \+ n_clean \+ n_test = 1,000,000,040 images of 8x8 pixels .*would need .* GiB, more than",
      id="build_data-terabytes"),
    P(lambda c: build_data(CueDataConfig(n_train=10, n_clean=0, n_test=10, image_size=10**6)), ValueError,
      r"images of 1000000x1000000 pixels .*would need", id="build_data-huge-images"),
    P(lambda c: Store(c.tmp / "s", version="t").key({(1, 2): 1}), TypeError, r"config must be JSON-able: keys must be",
      id="Store.key-tuple-key"),
    P(lambda c: Store(c.tmp / "s", version="t").key(_circular()), TypeError,
      r"config must be JSON-able: Circular reference", id="Store.key-circular"),
    P(lambda c: Store(c.tmp / "s", version="t").save({"k": 1}, {"w": torch.ones(1)}, {1: "a", "b": 2}), TypeError,
      r"meta must be JSON-able", id="Store.save-meta-mixed-keys"),
    P(lambda c: reestimate_bn_("model", [c.ts.x]), TypeError, r"model must be a torch\.nn\.Module",
      id="reestimate_bn-str-model"),
    P(lambda c: reestimate_bn_(copy.deepcopy(c.model), [torch.zeros(1, 3, 1, 1)]), ValueError,
      r"a training batch of 1 image\(s\) of \(1, 1\) pixels leaves a train-mode BatchNorm", id="reestimate_bn-one-value"),
    # ------------------------------------------------------------------ silent results: flags, splits, interventions, barriers
    P(lambda c: list(c.cs.batches(8, drop_last="no")), TypeError, r"drop_last must be a bool, got str 'no'",
      id="CueSet.batches-drop_last-str"),
    P(lambda c: list(c.cs.batches(8, shuffle=1, generator=0)), TypeError, r"shuffle must be a bool, got int",
      id="CueSet.batches-shuffle-int"),
    P(lambda c: first_fraction_per_class(torch.tensor([0.0, 1.0]), 0.5), TypeError,
      r"labels must have dtype torch\.int64, got torch\.float32", id="first_fraction_per_class-float-labels"),
    P(lambda c: first_fraction_per_class([0, 1], 0.5), TypeError, r"labels must be a torch\.Tensor",
      id="first_fraction_per_class-list"),
    P(lambda c: stratified_split(torch.arange(10) % 2 - 1, 2, torch.Generator()), ValueError,
      r"labels values must lie in \[0, ", id="stratified_split-negative-labels"),
    P(lambda c: stratified_split(torch.arange(10) % 2, 2, None), TypeError, r"generator must be a torch\.Generator",
      id="stratified_split-no-generator"),
    P(lambda c: Intervention("X", "x", lambda b: TensorSet(b.images, b.labels)).apply(c.cs), TypeError,
      r"intervention 'X' must return a CueSet, returned TensorSet", id="Intervention.apply-returns-other"),
    P(lambda c: Intervention("", "x", lambda b: b), ValueError, r"name must be a non-empty str", id="Intervention-name"),
    P(lambda c: Intervention("X", "x", 3), TypeError, r"fn must be a callable", id="Intervention-fn"),
    P(lambda c: profile_distance(pd.DataFrame({"d_acc": [float("nan")], "invariant": [True]}, index=["a"]),
                                 pd.DataFrame({"d_acc": [0.0], "invariant": [True]}, index=["a"])), ValueError,
      r"p1\['d_acc'\] must hold finite numbers", id="profile_distance-nan"),
    P(lambda c: barrier([0, 0.5, 0.5, 1], [0.1, 0.5, 0.9, 0.2]), ValueError,
      r"ts repeats t = 0\.5 with different values", id="barrier-repeated-t"),
    P(lambda c: barrier([0, 0, 1], [0.1, 0.7, 0.2]), ValueError, r"ts repeats t = 0\.0", id="barrier-two-starts"),
]


@pytest.fixture(autouse=True)
def _restore_strict(monkeypatch):
    """Rows that set MMC_STRICT_CLAIMS themselves: monkeypatch records the variable and restores it."""
    monkeypatch.setenv("MMC_STRICT_CLAIMS", "0")


@pytest.mark.parametrize("call,exc,pattern", CASES)
def test_bad_call_raises_clear_error(c, call, exc, pattern):
    assert_clear_error(c, call, exc, pattern)


def test_table_ids_are_unique():
    assert len({p.id for p in CASES}) == len(CASES)


def test_numpy_integers_in_cue_data_config_are_stored_as_python_ints():
    from mmc_utils.store import canonical_json

    cfg = CueDataConfig(n_train=np.int64(40), n_clean=np.int32(20), n_test=20, image_size=np.int64(8),
                        seed=np.int64(1), cue_kwargs={"box_size": np.int64(2)})
    assert cfg == CueDataConfig(n_train=40, n_clean=20, n_test=20, image_size=8, seed=1, cue_kwargs={"box_size": 2})
    assert type(cfg.n_train) is int and type(cfg.seed) is int and type(cfg.cue_kwargs["box_size"]) is int
    canonical_json(cfg.to_dict())  # JSON-able: no "type int64 is not JSON-serialisable" later


def test_subset_with_python_lists(c):
    mask = [True] + [False] * 19
    assert c.cs.subset(mask).ids.tolist() == [0]
    assert c.cs.subset(tuple(mask)).ids.tolist() == [0]
    assert c.cs.subset([np.bool_(True)] + [np.bool_(False)] * 19).ids.tolist() == [0]
    assert c.cs.subset([3, 1, -1]).ids.tolist() == [3, 1, 19]
    assert c.cs.subset([np.int64(2)]).ids.tolist() == [2]
    assert len(c.cs.subset([])) == 0
