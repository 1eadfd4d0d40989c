"""Every chapter of _toc.yml, executed through papermill with its claims enforced.

The executed copies go to ``_build/executed/`` and are what the HTML build renders, so
the book a reader sees is the book that was tested. A failing cell fails the test with
the notebook's own error.
"""
import os

import pytest

from booktools import book as booktools

NOTEBOOKS = booktools.toc_notebooks()


def test_toc_lists_the_five_chapters():
    stems = [nb.stem for nb in NOTEBOOKS]
    assert stems == ["01_cue_datasets", "02_mode_connectivity", "03_mechanistic_similarity",
                     "04_naive_finetuning", "05_cbft"]


def test_template_runs_at_smoke_scale(tmp_path, monkeypatch):
    monkeypatch.setenv("MMC_SCALE", "smoke")
    monkeypatch.setenv("MMC_CLAIMS_DIR", str(tmp_path))
    monkeypatch.setenv("MMC_STRICT_CLAIMS", "1")
    out = booktools.execute_notebook("book/_template.ipynb", stage=tmp_path)
    assert out.exists() and (tmp_path / "_template.json").exists()


@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_chapter_executes_with_claims(notebook):
    assert os.environ.get("MMC_STRICT_CLAIMS") == "1", "run through `make test` (claims must be enforced)"
    booktools.execute_notebook(notebook)


@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_chapter_runs_at_smoke_scale(notebook, tmp_path, monkeypatch):
    """Every chapter also runs at smoke scale (a reader's quick check; claims may not hold there)."""
    monkeypatch.setenv("MMC_SCALE", "smoke")
    monkeypatch.setenv("MMC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MMC_CLAIMS_DIR", str(tmp_path / "claims"))
    monkeypatch.setenv("MMC_STRICT_CLAIMS", "0")
    out = booktools.execute_notebook(notebook, stage=tmp_path / "stage")
    assert out.exists()


def test_a_timed_out_cell_is_retried_once(tmp_path, monkeypatch):
    """A cell that hangs (the client waits forever) costs one timeout, then a fresh run."""
    import papermill
    from nbclient.exceptions import CellTimeoutError

    calls = []

    def fake(src, dst, **kw):
        calls.append(kw["execution_timeout"])
        if len(calls) == 1:
            raise CellTimeoutError("Cell execution timed out")

    monkeypatch.setattr(papermill, "execute_notebook", fake)
    monkeypatch.setenv("MMC_CELL_TIMEOUT", "7")
    booktools.execute_notebook("book/_template.ipynb", stage=tmp_path)
    assert calls == [7, 7]

    def always(src, dst, **kw):
        raise CellTimeoutError("Cell execution timed out")

    monkeypatch.setattr(papermill, "execute_notebook", always)
    with pytest.raises(CellTimeoutError):
        booktools.execute_notebook("book/_template.ipynb", stage=tmp_path)
