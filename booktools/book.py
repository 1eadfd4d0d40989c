"""Execute the book's notebooks once and build the HTML from the executed copies.

The repository root is the Jupyter Book source; the committed notebooks carry no outputs.
``execute`` runs every notebook of ``_toc.yml`` through papermill into a staging copy of
the book (``_build/executed/``), and ``build`` runs Jupyter Book on that staging copy with
execution off, so each notebook runs exactly once per ``make`` command and the HTML shows
the very outputs that were checked.

Command line::

    python -m booktools.book execute [NOTEBOOK ...]   # default: every chapter
    python -m booktools.book build [--strict]         # -W -n --keep-going
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import yaml

from . import REPO_ROOT

STAGE = REPO_ROOT / "_build" / "executed"
_STAGED_FILES = ("_config.yml", "_toc.yml")
_STAGED_SUFFIXES = (".md", ".bib", ".png", ".svg", ".jpg", ".css")


def toc_entries(root: Path = REPO_ROOT) -> list[str]:
    """The ``file`` entries of ``_toc.yml`` in reading order (the root page first), no suffix."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    entries = [toc["root"]]

    def walk(node: dict) -> None:
        for key in ("chapters", "sections"):
            for child in node.get(key, []) or []:
                if "file" in child:
                    entries.append(child["file"])
                walk(child)
        for part in node.get("parts", []) or []:
            walk(part)

    walk(toc)
    return entries


def toc_notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """The notebooks (``.ipynb``) that ``_toc.yml`` lists, relative to ``root``, in order."""
    out = []
    for entry in toc_entries(root):
        path = Path(entry).with_suffix(".ipynb")
        if (root / path).exists():
            out.append(path)
    return out


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables (inherited by the kernels started inside) and restore them after."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute_notebook(notebook: str | Path, *, stage: Path = STAGE, parameters: dict | None = None,
                     timeout: int | None = None, attempts: int = 2) -> Path:
    """Execute one notebook with papermill into the staging tree; return the executed path.

    Args:
        notebook: path relative to the repository root, e.g. ``book/01_cue_datasets.ipynb``.
        stage: the staging root (mirrors the repository layout).
        parameters: values injected after the ``parameters`` cell (papermill).
        timeout: per-cell limit in seconds (default ``$MMC_CELL_TIMEOUT`` or 900; a book-scale cell
            takes at most about 4 minutes on a 2-core CPU).
        attempts: runs allowed when a cell times out. Under heavy load the Jupyter client has been
            seen to wait forever for a cell that the kernel had finished (always a widget cell,
            kernel idle); the timeout turns that into a retry from a fresh kernel, which is cheap
            because the models come from the checkpoint cache.

    Raises:
        papermill.PapermillExecutionError: with the failing cell's own error.
        nbclient.exceptions.CellTimeoutError: a cell timed out on every attempt.
    """
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError

    if timeout is None:
        timeout = int(os.environ.get("MMC_CELL_TIMEOUT", "900"))

    src = REPO_ROOT / notebook
    if not src.exists():
        raise FileNotFoundError(f"notebook {src} does not exist")
    dst = stage / notebook
    dst.parent.mkdir(parents=True, exist_ok=True)
    # Nobody watches a papermill kernel, and a closed tqdm widget would stay in the page as an
    # empty box: no progress bars in the executed book.
    with environment(MMC_NOTEBOOK=src.stem, MMC_PROGRESS="0"):
        for attempt in range(1, attempts + 1):
            try:
                pm.execute_notebook(
                    str(src), str(dst), parameters=parameters or {}, cwd=str(src.parent),
                    kernel_name="python3", progress_bar=False, execution_timeout=timeout,
                )
                break
            except CellTimeoutError:
                if attempt == attempts:
                    raise
                print(f"{notebook}: a cell exceeded {timeout} s; running the notebook again "
                      f"(attempt {attempt + 1} of {attempts})", file=sys.stderr, flush=True)
    return dst


def stage_sources(stage: Path = STAGE) -> None:
    """Copy the book's non-notebook sources (config, toc, pages, bibliography) into ``stage``."""
    stage.mkdir(parents=True, exist_ok=True)
    for name in _STAGED_FILES:
        shutil.copy2(REPO_ROOT / name, stage / name)
    for path in (REPO_ROOT / "book").rglob("*"):
        if path.is_file() and path.suffix in _STAGED_SUFFIXES:
            dst = stage / path.relative_to(REPO_ROOT)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst)


def build_html(strict: bool = True, stage: Path = STAGE) -> Path:
    """Build ``_build/html`` from the staged, executed book; return the path of index.html.

    Every notebook of ``_toc.yml`` must have been executed into ``stage`` first.
    """
    missing = [str(nb) for nb in toc_notebooks() if not (stage / nb).exists()]
    if missing:
        raise FileNotFoundError(f"not executed yet: {', '.join(missing)}; run `python -m booktools.book execute`")
    widgets_js = stage / "_widgets_js" / "widgets" / "embed-amd.js"
    if not widgets_js.exists():
        raise FileNotFoundError(f"the widgets' JavaScript is missing ({widgets_js}); run `make widgets-js` "
                                "(it fetches require.js and the ipywidgets HTML manager from the npm registry)")
    stage_sources(stage)
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(stage), "--path-output", str(REPO_ROOT)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    subprocess.run(cmd, check=True)
    index = REPO_ROOT / "_build" / "html" / "index.html"
    if not index.exists():
        raise FileNotFoundError(f"the build did not write {index}")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booktools.book", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="execute notebooks into _build/executed")
    ex.add_argument("notebooks", nargs="*", help="paths relative to the repo root (default: all of _toc.yml)")
    bd = sub.add_parser("build", help="build _build/html from the executed notebooks")
    bd.add_argument("--strict", action="store_true", help="warnings are errors (-W -n --keep-going)")
    args = parser.parse_args(argv)
    if args.command == "execute":
        for nb in args.notebooks or toc_notebooks():
            start = time.perf_counter()
            execute_notebook(nb)
            print(f"executed {nb} in {time.perf_counter() - start:.0f} s", flush=True)
        return 0
    index = build_html(strict=args.strict)
    print(f"The book: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
