"""Where the package reads and writes on disk: the checkpoint cache, the claims and the data sets.

In a checkout of the book's repository (the folder above the package holds ``_toc.yml`` and
``book/``), everything stays in the checkout, as the README describes: ``_cache/``,
``_build/claims/`` and ``data/``. Installed anywhere else (from the wheel the book ships, into
a virtual environment or ``site-packages``), nothing is ever written next to the package: the
cache and the claims go to the platform's user cache folder and the data sets are looked for
in its user data folder (``platformdirs``; on Linux ``~/.cache/mmc-book/`` and
``~/.local/share/mmc-book/``). An environment variable overrides each location:

============  ==================  ========================  ===============================
what          variable            in a checkout             elsewhere
============  ==================  ========================  ===============================
cache         ``MMC_CACHE_DIR``   ``<repo>/_cache``         ``<user cache>/checkpoints``
claims        ``MMC_CLAIMS_DIR``  ``<repo>/_build/claims``  ``<user cache>/claims``
data sets     ``MMC_DATA_DIR``    ``<repo>/data``           ``<user data>/data``
============  ==================  ========================  ===============================
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "mmc-book"
PACKAGE_DIR = Path(__file__).resolve().parent


def checkout_root() -> Path | None:
    """The root of the book's repository when the package is used from a checkout, else None."""
    root = PACKAGE_DIR.parent
    return root if (root / "_toc.yml").is_file() and (root / "book").is_dir() else None


def _resolve(variable: str, in_checkout: str, user_folder: Path) -> Path:
    env = os.environ.get(variable)
    if env:
        return Path(env)
    root = checkout_root()
    return root / in_checkout if root is not None else user_folder


def cache_dir() -> Path:
    """The checkpoint cache: ``$MMC_CACHE_DIR``, else ``<repo>/_cache``, else ``<user cache>/checkpoints``."""
    return _resolve("MMC_CACHE_DIR", "_cache", platformdirs.user_cache_path(APP_NAME, appauthor=False) / "checkpoints")


def claims_dir() -> Path:
    """The checked claims: ``$MMC_CLAIMS_DIR``, else ``<repo>/_build/claims``, else ``<user cache>/claims``."""
    return _resolve("MMC_CLAIMS_DIR", "_build/claims", platformdirs.user_cache_path(APP_NAME, appauthor=False) / "claims")


def data_dir() -> Path:
    """The torchvision data sets: ``$MMC_DATA_DIR``, else ``<repo>/data``, else ``<user data>/data``."""
    return _resolve("MMC_DATA_DIR", "data", platformdirs.user_data_path(APP_NAME, appauthor=False) / "data")
