"""The book's shared models and the Table 1 runner, at smoke scale in a temporary cache."""
import pytest
import torch

from mmc_utils import reproduce, zoo
from mmc_utils.paths import state_fingerprint


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MMC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MMC_SCALE", raising=False)
    torch.set_num_threads(1)
    return tmp_path


def test_pretrained_is_cached_and_seeds_differ(cache):
    cfg = zoo.data_config("smoke", 0)
    nc, meta = zoo.pretrained("clean", cfg, seed=0, scale="smoke")
    assert meta["cached"] is False
    again, meta2 = zoo.pretrained("clean", cfg, seed=0, scale="smoke")
    assert meta2["cached"] is True and state_fingerprint(nc) == state_fingerprint(again)
    c, _ = zoo.pretrained("cue", cfg, seed=0, scale="smoke")
    # θ_C and θ_NC of one seed must not share an initialisation.
    assert meta["seed"] != _["seed"] and state_fingerprint(c) != state_fingerprint(nc)
    with pytest.raises(ValueError, match="kind"):
        zoo.pretrained("dirty", cfg, seed=0, scale="smoke")


def test_every_model_has_its_own_initialisation():
    seeds = [zoo.model_seed("clean", 0), zoo.model_seed("clean", 1), zoo.model_seed("scratch", 0)]
    seeds += [zoo.model_seed("cue", s, p) for s in (0, 1) for p in (0.6, 0.9, 1.0)]
    assert len(set(seeds)) == len(seeds) and all(0 <= s < 2**62 for s in seeds)
    assert zoo.model_seed("clean", 5) == 5 and zoo.model_seed("cue", 5, 0.6) == zoo.model_seed("cue", 5, 0.6)
    with pytest.raises(ValueError, match="kind"):
        zoo.model_seed("dirty", 0)


def test_from_scratch_has_its_own_recipe_and_cache(cache):
    cfg = zoo.data_config("smoke", 0)
    assert zoo.scratch_config("book").epochs > zoo.train_config("book").epochs
    assert zoo.scratch_config("book").batch_size < zoo.train_config("book").batch_size
    m, meta = zoo.from_scratch(cfg, seed=0, scale="smoke")
    assert meta["cached"] is False and meta["seed"] == zoo.model_seed("scratch", 0)
    again, meta2 = zoo.from_scratch(cfg, seed=0, scale="smoke")
    assert meta2["cached"] is True and state_fingerprint(m) == state_fingerprint(again)
    nc, _ = zoo.pretrained("clean", cfg, seed=0, scale="smoke")
    assert state_fingerprint(nc) != state_fingerprint(m)


def test_load_data_is_memoised():
    cfg = zoo.data_config("smoke", 3)
    assert zoo.load_data(cfg) is zoo.load_data(cfg)
    assert zoo.load_data(cfg.replace(p=0.5)) is not zoo.load_data(cfg)


def test_finetuned_and_table1(cache):
    runs = reproduce.table1_runs([0.8], [0], scale="smoke", methods={"LLR": "llr"})
    assert set(runs[0.8]) == {"θ_C", "LLR"} and set(runs[0.8]["LLR"][0]) == {"NC", "C", "RC", "RI"}
    frame = reproduce.table1_frame(runs)
    assert frame.index.names == ["p", "method"] and (0.8, "LLR") in frame.index
    assert reproduce.table1_grid("paper") == {"ps": (0.6, 0.7, 0.8, 0.9), "num_seeds": 3}
    with pytest.raises(ValueError, match="non-empty"):
        reproduce.table1_runs([], [0], scale="smoke")
