"""What the fault, error and concurrency tests share: a client served the way a WSGI
server serves, store settings over private servers, a SQLite file database of the test's
own, the hands that break a store, and bounded concurrent runs."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
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


def browser_with(cookie: str) -> ServedClient:
    """A client of its own (one per thread) carrying one session cookie."""
    client = ServedClient(raise_request_exception=False)
    client.cookies[COOKIE] = cookie
    return client


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
    Django recommends for concurrent writers. ``create_table=False`` leaves it empty."""
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
def persistent_connections() -> Iterator[None]:
    """``CONN_MAX_AGE = 60`` on the default database, as most deployments run: a
    connection outlives its request, so a backend terminated between requests is found
    broken by the next one."""
    entry = connections.settings[DEFAULT_DB_ALIAS]
    before = entry["CONN_MAX_AGE"]
    entry["CONN_MAX_AGE"] = 60
    connections[DEFAULT_DB_ALIAS].close()
    try:
        yield
    finally:
        entry["CONN_MAX_AGE"] = before
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
