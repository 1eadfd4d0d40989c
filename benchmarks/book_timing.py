"""How long `make book` takes from an empty checkpoint cache, chapter by chapter, and its peak memory.

Issue #9's CPU targets: every chapter <= 3 minutes, the whole book (all chapters executed at
``book`` scale + the HTML build, environment installed, empty cache) <= 10 minutes, peak
resident memory <= 4 GiB. Run on a quiet machine (other processes distort wall times)::

    .venv/bin/python benchmarks/book_timing.py            # ~10 min on a 2-core CPU

Memory is the largest sum of resident set sizes over this process and all its descendants
(the papermill kernels), sampled every 0.2 s. The cache goes to a temporary directory, so the
user's ``_cache/`` is neither used nor touched; the HTML goes to ``_build/html`` as with
``make book``. The measurement is written to ``benchmarks/results/book_timing.json`` (per-chapter
seconds, machine, date), from which every chapter's opening box takes its time
(:mod:`mmc_utils.booktime`); commit it after a run. Exit status 1 if a target is missed.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # the book's tools (booktools/) live in the checkout, not in the wheel
RESULT = REPO_ROOT / "benchmarks" / "results" / "book_timing.json"

CHAPTER_LIMIT_S, BOOK_LIMIT_S, MEMORY_LIMIT = 180.0, 600.0, 4 * 2**30


class PeakRSS(threading.Thread):
    """Samples the resident memory (bytes) of this process tree until stopped; ``peak`` holds the maximum."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval, self.peak, self._stop_event = interval, 0, threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self._stop_event.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


def write_result(times: dict[str, float], path: Path = RESULT) -> None:
    """Write the measurement that the chapters' opening boxes show (see :mod:`mmc_utils.booktime`)."""
    result = {"measured": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()}-core {platform.machine()} CPU",
              "scale": "book", "seed": 0, "cache": "empty",
              "seconds": {k: round(v) for k, v in times.items() if k != "HTML build"},
              "html_build_seconds": round(times.get("HTML build", 0))}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mmc_book_timing_") as tmp:
        os.environ["MMC_CACHE_DIR"] = str(Path(tmp) / "cache")
        os.environ["MMC_CLAIMS_DIR"] = str(Path(tmp) / "claims")
        os.environ["MMC_STRICT_CLAIMS"] = "1"
        os.environ.pop("MMC_CODE_VERSION", None)
        os.environ.pop("MMC_SCALE", None)
        from booktools import book as booktools  # after the environment is set

        import torch

        print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch "
              f"{torch.__version__}, {torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d %H:%M')}")
        meter = PeakRSS()
        meter.start()
        times: dict[str, float] = {}
        start_all = time.perf_counter()
        for nb in booktools.toc_notebooks():
            start = time.perf_counter()
            booktools.execute_notebook(nb)
            times[nb.stem] = time.perf_counter() - start
            print(f"  {nb.stem:28s} {times[nb.stem]:6.0f} s", flush=True)
        start = time.perf_counter()
        booktools.build_html(strict=True)
        times["HTML build"] = time.perf_counter() - start
        total = time.perf_counter() - start_all
        peak = meter.stop()
    write_result(times)

    ok = True
    print("\n| step | seconds | target |\n|---|---|---|")
    for name, sec in times.items():
        hit = name == "HTML build" or sec <= CHAPTER_LIMIT_S
        ok &= hit
        print(f"| {name} | {sec:.0f} | {'' if name == 'HTML build' else ('≤ 180 ✓' if hit else '≤ 180 ✗')} |")
    print(f"| whole book | {total:.0f} ({total / 60:.1f} min) | ≤ 600 {'✓' if total <= BOOK_LIMIT_S else '✗'} |")
    print(f"peak resident memory of the process tree: {peak / 2**30:.2f} GiB (target ≤ 4 GiB "
          f"{'✓' if peak <= MEMORY_LIMIT else '✗'})")
    ok &= total <= BOOK_LIMIT_S and peak <= MEMORY_LIMIT
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
