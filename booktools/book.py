"""Execute the book's notebooks once and build the HTML from the executed copies.

The repository root is the Jupyter Book source; the committed notebooks carry no outputs.
``execute`` runs every notebook of ``_toc.yml`` through papermill into a staging copy of
the book (``_build/executed/``), and ``build`` runs Jupyter Book on that staging copy with
execution off, so each notebook runs exactly once per ``make`` command and the HTML shows
the very outputs that were checked.

Command line::

    python -m booktools.book execute [NOTEBOOK ...]   # default: every chapter
    python -m booktools.book build [--strict]         # -W -n --keep-going
    python -m booktools.book build --student          # the same book with the solutions hidden

The staged ``_config.yml`` gets what only the build knows: the package's version (for the
footer and the substitutions ``{{ version }}`` and ``{{ wheel_download }}``, a download link
to the wheel that ``build`` puts next to the introduction) and, for the student edition,
the extension that leaves the solutions out (:mod:`booktools.student`).
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

from mmc_utils import __version__

from . import REPO_ROOT
from .wheel import build_wheel

STAGE = REPO_ROOT / "_build" / "executed"
STUDENT_OUTPUT = REPO_ROOT / "_build" / "student"
WHEEL_DIR = "book/_wheel"  # in the stage, next to the introduction that links to it
FOOTER = ("mmc_utils {version} · code under the MIT License, text and figures under CC BY 4.0 "
          "(see LICENSE); cite it with CITATION.cff")
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


def staged_config(wheel: str, *, student: bool = False) -> dict:
    """The book's ``_config.yml`` with the version, the wheel's download link and (student) solutions hidden."""
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    link = f"{{download}}`{wheel} <{Path(WHEEL_DIR).name}/{wheel}>`"
    config.setdefault("parse", {}).setdefault("myst_substitutions", {}).update(version=__version__, wheel_download=link)
    config.setdefault("html", {})["extra_footer"] = FOOTER.format(version=__version__)
    if student:  # sphinx-exercise's hide_solutions misses gated solutions: see booktools/student.py
        config["title"] += " (student edition)"
        config.setdefault("sphinx", {}).setdefault("local_extensions", {})["booktools.student"] = str(REPO_ROOT)
    return config


def stage_sources(stage: Path = STAGE, *, student: bool = False) -> None:
    """Copy the book's non-notebook sources (config, toc, pages, bibliography) and the wheel into ``stage``."""
    stage.mkdir(parents=True, exist_ok=True)
    for name in _STAGED_FILES:
        shutil.copy2(REPO_ROOT / name, stage / name)
    wheel = build_wheel(stage / WHEEL_DIR)
    (stage / "_config.yml").write_text(yaml.safe_dump(staged_config(wheel.name, student=student), sort_keys=False))
    for path in (REPO_ROOT / "book").rglob("*"):
        if path.is_file() and path.suffix in _STAGED_SUFFIXES:
            dst = stage / path.relative_to(REPO_ROOT)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dst)


def build_html(strict: bool = True, stage: Path = STAGE, *, student: bool = False, output: Path | None = None) -> Path:
    """Build the HTML from the staged, executed book; return the path of its index.html.

    Every notebook of ``_toc.yml`` must have been executed into ``stage`` first. The book goes to
    ``<output>/_build/html``: ``output`` defaults to the repository root (``_build/html``), or to
    ``_build/student`` for the student edition (solutions hidden).
    """
    if output is None:
        output = STUDENT_OUTPUT if student else REPO_ROOT
    missing = [str(nb) for nb in toc_notebooks() if not (stage / nb).exists()]
    if missing:
        raise FileNotFoundError(f"not executed yet: {', '.join(missing)}; run `python -m booktools.book execute`")
    for vendored in ("widgets/embed-amd.js", "mathjax/tex-mml-chtml.js"):
        if not (stage / "_vendor" / vendored).exists():
            raise FileNotFoundError(f"the pages' JavaScript is missing ({stage / '_vendor' / vendored}); run `make vendor-js` "
                                    "(it fetches require.js, the ipywidgets HTML manager and MathJax from the npm registry)")
    stage_sources(stage, student=student)
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(stage), "--path-output", str(output)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    subprocess.run(cmd, check=True)
    index = Path(output) / "_build" / "html" / "index.html"
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
    bd.add_argument("--student", action="store_true", help="the student edition (solutions hidden) in _build/student")
    args = parser.parse_args(argv)
    if args.command == "execute":
        for nb in args.notebooks or toc_notebooks():
            start = time.perf_counter()
            execute_notebook(nb)
            print(f"executed {nb} in {time.perf_counter() - start:.0f} s", flush=True)
        return 0
    index = build_html(strict=args.strict, student=args.student)
    print(f"The book: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
