"""What helps a reader through a chapter: the opening box and its measured time, the shown code, the cue zoom."""
import json
from pathlib import Path

import matplotlib
import nbformat
import pytest
matplotlib.use("Agg")

from booktools.book import toc_notebooks  # noqa: E402
from mmc_utils import booktime, plots  # noqa: E402
from mmc_utils.codeview import CHECKS_NOTE, method_source  # noqa: E402
from mmc_utils.data import CueDataConfig, build_data  # noqa: E402
from mmc_utils.finetune import finetune  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = [REPO / nb for nb in toc_notebooks()]


@pytest.mark.parametrize("notebook", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_chapter_opens_with_its_box_and_a_measured_time(notebook):
    first = nbformat.read(notebook, as_version=4).cells[0].source
    assert first.startswith("# ")
    for part in ("This chapter at a glance", "**You need:**", "**You will learn:**", "{glue:md}`book_time`"):
        assert part in first, f"{notebook.name}: the opening box lacks {part!r}"
    assert booktime.chapter_time(notebook.stem) is not None, f"no measured time for {notebook.stem}"


def test_the_measurement_file_covers_the_book_and_reads_as_a_sentence():
    timings = booktime.load_timings()
    assert set(timings["seconds"]) == {p.stem for p in CHAPTERS}
    text = booktime.describe("01_cue_datasets", timings)
    assert text.startswith(f"{timings['seconds']['01_cue_datasets']} s (about ") and timings["measured"] in text
    assert booktime.describe("no_such_chapter", timings) is None


def test_timings_are_read_from_the_file(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"measured": "2030-01-01", "machine": "test CPU", "seconds": {"x": 61}}))
    timings = booktime.load_timings(path)
    assert booktime.describe("x", timings).startswith("61 s (about 1 min) on a test CPU (measured on 2030-01-01")
    assert booktime.load_timings(tmp_path / "missing.json") is None


def _check_nonnegative(v: int) -> int:
    if v < 0:
        raise ValueError("negative")
    return v


def _checked(x: int, y: int = 1) -> int:
    """Add two numbers.

    A longer explanation that the shown method leaves out.
    """
    if not isinstance(x, int):
        raise TypeError("x must be an int")
    assert y >= 0
    y = _check_nonnegative(y)  # kept: the work reads y
    unused = _check_nonnegative(x)  # noqa: F841 (left out: nothing reads it)
    total = x + y
    if total > 10:
        total = 10
    return total


def test_method_source_leaves_out_the_checks_and_keeps_the_work():
    shown = method_source(_checked)
    assert '"""Add two numbers."""' in shown and "longer explanation" not in shown
    assert "raise TypeError" not in shown and "assert y" not in shown and shown.count(CHECKS_NOTE) == 2
    assert "total = x + y" in shown and "if total > 10:" in shown and "return total" in shown
    assert "y = _check_nonnegative(y)" in shown and "unused" not in shown
    namespace = {"_check_nonnegative": _check_nonnegative}
    exec(shown, namespace)  # what the reader sees is still valid Python
    assert namespace["_checked"](3, 4) == 7


def test_finetune_shown_without_its_argument_checks():
    shown = method_source(finetune)
    assert "check_num_classes" not in shown and "_check_data" not in shown and "raise ValueError" not in shown
    assert "resolve_config(method, config)" in shown and "run_cbft(" in shown
    assert len(shown.splitlines()) < 35


@pytest.fixture(scope="module")
def data():
    return build_data(CueDataConfig(n_train=200, n_clean=20, n_test=40, seed=0))


def test_cue_zoom_outlines_every_box(data):
    c_set = data.eval_sets()["C"]
    fig = plots.cue_zoom(c_set, data.cue, n=5)
    with_box = sum(data.cue.box_slices(int(k)) is not None for k in c_set.cue_labels[:5])
    assert len(fig.axes) == 5 and sum(len(ax.patches) for ax in fig.axes) == with_box > 0
    with pytest.raises(TypeError):
        plots.cue_zoom(c_set, object())


def test_figure_html_carries_the_alt_text(data):
    fig = plots.cue_zoom(data.eval_sets()["C"], data.cue, n=2)
    html = plots.figure_html(fig, 'Two images, "zoomed" <in>').data
    assert html.startswith('<img alt="Two images, &quot;zoomed&quot; &lt;in&gt;" src="data:image/png;base64,')
    with pytest.raises(ValueError):
        plots.figure_html(fig, " ")
