"""Issue #17: behaviour that is not an exception — later calls keep working after a bad one, nothing
wrong is cached, entries that do not fit are rebuilt, and valid calls give the same numbers as before."""
import json
import warnings

import pytest
import torch

from mmc_utils import claims
from mmc_utils.models import build_model
from mmc_utils.paths import LinearPath, evaluate_path, load_or_train_midpoint
from mmc_utils.store import Store, StoreWarning
from mmc_utils.train import TrainConfig, load_or_train_model

from _support import TensorSet

SPEC = {"name": "small_cnn", "num_classes": 10, "width": 4}


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    return TensorSet(torch.randn(16, 3, 8, 8, generator=g).clamp(-1, 1), torch.arange(16) % 10)


@pytest.fixture(autouse=True)
def _claims_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MMC_CLAIMS_DIR", str(tmp_path / "claims"))
    monkeypatch.setenv("MMC_STRICT_CLAIMS", "0")


def test_a_bad_claim_value_does_not_break_later_claims():
    book = claims.Claims("robust", "smoke", 0, display=False)
    with pytest.raises(TypeError, match="claim value 'x'"):
        book.check("bad", "a value that is not JSON", True, x=object())
    assert book.records == []
    assert book.check("good", "a later valid claim", True, acc=torch.tensor(0.5)) is True
    book.check("bad", "the id of the refused claim is still free", True)
    on_disk = json.loads(book.path.read_text())
    assert [r["id"] for r in on_disk["claims"]] == ["good", "bad"]


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", " Yes "])
def test_strict_claims_accepts_the_usual_spellings(monkeypatch, value):
    monkeypatch.setenv("MMC_STRICT_CLAIMS", value)
    book = claims.Claims("robust", "smoke", 0, display=False)
    with pytest.raises(claims.ClaimFailed):
        book.check("fails", "does not hold", False)


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_non_strict_spellings_warn(monkeypatch, value):
    monkeypatch.setenv("MMC_STRICT_CLAIMS", value)
    book = claims.Claims("robust", "smoke", 0, display=False)
    with pytest.warns(claims.ClaimWarning):
        assert book.check("fails", "does not hold", False) is False


def test_nan_midpoint_is_never_cached(tmp_path, data):
    nan = TensorSet(data.x.clone(), data.y)
    nan.x[3, 1, 2, 2] = float("nan")
    store = Store(tmp_path / "cache", version="t")
    a, b = build_model(**SPEC, init_seed=0), build_model(**SPEC, init_seed=1)
    with pytest.raises(ValueError, match="non-finite images"):
        load_or_train_midpoint(SPEC, a, b, nan, {"d": 1}, epochs=1, lr=0.1, batch_size=8, seed=0, store=store)
    assert not store.root.exists() or not any(store.root.iterdir())


def _forge(store: Store, tensors: dict) -> None:
    """Replace the only entry's weights by ``tensors`` with consistent metadata (a self-consistent entry)."""
    meta_path = next(store.root.glob("*.json"))
    record = json.loads(meta_path.read_text())
    store.save(record["config"], tensors, record["meta"])


def test_cached_model_of_the_wrong_shape_is_rebuilt(tmp_path, data):
    store = Store(tmp_path / "cache", version="t")
    cfg = TrainConfig(epochs=1, lr=0.01, batch_size=8)
    model, meta = load_or_train_model(SPEC, cfg, data, {"d": 1}, seed=0, store=store)
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    _forge(store, {k: torch.zeros(1) for k in reference})
    with pytest.warns(StoreWarning, match="does not fit .*rebuilding"):
        again, meta = load_or_train_model(SPEC, cfg, data, {"d": 1}, seed=0, store=store)
    assert meta["cached"] is False
    assert all(torch.equal(again.state_dict()[k], v) for k, v in reference.items())  # same seed, same numbers
    _, meta = load_or_train_model(SPEC, cfg, data, {"d": 1}, seed=0, store=store)
    assert meta["cached"] is True


def test_cached_model_with_nan_weights_is_rebuilt(tmp_path, data):
    store = Store(tmp_path / "cache", version="t")
    cfg = TrainConfig(epochs=1, lr=0.01, batch_size=8)
    model, _ = load_or_train_model(SPEC, cfg, data, {"d": 1}, seed=0, store=store)
    bad = {k: v.clone() for k, v in model.state_dict().items()}
    bad["head.weight"][0, 0] = float("nan")
    _forge(store, bad)
    with pytest.warns(StoreWarning, match="does not fit .*non-finite"):
        _, meta = load_or_train_model(SPEC, cfg, data, {"d": 1}, seed=0, store=store)
    assert meta["cached"] is False


def test_vmap_and_loop_still_agree_on_valid_input(data):
    a, b = build_model(**SPEC, init_seed=0), build_model(**SPEC, init_seed=1)
    path = LinearPath(a, b)
    kw = dict(ts=[0, 0.5, 1], bn="reestimate", bn_data=data, bn_batches=2, bn_batch_size=8)
    loop = evaluate_path(a, path, {"A": data}, method="loop", **kw)
    vmapped = evaluate_path(a, path, {"A": data}, method="vmap", **kw)
    assert torch.allclose(torch.tensor(loop["loss"].values), torch.tensor(vmapped["loss"].values), atol=1e-4)
    assert (loop["acc"].values == vmapped["acc"].values).all()


def test_device_check_allocates_nothing_and_accepts_the_usual_names():
    from mmc_utils.checks import check_device

    assert check_device("device", "cpu") == torch.device("cpu")
    assert check_device("device", "cpu:0") == torch.device("cpu:0")
    assert check_device("device", torch.device("cpu")) == torch.device("cpu")
    if torch.cuda.is_available():
        assert check_device("device", "cuda:0").type == "cuda"


def test_mechanistic_connectivity_keeps_the_original(data):
    from mmc_utils.data import CueDataConfig, build_data
    from mmc_utils.interventions import mechanistic_connectivity, standard_interventions

    cs = build_data(CueDataConfig(n_train=40, n_clean=20, n_test=20, image_size=8)).test
    a, b = build_model(**SPEC, init_seed=0), build_model(**SPEC, init_seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = mechanistic_connectivity(a, LinearPath(a, b), cs, standard_interventions(), original_name="orig",
                                      ts=[0, 1], bn="keep")
    assert list(df["set"])[0] == "orig" and set(df["set"]) == {"orig", "RC", "RI", "NC"}
