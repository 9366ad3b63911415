"""Django's own session test suite is fetched for the installed Django and importable."""

from __future__ import annotations

import inspect
from pathlib import Path

import django

from tests.django_suite import ensure_sessions_tests


def test_sessions_tests_is_cached_for_the_installed_django_version() -> None:
    suite = ensure_sessions_tests()
    assert suite.name == "sessions_tests"
    assert suite.parent.name == django.__version__
    assert (suite / "tests.py").is_file()
    assert (suite / "models.py").is_file()


def test_session_tests_mixin_is_djangos() -> None:
    from sessions_tests.tests import SessionTestsMixin

    source = Path(inspect.getfile(SessionTestsMixin)).resolve()
    assert source == (ensure_sessions_tests() / "tests.py").resolve()
    tests = [name for name in dir(SessionTestsMixin) if name.startswith("test_")]
    assert {"test_cycle", "test_flush", "test_save", "test_delete"} <= set(tests)
    assert len(tests) > 50
