"""Where the package writes: in the checkout, in the user's folders when installed elsewhere, or where env says."""
from pathlib import Path

import pytest

from mmc_utils import locations
from mmc_utils.claims import Claims
from mmc_utils.data import default_data_dir
from mmc_utils.store import Store

REPO = Path(__file__).resolve().parent.parent
VARIABLES = ("MMC_CACHE_DIR", "MMC_CLAIMS_DIR", "MMC_DATA_DIR")


@pytest.fixture
def no_overrides(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_in_the_checkout_everything_stays_in_the_checkout(no_overrides):
    assert locations.checkout_root() == REPO
    assert locations.cache_dir() == REPO / "_cache"
    assert locations.claims_dir() == REPO / "_build" / "claims"
    assert locations.data_dir() == REPO / "data"
    assert Store().root == REPO / "_cache" and default_data_dir() == REPO / "data"


def test_installed_elsewhere_it_uses_the_user_folders(no_overrides, tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    monkeypatch.setattr(locations, "PACKAGE_DIR", site / "mmc_utils")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    assert locations.checkout_root() is None
    assert locations.cache_dir() == tmp_path / "xdg-cache" / "mmc-book" / "checkpoints"
    assert locations.claims_dir() == tmp_path / "xdg-cache" / "mmc-book" / "claims"
    assert locations.data_dir() == tmp_path / "xdg-data" / "mmc-book" / "data"
    claims = Claims("some_chapter", "smoke", 0)
    claims.check("c1", "one is one", True, one=1)
    assert (tmp_path / "xdg-cache" / "mmc-book" / "claims" / "some_chapter.json").is_file()
    assert not site.exists()


def test_environment_variables_win(tmp_path, monkeypatch):
    monkeypatch.setattr(locations, "PACKAGE_DIR", tmp_path / "site-packages" / "mmc_utils")
    for name in VARIABLES:
        monkeypatch.setenv(name, str(tmp_path / name))
    assert locations.cache_dir() == tmp_path / "MMC_CACHE_DIR"
    assert locations.claims_dir() == tmp_path / "MMC_CLAIMS_DIR"
    assert locations.data_dir() == tmp_path / "MMC_DATA_DIR"
