"""Open every page of the built book in headless Chromium and check what a reader sees.

For each HTML page under ``HTML_DIR`` (served from 127.0.0.1 by a server in a thread) it
checks that the page loads with HTTP 200, that every ``<img>`` loaded and has pixels
(``naturalWidth > 0``, ``data:`` URIs included) and a meaningful alt text (not empty, not
the image's own path, which Sphinx uses when a figure has none), that every relative
``href``/``src`` of the page's HTML points to an existing file (and a ``#fragment`` of an
``.html`` target to an existing id), that embedded ipywidgets were rendered, that a page
with math (``class="math"``) shows at least one formula typeset by MathJax, and that the
browser console shows no error and no local request failed. The book must work offline:
a request to any other host is blocked, and is a failure. A full-page PNG of each page is kept.

Driver: Playwright for Python with Debian's ``/usr/bin/chromium`` (never a downloaded
browser). Command line::

    python -m booktools.browser_check [HTML_DIR] [--screenshots DIR]

It prints one line per page and a summary, and exits 1 if any page fails (or the run hangs
past ``--timeout``), 2 if there is no site to check.
"""
from __future__ import annotations

import argparse
import faulthandler
import functools
import http.server
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from urllib.parse import unquote, urljoin, urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

from . import REPO_ROOT
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
_SKIP_DIRS = {"_static", "_sources", "_images", "_downloads"}
# Console errors known to be harmless, with their cause: counted and named, never failed.
KNOWN_HARMLESS = {
    "Identifier 'THEBE_JS_URL' has already been declared":
        "Sphinx 7.4 writes sphinx-thebe's inline config script twice (an inline script added after "
        "Builder.init() is re-added by prepare_writing); the first copy defines the same constants",
    "Got invalid theme mode: . Resetting to auto.":
        "pydata-sphinx-theme 0.17 on a reader's first visit (no colour mode in localStorage yet)",
}
_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# Waits for every image (lazy ones made eager) and reports what the browser decoded.
_IMAGES_JS = """async () => {
  const imgs = [...document.images];
  imgs.forEach(i => { if (i.loading === 'lazy') i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.addEventListener('load', r); i.addEventListener('error', r); setTimeout(r, 10000); })));
  return imgs.map(i => ({src: i.currentSrc || i.src, attr: i.getAttribute('src') || '',
                         alt: i.getAttribute('alt'), complete: i.complete, width: i.naturalWidth}));
}"""
# Waits for MathJax 3 to finish its first typesetting pass (if it loaded) and counts the typeset formulas.
_MATH_JS = """async () => {
  const m = window.MathJax;
  if (m && m.startup && m.startup.promise) {
    await Promise.race([m.startup.promise.catch(() => null), new Promise(r => setTimeout(r, 15000))]);
  }
  return document.querySelectorAll('mjx-container').length;
}"""
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")


@dataclass
class PageResult:
    """What the check found on one page (``page`` is relative to the HTML directory)."""

    page: str
    problems: list[str] = field(default_factory=list)
    images: int = 0
    formulas: int = 0
    external_blocked: int = 0
    harmless: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def ok(self) -> bool:
        """True when the page has no problem."""
        return not self.problems


class _Refs(HTMLParser):
    """Collects every ``href``/``src`` (and refresh) URL, every ``id``, the widget views and the math elements."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()
        self.widget_views = 0
        self.math = 0
        self.redirect = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.refs += [a[k] for k in ("href", "src") if a.get(k)]
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "script" and a.get("type") == _WIDGET_VIEW:
            self.widget_views += 1
        if "math" in (a.get("class") or "").split():
            self.math += 1
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh" and "url=" in (a.get("content") or ""):
            self.redirect = True  # e.g. the index.html that points at the root page
            self.refs.append(a["content"].split("url=", 1)[1].strip())


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Refs:
    parser = _Refs()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def html_pages(html_dir: Path) -> list[Path]:
    """Every ``.html`` page of a Sphinx build, relative to ``html_dir``, sorted.

    Sphinx's asset folders (``_static``, ``_sources``, ``_images``, ``_downloads``) are left out.
    """
    return sorted(p.relative_to(html_dir) for p in html_dir.rglob("*.html")
                  if not _SKIP_DIRS & set(p.relative_to(html_dir).parts[:-1]))


def broken_links(html_dir: Path, page: Path) -> list[str]:
    """The relative ``href``/``src`` values of ``page`` that do not resolve in ``html_dir``.

    A link resolves when its path (query dropped, ``dir/`` read as ``dir/index.html``) is an
    existing file under ``html_dir``; a ``#fragment`` pointing into an ``.html`` file must
    also name an ``id`` (or ``name``) in that file. Absolute URLs (``http:``, ``data:``,
    ``mailto:``, ``//host``, ...) are not checked.
    """
    root = html_dir.resolve()
    base = "http://local/" + page.as_posix()
    bad = []
    for ref in dict.fromkeys(_parse(root / page).refs):
        parts = urlsplit(ref)
        if parts.scheme or parts.netloc:
            continue
        url = urlsplit(urljoin(base, ref))
        target = root / unquote(url.path).lstrip("/")
        if url.path.endswith("/"):
            target = target / "index.html"
        if not target.resolve().is_relative_to(root) or not target.is_file():
            bad.append(f"broken link {ref}")
        elif url.fragment and target.suffix == ".html" and unquote(url.fragment) not in _parse(target).ids:
            bad.append(f"broken anchor {ref}")
    return bad


def meaningful_alt(alt: str | None, src: str) -> bool:
    """True when ``alt`` describes an image: not missing or blank, and not a file name or path.

    Sphinx and myst-nb write the image's own URI as its alt text when a figure has none
    (``alt="../_images/abc.png"``); a screen reader would read that out.
    """
    text = (alt or "").strip()
    if not text:
        return False
    name = unquote(urlsplit(src).path).rsplit("/", 1)[-1]
    path_like = "/" in text and " " not in text
    return not (path_like or text.lower().endswith(_IMAGE_SUFFIXES) or (name and name in text) or text == src)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib's name)
        pass


@contextmanager
def serve(html_dir: Path) -> Iterator[str]:
    """Serve ``html_dir`` on 127.0.0.1 (a free port) in a thread; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _is_local(url: str) -> bool:
    host = urlsplit(url).hostname
    return not url or url.startswith(("data:", "blob:", "about:")) or host in ("127.0.0.1", "localhost")


def _short(url: str) -> str:
    """A local URL without its scheme and host (the port changes every run)."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "") if _is_local(url) and parts.netloc else url


def check_page(context: BrowserContext, base_url: str, html_dir: Path, page: Path,
               screenshots: Path | None) -> PageResult:
    """Open one page (served at ``base_url``) in a new tab of ``context`` and check it."""
    result = PageResult(page.as_posix())
    problems = result.problems
    tab = context.new_page()

    def error(kind: str, text: str) -> None:
        known = [reason for message, reason in KNOWN_HARMLESS.items() if message in text]
        result.harmless += known
        if not known:
            problems.append(f"{kind}: {text[:300]}")

    def on_console(msg) -> None:
        where = (msg.location or {}).get("url", "")
        if msg.type != "error" or msg.text.startswith("Failed to load resource") or \
                (not _is_local(where) and "net::ERR_" in msg.text):
            return  # requests are reported by on_failed / on_response (local) or counted (external)
        error("console error", msg.text)

    def on_failed(request) -> None:
        if _is_local(request.url):
            problems.append(f"request failed: {_short(request.url)} ({request.failure})")
        else:
            result.external_blocked += 1
            problems.append(f"external request (the book must work offline): {request.url[:160]}")

    def on_response(response) -> None:
        if _is_local(response.url) and response.status >= 400:
            problems.append(f"HTTP {response.status} for {_short(response.url)}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda err: error("page error", str(err)))
    tab.on("requestfailed", on_failed)
    tab.on("response", on_response)
    problems += broken_links(html_dir, page)
    parsed = _parse(html_dir.resolve() / page)
    url = base_url + page.as_posix()
    try:
        response = tab.goto(url, wait_until="load", timeout=60_000)
        if response is None or response.status != 200:
            problems.append(f"HTTP {response.status if response else 'no response'} for the page")
        try:
            if parsed.redirect:  # let it land (closing a tab mid-navigation can hang)
                tab.wait_for_url(lambda now: now != url, timeout=15_000)
            tab.wait_for_load_state("networkidle", timeout=15_000)
        except Exception:  # noqa: BLE001 (a page that keeps polling is still checked)
            pass
        if parsed.redirect:  # its target is a page of its own; the link check covers the URL
            return result
        for img in tab.evaluate(_IMAGES_JS):
            result.images += 1
            where = img["attr"][:120] or img["src"][:120]
            if not img["complete"] or img["width"] == 0:
                problems.append(f"image not loaded or empty: {where}")
            if not meaningful_alt(img["alt"], img["attr"] or img["src"]):
                problems.append(f"image without a meaningful alt text: {where} (alt={img['alt']!r:.60})")
        if parsed.math:
            result.formulas = tab.evaluate(_MATH_JS)
            if result.formulas == 0:
                problems.append(f"math not typeset: {parsed.math} formula(s) in the page, none rendered by MathJax")
        views = parsed.widget_views
        if views:
            rendered = tab.evaluate("document.querySelectorAll('.jupyter-widgets').length")
            if rendered == 0:
                problems.append(f"{views} embedded widget(s) not rendered")
        if screenshots is not None:
            shot = screenshots / page.with_suffix(".png")
            shot.parent.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(shot), full_page=True)
            result.screenshot = shot
    except Exception as err:  # noqa: BLE001 (a page that breaks the browser is a failing page)
        problems.append(f"browser: {type(err).__name__}: {str(err).splitlines()[0][:300]}")
    finally:
        result.problems = list(problems)  # what the tab reports while closing is not the page's
        tab.close()
    return result


def check_site(html_dir: Path, screenshots: Path | None = None, *, chromium: Path = CHROMIUM,
               echo: bool = True) -> list[PageResult]:
    """Check every page of ``html_dir`` in headless Chromium; return one result per page.

    Args:
        html_dir: the built site (e.g. ``_build/html``).
        screenshots: where full-page PNGs go (mirroring the pages' paths); None: none.
        chromium: the browser executable (Debian's package by default).
        echo: print one line per page as it is checked.

    Raises:
        FileNotFoundError: no such directory, no page in it, or no Chromium executable.
    """
    from playwright.sync_api import sync_playwright

    html_dir = Path(html_dir)
    pages = html_pages(html_dir) if html_dir.is_dir() else []
    if not pages:
        raise FileNotFoundError(f"no HTML page under {html_dir}; build the book first")
    if not chromium.exists():
        raise FileNotFoundError(f"{chromium} is missing; `make browser` installs Debian's chromium")
    _parse.cache_clear()
    results = []
    with serve(html_dir) as base_url, sync_playwright() as pw, \
            tempfile.TemporaryDirectory(prefix="mmc-chromium-") as profile:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900})
        # Nothing leaves the machine, whether or not it has a network: other hosts are refused.
        context.route(lambda url: not _is_local(url), lambda route: route.abort("blockedbyclient"))
        try:
            for page in pages:
                result = check_page(context, base_url, html_dir, page, screenshots)
                results.append(result)
                if echo:
                    print(format_result(result), flush=True)
        finally:
            context.close()
    return results


def format_result(result: PageResult) -> str:
    """One line for a page: ``ok`` or ``FAIL``, the page, and what was found."""
    info = f"{result.images} images, {result.formulas} formulas, {result.external_blocked} external requests blocked"
    if result.harmless:
        info += f", {len(result.harmless)} known harmless errors"
    if result.ok:
        return f"ok    {result.page}  ({info})"
    return f"FAIL  {result.page}  ({info}): " + "; ".join(result.problems)


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (0 all pages pass, 1 a page fails, 2 no site)."""
    parser = argparse.ArgumentParser(prog="python -m booktools.browser_check", description=__doc__.split("\n")[0])
    parser.add_argument("html_dir", nargs="?", type=Path, default=REPO_ROOT / "_build" / "html")
    parser.add_argument("--screenshots", type=Path, default=REPO_ROOT / "_build" / "screenshots",
                        help="where the full-page PNGs go (default: _build/screenshots)")
    parser.add_argument("--timeout", type=float, default=1200,
                        help="seconds after which a hung run dumps its stacks and exits 1 (default 1200)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    faulthandler.dump_traceback_later(args.timeout, exit=True, file=sys.__stderr__)
    try:
        results = check_site(args.html_dir, args.screenshots)
    except FileNotFoundError as err:
        print(f"browser check: {err}", file=sys.stderr)
        return 2
    finally:
        faulthandler.cancel_dump_traceback_later()
    failed = [r for r in results if not r.ok]
    print(f"browser check: {len(results)} pages, {len(results) - len(failed)} ok, {len(failed)} failed "
          f"in {time.perf_counter() - start:.0f} s; screenshots in {args.screenshots}")
    for reason in sorted({reason for r in results for reason in r.harmless}):
        print(f"  ignored as known harmless: {reason}")
    for r in failed:
        print(f"  failed: {r.page}: " + "; ".join(r.problems))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
