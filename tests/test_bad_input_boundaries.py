"""Bad input at the public boundaries, second table (issue #17): devices, seeds, index types,
label ranges, finiteness, non-modules, metadata of the store, claims.

Same contract as ``test_bad_input.py`` (whose fixtures it reuses): each row is a bad call, the
exception it must raise (``ValueError`` or ``TypeError``) and a regex its message must match; the
error is raised by mmc_utils itself before anything is computed, never by torch, numpy or Python
deep inside. Behaviour that is not an exception (warn and return, rebuild) is tested in
``test_store.py`` and ``test_robustness.py``.
"""
from __future__ import annotations

from pathlib import Path as FsPath

import numpy as np
import pytest
import torch

from mmc_utils import claims, runtime, zoo
from mmc_utils.data import CueDataConfig, build_data
from mmc_utils.data.rng import derive_seed
from mmc_utils.data.shapes import make_shapes

from _support import TensorSet
from test_bad_input import _env, c  # noqa: F401 - the shared fixtures

P = pytest.param
DEVICE = r"device must be 'auto', 'cuda\[:i\]', 'mps' or 'cpu', got "
NO_CUDA = "" if torch.cuda.is_available() else r"device 'cuda' requested but CUDA is not available"
BIG = 2**63


def _labels(c, y: torch.Tensor) -> TensorSet:
    return TensorSet(c.ts.x[:len(y)], y)


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
]


@pytest.mark.parametrize("call,exc,pattern", CASES)
def test_bad_call_raises_clear_error(c, call, exc, pattern):
    with pytest.raises(exc, match=pattern) as info:
        call(c)
    assert type(info.value) in (ValueError, TypeError), f"raised {type(info.value).__name__}, not a plain error"
    frame = info.traceback[-1]
    assert "mmc_utils" in FsPath(str(frame.path)).parts, f"raised from {frame.path}:{frame.lineno}"


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
