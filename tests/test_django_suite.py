"""Django's own session test suite: fetched for the installed Django by its own step, found
(never downloaded) by the test settings."""

from __future__ import annotations

import inspect
from pathlib import Path

import django
import pytest
from django.conf import settings

from tests.django_suite import MISSING_REASON, find_sessions_tests


@pytest.fixture
def suite() -> Path:
    found = find_sessions_tests()
    if found is None:
        pytest.skip(MISSING_REASON)
    return found


def test_sessions_tests_is_cached_for_the_installed_django_version(suite: Path) -> None:
    assert suite.name == "sessions_tests"
    assert suite.parent.name == django.__version__
    assert (suite / "tests.py").is_file()
    assert (suite / "models.py").is_file()
    assert "sessions_tests" in settings.INSTALLED_APPS


def test_session_tests_mixin_is_djangos(suite: Path) -> None:
    from sessions_tests.tests import SessionTestsMixin

    source = Path(inspect.getfile(SessionTestsMixin)).resolve()
    assert source == (suite / "tests.py").resolve()
    tests = [name for name in dir(SessionTestsMixin) if name.startswith("test_")]
    assert {"test_cycle", "test_flush", "test_save", "test_delete"} <= set(tests)
    assert len(tests) > 50


def test_a_suite_not_fetched_is_not_found_and_nothing_is_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSIONKIT_DJANGO_SRC_CACHE", str(tmp_path))
    assert find_sessions_tests() is None
    assert list(tmp_path.iterdir()) == []
