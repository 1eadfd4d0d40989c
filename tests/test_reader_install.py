"""A reader without a checkout: every notebook checks the package's version, and a chapter runs from the wheel.

The slow test builds the wheel the book ships, installs it into an empty folder, copies a chapter
notebook into another empty folder outside the repository and executes it there at smoke scale
(papermill, a fresh kernel that imports the installed copy): the chapter must run, write its
cache and claims to the user's folders, and write nothing inside the installed package.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import nbformat
import pytest

import mmc_utils
from booktools.wheel import build_wheel, wheel_name

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "book").glob("*.ipynb"))
READER_CHAPTER = "01_cue_datasets.ipynb"


def version_cell(path: Path) -> str:
    """The source of the notebook's version check: the first code cell after the parameters."""
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    assert "parameters" in cells[0].metadata.get("tags", []), f"{path.name}: the first code cell must be the parameters"
    return cells[1].source


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_expects_the_packages_version(notebook):
    match = re.search(r'^BOOK_VERSION = "([^"]+)"', version_cell(notebook), re.M)
    assert match, f"{notebook.name}: no BOOK_VERSION check after the parameters cell"
    assert match.group(1) == mmc_utils.__version__


@pytest.mark.parametrize("installed", ["missing", "0.0.1"])
def test_the_version_check_says_how_to_install(installed, monkeypatch):
    expected = mmc_utils.__version__
    if installed == "missing":
        monkeypatch.setitem(sys.modules, "mmc_utils", None)  # `import mmc_utils` raises ImportError
    else:
        monkeypatch.setattr(mmc_utils, "__version__", installed)
    with pytest.raises(ImportError) as err:
        exec(version_cell(REPO / "book" / READER_CHAPTER), {})
    message = str(err.value)
    assert wheel_name(expected) in message and "make lab" in message
    assert f"found: {None if installed == 'missing' else installed}" in message


def test_the_current_version_passes_the_check():
    exec(version_cell(REPO / "book" / READER_CHAPTER), {})


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


@pytest.mark.notebooks
def test_a_chapter_runs_outside_the_repository_from_the_wheel(tmp_path, monkeypatch):
    import papermill

    site = tmp_path / "site"
    wheel = build_wheel(tmp_path / "dist")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-compile",
                    "--target", str(site), str(wheel)], check=True)
    before = _snapshot(site)
    reader = tmp_path / "reader"
    reader.mkdir()
    shutil.copy2(REPO / "book" / READER_CHAPTER, reader / READER_CHAPTER)

    for name in ("MMC_CACHE_DIR", "MMC_CLAIMS_DIR", "MMC_DATA_DIR", "MMC_CODE_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MPLCONFIGDIR", matplotlib.get_configdir())  # keep matplotlib's own caches where they are
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    monkeypatch.setenv("MMC_SCALE", "smoke")
    monkeypatch.setenv("MMC_STRICT_CLAIMS", "0")
    monkeypatch.setenv("MMC_PROGRESS", "0")
    where = subprocess.run([sys.executable, "-c", "import mmc_utils; print(mmc_utils.__file__)"], cwd=reader,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site), f"the kernel would import {where}, not the installed wheel"

    papermill.execute_notebook(str(reader / READER_CHAPTER), str(reader / "executed.ipynb"), cwd=str(reader),
                               kernel_name="python3", progress_bar=False, execution_timeout=300)

    assert _snapshot(site) == before, "the chapter wrote inside the installed package"
    user = tmp_path / "user-cache" / "mmc-book"
    assert (user / "claims" / READER_CHAPTER.replace(".ipynb", ".json")).is_file()
    assert any((user / "checkpoints").glob("*.safetensors"))
    assert sorted(p.name for p in reader.iterdir()) == sorted([READER_CHAPTER, "executed.ipynb"])
