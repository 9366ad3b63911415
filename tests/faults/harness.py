"""What the fault, error and concurrency tests share: a client served the way a WSGI
server serves, store settings over private servers, a SQLite file database of the test's
own, the hands that break a store, and bounded concurrent runs."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections
from django.http import HttpResponse
from django.test import Client, override_settings

from sessionkit.models import Session

COOKIE = "sessionid"
#: Seconds a request waits for a stopped or paused store before its 503.
SOCKET_TIMEOUT = 0.3
#: The alias of the SQLite file database (:func:`sqlite_file_database`).
SQLITE_ALIAS = "sqlite_file"

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


class ServedClient(Client):
    """Django's test client plus what a WSGI server's ``request_started`` and
    ``request_finished`` do and the test client skips: ``close_old_connections``, which
    drops a database connection that failed, so the next request connects anew."""

    def request(self, **request: Any) -> Any:
        close_old_connections()
        try:
            return super().request(**request)
        finally:
            close_old_connections()


def value(response: HttpResponse, key: str = "value") -> Any:
    """A field of ``/read/``'s JSON answer."""
    return json.loads(response.content)[key]


def redis_url(base: str, timeout: float = SOCKET_TIMEOUT) -> str:
    """``base`` with short socket timeouts: a paused server costs a request ``timeout``
    seconds. (django-redis keeps one pool per URL, so the options belong in it.)"""
    return f"{base}?socket_timeout={timeout}&socket_connect_timeout={timeout}"


def redis_settings(url: str, engine: str = "sessionkit.backends.redis") -> dict[str, Any]:
    """Settings for sessions on ``engine`` over django-redis at ``url``."""
    return {
        "CACHES": {
            "default": LOCMEM,
            "sessions": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url},
        },
        "SESSION_CACHE_ALIAS": "sessions",
        "SESSION_ENGINE": engine,
    }


class SessionsToSqliteFile:
    """Routes the sessions table to :data:`SQLITE_ALIAS`."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return SQLITE_ALIAS if model is Session else None

    db_for_write = db_for_read


@contextmanager
def sqlite_file_database(
    path: Path, *, timeout: float, create_table: bool = True
) -> Iterator[None]:
    """Sessions in a SQLite file database of this test's own (locks need a file, and a
    short ``timeout`` bounds the wait for one), with the ``IMMEDIATE`` transactions
    Django recommends for concurrent writers; the user model's table beside it, as the
    sessions' user refers to it. ``create_table=False`` leaves it empty."""
    entry = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {"timeout": timeout, "transaction_mode": "IMMEDIATE"},
    }
    configured = connections.configure_settings(
        {DEFAULT_DB_ALIAS: connections.settings[DEFAULT_DB_ALIAS], SQLITE_ALIAS: entry}
    )
    connections.settings[SQLITE_ALIAS] = configured[SQLITE_ALIAS]
    try:
        if create_table:
            with connections[SQLITE_ALIAS].schema_editor() as editor:
                editor.create_model(get_user_model())  # the table's user is a foreign key
                editor.create_model(Session)
        with override_settings(DATABASE_ROUTERS=[f"{__name__}.SessionsToSqliteFile"]):
            yield
    finally:
        connections[SQLITE_ALIAS].close()
        del connections[SQLITE_ALIAS]
        del connections.settings[SQLITE_ALIAS]


@contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another writer holding the SQLite file's exclusive lock (``BEGIN EXCLUSIVE``)."""
    other = sqlite3.connect(path, timeout=5, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


def require_postgresql() -> None:
    """Skip unless the test database is PostgreSQL (the ``-m db`` PostgreSQL pass)."""
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        pytest.skip("PostgreSQL only: run with SESSIONKIT_TEST_DB=postgresql -m db")


def terminate_backends() -> int:
    """``pg_terminate_backend`` every other client connection to the test database, as an
    operator, a pooler or a failover does; return how many were terminated."""
    import psycopg

    entry = connections[DEFAULT_DB_ALIAS].settings_dict
    with psycopg.connect(
        host=entry["HOST"],
        port=entry["PORT"],
        user=entry["USER"],
        password=entry["PASSWORD"] or None,
        dbname=entry["NAME"],
        autocommit=True,
    ) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).fetchall()
    return len(rows)


@contextmanager
def persistent_connections(*, health_checks: bool = False) -> Iterator[None]:
    """``CONN_MAX_AGE = 60`` on the default database, as most deployments run: a connection
    outlives its request, so one terminated between requests is found broken by the next
    request, unless ``health_checks`` (``CONN_HEALTH_CHECKS``) test it first."""
    entry = connections.settings[DEFAULT_DB_ALIAS]
    before = entry["CONN_MAX_AGE"], entry["CONN_HEALTH_CHECKS"]
    entry["CONN_MAX_AGE"], entry["CONN_HEALTH_CHECKS"] = 60, health_checks
    connections[DEFAULT_DB_ALIAS].close()
    try:
        yield
    finally:
        entry["CONN_MAX_AGE"], entry["CONN_HEALTH_CHECKS"] = before
        connections[DEFAULT_DB_ALIAS].close()


def run_concurrently(work: Callable[[int], Any], n: int, timeout: float = 30.0) -> list[Any]:
    """Run ``work(i)`` for ``i`` in ``range(n)`` on ``n`` threads started together; return
    the results in order (an exception raised by ``work`` is re-raised here). Each thread
    closes its database connections, as a server's worker thread would."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout)
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "requests still running"
    if errors:
        raise errors[0]
    return results


# -- a fault in the middle of traffic ------------------------------------------------------


@dataclass
class Writer:
    """One user writing a counter into a session of its own, through the fault."""

    owner: int
    client: Client
    #: The last counter a 200 acknowledged, and the last one sent.
    acked: int = 0
    sent: int = 0
    statuses: list[int] = field(default_factory=list)
    #: Whether a request after the repair succeeded.
    recovered: bool = False

    def write(self, repaired: threading.Event) -> None:
        self.sent += 1
        status = self.client.get(f"/put/?n={self.sent}").status_code
        self.statuses.append(status)
        if status == 200:
            self.acked = self.sent
            self.recovered = repaired.is_set()


def new_session(make_client: Callable[[], Client], owner: int) -> Client:
    client = make_client()
    response = client.get(f"/put/?owner={owner}&n=0")
    assert response.status_code == 200, response.content[:300]
    return client


def dump(client: Client) -> dict[str, Any]:
    response = client.get("/dump/")
    assert response.status_code == 200, response.content[:300]
    data: dict[str, Any] = json.loads(response.content)
    return data


def through_fault(
    make_client: Callable[[], Client],
    fault: Callable[[], AbstractContextManager[None]],
    *,
    hold: float,
    writers: int = 6,
    deadline: float = 15.0,
) -> None:
    """Users write to their own sessions while ``fault()`` breaks the store for ``hold``
    seconds (on entering; it repairs it on leaving); then assert what they can observe:

    - every answer was a 200 or a 503, never a 500, and the fault caused some 503s;
    - after the repair every user's requests succeed again, without restarting the app;
    - each session still holds its owner and a counter no older than the last one
      acknowledged (a 503'd write may still have been applied: it is not lost either);
    - sessions logged out before the fault, or during it with a 200, stay logged out.
    """
    with override_settings(ROOT_URLCONF="tests.faults.urls"):
        users = [Writer(i, new_session(make_client, i)) for i in range(writers)]
        gone = []  # the cookies of sessions logged out: replayed at the end
        for i in range(2):
            client = new_session(make_client, 100 + i)
            gone.append(client.cookies[COOKIE].value)
            assert client.get("/logout/").status_code == 200
        leaver = new_session(make_client, 200)
        gone.append(leaver.cookies[COOKIE].value)
        broken, repaired = threading.Event(), threading.Event()
        leaver_status: list[int] = []
        stop_by = time.monotonic() + deadline

        def traffic(i: int) -> None:
            if i == writers:  # the leaver logs out while the store is broken
                broken.wait(deadline)
                leaver_status.append(leaver.get("/logout/").status_code)
                return
            user = users[i]
            while not (repaired.is_set() and user.recovered) and time.monotonic() < stop_by:
                user.write(repaired)

        def break_and_repair() -> None:
            time.sleep(0.05)  # let the traffic start
            with fault():
                broken.set()
                time.sleep(hold)
            repaired.set()

        def run(i: int) -> None:
            if i == writers + 1:
                break_and_repair()
            else:
                traffic(i)

        run_concurrently(run, writers + 2, timeout=deadline + 10)

        statuses = [s for user in users for s in user.statuses] + leaver_status
        assert set(statuses) <= {200, 503}, statuses
        assert 503 in statuses, "the fault never reached a request"
        assert all(user.recovered for user in users), [u.statuses[-5:] for u in users]
        for user in users:
            data = dump(user.client)
            assert data["owner"] == user.owner
            assert user.acked <= data["n"] <= user.sent, (data, user.acked, user.sent)
        if leaver_status != [200]:  # a 503'd logout proves nothing: log out again
            assert leaver.get("/logout/").status_code == 200
        for cookie in gone:
            assert dump(replaying(make_client, cookie)) == {"_key": None}


def replaying(make_client: Callable[[], Client], cookie: str) -> Client:
    """A new client sending an old session cookie (a stale tab, a stolen cookie)."""
    client = make_client()
    client.cookies[COOKIE] = cookie
    return client
