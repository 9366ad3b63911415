"""The cache store: Django's session suite, and no pickle in either direction.

Every cache it accepts is tested on its real storage: locmem in this process, django-redis
(its default, pickling serializer) and Django's own ``RedisCache`` on a real Redis, and
Django's ``PyMemcacheCache`` (with sessionkit's ``BytesSerde``) on a real memcached. A value
planted under a session's key by whoever can write to the cache is written the way an
attacker would write it: straight into the storage, as the bytes of a pickle that runs code.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import pickle
import unittest
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.test import Client, SimpleTestCase, override_settings

from sessionkit.backends.base import hash_key
from sessionkit.backends.cache import KEY_PREFIX, SessionStore, _pack
from sessionkit.backends.memcached_serde import BytesSerde
from sessionkit.backends.raw_cache import UnsafeCache
from tests.backends.conformance import SessionTestsMixin, SignalTestsMixin
from tests.helpers import cookie_header, set_cookie
from tests.servers.memcached import find_memcached, memcached_location

ENGINE = "sessionkit.backends.cache"


class CacheStoreConformanceTests(SessionTestsMixin, SimpleTestCase):
    backend = SessionStore


def _age(session_key: str, seconds: int) -> None:
    """Rewrite a stored record as created ``seconds`` earlier."""
    store, key_hash = SessionStore(), hash_key(session_key)
    record = store._read(key_hash)
    assert record is not None
    older = dataclasses.replace(record, created=record.created - seconds)
    assert store._cache.replace(KEY_PREFIX + key_hash, _pack(older), 3600)


class CacheStoreSignalTests(SignalTestsMixin, SimpleTestCase):
    backend = SessionStore

    def age(self, session_key: str, seconds: int) -> None:
        _age(session_key, seconds)


@pytest.mark.redis
@override_settings(SESSION_CACHE_ALIAS="redis")
class CacheStoreOnDjangoRedisSignalTests(SignalTestsMixin, SimpleTestCase):
    """Two requests deleting one entry: the Redis ``DEL`` answers which one did."""

    backend = SessionStore

    def age(self, session_key: str, seconds: int) -> None:
        _age(session_key, seconds)


@pytest.mark.redis
@override_settings(SESSION_CACHE_ALIAS="redis")
class CacheStoreOnDjangoRedisConformanceTests(SessionTestsMixin, SimpleTestCase):
    backend = SessionStore


def memcached_missing() -> str | None:
    """Why the memcached tests cannot run here, or ``None``."""
    if importlib.util.find_spec("pymemcache") is None:
        return "pymemcache is not installed"
    if find_memcached() is None:
        return "no memcached on PATH (apt-get install memcached)"
    return None


def memcached_cache() -> dict[str, Any]:
    """A ``CACHES`` entry for sessions on the test memcached."""
    return {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": memcached_location(),
        "OPTIONS": {"serde": BytesSerde()},
    }


class CacheStoreOnMemcachedConformanceTests(SessionTestsMixin, SimpleTestCase):
    backend = SessionStore

    @classmethod
    def setUpClass(cls) -> None:
        missing = memcached_missing()
        if missing is not None:
            raise unittest.SkipTest(missing)
        super().setUpClass()
        cache_settings = {**settings.CACHES, "memcached": memcached_cache()}
        cls.enterClassContext(
            override_settings(CACHES=cache_settings, SESSION_CACHE_ALIAS="memcached")
        )


class RunsCode:
    """Unpickling this creates ``marker``: proof that a read ran the payload."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


@pytest.fixture(
    params=[
        "locmem",
        pytest.param("django-redis", marks=pytest.mark.redis),
        pytest.param("django", marks=pytest.mark.redis),
        "memcached",
    ]
)
def cache_alias(request: pytest.FixtureRequest) -> Iterator[str]:
    """The store on each cache family it accepts, with the Redis database flushed."""
    if request.param == "locmem":
        with override_settings(SESSION_ENGINE=ENGINE, SESSION_CACHE_ALIAS="default"):
            yield "default"
        return
    if request.param == "memcached":
        missing = memcached_missing()
        if missing is not None:
            pytest.skip(missing)
        cache_settings = {**settings.CACHES, "memcached": memcached_cache()}
        with override_settings(
            CACHES=cache_settings, SESSION_ENGINE=ENGINE, SESSION_CACHE_ALIAS="memcached"
        ):
            caches["memcached"].clear()
            yield "memcached"
            caches["memcached"].close()
        return
    url: str = request.getfixturevalue("redis_server")
    request.getfixturevalue("redis_client")  # flushed
    backend = {
        "django-redis": "django_redis.cache.RedisCache",
        "django": "django.core.cache.backends.redis.RedisCache",
    }[request.param]
    cache_settings = {**settings.CACHES, "sessions": {"BACKEND": backend, "LOCATION": url}}
    with override_settings(
        CACHES=cache_settings, SESSION_ENGINE=ENGINE, SESSION_CACHE_ALIAS="sessions"
    ):
        yield "sessions"
        caches["sessions"].close()


def memcached_client() -> Any:
    from pymemcache.client.base import Client

    host, port = memcached_location().split(":")
    return Client((host, int(port)))


def plant(alias: str, name: str, payload: bytes) -> None:
    """Write ``payload`` under the cache key ``name`` as someone with access to the cache
    (not to the app) would: into locmem's dict, or with a plain Redis or memcached client
    (flagged as a pickle, as pymemcache's own pickle_serde would flag it)."""
    cache = caches[alias]
    key = cache.make_and_validate_key(name)
    if alias == "default":
        with cache._lock:  # type: ignore[attr-defined]
            cache._set(key, payload, 60)  # type: ignore[attr-defined]
        return
    if alias == "memcached":
        from pymemcache.serde import FLAG_PICKLE

        client = memcached_client()
        try:
            client.set(key, payload, expire=60, flags=FLAG_PICKLE, noreply=False)
        finally:
            client.close()
        return
    location = settings.CACHES[alias]["LOCATION"]
    with redis.Redis.from_url(location) as r:
        r.set(key, payload, ex=60)


def stored_bytes(alias: str, session_key: str) -> bytes | None:
    cache = caches[alias]
    key = cache.make_and_validate_key(KEY_PREFIX + hash_key(session_key))
    if alias == "default":
        stored: bytes | None = cache._cache.get(key)  # type: ignore[attr-defined]
        return stored
    if alias == "memcached":
        client = memcached_client()
        try:
            return client.get(key)  # type: ignore[no-any-return]
        finally:
            client.close()
    with redis.Redis.from_url(settings.CACHES[alias]["LOCATION"]) as r:
        return r.get(key)  # type: ignore[no-any-return]


def test_a_session_is_stored_as_json_bytes_not_a_pickle(cache_alias: str) -> None:
    session = SessionStore()
    session["cart"] = [1, 2]
    session.save()
    assert session.session_key is not None
    raw = stored_bytes(cache_alias, session.session_key)
    assert raw is not None and not raw.startswith(b"\x80")  # a pickle's PROTO opcode
    assert json.loads(raw)["fields"]["cart"] == "[1,2]"
    assert SessionStore(session.session_key).load() == {"cart": [1, 2]}


PLANTED_ID = "planted-session-id-0123456789"


def test_a_planted_pickle_gives_a_fresh_session_and_a_warning_never_runs(
    cache_alias: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "pwned"
    plant(cache_alias, KEY_PREFIX + hash_key(PLANTED_ID), pickle.dumps(RunsCode(marker)))
    session = SessionStore(PLANTED_ID)
    with caplog.at_level(logging.WARNING, logger="sessionkit.backends.cache"):
        assert session.load() == {}
        assert not session.exists(PLANTED_ID)
    assert not marker.exists()
    assert session.session_key is None
    assert "is not a session record" in caplog.text


async def test_a_planted_pickle_never_runs_on_the_async_api(
    cache_alias: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    plant(cache_alias, KEY_PREFIX + hash_key(PLANTED_ID), pickle.dumps(RunsCode(marker)))
    session = SessionStore(PLANTED_ID)
    assert await session.aload() == {}
    session["x"] = 1
    await session.asave()
    assert not marker.exists()
    assert session.session_key != PLANTED_ID


def test_a_request_with_a_planted_session_gets_a_fresh_one(
    cache_alias: str, tmp_path: Path, client: Client
) -> None:
    marker = tmp_path / "pwned"
    plant(cache_alias, KEY_PREFIX + hash_key(PLANTED_ID), pickle.dumps(RunsCode(marker)))
    response = client.get("/write/?x=1", HTTP_COOKIE=cookie_header(PLANTED_ID))
    assert response.status_code == 200
    assert not marker.exists()
    assert PLANTED_ID not in set_cookie(response).value


def test_a_cache_whose_get_would_unpickle_is_refused_before_anything_is_read(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "pwned"
    files = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache"}
    cache_settings = {**settings.CACHES, "files": {**files, "LOCATION": str(tmp_path / "c")}}
    with override_settings(CACHES=cache_settings, SESSION_CACHE_ALIAS="files"):
        # FileBasedCache.set pickles: the bytes a planted file would hold
        caches["files"].set(KEY_PREFIX + hash_key(PLANTED_ID), RunsCode(marker))
        with pytest.raises(UnsafeCache, match="FileBasedCache"):
            SessionStore(PLANTED_ID).load()
    assert not marker.exists()
