"""The Redis store behind a real Redis Sentinel: a private master and a private sentinel on
loopback, django-redis's ``SentinelClient`` for the sync API and a ``redis.asyncio``
Sentinel client (``ASYNC_CLIENT_FACTORY``) for the async one. No mocks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from django.conf import settings
from django.test import AsyncClient, Client, override_settings
from django_redis.pool import ConnectionFactory

import sessionkit
from sessionkit.backends.base import hash_key
from sessionkit.backends.redis import SessionStore
from sessionkit.backends.redis_client import async_client, sync_client
from sessionkit.backends.redis_wire import session_key_name
from tests import servers

pytestmark = pytest.mark.redis

SERVICE = "mymaster"
ASYNC_CLIENT_NAME = "sessionkit-async-sentinel"
ALIAS = "sentinel"
LOCATION = f"redis://{SERVICE}/0"
PREFIX = "sessionkit:"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "redis.md"


def sentinel_aclient() -> Any:
    """``ASYNC_CLIENT_FACTORY``: the master of ``SERVICE`` through the configured sentinels."""
    caches: dict[str, Any] = settings.CACHES
    sentinels = caches[ALIAS]["OPTIONS"]["SENTINELS"]
    sentinel = redis.asyncio.sentinel.Sentinel(sentinels)  # type: ignore[no-untyped-call]
    return sentinel.master_for(SERVICE, client_name=ASYNC_CLIENT_NAME)


@pytest.fixture(scope="module")
def sentinel() -> Iterator[tuple[servers.RedisServer, servers.RedisSentinel]]:
    """A private master and a sentinel monitoring it as ``SERVICE`` (quorum 1)."""
    try:
        servers.find_redis_server()
    except RuntimeError as exc:
        pytest.skip(f"no redis-server binary to run a master and a sentinel: {exc}")
    master = servers.start_redis_server()
    try:
        watcher = servers.start_redis_sentinel(master.port, SERVICE)
        try:
            yield master, watcher
        finally:
            watcher.cleanup()
    finally:
        master.cleanup()


@pytest.fixture
def master(
    sentinel: tuple[servers.RedisServer, servers.RedisSentinel],
) -> Iterator[redis.Redis]:
    """A plain client on the master itself (db 0, flushed), bypassing Sentinel."""
    client = redis.Redis(host=servers.LOOPBACK, port=sentinel[0].port, db=0)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


def _forget_sentinel_pools() -> None:
    """django-redis keeps pools process-wide by URL: drop (and close) ours, so no later
    test reuses a pool whose sentinel is gone."""
    pools: dict[str, Any] = ConnectionFactory._pools
    for url, pool in list(pools.items()):
        if isinstance(pool, redis.sentinel.SentinelConnectionPool):
            del pools[url]
            pool.disconnect()


def sentinel_caches(sentinel_port: int, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """``CACHES`` with the alias ``ALIAS`` on django-redis's ``SentinelClient``."""
    return {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        ALIAS: {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": LOCATION,
            "OPTIONS": options
            or {
                "CLIENT_CLASS": "django_redis.client.SentinelClient",
                "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
                "SENTINELS": [(servers.LOOPBACK, sentinel_port)],
            },
        },
    }


@pytest.fixture
def behind_sentinel(
    sentinel: tuple[servers.RedisServer, servers.RedisSentinel], master: redis.Redis
) -> Iterator[redis.Redis]:
    """Settings for the Redis store on ``ALIAS`` through the sentinel; yields ``master``."""
    with override_settings(
        CACHES=sentinel_caches(sentinel[1].port),
        SESSION_CACHE_ALIAS=ALIAS,
        SESSION_ENGINE="sessionkit.backends.redis",
    ):
        try:
            yield master
        finally:
            _forget_sentinel_pools()


def _stored(master: redis.Redis, session_key: str) -> str:
    """The session's hash name, asserted to exist on the master with a TTL."""
    name = session_key_name(PREFIX, hash_key(session_key))
    assert master.exists(name), f"{name} not on the master: {master.keys('*')}"
    assert master.pttl(name) > 0
    return name


def test_sync_requests_store_the_session_on_the_master(behind_sentinel: redis.Redis) -> None:
    client = sync_client()
    assert isinstance(client.connection_pool, redis.sentinel.SentinelConnectionPool)
    assert client.connection_pool.service_name == SERVICE

    browser = Client()
    assert browser.get("/write/?x=1").status_code == 200
    response = browser.get("/read/")
    assert response.status_code == 200
    body = response.json()
    assert body["value"] == 1

    name = _stored(behind_sentinel, body["key"])
    assert behind_sentinel.keys(f"{PREFIX}*") == [name.encode()]
    assert behind_sentinel.hget(name, "x") == b"1"


async def test_async_requests_use_a_native_sentinel_client(behind_sentinel: redis.Redis) -> None:
    factory = f"{__name__}.sentinel_aclient"
    with override_settings(SESSIONKIT_REDIS={"ASYNC_CLIENT_FACTORY": factory}):
        native = cast("redis.asyncio.Redis", async_client())
        try:
            assert isinstance(native, redis.asyncio.Redis), "ASYNC_CLIENT_FACTORY was not used"
            pool = native.connection_pool
            assert isinstance(pool, redis.asyncio.sentinel.SentinelConnectionPool)

            browser = AsyncClient()
            assert (await browser.get("/awrite/?x=2")).status_code == 200
            response = await browser.get("/aread/")
            assert response.status_code == 200
            assert response.json()["value"] == 2
            assert browser.cookies[settings.SESSION_COOKIE_NAME].value, "no session cookie"
            assert async_client() is native  # one client per loop, reused by the requests
            names = {c["name"] for c in behind_sentinel.client_list()}
            assert ASYNC_CLIENT_NAME in names, (
                f"the native client never reached the master: {names}"
            )

            keys = behind_sentinel.keys(f"{PREFIX}*")
            assert len(keys) == 1, keys
            assert behind_sentinel.hget(keys[0], "x") == b"2"
            assert behind_sentinel.pttl(keys[0]) > 0
        finally:
            await native.aclose()


def test_docs_sentinel_configuration_works(
    sentinel: tuple[servers.RedisServer, servers.RedisSentinel],
) -> None:
    """docs/redis.md's Sentinel example, as written, with our sentinel's address."""
    section = DOCS.read_text().split("### Sentinel", 1)[1].split("\n### ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "no python block in the docs' Sentinel section"
    namespace: dict[str, Any] = {}
    exec(block.group(1), namespace)
    alias = namespace["SESSION_CACHE_ALIAS"]
    cache = namespace["CACHES"][alias]
    cache["OPTIONS"]["SENTINELS"] = [(servers.LOOPBACK, sentinel[1].port)]
    db = int(cache["LOCATION"].rsplit("/", 1)[1])
    on_db = redis.Redis(host=servers.LOOPBACK, port=sentinel[0].port, db=db)
    on_db.flushdb()
    default = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    with override_settings(
        CACHES={"default": default, alias: cache},
        SESSION_CACHE_ALIAS=alias,
        SESSION_ENGINE="sessionkit.backends.redis",
    ):
        try:
            browser = Client()
            assert browser.get("/write/?x=3").status_code == 200
            body = browser.get("/read/").json()
            assert body["value"] == 3
            assert on_db.hget(_stored(on_db, body["key"]), "x") == b"3"
        finally:
            _forget_sentinel_pools()
            on_db.close()


async def test_async_per_user_api_without_a_native_client_runs_the_sync_one(
    behind_sentinel: redis.Redis,
) -> None:
    """No ASYNC_CLIENT_FACTORY: a Sentinel pool has no derivable async twin, so the async
    twins run the sync client in a thread, and list and end the same sessions."""
    assert async_client() is None
    keys = []
    for _ in range(2):
        session = SessionStore()
        await session.aset("_auth_user_id", "42")
        await session.asave()
        keys.append(hash_key(session.session_key or ""))
    assert sorted(s.handle for s in await sessionkit.auser_sessions("42")) == sorted(keys)
    assert await sessionkit.aend_session("42", keys[0]) is True
    assert await sessionkit.aend_user_sessions("42") == 1
    assert await sessionkit.auser_sessions("42") == []
