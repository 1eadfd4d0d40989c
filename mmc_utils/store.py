"""The checkpoint cache: tensors in safetensors files, metadata in JSON, keyed by a hash.

An entry is two files in the cache directory, ``<key>.safetensors`` and ``<key>.json``.
The key is a SHA-256 of the canonical JSON of the entry's config together with the code
version, so a change of config or of the science code selects a different entry. The
metadata records the config, the code version, the tensor names, shapes and dtypes and a
SHA-256 checksum of the weights file. Both files are written to temporary names and renamed
into place (the JSON last), so an interrupted write never leaves an entry that looks complete.
Nothing here unpickles anything.

Three kinds of trouble, three answers:

- **the files are bad** (missing, truncated, altered, stale, not JSON, fields of the wrong
  type, nested too deep, too large, a directory, link or FIFO in place of a file, tensors
  that do not match the metadata): reported in one :class:`StoreWarning` line, removed and
  rebuilt; only such files ever cost an entry;
- **the call is bad** (a config that is not a JSON-able mapping, an unknown or unavailable
  ``device``, tensors that are not tensors): ``TypeError`` / ``ValueError`` before any file
  is read, written or removed;
- **the cache cannot be used** (``$MMC_CACHE_DIR`` is a file, a read-only directory, a full
  disk): :func:`load_or_train` warns and still returns what it computed.

Every read is bounded (:mod:`mmc_utils.store_io`): regular files only, opened without
following links and without blocking, with size and JSON nesting limits.

**What the checksum protects against, and what not.** The SHA-256 in the metadata detects
*accidental* damage to the weights file: truncation, an interrupted copy, bit rot, a file
swapped for another entry's or edited by hand without updating the metadata. It is not a
signature: anyone who can write to the cache directory can write weights together with
metadata whose checksum matches, and such a *deliberately forged* entry is loaded as valid
(its tensors are only checked for names, shapes and dtypes, and by callers that pass a
``check`` to :func:`load_or_train`, e.g. that they fit the model). The store never executes
anything it reads (safetensors and JSON only), so a forged entry can give wrong numbers but
cannot run code. Treat the cache directory like the code: writable by you alone.

The directory is ``$MMC_CACHE_DIR`` or, by default, ``_cache/`` at the repository root
(git-ignored), or the user's cache folder outside a checkout (see :mod:`mmc_utils.locations`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save_file

from . import __version__
from .locations import cache_dir
from .runtime import pick_device
from .store_io import (MAX_META_BYTES, MAX_WEIGHTS_BYTES, BadEntry, atomic_write, exists, parse_json, read_regular,
                       remove, sha256_bytes)

PACKAGE_DIR = Path(__file__).resolve().parent
# Modules whose code cannot change a stored result; editing them keeps the cache valid.
_PRESENTATION = {"plots.py", "plots_landscape.py", "widgets.py", "claims.py", "store.py", "store_io.py", "chapter.py",
                 "locations.py", "codeview.py", "booktime.py"}

Tensors = dict[str, torch.Tensor]


class StoreWarning(UserWarning):
    """A cache entry was unusable (corrupt, truncated, stale) and will be rebuilt, or a result could not
    be cached."""


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


def _checked_json(name: str, obj: Any) -> str:
    """:func:`canonical_json` of ``obj``; ``TypeError`` naming ``name`` for any value, key or nesting JSON cannot
    hold (a set, a tuple key, a circular reference ...)."""
    try:
        return canonical_json(obj)
    except (TypeError, ValueError, RecursionError) as err:
        raise TypeError(f"{name} must be JSON-able: {err}") from None


def default_cache_dir() -> Path:
    """``$MMC_CACHE_DIR`` if set, else ``<repo>/_cache`` (see :func:`mmc_utils.locations.cache_dir`)."""
    return cache_dir()


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
        text = _checked_json("config", {"config": config, "version": self.version})
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def paths(self, config: Mapping[str, Any]) -> tuple[Path, Path]:
        """The (weights, metadata) file paths of ``config``'s entry."""
        k = self.key(config)
        return self.root / f"{k}.safetensors", self.root / f"{k}.json"

    def save(self, config: Mapping[str, Any], tensors: Tensors, meta: Mapping[str, Any] | None = None) -> Path:
        """Write an entry atomically; returns the weights path.

        Args:
            config: JSON-able description of what was computed (hashed into the key).
            tensors: name (str) → tensor; stored contiguous on the CPU.
            meta: extra JSON-able metadata (a training history, say).

        Raises:
            TypeError: bad ``config``, ``tensors`` or ``meta`` (nothing is written).
            OSError: the cache directory cannot be created or written.
        """
        weights, meta_path = self.paths(config)
        if not isinstance(tensors, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                       for k, v in tensors.items()):
            raise TypeError("tensors must be a dict of str -> torch.Tensor")
        if meta is not None and not isinstance(meta, Mapping):
            raise TypeError(f"meta must be a JSON-able mapping or None, got {type(meta).__name__}")
        meta_json = json.loads(_checked_json("meta", dict(meta or {})))  # TypeError before anything is written
        cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
        digest = atomic_write(weights, lambda p: save_file(cpu, str(p)))
        record = {
            "config": json.loads(canonical_json(config)),
            "version": self.version,
            "sha256": digest,
            "tensors": sorted(cpu),
            "shapes": {k: [str(v.dtype).removeprefix("torch."), list(v.shape)] for k, v in sorted(cpu.items())},
            "meta": meta_json,
        }
        try:
            atomic_write(meta_path, lambda p: p.write_text(json.dumps(record, indent=1, sort_keys=True)))
        except BaseException:
            try:  # weights without metadata would only be removed by the next load
                remove(weights)
            except OSError:
                pass
            raise
        return weights

    def load(self, config: Mapping[str, Any], device: str | torch.device = "cpu") -> tuple[Tensors, dict] | None:
        """Return ``(tensors, meta)`` of a valid entry, or ``None`` if there is none.

        An entry whose files are bad (see the module docstring) is reported with a one-line
        :class:`StoreWarning`, removed, and ``None`` is returned so the caller rebuilds it; if it
        cannot be removed (a read-only directory) a second warning says so and it is left alone.

        Raises:
            TypeError, ValueError: a bad ``config`` or ``device`` (``"cuda"`` on a machine without
                one, say); raised before any file is touched.
            OSError: the entry's files exist but cannot be read (permission denied, I/O error).
        """
        weights, meta_path = self.paths(config)
        device = pick_device(device)
        if not exists(meta_path) and not exists(weights):
            return None
        try:
            tensors, meta = self._read(config, weights, meta_path)
        except BadEntry as problem:
            warnings.warn(f"cache entry {weights.stem}: {problem}; rebuilding", StoreWarning, stacklevel=2)
            self._discard(config)
            return None
        return {k: v.to(device) for k, v in tensors.items()}, meta

    def _read(self, config: Mapping[str, Any], weights: Path, meta_path: Path) -> tuple[Tensors, dict]:
        """The entry's CPU tensors and meta; :class:`BadEntry` for any problem of the files."""
        raw_meta = read_regular(meta_path, MAX_META_BYTES)
        if raw_meta is None:
            raise BadEntry("metadata missing (interrupted write?)")
        record = _check_record(parse_json(raw_meta))
        if record["version"] != self.version:
            raise BadEntry(f"stale code version {record['version']} (now {self.version})")
        if record["config"] != json.loads(canonical_json(config)):
            raise BadEntry("metadata config differs from the requested config")
        raw = read_regular(weights, MAX_WEIGHTS_BYTES)
        if raw is None:
            raise BadEntry("weights missing")
        if sha256_bytes(raw) != record["sha256"]:
            raise BadEntry("weights checksum mismatch (truncated or altered file)")
        try:
            tensors = load_bytes(raw)
        except Exception as exc:  # noqa: BLE001 - the bytes are on disk, verified: any parse failure is the file's
            raise BadEntry(f"unreadable weights ({type(exc).__name__})") from None
        if sorted(tensors) != record["tensors"]:
            raise BadEntry("tensor names differ from the metadata")
        for k, (dtype, shape) in record.get("shapes", {}).items():
            v = tensors.get(k)
            if v is None or str(v.dtype).removeprefix("torch.") != dtype or list(v.shape) != shape:
                raise BadEntry(f"tensor {k!r} differs from the metadata's dtype and shape")
        return tensors, record["meta"]

    def delete(self, config: Mapping[str, Any]) -> None:
        """Remove an entry's files if present (an empty directory in place of one too).

        Raises:
            OSError: a file cannot be removed (read-only directory), or a non-empty directory is
                in place of one.
        """
        for p in self.paths(config):
            remove(p)

    def _discard(self, config: Mapping[str, Any]) -> None:
        """:meth:`delete`, warning instead of raising when the files cannot be removed."""
        try:
            self.delete(config)
        except OSError as err:
            warnings.warn(f"cache entry {self.key(config)} could not be removed ({type(err).__name__}: {err}); "
                          "it is left in place and ignored", StoreWarning, stacklevel=3)


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _check_record(record: Any) -> dict:
    """The parsed metadata if every field has the type the store writes; :class:`BadEntry` otherwise."""
    if not isinstance(record, dict) or not {"config", "version", "sha256", "tensors", "meta"} <= set(record):
        raise BadEntry("metadata lacks required fields")
    bad = [name for name, ok in (
        ("version", isinstance(record["version"], str)),
        ("sha256", isinstance(record["sha256"], str) and bool(_HEX64.match(record["sha256"]))),
        ("tensors", isinstance(record["tensors"], list) and all(isinstance(k, str) for k in record["tensors"])),
        ("meta", isinstance(record["meta"], dict)),
        ("shapes", _valid_shapes(record.get("shapes", {}))),
    ) if not ok]
    if bad:
        raise BadEntry(f"metadata fields of the wrong type: {', '.join(bad)}")
    return record


def _valid_shapes(shapes: Any) -> bool:
    return isinstance(shapes, dict) and all(
        isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], list)
        and all(isinstance(d, int) and not isinstance(d, bool) for d in v[1]) for v in shapes.values())


def load_or_train(
    config: Mapping[str, Any],
    train_fn: Callable[[], tuple[Tensors, Mapping[str, Any]]],
    *,
    store: Store | None = None,
    device: str | torch.device = "cpu",
    desc: str = "",
    check: Callable[[Tensors, dict], None] | None = None,
) -> tuple[Tensors, dict]:
    """Load the entry for ``config`` or compute it with ``train_fn`` and save it.

    Args:
        config: JSON-able description of the computation (its hash is the key).
        train_fn: called with no arguments when there is no valid entry; returns
            ``(tensors, meta)``.
        store: the store (default: a :class:`Store` on :func:`default_cache_dir`).
        device: where loaded tensors are placed.
        desc: a short name for log lines.
        check: optional ``check(tensors, meta)`` run on a loaded entry (on CPU tensors); a
            ``ValueError`` or ``TypeError`` from it means the entry does not fit what the caller
            expects (a self-consistent entry of the wrong shapes, say): it is reported, removed
            and rebuilt like a corrupt one.

    Returns:
        ``(tensors, meta)``; ``meta`` gains ``"cached": True`` when it came from disk.

    Raises:
        TypeError, ValueError: bad ``config``, ``train_fn``, ``store``, ``device`` or ``check``
            (before anything is loaded or computed), or ``train_fn`` returned no ``(tensors, meta)``.

    A result that cannot be stored (the cache directory is a file, read-only or full) is still
    returned, and an entry whose files cannot be read is computed again, each with a
    :class:`StoreWarning`.
    """
    if not callable(train_fn):
        raise TypeError(f"train_fn must be a callable returning (tensors, meta), got {type(train_fn).__name__}")
    if store is not None and not isinstance(store, Store):
        raise TypeError(f"store must be a mmc_utils.store.Store or None, got {type(store).__name__}")
    if check is not None and not callable(check):
        raise TypeError(f"check must be a callable (tensors, meta) -> None or None, got {type(check).__name__}")
    store = store if store is not None else Store()
    key = store.key(config)
    device = pick_device(device)
    try:
        hit = store.load(config, device="cpu")
    except OSError as err:  # the files exist but cannot be read (permissions, I/O): compute instead
        warnings.warn(f"cache entry {key} could not be read ({type(err).__name__}: {err}); computing it",
                      StoreWarning, stacklevel=2)
        hit = None
    if hit is not None and check is not None:
        try:
            check(*hit)
        except (ValueError, TypeError) as err:
            warnings.warn(f"cache entry {key}: does not fit ({err}); rebuilding", StoreWarning, stacklevel=2)
            store._discard(config)
            hit = None
    if hit is not None:
        tensors, meta = hit
        return {k: v.to(device) for k, v in tensors.items()}, {**meta, "cached": True}
    result = train_fn()
    if not isinstance(result, tuple) or len(result) != 2 or not isinstance(result[1], Mapping):
        raise TypeError(f"train_fn must return (tensors, meta), got {type(result).__name__}")
    tensors, meta = result
    try:
        store.save(config, tensors, meta)
    except OSError as err:
        warnings.warn(f"{desc or 'result'} (cache entry {key}) could not be cached in {store.root} "
                      f"({type(err).__name__}: {err}); returning it uncached", StoreWarning, stacklevel=2)
    return {k: v.to(device) for k, v in tensors.items()}, {**dict(meta), "cached": False}
