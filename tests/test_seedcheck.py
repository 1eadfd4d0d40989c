"""`make claims`: the per-seed claim table (booktools.seedcheck)."""
import os

from booktools import seedcheck


def _rec(cid, holds, **values):
    return {"id": cid, "statement": cid, "holds": holds, "values": values}


def test_table_marks_a_claim_that_fails_for_one_seed():
    results = {
        0: {"claims": {"nb": [_rec("a", True, x=1.23456), _rec("b", True, y=2)]}, "errors": {}, "seconds": {"nb": 60}},
        1: {"claims": {"nb": [_rec("a", True, x=1.0), _rec("b", False, y=-1)]}, "errors": {}, "seconds": {"nb": 30}},
    }
    rows, ok = seedcheck.table(results)
    assert not ok
    assert rows[0] == "| notebook | claim | seed 0 | seed 1 |"
    assert rows[2] == "| nb | a | holds (x=1.23) | holds (x=1) |"
    assert rows[3] == "| nb | b | holds (y=2) | **FAILS** (y=-1) |"
    text, ok2 = seedcheck.report(results)
    assert not ok2 and "**1 of 2 claims hold for every seed.**" in text


def test_missing_claim_and_notebook_error_fail_the_table():
    results = {
        0: {"claims": {"nb": [_rec("a", True)]}, "errors": {}, "seconds": {}},
        1: {"claims": {"nb": []}, "errors": {"nb": "ValueError: boom"}, "seconds": {}},
    }
    rows, ok = seedcheck.table(results)
    assert not ok
    assert "missing" in rows[2] and any("ValueError: boom" in r for r in rows)


def test_run_seed_executes_and_collects_claims(tmp_path, monkeypatch):
    monkeypatch.setenv("MMC_STRICT_CLAIMS", "1")  # run_seed records instead of enforcing, then restores it
    out = seedcheck.run_seed(3, ["book/_template.ipynb"], root=tmp_path, scale="smoke")
    assert out["errors"] == {}
    (rec,) = out["claims"]["_template"]
    assert rec["id"] == "chance_is_ten_percent" and rec["holds"]
    assert (tmp_path / "seed3" / "book" / "_template.ipynb").exists()
    assert os.environ["MMC_STRICT_CLAIMS"] == "1"


def test_seeds_in_parallel_jobs(tmp_path):
    out = seedcheck.run_seeds([4, 5], ["book/_template.ipynb"], jobs=2, root=tmp_path)
    assert set(out) == {4, 5} and all(out[s]["errors"] == {} and len(out[s]["claims"]["_template"]) == 1 for s in out)
    assert (tmp_path / "seed5" / "claims" / "_template.json").exists()
