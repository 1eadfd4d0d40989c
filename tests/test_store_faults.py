"""The store under faults (issue #17): a bad call raises and touches nothing, bad files are rebuilt,
an unwritable cache still returns the computed result, and no read blocks or recurses without bound."""
import json
import os
import signal
import warnings

import pytest
import torch
from safetensors.torch import save_file

from mmc_utils import store as st

BAD_DEVICE = "cuda:99" if torch.cuda.is_available() else "cuda"
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0  # root ignores permission bits


def _tensors():
    return {"w": torch.arange(6.0).reshape(2, 3), "b": torch.arange(5)}


@pytest.fixture
def store(tmp_path):
    return st.Store(tmp_path / "cache", version="t")


@pytest.fixture
def alarm():
    """Fail (instead of hanging the suite) if the test blocks for 20 s."""
    def _timeout(signum, frame):
        raise TimeoutError("the store blocked")
    old = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _files(store, cfg):
    return [p.read_bytes() for p in store.paths(cfg)]


# ----------------------------------------------------------------------------- a bad call touches nothing
@pytest.mark.parametrize("device", [BAD_DEVICE, "tpu", "cpu:abc"])
def test_bad_device_raises_and_keeps_the_entry(store, device):
    cfg = {"k": 1}
    store.save(cfg, {"w": torch.ones(2)})
    before = _files(store, cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error", st.StoreWarning)
        with pytest.raises(ValueError, match="device"):
            store.load(cfg, device=device)
        with pytest.raises(ValueError, match="device"):
            st.load_or_train(cfg, lambda: pytest.fail("must not train"), store=store, device=device)
    assert _files(store, cfg) == before
    tensors, meta = st.load_or_train(cfg, lambda: pytest.fail("must not train"), store=store)
    assert meta["cached"] and torch.equal(tensors["w"], torch.ones(2))


def test_bad_config_or_check_raises_before_training(store):
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        st.load_or_train({"a": object()}, lambda: pytest.fail("must not train"), store=store)
    with pytest.raises(TypeError, match="check must be a callable"):
        st.load_or_train({"a": 1}, lambda: pytest.fail("must not train"), store=store, check="shapes")


def test_save_with_bad_meta_writes_nothing(store):
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        store.save({"a": 1}, _tensors(), {"when": object()})
    with pytest.raises(TypeError, match="tensors must be a dict of str"):
        store.save({"a": 1}, {1: torch.ones(1)})
    assert not store.root.exists() or not any(store.root.iterdir())


# ----------------------------------------------------------------------------- an unusable cache still returns
def test_cache_dir_is_a_file(tmp_path, monkeypatch):
    target = tmp_path / "not_a_dir"
    target.write_text("x")
    monkeypatch.setenv("MMC_CACHE_DIR", str(target))
    calls = []
    with pytest.warns(st.StoreWarning, match="could not be cached"):
        tensors, meta = st.load_or_train({"a": 1}, lambda: (calls.append(1) or _tensors(), {"h": 1}),
                                         desc="toy")
    assert calls == [1] and meta == {"h": 1, "cached": False} and torch.equal(tensors["w"], _tensors()["w"])
    assert target.read_text() == "x"


@pytest.mark.skipif(ROOT, reason="root ignores permission bits")
def test_read_only_cache_dir_returns_the_result(store):
    store.root.mkdir(parents=True)
    os.chmod(store.root, 0o555)
    try:
        with pytest.warns(st.StoreWarning, match="could not be cached"):
            tensors, meta = st.load_or_train({"a": 1}, lambda: (_tensors(), {}), store=store)
        assert not meta["cached"] and torch.equal(tensors["b"], torch.arange(5))
    finally:
        os.chmod(store.root, 0o755)


@pytest.mark.skipif(ROOT, reason="root ignores permission bits")
def test_corrupt_entry_in_read_only_dir_is_ignored_not_fatal(store):
    cfg = {"a": 2}
    store.save(cfg, _tensors())
    weights, _ = store.paths(cfg)
    weights.write_bytes(weights.read_bytes()[:-7])
    os.chmod(store.root, 0o555)
    try:
        with pytest.warns(st.StoreWarning) as record:
            tensors, meta = st.load_or_train(cfg, lambda: (_tensors(), {}), store=store)
        messages = " | ".join(str(w.message) for w in record)
        assert "rebuilding" in messages and "could not be removed" in messages and "could not be cached" in messages
        assert not meta["cached"] and torch.equal(tensors["w"], _tensors()["w"])
    finally:
        os.chmod(store.root, 0o755)


def test_unwritable_and_undeletable_cache_simulated(store, monkeypatch):
    """The read-only cases above, for a user (root) whom permission bits do not stop: removal and writing fail."""
    cfg = {"a": 3}
    store.save(cfg, _tensors())
    weights, _ = store.paths(cfg)
    weights.write_bytes(weights.read_bytes()[:-7])

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(st, "remove", denied)
    monkeypatch.setattr(st, "atomic_write", denied)
    with pytest.warns(st.StoreWarning) as record:
        tensors, meta = st.load_or_train(cfg, lambda: (_tensors(), {"h": 2}), store=store)
    messages = " | ".join(str(w.message) for w in record)
    assert "rebuilding" in messages and "could not be removed" in messages and "could not be cached" in messages
    assert meta == {"h": 2, "cached": False} and torch.equal(tensors["w"], _tensors()["w"])


def test_unreadable_entry_is_computed_not_fatal(store, monkeypatch):
    cfg = {"a": 4}
    store.save(cfg, _tensors())

    def denied(path, limit):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(st, "read_regular", denied)
    with pytest.warns(st.StoreWarning, match="could not be read .*PermissionError"):
        tensors, meta = st.load_or_train(cfg, lambda: (_tensors(), {"h": 3}), store=store)
    assert meta == {"h": 3, "cached": False} and torch.equal(tensors["w"], _tensors()["w"])


# ----------------------------------------------------------------------------- files that parse but are wrong
def _rewrite_meta(store, cfg, change):
    meta_path = store.paths(cfg)[1]
    record = json.loads(meta_path.read_text())
    change(record)
    meta_path.write_text(json.dumps(record))


def _expect_rebuild(store, cfg, reason):
    with pytest.warns(st.StoreWarning, match=reason):
        assert store.load(cfg) is None
    calls = []
    st.load_or_train(cfg, lambda: (calls.append(1) or _tensors(), {}), store=store)
    _, meta = st.load_or_train(cfg, lambda: pytest.fail("must not retrain"), store=store)
    assert calls == [1] and meta["cached"]


@pytest.mark.parametrize("value", ["oops", None, [1, 2], 3])
def test_meta_of_the_wrong_type_is_rebuilt(store, value):
    cfg = {"m": repr(value)}
    store.save(cfg, _tensors(), {"history": [1]})
    _rewrite_meta(store, cfg, lambda r: r.__setitem__("meta", value))  # checksum still intact
    _expect_rebuild(store, cfg, "metadata fields of the wrong type: meta")


@pytest.mark.parametrize("field,value", [("tensors", "w"), ("tensors", [1]), ("version", 3), ("sha256", None),
                                         ("shapes", {"w": "big"})])
def test_other_fields_of_the_wrong_type_are_rebuilt(store, field, value):
    cfg = {"f": field, "v": repr(value)}
    store.save(cfg, _tensors())
    _rewrite_meta(store, cfg, lambda r: r.__setitem__(field, value))
    _expect_rebuild(store, cfg, "metadata")


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_metadata_is_rebuilt(store, depth):
    cfg = {"deep": depth}
    store.save(cfg, _tensors())
    meta_path = store.paths(cfg)[1]
    text = meta_path.read_text()
    meta_path.write_text(text.replace('"meta": {}', '"meta": {"x": ' + "[" * depth + "]" * depth + "}"))
    _expect_rebuild(store, cfg, "nests deeper than")


def test_oversized_metadata_is_rebuilt(store, monkeypatch):
    cfg = {"big": 1}
    store.save(cfg, _tensors(), {"history": list(range(1000))})
    monkeypatch.setattr(st, "MAX_META_BYTES", 100)
    with pytest.warns(st.StoreWarning, match="279 bytes, above the limit of 100|above the limit of 100"):
        assert store.load(cfg) is None
    assert not any(p.exists() for p in store.paths(cfg))


@pytest.mark.parametrize("which", [0, 1])
def test_directory_in_place_of_a_file_is_rebuilt(store, which):
    cfg = {"dir": which}
    store.save(cfg, _tensors())
    path = store.paths(cfg)[which]
    path.unlink()
    path.mkdir()
    _expect_rebuild(store, cfg, "not a regular file \\(a directory\\)")


def test_non_empty_directory_in_place_of_a_file_is_left_alone(store):
    cfg = {"dir": "full"}
    store.save(cfg, _tensors())
    path = store.paths(cfg)[1]
    path.unlink()
    path.mkdir()
    (path / "precious.txt").write_text("keep")
    with pytest.warns(st.StoreWarning, match="could not be cached|could not be removed"):
        tensors, meta = st.load_or_train(cfg, lambda: (_tensors(), {}), store=store)
    assert not meta["cached"] and (path / "precious.txt").read_text() == "keep"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("which", [0, 1])
def test_fifo_in_place_of_a_file_does_not_block(store, alarm, which):
    cfg = {"fifo": which}
    store.save(cfg, _tensors())
    path = store.paths(cfg)[which]
    path.unlink()
    os.mkfifo(path)
    _expect_rebuild(store, cfg, "not a regular file \\(a FIFO\\)")


def test_symlink_in_place_of_a_file_is_rebuilt(store, tmp_path):
    cfg = {"link": 1}
    store.save(cfg, _tensors())
    weights = store.paths(cfg)[0]
    elsewhere = tmp_path / "elsewhere.safetensors"
    os.replace(weights, elsewhere)
    os.symlink(elsewhere, weights)
    _expect_rebuild(store, cfg, "symbolic link")
    assert elsewhere.exists()  # the link is removed, never what it points to


def test_wrong_shapes_with_matching_checksum(store):
    """Weights replaced and the checksum recomputed: the recorded shapes catch it at the store ..."""
    cfg = {"shape": 1}
    store.save(cfg, _tensors())
    weights, _ = store.paths(cfg)
    save_file({"w": torch.zeros(3, 3), "b": torch.arange(5)}, str(weights))
    _rewrite_meta(store, cfg, lambda r: r.__setitem__("sha256", __import__("hashlib").sha256(
        weights.read_bytes()).hexdigest()))
    _expect_rebuild(store, cfg, "tensor 'w' differs from the metadata")


def test_entry_that_does_not_fit_the_caller_is_rebuilt(store):
    """... and a self-consistent entry of the wrong shapes (shapes rewritten too) by the caller's check."""
    cfg = {"fit": 1}
    store.save(cfg, {"w": torch.zeros(3, 3)})

    def check(tensors, meta):
        if tensors["w"].shape != (2, 3):
            raise ValueError(f"w has shape {tuple(tensors['w'].shape)}")
    with pytest.warns(st.StoreWarning, match=r"does not fit \(w has shape \(3, 3\)\); rebuilding"):
        tensors, meta = st.load_or_train(cfg, lambda: (_tensors(), {}), store=store, check=check)
    assert not meta["cached"] and tensors["w"].shape == (2, 3)
    _, meta = st.load_or_train(cfg, lambda: pytest.fail("must not retrain"), store=store, check=check)
    assert meta["cached"]


def test_docstring_says_what_the_checksum_protects_against():
    doc = " ".join(st.__doc__.lower().split())
    assert "accidental" in doc and "forged" in doc and "not a signature" in doc
