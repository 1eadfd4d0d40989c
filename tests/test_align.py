"""Fast tests of mmc_utils.align (a few seconds on 2 CPU cores)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from mmc_utils.align import (
    activation_correlations, align, apply_permutation, identity_permutation, permutation_groups,
    random_permutation,
)
from mmc_utils.models import build_model

from _support import TensorSet




def random_set(n: int = 24, side: int = 16, seed: int = 0) -> TensorSet:
    g = torch.Generator().manual_seed(seed)
    return TensorSet(torch.rand(n, 3, side, side, generator=g) * 2 - 1, torch.randint(0, 10, (n,), generator=g))


def make(name: str, seed: int = 0) -> nn.Module:
    """A small model in eval mode with non-trivial BN affine parameters, and running statistics
    estimated on random images (so that no unit is dead and every channel varies)."""
    model = build_model(name, num_classes=10, width=8, init_seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.1 + 0.2 * torch.rand(m.num_features, generator=g))
                m.momentum = None                  # cumulative average
        model.train()
        for x, _ in random_set(n=32, seed=seed + 200).batches(16):
            model(x)
    return model.eval()


def states_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


NAMES = ["small_cnn", "vgg13", "resnet18"]


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# ----------------------------------------------------------------------------- groups
def test_groups_small_cnn():
    g = permutation_groups(make("small_cnn"))
    assert list(g) == [f"blocks.{i}" for i in range(6)]
    assert [x.size for x in g.values()] == [8, 8, 16, 16, 16, 16]
    assert g["blocks.0"].consumers == ["blocks.1.conv"] and g["blocks.5"].consumers == ["head"]


def test_groups_resnet_ties_residual_stream():
    g = permutation_groups(make("resnet18"))
    streams = [k for k in g if k.startswith("stage")]
    assert streams == ["stage1", "stage2", "stage3", "stage4"]
    assert len(g) == 4 + 8
    assert g["stage1"].producers == ["blocks.0", "blocks.1.c2", "blocks.2.c2"]
    assert g["stage1"].points == ["blocks.0", "blocks.1", "blocks.2"]
    assert g["stage2"].producers == ["blocks.3.shortcut", "blocks.3.c2", "blocks.4.c2"]
    assert g["stage1"].consumers == ["blocks.1.c1.conv", "blocks.2.c1.conv", "blocks.3.c1.conv",
                                     "blocks.3.shortcut.conv"]
    assert g["stage2"].consumers == ["blocks.4.c1.conv", "blocks.5.c1.conv", "blocks.5.shortcut.conv"]
    assert g["stage4"].consumers[-1] == "head"
    assert g["blocks.1.c1"].consumers == ["blocks.1.c2.conv"]


# ----------------------------------------------------------------------------- permutation symmetry
@pytest.mark.parametrize("name", NAMES)
def test_random_permutation_preserves_function(name):
    model = make(name)
    before = snapshot(model)
    perms = random_permutation(model, seed=1)
    assert all(not torch.equal(p, torch.arange(len(p))) for p in perms.values())
    permuted = apply_permutation(model, perms)
    assert permuted is not model and states_equal(model, permuted) is False
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # input untouched
    x = random_set(n=3).x
    with torch.no_grad():
        out, out_p = model(x), permuted(x)
    torch.testing.assert_close(out_p, out, atol=1e-5, rtol=1e-5)
    assert not permuted.training


def test_random_permutation_is_seeded():
    m = make("small_cnn")
    a, b, c = random_permutation(m, 3), random_permutation(m, 3), random_permutation(m, 4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_identity_permutation_is_a_copy():
    m = make("resnet18")
    p = apply_permutation(m, identity_permutation(m))
    assert p is not m and states_equal(m, p)


def test_apply_permutation_partial_and_composition():
    m = make("small_cnn")
    perms = random_permutation(m, 5)
    # only one group: still the same function
    one = apply_permutation(m, {"blocks.2": perms["blocks.2"]})
    x = random_set(n=2).x
    with torch.no_grad():
        torch.testing.assert_close(one(x), m(x), atol=1e-5, rtol=1e-5)
    # applying perm then its inverse gives back the original exactly
    inv = {k: torch.argsort(p) for k, p in perms.items()}
    assert states_equal(apply_permutation(apply_permutation(m, perms), inv), m)


def test_apply_permutation_bad_inputs():
    m = make("small_cnn")
    with pytest.raises(ValueError, match="perms"):
        apply_permutation(m, {"nope": torch.arange(8)})
    with pytest.raises(ValueError, match="perms"):
        apply_permutation(m, {"blocks.0": torch.arange(7)})
    with pytest.raises(ValueError, match="perms"):
        apply_permutation(m, {"blocks.0": torch.zeros(8, dtype=torch.int64)})
    with pytest.raises(ValueError, match="perms"):
        apply_permutation(m, {"blocks.0": torch.arange(8.0)})
    with pytest.raises(ValueError, match="perms"):
        apply_permutation(m, [torch.arange(8)])
    with pytest.raises(ValueError, match="model"):
        apply_permutation(nn.Linear(2, 2), {})
    with pytest.raises(ValueError, match="seed"):
        random_permutation(m, seed=1.5)


# ----------------------------------------------------------------------------- alignment
@pytest.mark.parametrize("name", NAMES)
def test_align_recovers_permuted_copy(name):
    ref = make(name)
    ref.train()                                   # modes must be restored afterwards
    ref_before = snapshot(ref)
    other = apply_permutation(ref, random_permutation(ref, seed=2))
    other_before = snapshot(other)
    data = random_set(n=24, side=16)
    aligned, info = align(ref, other, data, num_batches=2, batch_size=12, return_info=True)
    assert aligned is not other and aligned is not ref
    assert states_equal(aligned, ref)             # the original weights, exactly
    assert all(torch.equal(ref_before[k], v) for k, v in ref.state_dict().items())
    assert all(torch.equal(other_before[k], v) for k, v in other.state_dict().items())
    assert ref.training and other.training and aligned.training
    assert all(m.training for m in ref.modules()) and all(m.training for m in other.modules())
    assert set(info["mean_corr"]) == set(permutation_groups(ref)) == set(info["perms"])
    assert all(abs(v - 1.0) < 1e-4 for v in info["mean_corr"].values())
    assert all(v <= info["mean_corr"][k] + 1e-6 for k, v in info["mean_corr_before"].items())
    assert info["num_samples"] == 24
    # the aligned model computes the same function as `other`
    x = data.x[:4]
    with torch.no_grad():
        torch.testing.assert_close(aligned.eval()(x), other.eval()(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["small_cnn", "resnet18"])
def test_align_independent_models_same_function(name):
    ref, other = make(name, seed=0), make(name, seed=1)
    data = random_set(n=16, side=16)
    aligned, info = align(ref, other, data, num_batches=1, batch_size=16, return_info=True)
    assert not states_equal(aligned, other)
    for k, v in info["mean_corr"].items():
        assert -1 <= info["mean_corr_before"][k] <= v + 1e-6 <= 1 + 1e-6
    assert set(info["point_corr"]) == {p for g in permutation_groups(ref).values() for p in g.points}
    with torch.no_grad():
        torch.testing.assert_close(aligned(data.x[:4]), other(data.x[:4]), atol=1e-5, rtol=1e-5)
    # aligning the aligned model again changes nothing (the matching is already optimal)
    again = align(ref, aligned, data, num_batches=1, batch_size=16)
    assert states_equal(again, aligned)


def test_align_uses_num_batches_and_handles_dead_channels():
    ref = make("small_cnn")
    with torch.no_grad():                          # a dead unit: constant 0 after ReLU
        ref.blocks[1].bn.weight[3] = 0.0
        ref.blocks[1].bn.bias[3] = -1.0
    other = apply_permutation(ref, random_permutation(ref, 7))
    data = random_set(n=30)
    _, info = align(ref, other, data, num_batches=2, batch_size=10, return_info=True)
    assert info["num_samples"] == 20
    corr, n = activation_correlations(ref, other, data, num_batches=1, batch_size=10)
    assert n == 10 and all(torch.isfinite(c).all() for c in corr.values())


def test_align_bad_inputs():
    ref = make("small_cnn")
    data = random_set(n=8)
    with pytest.raises(ValueError, match="reference"):
        align("model", ref, data)
    with pytest.raises(ValueError, match="other"):
        align(ref, nn.Linear(3, 3), data)
    with pytest.raises(ValueError, match="other"):
        align(ref, make("vgg13"), data)
    with pytest.raises(ValueError, match="other"):
        align(ref, build_model("small_cnn", num_classes=10, width=16), data)
    with pytest.raises(ValueError, match="other"):
        align(ref, build_model("small_cnn", num_classes=5, width=8), data)
    with pytest.raises(ValueError, match="data"):
        align(ref, ref, TensorSet(torch.zeros(0, 3, 16, 16), torch.zeros(0, dtype=torch.int64)))
    with pytest.raises(ValueError, match="data"):
        align(ref, ref, torch.zeros(4, 3, 16, 16))
    with pytest.raises(ValueError, match="num_batches"):
        align(ref, ref, data, num_batches=0)
    with pytest.raises(ValueError, match="batch_size"):
        align(ref, ref, data, batch_size=True)


def test_correlations_are_permutation_equivariant():
    """Why matching all groups in one pass equals matching layer by layer: permuting `other`
    only reorders the columns of each group's correlation matrices."""
    ref, other = make("resnet18", seed=0), make("resnet18", seed=1)
    data = random_set(n=12)
    perms = random_permutation(other, 9)
    c0, _ = activation_correlations(ref, other, data, batch_size=12)
    c1, _ = activation_correlations(ref, apply_permutation(other, perms), data, batch_size=12)
    for k, g in permutation_groups(ref).items():
        for p in g.points:
            torch.testing.assert_close(c1[p], c0[p][:, perms[k]], atol=1e-6, rtol=0)
    a = align(ref, other, data, batch_size=12)
    b = align(ref, apply_permutation(other, perms), data, batch_size=12)
    assert states_equal(a, b)
