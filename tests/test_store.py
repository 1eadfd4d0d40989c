"""The checkpoint store: round trip, keys, and every way an entry can go bad."""
import json
import multiprocessing as mp
import os
import warnings

import pytest
import torch

from mmc_utils import store as st


def _tensors(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"w": torch.randn(4, 3, generator=g), "b": torch.arange(5)}


@pytest.fixture
def store(tmp_path):
    return st.Store(tmp_path, version="test-1")


def test_round_trip_and_metadata(store):
    cfg = {"model": "small_cnn", "seed": 0, "lr": 0.05}
    store.save(cfg, _tensors(), {"history": [1.0, 0.5]})
    tensors, meta = store.load(cfg)
    assert torch.equal(tensors["w"], _tensors()["w"]) and torch.equal(tensors["b"], _tensors()["b"])
    assert meta == {"history": [1.0, 0.5]}
    record = json.loads(store.paths(cfg)[1].read_text())
    assert record["config"] == cfg and record["version"] == "test-1" and len(record["sha256"]) == 64


def test_key_depends_on_config_and_version(store, tmp_path):
    a, b = {"x": 1, "y": [1, 2]}, {"y": [1, 2], "x": 1}
    assert store.key(a) == store.key(b)  # key order does not matter
    assert store.key(a) != store.key({"x": 2, "y": [1, 2]})
    assert store.key(a) != st.Store(tmp_path, version="test-2").key(a)


def test_code_version_tracks_science_sources():
    v = st.code_version()
    assert v.startswith("0.") and "+" in v and v == st.code_version()


def test_missing_entry_is_none(store):
    assert store.load({"nothing": 1}) is None


def _corrupt_and_expect_rebuild(store, cfg, damage, reason):
    store.save(cfg, _tensors())
    weights, meta = store.paths(cfg)
    damage(weights, meta)
    with pytest.warns(st.StoreWarning, match=reason):
        assert store.load(cfg) is None
    assert not weights.exists() and not meta.exists()  # removed, so it is rebuilt
    calls = []
    tensors, info = st.load_or_train(cfg, lambda: (calls.append(1) or _tensors(), {}), store=store)
    assert calls == [1] and info["cached"] is False
    _, info = st.load_or_train(cfg, lambda: pytest.fail("must not retrain"), store=store)
    assert info["cached"] is True


def test_truncated_weights_are_detected(store):
    def damage(w, m):
        data = w.read_bytes()
        w.write_bytes(data[: len(data) // 2])
    _corrupt_and_expect_rebuild(store, {"k": "trunc"}, damage, "checksum")


def test_flipped_byte_is_detected(store):
    def damage(w, m):
        data = bytearray(w.read_bytes())
        data[-3] ^= 0xFF
        w.write_bytes(bytes(data))
    _corrupt_and_expect_rebuild(store, {"k": "flip"}, damage, "checksum")


def test_interrupted_write_is_detected(store):
    # A writer killed after the weights but before the metadata leaves weights alone.
    _corrupt_and_expect_rebuild(store, {"k": "interrupt"}, lambda w, m: m.unlink(), "metadata missing")


def test_garbage_metadata_is_detected(store):
    _corrupt_and_expect_rebuild(store, {"k": "json"}, lambda w, m: m.write_text("{not json"), "not valid JSON")


def test_metadata_weights_mismatch_is_detected(store):
    def damage(w, m):
        other = st.Store(w.parent / "other", version="test-1")
        other.save({"k": "other"}, {"z": torch.zeros(2)})
        os.replace(other.paths({"k": "other"})[0], w)  # weights of another entry
    _corrupt_and_expect_rebuild(store, {"k": "mismatch"}, damage, "checksum")


def test_stale_version_is_detected(store, tmp_path):
    cfg = {"k": "stale"}
    store.save(cfg, _tensors())
    newer = st.Store(tmp_path, version="test-2")
    # Same files under the new version's key: simulate by copying them over.
    for old, new in zip(store.paths(cfg), newer.paths(cfg)):
        new.write_bytes(old.read_bytes())
    with pytest.warns(st.StoreWarning, match="stale code version"):
        assert newer.load(cfg) is None


def test_no_temporary_files_left(store):
    store.save({"k": 1}, _tensors())
    assert sorted(p.suffix for p in store.root.iterdir()) == [".json", ".safetensors"]


def _writer(root, seed):
    s = st.Store(root, version="test-1")
    for _ in range(20):
        s.save({"k": "race"}, _tensors(0), {"writer": seed})


def test_two_writers_leave_a_valid_entry(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), i)) for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tensors, meta = st.Store(tmp_path, version="test-1").load({"k": "race"})
    assert torch.equal(tensors["w"], _tensors(0)["w"]) and meta["writer"] in (0, 1)


def test_bad_input(store):
    with pytest.raises(TypeError, match="config"):
        store.key(["not", "a", "mapping"])
    with pytest.raises(TypeError, match="tensors"):
        store.save({"k": 1}, {"w": [1, 2]})
    with pytest.raises(TypeError, match="JSON"):
        store.key({"k": object()})


def test_no_pickle_anywhere_in_the_package():
    import pathlib

    import mmc_utils

    root = pathlib.Path(mmc_utils.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "pickle.load" not in text, path
        assert "torch.load(" not in text or "weights_only=True" in text, path


def test_code_version_can_be_pinned(monkeypatch):
    monkeypatch.setenv("MMC_CODE_VERSION", "pinned-1")
    assert st.code_version() == "pinned-1" and st.Store("/nonexistent").version == "pinned-1"


# A real writer process killed with SIGKILL at a chosen point of Store.save (no simulation of
# the files it leaves: the kill happens inside the real code path).
_KILLED_WRITER = """
import os, signal, sys, torch
from mmc_utils import store as st
root, where = sys.argv[1], sys.argv[2]
real = {"fsync": os.fsync, "replace": os.replace}
count = {"fsync": 0, "replace": 0}
def hook(name, nth):
    def wrapped(*args):
        count[name] += 1
        if (name, count[name]) == (where.split(":")[0], int(where.split(":")[1])):
            os.kill(os.getpid(), signal.SIGKILL)
        return real[name](*args)
    return wrapped
os.fsync, os.replace = hook("fsync", 0), hook("replace", 0)
st.Store(root, version="test-1").save({"k": "killed"}, {"w": torch.randn(512, 512, generator=torch.Generator().manual_seed(int(sys.argv[3])))})
"""


@pytest.mark.parametrize("where, expect", [
    ("fsync:1", None),                # weights half-way: only a temporary file exists
    ("replace:2", "metadata missing"),  # weights in place, metadata never renamed
])
def test_writer_killed_midway_is_detected_and_rebuilt(tmp_path, where, expect):
    import signal
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(tmp_path), where, "0"], timeout=120)
    assert done.returncode == -signal.SIGKILL
    s = st.Store(tmp_path, version="test-1")
    cfg = {"k": "killed"}
    if expect is None:
        assert s.load(cfg) is None  # nothing but a stray temporary file: no entry
    else:
        with pytest.warns(st.StoreWarning, match=expect) as rec:
            assert s.load(cfg) is None
        assert len(rec) == 1 and "\n" not in str(rec[0].message)  # reported in one line
    tensors, info = st.load_or_train(cfg, lambda: (_tensors(), {}), store=s)
    assert info["cached"] is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again, info = st.load_or_train(cfg, lambda: pytest.fail("must not retrain"), store=s)
    assert info["cached"] is True and torch.equal(again["w"], _tensors()["w"])


def test_rewrite_killed_between_weights_and_metadata_is_detected(tmp_path):
    """A valid entry overwritten by a writer killed after its new weights landed: checksum mismatch."""
    import subprocess
    import sys

    cfg = {"k": "killed"}
    st.Store(tmp_path, version="test-1").save(cfg, {"w": torch.zeros(512, 512)})
    subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(tmp_path), "replace:2", "1"], timeout=120)
    with pytest.warns(st.StoreWarning, match="checksum"):
        assert st.Store(tmp_path, version="test-1").load(cfg) is None
