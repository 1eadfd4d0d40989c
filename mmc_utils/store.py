"""The checkpoint cache: tensors in safetensors files, metadata in JSON, keyed by a hash.

An entry is two files in the cache directory, ``<key>.safetensors`` and ``<key>.json``.
The key is a SHA-256 of the canonical JSON of the entry's config together with the code
version, so a change of config or of the science code selects a different entry. The
metadata records the config, the code version and a SHA-256 checksum of the weights file;
an entry whose files are missing, truncated, altered or stale is reported in one line,
deleted and rebuilt. Both files are written to temporary names and renamed into place
(the JSON last), so an interrupted write never leaves an entry that looks complete.
Nothing here unpickles anything.

The directory is ``$MMC_CACHE_DIR`` or, by default, ``_cache/`` at the repository root
(git-ignored), or the user's cache folder outside a checkout (see :mod:`mmc_utils.locations`).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from safetensors.torch import load_file, save_file

from . import __version__
from .locations import cache_dir

PACKAGE_DIR = Path(__file__).resolve().parent
# Modules whose code cannot change a stored result; editing them keeps the cache valid.
_PRESENTATION = {"plots.py", "plots_landscape.py", "widgets.py", "claims.py", "store.py", "chapter.py", "locations.py",
                 "codeview.py", "booktime.py"}

Tensors = dict[str, torch.Tensor]


class StoreWarning(UserWarning):
    """A cache entry was unusable (corrupt, truncated, stale) and will be rebuilt."""


def code_version() -> str:
    """The package version plus a short hash of every science module's source.

    ``MMC_CODE_VERSION``, if set, replaces it: an explicit opt-in for package developers who
    edit code that cannot change the cached results and want to keep the cache (never set it
    in CI or the test harness).
    """
    pinned = os.environ.get("MMC_CODE_VERSION")
    if pinned:
        return pinned
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if path.name in _PRESENTATION:
            continue
        h.update(str(path.relative_to(PACKAGE_DIR)).encode())
        h.update(path.read_bytes())
    return f"{__version__}+{h.hexdigest()[:12]}"


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the text that is hashed into a key."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (torch.device, torch.dtype)):
        return str(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"config value of type {type(obj).__name__} is not JSON-serialisable")


def default_cache_dir() -> Path:
    """``$MMC_CACHE_DIR`` if set, else ``<repo>/_cache`` (see :func:`mmc_utils.locations.cache_dir`)."""
    return cache_dir()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path: Path, write: Callable[[Path], None]) -> str:
    """Write through ``write(tmp)`` to a temporary file, fsync, rename; return its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        digest = _sha256_file(tmp_path)
        os.replace(tmp_path, path)
        return digest
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


class Store:
    """A directory of checkpoint entries.

    Args:
        root: the cache directory (default :func:`default_cache_dir`).
        version: the code version entries are keyed by (default :func:`code_version`).
    """

    def __init__(self, root: str | Path | None = None, version: str | None = None):
        if root is not None and not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a str, os.PathLike or None, got {type(root).__name__}")
        if version is not None and (not isinstance(version, str) or not version):
            raise TypeError(f"version must be a non-empty str or None, got {version!r}")
        self.root = Path(root) if root is not None else default_cache_dir()
        self.version = version if version is not None else code_version()

    def key(self, config: Mapping[str, Any]) -> str:
        """The entry key of ``config``: 24 hex digits of SHA-256(config JSON + code version)."""
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a mapping, got {type(config).__name__}")
        text = canonical_json({"config": config, "version": self.version})
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def paths(self, config: Mapping[str, Any]) -> tuple[Path, Path]:
        """The (weights, metadata) file paths of ``config``'s entry."""
        k = self.key(config)
        return self.root / f"{k}.safetensors", self.root / f"{k}.json"

    def save(self, config: Mapping[str, Any], tensors: Tensors, meta: Mapping[str, Any] | None = None) -> Path:
        """Write an entry atomically; returns the weights path.

        Args:
            config: JSON-able description of what was computed (hashed into the key).
            tensors: name → tensor; stored contiguous on the CPU.
            meta: extra JSON-able metadata (a training history, say).
        """
        if not isinstance(tensors, Mapping) or not all(isinstance(v, torch.Tensor) for v in tensors.values()):
            raise TypeError("tensors must be a dict of str -> torch.Tensor")
        if meta is not None and not isinstance(meta, Mapping):
            raise TypeError(f"meta must be a JSON-able mapping or None, got {type(meta).__name__}")
        weights, meta_path = self.paths(config)
        cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
        digest = _atomic_write(weights, lambda p: save_file(cpu, str(p)))
        record = {
            "config": json.loads(canonical_json(config)),
            "version": self.version,
            "sha256": digest,
            "tensors": sorted(cpu),
            "meta": json.loads(canonical_json(dict(meta or {}))),
        }
        _atomic_write(meta_path, lambda p: p.write_text(json.dumps(record, indent=1, sort_keys=True)))
        return weights

    def load(self, config: Mapping[str, Any], device: str | torch.device = "cpu") -> tuple[Tensors, dict] | None:
        """Return ``(tensors, meta)`` of a valid entry, or ``None`` if there is none.

        An entry that exists but fails a check (unreadable JSON, other config or version,
        checksum mismatch, tensor names that disagree with the metadata) is reported with a
        one-line :class:`StoreWarning`, deleted, and ``None`` is returned so the caller
        rebuilds it.
        """
        weights, meta_path = self.paths(config)
        if not meta_path.exists() and not weights.exists():
            return None
        problem = self._check(config, weights, meta_path)
        if problem is None:
            record = json.loads(meta_path.read_text())
            try:
                tensors = load_file(str(weights), device=str(device))
            except Exception as exc:  # noqa: BLE001 - any read failure means a corrupt entry
                problem = f"unreadable weights ({type(exc).__name__})"
            else:
                if sorted(tensors) != record["tensors"]:
                    problem = "tensor names differ from the metadata"
                else:
                    return tensors, record["meta"]
        warnings.warn(f"cache entry {weights.stem}: {problem}; rebuilding", StoreWarning, stacklevel=2)
        self.delete(config)
        return None

    def _check(self, config: Mapping[str, Any], weights: Path, meta_path: Path) -> str | None:
        if not meta_path.exists():
            return "metadata missing (interrupted write?)"
        if not weights.exists():
            return "weights missing"
        try:
            record = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return "metadata is not valid JSON"
        if not isinstance(record, dict) or not {"config", "version", "sha256", "tensors", "meta"} <= set(record):
            return "metadata lacks required fields"
        if record["version"] != self.version:
            return f"stale code version {record['version']} (now {self.version})"
        if record["config"] != json.loads(canonical_json(config)):
            return "metadata config differs from the requested config"
        if _sha256_file(weights) != record["sha256"]:
            return "weights checksum mismatch (truncated or altered file)"
        return None

    def delete(self, config: Mapping[str, Any]) -> None:
        """Remove an entry's files if present."""
        for p in self.paths(config):
            p.unlink(missing_ok=True)


def load_or_train(
    config: Mapping[str, Any],
    train_fn: Callable[[], tuple[Tensors, Mapping[str, Any]]],
    *,
    store: Store | None = None,
    device: str | torch.device = "cpu",
    desc: str = "",
) -> tuple[Tensors, dict]:
    """Load the entry for ``config`` or compute it with ``train_fn`` and save it.

    Args:
        config: JSON-able description of the computation (its hash is the key).
        train_fn: called with no arguments when there is no valid entry; returns
            ``(tensors, meta)``.
        store: the store (default: a :class:`Store` on :func:`default_cache_dir`).
        device: where loaded tensors are placed.
        desc: a short name for log lines.

    Returns:
        ``(tensors, meta)``; ``meta`` gains ``"cached": True`` when it came from disk.
    """
    if not callable(train_fn):
        raise TypeError(f"train_fn must be a callable returning (tensors, meta), got {type(train_fn).__name__}")
    if store is not None and not isinstance(store, Store):
        raise TypeError(f"store must be a mmc_utils.store.Store or None, got {type(store).__name__}")
    store = store if store is not None else Store()
    hit = store.load(config, device=device)
    if hit is not None:
        tensors, meta = hit
        return tensors, {**meta, "cached": True}
    result = train_fn()
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"train_fn must return (tensors, meta), got {type(result).__name__}")
    tensors, meta = result
    store.save(config, tensors, meta)
    return {k: v.to(device) for k, v in tensors.items()}, {**dict(meta), "cached": False}
