"""pytest plugin: pytest-django's stock fixtures on sessionkit, with no change to a project.

Registered by the ``pytest11`` entry point ``sessionkit`` (``-p no:sessionkit`` turns it
off). When pytest-django is active:

- ``client``, ``async_client`` and ``admin_client`` are :class:`sessionkit.test.Client` /
  :class:`sessionkit.test.AsyncClient` when ``MIDDLEWARE`` has sessionkit's middleware (or
  a subclass), so ``login()``, ``force_login()`` and ``client.session`` write the signed
  cookie the middleware accepts. Otherwise they are pytest-django's own fixtures' values,
  untouched. Django's client writes the bare session id, which sessionkit rejects: without
  this, ``client.login()`` returns True and the next request is anonymous.
- Before each test the memory store (``sessionkit.backends.memory``) is emptied with
  :meth:`~sessionkit.backends.memory.SessionStore.reset`, once some code has imported it,
  so one test's sessions never reach the next.

The fixtures are registered from ``pytest_configure``, after every plugin loaded at
start-up: of two global fixtures with one name pytest uses the one registered later, so
these win over pytest-django's whatever order the entry points were loaded in. A
project's own conftest fixtures of the same names still win over both.

Importing this module imports neither Django nor the rest of sessionkit: pytest loads it
before Django is configured (or in projects that do not use Django at all).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

#: The module pytest-django's fixtures live in (its ``pytest11`` entry point).
PYTEST_DJANGO = "pytest_django.plugin"


def pytest_configure(config: pytest.Config) -> None:
    plugins = config.pluginmanager.get_plugins()
    if any(getattr(plugin, "__name__", None) == PYTEST_DJANGO for plugin in plugins):
        config.pluginmanager.register(StockFixtures(), "sessionkit-fixtures")


def _sessionkit_middleware() -> bool:
    from sessionkit.checks import uses_sessionkit_middleware

    return uses_sessionkit_middleware()


class StockFixtures:
    """pytest-django's fixture names, on sessionkit's clients where the project uses them."""

    @pytest.fixture
    def client(self, request: pytest.FixtureRequest) -> Any:
        """A test client: :class:`sessionkit.test.Client` on a sessionkit project."""
        if not _sessionkit_middleware():
            return request.getfixturevalue("client")  # pytest-django's
        from sessionkit.test import Client

        return Client()

    @pytest.fixture
    def async_client(self, request: pytest.FixtureRequest) -> Any:
        """An async test client: :class:`sessionkit.test.AsyncClient` on a sessionkit
        project."""
        if not _sessionkit_middleware():
            return request.getfixturevalue("async_client")  # pytest-django's
        from sessionkit.test import AsyncClient

        return AsyncClient()

    @pytest.fixture
    def admin_client(self, request: pytest.FixtureRequest, admin_user: Any) -> Any:
        """A test client logged in as pytest-django's ``admin_user``."""
        if not _sessionkit_middleware():
            return request.getfixturevalue("admin_client")  # pytest-django's
        from sessionkit.test import Client

        client = Client()
        client.force_login(admin_user)
        return client

    @pytest.fixture(autouse=True)
    def _sessionkit_reset_memory_store(self) -> Iterator[None]:
        """Empty the memory store before each test, if anything has imported it."""
        memory = sys.modules.get("sessionkit.backends.memory")
        if memory is not None:
            memory.SessionStore.reset()
        yield
