"""One version everywhere: the package, the wheel's metadata, CITATION.cff and the changelog."""
from pathlib import Path

import yaml

import mmc_utils
from booktools.book import staged_config
from booktools.wheel import wheel_name

REPO = Path(__file__).resolve().parent.parent


def test_citation_names_the_package_version_and_the_paper():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["version"] == mmc_utils.__version__
    assert set(cff["license"]) == {"MIT", "CC-BY-4.0"}
    assert any(ref["title"] == "Mechanistic Mode Connectivity" and ref["year"] == 2023 for ref in cff["references"])


def test_changelog_has_a_section_for_the_version():
    assert f"\n## {mmc_utils.__version__}\n" in (REPO / "CHANGELOG.md").read_text()


def test_license_covers_code_and_text():
    text = (REPO / "LICENSE").read_text()
    assert "MIT License" in text and "Attribution 4.0 International" in text


def test_the_pyproject_reads_the_version_from_the_package():
    text = (REPO / "pyproject.toml").read_text()
    assert 'version = {attr = "mmc_utils.__version__"}' in text and 'dynamic = ["version"]' in text


def test_the_built_book_shows_the_version_and_links_the_wheel():
    config = staged_config(wheel_name())
    assert mmc_utils.__version__ in config["html"]["extra_footer"]
    subs = config["parse"]["myst_substitutions"]
    assert subs["version"] == mmc_utils.__version__ and wheel_name() in subs["wheel_download"]
    assert "booktools.student" not in config["sphinx"].get("local_extensions", {})
    student = staged_config(wheel_name(), student=True)
    assert "booktools.student" in student["sphinx"]["local_extensions"] and "student" in student["title"]
