"""The Redis store's connections against a real Redis: scripts by SHA (counted by Redis's
own ``INFO commandstats``), reloaded after ``SCRIPT FLUSH``, errors surfaced, and the async
API on a client no ``redis.asyncio`` twin can be derived from."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from asgiref.sync import async_to_sync
from django.test import override_settings

from sessionkit.backends import redis_wire as wire
from sessionkit.backends.base import hash_key
from sessionkit.backends.redis import SessionStore
from sessionkit.backends.redis_client import async_client, sync_client
from sessionkit.errors import StoreUnavailable
from tests import servers
from tests.backends.test_redis import _alogin as alogin
from tests.backends.test_redis import _login as login
from tests.backends.test_redis import user_set

pytestmark = pytest.mark.redis

ENGINE = "sessionkit.backends.redis"
PREFIX = "sessionkit:"
#: The test Redis the factories below connect to (set by the ``factory_url`` fixture).
URL: list[str] = []


@pytest.fixture
def store(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    with override_settings(SESSION_CACHE_ALIAS="redis", SESSION_ENGINE=ENGINE):
        yield redis_client


def key_hash_of(session: SessionStore) -> bytes:
    return hash_key(session.session_key or "").encode()


# -- EVALSHA, and EVAL once after SCRIPT FLUSH ------------------------------------------------


def test_the_user_index_works_after_script_flush(store: redis.Redis) -> None:
    session = login("42")
    store.script_flush()
    session.cycle_key()  # the rename's script and the index pipeline's are both reloaded
    assert user_set(store, "42") == {key_hash_of(session)}
    assert store.script_exists(wire.INDEX.sha, wire.RENAME.sha) == [True, True]
    store.script_flush()
    session.flush()
    assert user_set(store, "42") == set()


async def test_the_user_index_works_after_script_flush_async(store: redis.Redis) -> None:
    session = await alogin("42")
    store.script_flush()
    await session.acycle_key()
    assert user_set(store, "42") == {key_hash_of(session)}
    assert store.script_exists(wire.INDEX.sha) == [True]
    store.script_flush()
    await session.aflush()
    assert user_set(store, "42") == set()


def _commandstats(client: redis.Redis) -> dict[str, int]:
    info: dict[str, Any] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in info.items()}


async def test_steady_state_sends_scripts_only_by_sha(private_redis: servers.RedisServer) -> None:
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "sessions": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": private_redis.url},
    }
    client = redis.Redis.from_url(private_redis.url)
    with override_settings(CACHES=caches, SESSION_CACHE_ALIAS="sessions", SESSION_ENGINE=ENGINE):
        try:

            def a_day_of_sessions() -> None:  # every script, the index pipeline included
                session = login("42")
                assert SessionStore(session.session_key)["_auth_user_id"] == "42"
                session.cycle_key()
                session.flush()

            await asyncio.to_thread(a_day_of_sessions)  # the first use loads every script
            client.config_resetstat()
            await asyncio.to_thread(a_day_of_sessions)
            session = await alogin("43")
            assert await SessionStore(session.session_key).aget("_auth_user_id") == "43"
            await session.acycle_key()
            await session.aflush()
            calls = _commandstats(client)
        finally:
            client.close()
    assert "eval" not in calls, calls
    assert calls["evalsha"] >= 16, calls  # six writes, two reads, index updates, per API


def test_sessions_follow_the_cache_alias_when_caches_change(
    store: redis.Redis, private_redis: servers.RedisServer
) -> None:
    """The client is looked up once per process, and again after ``CACHES`` changes."""

    def name(session: SessionStore) -> str:
        return wire.session_key_name(PREFIX, key_hash_of(session).decode())

    before = login("42")
    assert store.exists(name(before))
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "redis": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": private_redis.url},
    }
    elsewhere = redis.Redis.from_url(private_redis.url)
    try:
        with override_settings(CACHES=caches):
            after = login("43")
            assert elsewhere.exists(name(after))
            assert not store.exists(name(after))
        assert SessionStore(before.session_key)["_auth_user_id"] == "42"  # back again
    finally:
        elsewhere.close()


# -- errors ---------------------------------------------------------------------------------


def test_an_index_script_error_is_raised_not_swallowed(store: redis.Redis) -> None:
    store.set(wire.user_key_name(PREFIX, "42"), "not a set")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        login("42")


async def test_an_index_script_error_is_raised_not_swallowed_async(store: redis.Redis) -> None:
    store.set(wire.user_key_name(PREFIX, "42"), "not a set")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        await alogin("42")


async def test_async_api_on_a_redis_that_is_down_raises_store_unavailable() -> None:
    down = f"redis://{servers.LOOPBACK}:{servers.free_port()}/0"
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "sessions": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": down,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        },
    }
    with override_settings(CACHES=caches, SESSION_CACHE_ALIAS="sessions", SESSION_ENGINE=ENGINE):
        assert async_client() is not None  # the native client, not a thread
        session = SessionStore()
        await session.aset("n", 1)
        with pytest.raises(StoreUnavailable):
            await session.asave()
        assert session.failure is not None
        loaded = SessionStore("x" * 32)
        with pytest.raises(StoreUnavailable):
            await loaded.aload()
        with pytest.raises(StoreUnavailable):
            await SessionStore().aexists("x" * 32)


# -- async without a redis.asyncio twin: the sync client in a thread ---------------------------


class OwnPool(redis.ConnectionPool):
    """A pool class of the project's own: the store cannot know its async equivalent."""


class OwnConnection(redis.connection.Connection):
    """A connection class of the project's own, in a standard pool."""


def own_pool_client() -> redis.Redis:
    return redis.Redis(connection_pool=OwnPool.from_url(URL[0]))


def own_connection_client() -> redis.Redis:
    return redis.Redis(
        connection_pool=redis.ConnectionPool.from_url(URL[0], connection_class=OwnConnection)
    )


@pytest.fixture
def factory_url(store: redis.Redis, redis_server: str) -> Iterator[redis.Redis]:
    URL[:] = [redis_server]
    try:
        yield store
    finally:
        URL.clear()


@pytest.mark.parametrize("factory", ["own_pool_client", "own_connection_client"])
async def test_async_api_without_an_async_twin_runs_the_sync_client_in_a_thread(
    factory_url: redis.Redis, factory: str
) -> None:
    with override_settings(SESSIONKIT_REDIS={"CLIENT_FACTORY": f"{__name__}.{factory}"}):
        assert async_client() is None
        session = await alogin("42")
        loaded = SessionStore(session.session_key)
        assert await loaded.aget("cart") == [1]
        assert await SessionStore().aexists(session.session_key)
        old = session.session_key
        await session.acycle_key()
        assert not await SessionStore().aexists(old)
        assert user_set(factory_url, "42") == {key_hash_of(session)}
        await session.aset("n", 2)
        await session.asave()
        assert (
            sync_client().hget(
                wire.session_key_name(PREFIX, hash_key(session.session_key or "")), "n"
            )
            == b"2"
        )
        await session.aflush()
        assert factory_url.keys("*") == []


#: The clients ``named_client`` built (held here, as a project's own registry would).
BUILT: list[redis.Redis] = []


def named_client() -> redis.Redis:
    """A factory whose connections Redis's ``CLIENT LIST`` can tell apart."""
    BUILT.append(redis.Redis.from_url(URL[0], client_name="sessionkit-factory-test"))
    return BUILT[-1]


def test_a_factory_client_is_closed_when_a_settings_change_drops_it(
    factory_url: redis.Redis,
) -> None:
    """The factory's client is sessionkit's own: a settings change closes its connections
    on the server instead of leaving them to the garbage collector."""

    def factory_connections() -> int:
        clients = factory_url.client_list()
        return sum(1 for c in clients if c["name"] == "sessionkit-factory-test")

    try:
        with override_settings(SESSIONKIT_REDIS={"CLIENT_FACTORY": f"{__name__}.named_client"}):
            login("42")
            assert factory_connections() == 1
        # Redis drops a closed connection on its next event-loop turn, which may come
        # after a CLIENT LIST sent at once: ask again, for a second at most.
        servers.wait_until(
            lambda: factory_connections() == 0, "factory connection closed", timeout=1
        )
        assert len(BUILT) == 1
    finally:
        BUILT.clear()


def _named_connections(client: redis.Redis) -> int:
    return sum(1 for c in client.client_list() if c["name"] == "sessionkit-factory-test")


def test_a_settings_change_closes_the_process_local_cache(factory_url: redis.Redis) -> None:
    """The cache's tracking connection goes with the configuration it was opened for: a new
    one could otherwise take the old pool's place (caches are found by its ``id()``) and
    serve sessions from the server the settings no longer name."""
    conf = {"CLIENT_FACTORY": f"{__name__}.named_client", "CLIENT_CACHE": True}
    try:
        with override_settings(SESSIONKIT_REDIS=conf):
            session = login("42")
            assert SessionStore(session.session_key).get("cart") == [1]  # through the cache
            assert _named_connections(factory_url) == 2  # the client's, the cache's
        servers.wait_until(
            lambda: _named_connections(factory_url) == 0, "cache connection closed", timeout=1
        )
    finally:
        BUILT.clear()


def test_async_views_under_wsgi_leave_no_connection_open(store: redis.Redis) -> None:
    """Django runs an async view under WSGI in an event loop of its own (asgiref's
    ``async_to_sync``): the loop's client is closed when the loop ends, not left holding a
    connection per request."""
    session = login("42")

    async def view() -> Any:
        return await SessionStore(session.session_key).aget("cart")

    before = len(store.client_list())
    for _ in range(10):
        assert async_to_sync(view)() == [1]
    servers.wait_until(
        lambda: len(store.client_list()) <= before, "async connections closed", timeout=1
    )
