"""The headless-Chromium check of the built book, on a tiny fake site with one bad page."""
import base64
from pathlib import Path

import pytest

from booktools import browser_check

needs_chromium = pytest.mark.skipif(not browser_check.CHROMIUM.exists(),
                                    reason="no /usr/bin/chromium (`make browser` installs it)")

# A 2x1 red PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAAEElEQVR4nGP4z8DAwMDAAAAE/wH/tGMhvQAAAABJRU5ErkJggg==")

GOOD = f"""<!DOCTYPE html><html><head><title>good</title></head><body>
<h1 id="top">Good</h1>
<img src="_images/fig.png" alt="A red bar, two pixels wide">
<img src="data:image/png;base64,{base64.b64encode(PNG).decode()}" alt="The same red bar, inline">
<a href="#top">here</a> <a href="sub/">sub</a> <a href="sub/page.html#sec">section</a>
<a href="https://example.invalid/page">an external link (a link, not a request)</a>
<p>A formula: <span class="math notranslate nohighlight">\\(k\\)</span></p>
<script>document.body.appendChild(document.createElement("mjx-container"));</script>
</body></html>"""

BAD = """<!DOCTYPE html><html><head><title>bad</title></head><body>
<img src="_images/missing.png" alt="A missing image">
<a href="nowhere.html">broken</a> <a href="good.html#no-such-id">bad anchor</a>
<script>console.error("boom from the page");</script>
</body></html>"""

# Loads, links and logs fine, but is not readable offline or without sight.
OFFLINE = """<!DOCTYPE html><html><head><title>offline</title></head><body>
<img src="_images/fig.png" alt="_images/fig.png"> <img src="_images/fig.png">
<p>A formula MathJax never sees: <span class="math notranslate nohighlight">\\(k\\)</span></p>
<script src="https://cdn.example.invalid/mathjax.js"></script>
</body></html>"""

SUB = '<!DOCTYPE html><html><body><h2 id="sec">Section</h2><a href="../good.html">back</a></body></html>'


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "html"
    (root / "_images").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "_images" / "fig.png").write_bytes(PNG)
    (root / "good.html").write_text(GOOD)
    (root / "bad.html").write_text(BAD)
    (root / "offline.html").write_text(OFFLINE)
    (root / "sub" / "index.html").write_text(SUB)
    (root / "sub" / "page.html").write_text(SUB)
    (root / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=good.html" />')
    (root / "moved.html").write_text('<meta http-equiv="Refresh" content="0; url=gone.html" />')
    (root / "_static").mkdir()
    (root / "_static" / "ignored.html").write_text("<a href='nowhere'>not a page</a>")
    return root


def test_pages_leave_out_asset_folders(site):
    assert browser_check.html_pages(site) == [Path(p) for p in ("bad.html", "good.html", "index.html", "moved.html",
                                                                "offline.html", "sub/index.html", "sub/page.html")]


def test_broken_links_without_a_browser(site):
    assert browser_check.broken_links(site, Path("good.html")) == []
    assert browser_check.broken_links(site, Path("sub/page.html")) == []
    assert browser_check.broken_links(site, Path("index.html")) == []
    assert browser_check.broken_links(site, Path("moved.html")) == ["broken link gone.html"]
    assert browser_check.broken_links(site, Path("bad.html")) == [
        "broken link _images/missing.png", "broken link nowhere.html", "broken anchor good.html#no-such-id"]


@needs_chromium
def test_checker_reports_exactly_the_bad_page(site, tmp_path, capsys):
    (site / "moved.html").unlink()  # a broken redirect is covered by the link test above
    shots = tmp_path / "shots"
    code = browser_check.main([str(site), "--screenshots", str(shots)])
    out = capsys.readouterr().out
    assert code == 1
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith(("ok ", "FAIL "))}
    assert set(lines) == {"bad.html", "good.html", "index.html", "offline.html", "sub/index.html", "sub/page.html"}
    assert sorted(page for page, line in lines.items() if line.startswith("FAIL")) == ["bad.html", "offline.html"]
    bad = lines["bad.html"]
    for reason in ("image not loaded or empty: _images/missing.png", "HTTP 404", "broken link nowhere.html",
                   "broken anchor good.html#no-such-id", "console error: boom from the page"):
        assert reason in bad
    offline = lines["offline.html"]
    for reason in ("external request (the book must work offline): https://cdn.example.invalid/mathjax.js",
                   "math not typeset: 1 formula(s)", "image without a meaningful alt text: _images/fig.png (alt='_images",
                   "image without a meaningful alt text: _images/fig.png (alt=None)"):
        assert reason in offline
    assert "(2 images, 1 formulas, 0 external requests blocked)" in lines["good.html"]
    assert "6 pages, 4 ok, 2 failed" in out and "failed: bad.html" in out
    for page in ("good", "bad", "sub/index", "sub/page"):
        assert (shots / f"{page}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_site_exits_2(tmp_path, capsys):
    assert browser_check.main([str(tmp_path / "nowhere")]) == 2
    assert "no HTML page" in capsys.readouterr().err


@pytest.mark.parametrize("alt, ok", [("Accuracy on the four sets, one bar per model", True), ("", False), (None, False),
                                     ("   ", False), ("../_images/abc.png", False), ("abc.png", False),
                                     ("figure.svg", False)])
def test_meaningful_alt(alt, ok):
    assert browser_check.meaningful_alt(alt, "../_images/abc.png") is ok
