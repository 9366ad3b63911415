"""Many requests on one session at once, on real stores: concurrent writes of different
keys all survive, and requests racing a logout never bring the session back.

Each racer is held after loading the session (``tests.faults.views.gate``): all of them
read it before the logout, and act after it, the widest window a real race can open.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from tests import servers
from tests.faults.harness import (
    COOKIE,
    LOCMEM,
    ServedClient,
    dump,
    new_session,
    redis_settings,
    replaying,
    require_postgresql,
    run_concurrently,
    sqlite_file_database,
)
from tests.faults.views import gate

RACERS = 50

MakeClient = Callable[[], Client]

postgresql = pytest.param(
    "postgresql", marks=[pytest.mark.db, pytest.mark.django_db(transaction=True)]
)


def plain() -> Client:
    return Client(raise_request_exception=False)


def served() -> Client:
    return ServedClient(raise_request_exception=False)


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeClient]:
    """Requests use the store named by the test's parameter; yields a client maker."""
    name = request.param
    with override_settings(ROOT_URLCONF="tests.faults.urls"):
        if name == "memory":
            with override_settings(SESSION_ENGINE="sessionkit.backends.memory"):
                yield plain
        elif name == "cache":
            with override_settings(
                SESSION_ENGINE="sessionkit.backends.cache",
                CACHES={"default": LOCMEM},
                SESSION_CACHE_ALIAS="default",
            ):
                yield plain
        elif name == "redis":
            server = servers.start_redis_server()
            try:
                with override_settings(**redis_settings(server.url)):
                    yield plain
            finally:
                server.cleanup()
        elif name == "sqlite":
            blocker = request.getfixturevalue("django_db_blocker")
            path = tmp_path / "sessions.sqlite3"
            with blocker.unblock(), sqlite_file_database(path, timeout=10):
                yield served
        else:
            assert name == "postgresql"
            require_postgresql()
            with override_settings(SESSION_ENGINE="sessionkit.backends.db"):
                yield served


def held_requests(make_client: MakeClient, cookie: str, paths: list[str], between: Any) -> Any:
    """Send ``paths`` at once, each from a client of its own carrying ``cookie``; each is
    held after loading the session until ``between()`` has run. Returns the responses."""
    with gate(len(paths)) as held:

        def racer(i: int) -> Any:
            if i == len(paths):
                held.release_after_all_loaded()
                between()
                held.go.set()
                return None
            return replaying(make_client, cookie).get(paths[i])

        return run_concurrently(racer, len(paths) + 1)[:-1]


@pytest.mark.parametrize("store", ["redis", postgresql], indirect=True)
def test_fifty_concurrent_writes_of_different_keys_all_survive(store: MakeClient) -> None:
    browser = new_session(store, owner=1)
    cookie = browser.cookies[COOKIE].value
    paths = [f"/put/?k{i}={i}" for i in range(RACERS)]
    responses = held_requests(store, cookie, paths, between=lambda: None)
    assert [r.status_code for r in responses] == [200] * RACERS
    data = dump(browser)
    assert {k: v for k, v in data.items() if k.startswith("k")} == {
        f"k{i}": i for i in range(RACERS)
    }
    assert data["owner"] == 1


@pytest.mark.parametrize(
    "store", ["memory", "sqlite", postgresql, "redis", "cache"], indirect=True
)
def test_fifty_requests_racing_a_logout_bring_nothing_back(store: MakeClient) -> None:
    browser = new_session(store, owner=7)
    assert browser.get('/put/?_auth_user_id="42"').status_code == 200
    cookie = browser.cookies[COOKIE].value
    # Writes and cycles (login, password change) that loaded the session before the logout.
    paths = [f"/put/?k{i}={i}" if i % 2 else "/cycle/" for i in range(RACERS)]

    def logout() -> None:
        assert replaying(store, cookie).get("/logout/").status_code == 200

    responses = held_requests(store, cookie, paths, between=logout)
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 400}, statuses  # 400: Django's SessionInterrupted
    assert dump(replaying(store, cookie)) == {"_key": None}
    new_cookies = {
        morsel.value for r in responses if (morsel := r.cookies.get(COOKIE)) and morsel.value
    }
    for new in new_cookies:  # a session handed out by a racer must not carry the old one
        data = dump(replaying(store, new))
        assert "owner" not in data and "_auth_user_id" not in data, json.dumps(data)
