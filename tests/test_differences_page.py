"""The page "How this book differs from the paper": reachable from every chapter, and true to the code."""
import re
from pathlib import Path

import nbformat
import pytest

from booktools.book import toc_notebooks
from mmc_utils import zoo
from mmc_utils.data import CueDataConfig
from mmc_utils.finetune import FinetuneConfig
from mmc_utils.interventions import LOSS_TOL
from mmc_utils.paths import PathConfig
from mmc_utils.train import TrainConfig

REPO = Path(__file__).resolve().parent.parent
PAGE = (REPO / "book" / "differences.md").read_text(encoding="utf-8")
CHAPTERS = [REPO / nb for nb in toc_notebooks()]


def test_the_page_is_in_the_book_and_linked_from_the_intro_and_every_running_box():
    assert "file: book/differences" in (REPO / "_toc.yml").read_text(encoding="utf-8")
    assert "{doc}`differences`" in (REPO / "book" / "intro.md").read_text(encoding="utf-8")
    for nb in CHAPTERS:
        first = nbformat.read(nb, as_version=4).cells[0].source
        box = first[first.index("```{admonition} Running this notebook"):]
        box = box[:box.index("```", 10)]
        assert "{doc}`differences`" in box, f"{nb.name}: the running box does not link the differences page"


def _row(what: str) -> str:
    """The table row of the page whose first cell is ``what`` (or ``what`` followed by a qualifier)."""
    rows = [line for line in PAGE.splitlines() if line.startswith("|")
            and re.fullmatch(re.escape(what) + r"( \*\(.*\)\*| / .*)?", line.split("|")[1].strip())]
    assert len(rows) == 1, f"expected one row for {what!r}, found {len(rows)}"
    return rows[0]


def _n(x: float) -> str:
    """A number as the page writes it: 0.05, 30, 1e-3, 5e-4."""
    return f"{x:g}" if x == 0 or x >= 0.05 else f"{x:.0e}".replace("e-0", "e-")


def _has(row: str, *parts: str) -> None:
    for part in parts:
        assert part in row, f"{part!r} not in the row {row[:80]!r}..."


def test_the_stated_presets_are_the_code_presets():
    book, paper = CueDataConfig.for_scale("book", seed=0), CueDataConfig.for_scale("paper", seed=0)
    _has(_row("Sizes"), f"{book.n_train:,} / {book.n_clean:,} / {book.n_test:,}",
         f"{paper.n_train:,} cue-training / {paper.n_clean:,} clean / {paper.n_test:,} test")
    _has(_row("Cue proportion of θ_C"), f"{_n(book.p)} for chapters 1–4", f"`paper` scale: {_n(paper.p)}")
    _has(_row("Cue (box)"), f"{book.cue_kwargs['box_size']}-pixel box at {book.image_size} px")
    _has(_row("Distractor squares"), "three flat squares")
    assert book.base_kwargs["clutter"] == 3
    pre = TrainConfig.for_scale("book")
    _has(_row("Pre-training"), f"lr {_n(pre.lr)} cosine, {pre.epochs} epochs, batch {pre.batch_size}, wd {_n(pre.weight_decay)}")
    ft = FinetuneConfig.for_scale("book", "ft_small")
    _has(_row("FT small"), f"{ft.epochs} epochs, batch {ft.batch_size}")
    llr, pllr = FinetuneConfig.for_scale("book", "llr"), FinetuneConfig.for_scale("paper", "llr")
    _has(_row("LLR"), f"lr {_n(llr.llr_lr)}, wd {_n(llr.llr_weight_decay)}, {llr.llr_epochs} epochs",
         f"lr {_n(pllr.llr_lr)}, no weight decay, {pllr.llr_epochs} epochs")
    assert pllr.llr_weight_decay == 0
    _has(_row("LP-FT"), f"naive FT at lr {_n(FinetuneConfig.for_scale('paper', 'lpft').lr)}",
         f"FT at lr {_n(FinetuneConfig.for_scale('book', 'lpft').lr)}")
    cb = FinetuneConfig.for_scale("book", "cbft")
    _has(_row("CBFT"), f"invariance weight **{_n(cb.invariance_weight)}**", f"{cb.epochs} epochs, lr {_n(cb.lr)}")
    sc = zoo.scratch_config("book")
    _has(_row("From-scratch baseline"), f"batch {sc.batch_size}, lr {_n(sc.lr)} cosine, {sc.epochs} epochs")
    mp, pmp = PathConfig.for_scale("book"), PathConfig.for_scale("paper")
    _has(_row("Quadratic midpoint"), f"lr {_n(mp.midpoint_lr)} cosine, {mp.midpoint_epochs} epochs",
         f"lr {_n(pmp.midpoint_lr)} ×{_n(pmp.midpoint_gamma)} after {pmp.midpoint_step_size} epochs, {pmp.midpoint_epochs} epochs")
    _has(_row("BatchNorm along a path"), f"{mp.bn_batches} of {mp.bn_batch_size}")
    _has(_row("Path evaluation"), f"{mp.num_points} points on a fixed random subset of {mp.eval_images} images")
    _has(_row("Invariance (Definition 3)"), f"within {LOSS_TOL:g} nats")


@pytest.mark.parametrize("name", ["zoo.model_seed", "zoo.scratch_config", "interventions.LOSS_TOL", "_LPFT_FT_LR",
                                  "_CBFT"])
def test_the_places_named_in_the_code_exist(name):
    import mmc_utils.finetune.config as fcfg
    from mmc_utils import interventions

    assert f"`{name}`" in PAGE
    owner, _, attr = name.rpartition(".")
    module = {"zoo": zoo, "interventions": interventions, "": fcfg}[owner]
    assert hasattr(module, attr)
