"""Build the reader's wheel of ``mmc_utils`` (the one the book ships on its introduction page).

The wheel is built from a clean copy of the package's sources (``pyproject.toml``,
``README.md``, ``LICENSE``, ``mmc_utils/`` without byte code), so a stale ``build/`` folder
can never leak removed modules into it, and with ``--no-build-isolation``: setuptools and
wheel come from the book's environment, nothing is downloaded.

Command line::

    python -m booktools.wheel [OUT_DIR]     # default: _build/wheel
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mmc_utils import __version__

from . import REPO_ROOT

SOURCES = ("pyproject.toml", "README.md", "LICENSE")


def wheel_name(version: str = __version__) -> str:
    """The file name of the package's wheel at ``version`` (pure Python, any platform)."""
    return f"mmc_utils-{version}-py3-none-any.whl"


def build_wheel(out_dir: Path) -> Path:
    """Build the wheel of ``mmc_utils`` into ``out_dir`` (created; older wheels there are removed); return its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("mmc_utils-*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="mmc-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in SOURCES:
            shutil.copy2(REPO_ROOT / name, src / name)
        shutil.copytree(REPO_ROOT / "mmc_utils", src / "mmc_utils", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", "--wheel-dir", str(out_dir), str(src)], check=True)
    wheel = out_dir / wheel_name()
    if not wheel.is_file():
        raise FileNotFoundError(f"pip wheel did not write {wheel}")
    return wheel


def main(argv: list[str] | None = None) -> int:
    """Build the wheel into ``argv[0]`` (default ``_build/wheel``) and print its path."""
    args = sys.argv[1:] if argv is None else argv
    print(build_wheel(Path(args[0]) if args else REPO_ROOT / "_build" / "wheel"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
