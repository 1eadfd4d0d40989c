"""The tools that build and check the book, for the people who work on it (not part of the wheel).

A reader installs only ``mmc_utils``; these modules need a checkout of the repository (they
execute its notebooks and read its ``_toc.yml``) and the ``book`` extra of ``pyproject.toml``
(Jupyter Book, papermill, Playwright), which ``requirements.txt`` pins for ``make``:

- ``book``: execute every chapter once into ``_build/executed`` and build the HTML
  (``python -m booktools.book execute|build``)
- ``seedcheck``: every claim for several seeds (``make claims``)
- ``browser_check``: every page of the built book in headless Chromium (``make browser``)
"""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
