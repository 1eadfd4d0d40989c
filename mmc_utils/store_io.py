"""Bounded, non-blocking file access for the checkpoint store (:mod:`mmc_utils.store`).

Every read of a cache file goes through :func:`read_regular`: it opens without following a
symbolic link and without blocking (a FIFO in place of a file must not hang a load), accepts
regular files only and refuses files above a size limit. JSON is parsed by :func:`parse_json`
with a nesting limit. A file that fails any of these is *bad* (:class:`BadEntry`): the store
reports it and rebuilds the entry. An ``OSError`` that says nothing about the file (no such
directory, permission denied) is passed through unchanged so the caller can tell a bad file
from a cache that cannot be used.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable

MAX_META_BYTES = 16 * 2**20        # a metadata file above 16 MiB is not one the store wrote
MAX_WEIGHTS_BYTES = 16 * 2**30     # weights above 16 GiB: far above any network of the book
MAX_JSON_DEPTH = 64                # nesting of the metadata (the store writes 4 to 6 levels)

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class BadEntry(Exception):
    """A cache file exists but is not a usable entry file (the message says why)."""


def exists(path: Path) -> bool:
    """Whether anything (file, directory, link, FIFO ...) is at ``path``; ``False`` when a parent is not a
    directory (``$MMC_CACHE_DIR`` pointing at a file has no entries)."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True


def read_regular(path: Path, limit: int) -> bytes | None:
    """The bytes of the regular file ``path`` (``None`` if there is none).

    Raises:
        BadEntry: ``path`` is a symbolic link, a directory, a FIFO or another non-regular file, or
            larger than ``limit`` bytes.
        OSError: the file could not be opened or read for another reason (permissions, I/O).
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise BadEntry(f"{path.name} is a symbolic link, not a file the store wrote") from err
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadEntry(f"{path.name} is not a regular file ({_kind(st.st_mode)})")
        if st.st_size > limit:
            raise BadEntry(f"{path.name} is {st.st_size} bytes, above the limit of {limit}")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise BadEntry(f"{path.name} grew above the limit of {limit} bytes while being read")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def parse_json(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse UTF-8 JSON, refusing undecodable text and nesting deeper than ``max_depth``.

    Raises:
        BadEntry: not UTF-8, not JSON, or nested too deeply (also when Python's parser would recurse
            too deep).
    """
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadEntry("metadata is not valid JSON") from None
    except RecursionError:
        raise BadEntry(f"metadata nests deeper than {max_depth} levels") from None
    stack = [(obj, 1)]
    while stack:  # iterative: no recursion on hostile input
        node, depth = stack.pop()
        if depth > max_depth:
            raise BadEntry(f"metadata nests deeper than {max_depth} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return obj


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def remove(path: Path) -> None:
    """Remove whatever is at ``path``: a file, link, FIFO or socket, or an *empty* directory.

    A non-empty directory is never removed (it is not something the store wrote): ``OSError``.
    Nothing there is not an error.
    """
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISDIR(st.st_mode):
        os.rmdir(path)  # OSError (ENOTEMPTY) for a non-empty directory: left for a person to look at
    else:
        os.unlink(path)


def atomic_write(path: Path, write: Callable[[Path], None]) -> str:
    """Write through ``write(tmp)`` to a temporary file in ``path``'s directory, fsync, rename onto ``path``;
    return the written file's SHA-256.

    Raises:
        OSError: the directory cannot be created or written, or ``path`` is a directory.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
            f.seek(0)
            h = hashlib.sha256()
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        os.replace(tmp_path, path)
        return h.hexdigest()
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
