"""Which store errors are a 503 (the store cannot serve this now) and which stay a 500 (a
bug or a misconfiguration): each produced on a real server and asked for over HTTP."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.http import HttpResponse
from django.test import Client, override_settings
from django_redis.exceptions import ConnectionInterrupted

from sessionkit.errors import unavailable
from tests import servers
from tests.faults.harness import (
    ServedClient,
    persistent_connections,
    redis_settings,
    redis_url,
    require_postgresql,
    sqlite_file_database,
    sqlite_locked,
    terminate_backends,
    value,
)
from tests.helpers import cookie_header
from tests.servers.redis import redis_ping

REDIS_STORE = "sessionkit.backends.redis"
DB_STORE = "sessionkit.backends.db"


@pytest.fixture
def browser() -> Client:
    """A browser; its requests answer 500 where the app failed, rather than raise."""
    return Client(raise_request_exception=False)


@pytest.fixture
def served() -> ServedClient:
    """A browser whose requests drop failed database connections, as a server does."""
    return ServedClient(raise_request_exception=False)


def assert_unavailable(
    response: HttpResponse, caplog: pytest.LogCaptureFixture, store: str
) -> None:
    """The user-visible 503: ``Retry-After``, no traceback, a log line naming the store."""
    assert response.status_code == 503, response.content[:500]
    assert response["Retry-After"]
    assert b"Traceback" not in response.content
    assert f"session store {store} is unavailable" in caplog.text


def client_of(server: servers.RedisServer) -> Any:
    """A redis-py client on ``server`` (typed ``Any``: ``execute_command`` is untyped)."""
    return redis.Redis.from_url(server.url)


# -- Redis ---------------------------------------------------------------------------------


@pytest.fixture
def redis_store(private_redis: servers.RedisServer) -> Iterator[Any]:
    """Requests use the Redis store on ``private_redis``; yields a client to break it with."""
    admin = client_of(private_redis)
    try:
        with override_settings(**redis_settings(redis_url(private_redis.url))):
            yield admin
    finally:
        admin.close()


def test_redis_out_of_memory_answers_503_then_recovers(
    redis_store: Any, browser: Client, caplog: pytest.LogCaptureFixture
) -> None:
    assert browser.get("/write/?x=1").status_code == 200
    redis_store.config_set("maxmemory-policy", "noeviction")
    redis_store.config_set("maxmemory", 1)
    with caplog.at_level(logging.ERROR, logger="sessionkit"):
        response = browser.get("/write/?x=2")
    assert_unavailable(response, caplog, REDIS_STORE)
    redis_store.config_set("maxmemory", 0)
    assert value(browser.get("/read/")) == 1  # the refused write was not applied
    assert browser.get("/write/?x=3").status_code == 200


def test_redis_out_of_memory_refuses_a_new_session_with_503(
    redis_store: Any, browser: Client, caplog: pytest.LogCaptureFixture
) -> None:
    redis_store.config_set("maxmemory-policy", "noeviction")
    redis_store.config_set("maxmemory", 1)
    with caplog.at_level(logging.ERROR, logger="sessionkit"):
        response = browser.get("/write/?x=1")
    assert_unavailable(response, caplog, REDIS_STORE)
    redis_store.config_set("maxmemory", 0)
    assert redis_store.dbsize() == 0  # nothing was written past the limit


async def test_redis_out_of_memory_answers_503_in_async_views(
    redis_store: Any, async_client: Any
) -> None:
    assert (await async_client.get("/awrite/?x=1")).status_code == 200
    redis_store.config_set("maxmemory-policy", "noeviction")
    redis_store.config_set("maxmemory", 1)
    response = await async_client.get("/awrite/?x=2")
    assert response.status_code == 503
    assert response["Retry-After"]


def test_redis_slower_than_the_socket_timeout_answers_503(
    redis_store: Any, browser: Client, caplog: pytest.LogCaptureFixture
) -> None:
    assert browser.get("/write/?x=1").status_code == 200
    sleeper = threading.Thread(target=redis_store.execute_command, args=("DEBUG", "SLEEP", 0.6))
    sleeper.start()
    try:
        servers.wait_until(lambda: not answers(redis_store), "Redis asleep", timeout=1)
        started = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="sessionkit"):
            response = browser.get("/read/")
        assert time.monotonic() - started < 1
        assert_unavailable(response, caplog, REDIS_STORE)
    finally:
        sleeper.join(5)
    assert value(browser.get("/read/")) == 1


def answers(admin: Any) -> bool:
    """Whether the server answers a PING within 50 ms."""
    return redis_ping(admin.connection_pool.connection_kwargs["port"], timeout=0.05)


def test_a_read_only_replica_answers_503_until_promoted(
    private_redis: servers.RedisServer, browser: Client, caplog: pytest.LogCaptureFixture
) -> None:
    replica = servers.start_redis_replica(private_redis)
    admin = client_of(replica)
    try:
        with override_settings(**redis_settings(redis_url(replica.url))):
            with caplog.at_level(logging.ERROR, logger="sessionkit"):
                response = browser.get("/write/?x=1")
            assert_unavailable(response, caplog, REDIS_STORE)
            admin.replicaof("NO", "ONE")  # the failover promotes it
            assert browser.get("/write/?x=1").status_code == 200
            assert value(browser.get("/read/")) == 1
    finally:
        admin.close()
        replica.cleanup()


def test_a_replica_cut_off_from_its_master_answers_503_until_relinked(
    private_redis: servers.RedisServer, browser: Client, caplog: pytest.LogCaptureFixture
) -> None:
    replica = servers.start_redis_replica(private_redis, "--replica-serve-stale-data", "no")
    admin = client_of(replica)
    try:
        with override_settings(**redis_settings(redis_url(replica.url))):
            private_redis.stop()
            with caplog.at_level(logging.ERROR, logger="sessionkit"):
                response = browser.get("/read/", HTTP_COOKIE=signed_cookie("an-id-of-32-chars"))
            assert_unavailable(response, caplog, REDIS_STORE)
            private_redis.start()
            servers.wait_until(
                lambda: admin.info("replication")["master_link_status"] == "up",
                "replica relinked",
                timeout=10,
            )
            response = browser.get("/read/", HTTP_COOKIE=signed_cookie("an-id-of-32-chars"))
            assert response.status_code == 200
    finally:
        admin.close()
        replica.cleanup()


def test_a_script_running_too_long_answers_503_until_killed(
    redis_store: Any, browser: Client, caplog: pytest.LogCaptureFixture
) -> None:
    assert browser.get("/write/?x=1").status_code == 200
    redis_store.config_set("lua-time-limit", 10)  # busy-reply-threshold in Redis 7
    other = redis.Redis(connection_pool=redis_store.connection_pool)

    def run_forever() -> None:
        with contextlib.suppress(redis.exceptions.ResponseError):  # killed
            other.eval("while true do end", 0)

    runner = threading.Thread(target=run_forever)
    runner.start()
    try:
        servers.wait_until(lambda: busy(redis_store), "script past the threshold", timeout=5)
        with caplog.at_level(logging.ERROR, logger="sessionkit"):
            response = browser.get("/read/")
        assert_unavailable(response, caplog, REDIS_STORE)
    finally:
        kill_script(redis_store)
        runner.join(5)
    assert value(browser.get("/read/")) == 1


def busy(admin: Any) -> bool:
    try:
        admin.ping()
    except redis.exceptions.ResponseError as exc:
        return str(exc).startswith("BUSY")
    return False


def kill_script(admin: Any) -> None:
    with contextlib.suppress(redis.exceptions.ResponseError):  # no script running
        admin.script_kill()


def test_a_replica_loading_its_dataset_answers_503(
    private_redis: servers.RedisServer, browser: Client, caplog: pytest.LogCaptureFixture
) -> None:
    master = client_of(private_redis)
    master.execute_command("DEBUG", "POPULATE", 1000)
    master.config_set("repl-diskless-sync-delay", 0)
    # 1 ms per key: the replica answers LOADING for about a second after a full sync.
    delay = ["--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024"]
    replica = servers.RedisServer(args=delay).start()
    admin = redis.Redis.from_url(replica.url, retry=None)
    try:
        with override_settings(**redis_settings(redis_url(replica.url))):
            admin.replicaof(servers.LOOPBACK, private_redis.port)
            servers.wait_until(lambda: loading(admin), "replica loading", timeout=10)
            with caplog.at_level(logging.ERROR, logger="sessionkit"):
                response = browser.get("/read/", HTTP_COOKIE=signed_cookie("an-id-of-32-chars"))
            assert_unavailable(response, caplog, REDIS_STORE)
            servers.wait_until(lambda: not loading(admin), "replica loaded", timeout=10)
            response = browser.get("/read/", HTTP_COOKIE=signed_cookie("an-id-of-32-chars"))
            assert response.status_code == 200
    finally:
        master.close()
        admin.close()
        replica.cleanup()


def loading(admin: Any) -> bool:
    try:
        admin.ping()
    except redis.exceptions.BusyLoadingError:
        return True
    return False


def signed_cookie(session_key: str) -> str:
    """A validly signed cookie for an id the store does not hold: its read asks the store."""
    return cookie_header(session_key)


# -- django-redis: its ConnectionInterrupted wraps every Redis error -------------------------


def test_django_redis_errors_are_judged_by_the_redis_error_they_wrap(
    private_redis: servers.RedisServer,
) -> None:
    with override_settings(**redis_settings(private_redis.url)):
        cache = caches["sessions"]
        admin = client_of(private_redis)
        try:
            admin.rpush(cache.make_key("a-list"), 1)
            # django-redis's client raises ConnectionInterrupted (its cache API the cause).
            with pytest.raises(ConnectionInterrupted) as wrong_type:
                cache.client.get("a-list")
            assert not unavailable(wrong_type.value)  # WRONGTYPE: a bug, 500
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", 1)
            with pytest.raises(ConnectionInterrupted) as full:
                cache.client.set("x", 1)
            assert unavailable(full.value)  # OOM: 503
        finally:
            admin.close()


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.db
@pytest.mark.django_db(transaction=True)
def test_a_terminated_postgresql_backend_answers_503_and_the_next_request_reconnects(
    served: ServedClient, caplog: pytest.LogCaptureFixture
) -> None:
    require_postgresql()
    with persistent_connections():
        assert served.get("/write/?x=1").status_code == 200
        assert terminate_backends() >= 1  # this thread's kept connection, between requests
        with caplog.at_level(logging.ERROR, logger="sessionkit"):
            response = served.get("/read/")
        assert_unavailable(response, caplog, DB_STORE)
        assert value(served.get("/read/")) == 1


# -- SQLite ----------------------------------------------------------------------------------


@pytest.fixture
def sqlite_path(tmp_path: Path, django_db_blocker: Any) -> Iterator[Path]:
    """Sessions in a SQLite file of this test's own, whose lock wait is 0.2 s."""
    path = tmp_path / "sessions.sqlite3"
    with django_db_blocker.unblock(), sqlite_file_database(path, timeout=0.2):
        yield path


def test_sqlite_locked_by_another_writer_answers_503_after_its_timeout(
    sqlite_path: Path, served: ServedClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert served.get("/write/?x=1").status_code == 200
    with sqlite_locked(sqlite_path):
        started = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="sessionkit"):
            response = served.get("/write/?x=2")
        waited = time.monotonic() - started
    assert_unavailable(response, caplog, DB_STORE)
    assert 0.2 <= waited < 2  # SQLite's timeout, then the 503
    assert value(served.get("/read/")) == 1


def test_sqlite_without_the_sessions_table_is_a_500_not_a_503(
    tmp_path: Path, django_db_blocker: Any, served: ServedClient, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "empty.sqlite3"
    with (
        django_db_blocker.unblock(),
        sqlite_file_database(path, timeout=0.2, create_table=False),
        caplog.at_level(logging.ERROR),
    ):
        response = served.get("/write/?x=1")
    assert response.status_code == 500
    assert "no such table" in caplog.text  # Django's log of the server error
    assert "is unavailable" not in caplog.text
