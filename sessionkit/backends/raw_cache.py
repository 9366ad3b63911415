"""Byte-level access to the Django caches the cache store may use: never through pickle.

Django's cache API pickles what it is given and unpickles whatever it finds under a key:
locmem, file and database caches, Django's ``RedisCache`` and django-redis (its default
serializer), and memcached for any item whose flags say "pickled" (pymemcache, pylibmc).
Whoever can write to the cache server would then run code in the app on the next read. So
the cache store never calls ``cache.get`` / ``cache.set``: it reads and writes bytes through
the layer beneath, one small adapter per cache family here, and a cache without one is
refused (:class:`UnsafeCache`, the system check ``sessionkit.E015``). Memcached is used
through Django's own pymemcache client once its alias has a serde that never unpickles
(:class:`~sessionkit.backends.memcached_serde.BytesSerde`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from django.core.cache import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.memcached import PyMemcacheCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.exceptions import ImproperlyConfigured

from sessionkit.backends.memcached_serde import BytesSerde


class UnsafeCache(ImproperlyConfigured):
    """The cache cannot be read without unpickling what it holds."""


class RawCache(Protocol):
    """The five byte-level operations the cache store needs; ``timeout`` in seconds."""

    def get(self, key: str) -> bytes | None: ...

    def add(self, key: str, value: bytes, timeout: int) -> bool:
        """Store ``value`` unless ``key`` exists."""

    def replace(self, key: str, value: bytes, timeout: int) -> bool:
        """Store ``value`` only if ``key`` exists (a deleted session is not re-created)."""

    def touch(self, key: str, timeout: int) -> bool: ...

    def delete(self, key: str) -> bool:
        """Delete ``key``; whether it was there (so one of two racing deletes says so)."""


class RedisBytes:
    """A redis-py client under a Django cache: plain GET / SET NX|XX EX / EXPIRE / DEL."""

    def __init__(self, client: Callable[[], Any], make_key: Callable[[str], str]) -> None:
        # Always the primary: a session read must see the write before it.
        self._client = client
        self._key = make_key

    def get(self, key: str) -> bytes | None:
        value: bytes | None = self._client().get(self._key(key))
        return value

    def add(self, key: str, value: bytes, timeout: int) -> bool:
        return bool(self._client().set(self._key(key), value, ex=timeout, nx=True))

    def replace(self, key: str, value: bytes, timeout: int) -> bool:
        return bool(self._client().set(self._key(key), value, ex=timeout, xx=True))

    def touch(self, key: str, timeout: int) -> bool:
        return bool(self._client().expire(self._key(key), timeout))

    def delete(self, key: str) -> bool:
        return bool(self._client().delete(self._key(key)))


class LocMemBytes:
    """``LocMemCache``'s own dict and lock, which hold pickles; we put our bytes there."""

    def __init__(self, cache: LocMemCache) -> None:
        self._cache = cache

    def get(self, key: str) -> bytes | None:
        c, k = self._cache, self._cache.make_and_validate_key(key)
        with c._lock:  # type: ignore[attr-defined]
            if c._has_expired(k):  # type: ignore[attr-defined]
                c._delete(k)  # type: ignore[attr-defined]
                return None
            value: bytes = c._cache[k]  # type: ignore[attr-defined]
            c._cache.move_to_end(k, last=False)  # type: ignore[attr-defined]
            return value

    def _store(self, key: str, value: bytes, timeout: int, *, exists: bool) -> bool:
        c, k = self._cache, self._cache.make_and_validate_key(key)
        with c._lock:  # type: ignore[attr-defined]
            live = not c._has_expired(k)  # type: ignore[attr-defined]
            if live != exists:
                return False
            c._set(k, value, timeout)  # type: ignore[attr-defined]
            return True

    def add(self, key: str, value: bytes, timeout: int) -> bool:
        return self._store(key, value, timeout, exists=False)

    def replace(self, key: str, value: bytes, timeout: int) -> bool:
        return self._store(key, value, timeout, exists=True)

    def touch(self, key: str, timeout: int) -> bool:
        return self._cache.touch(key, timeout)  # never reads the value

    def delete(self, key: str) -> bool:
        return self._cache.delete(key)  # never reads the value


class MemcachedBytes:
    """Django's pymemcache client for an alias whose serde is :class:`BytesSerde`: it already
    stores and returns bytes, so the cache API is safe; ``replace`` is the client's own."""

    def __init__(self, cache: PyMemcacheCache) -> None:
        self._cache = cache

    def get(self, key: str) -> bytes | None:
        value: bytes | None = self._cache.get(key)
        return value

    def add(self, key: str, value: bytes, timeout: int) -> bool:
        return self._cache.add(key, value, timeout)

    def replace(self, key: str, value: bytes, timeout: int) -> bool:
        client: Any = self._cache._cache  # type: ignore[attr-defined]
        expire = self._cache.get_backend_timeout(timeout)  # over 30 days: a timestamp
        return bool(client.replace(self._cache.make_and_validate_key(key), value, expire))

    def touch(self, key: str, timeout: int) -> bool:
        return self._cache.touch(key, timeout)

    def delete(self, key: str) -> bool:
        return self._cache.delete(key)


def raw_cache(cache: BaseCache) -> RawCache:
    """The byte-level adapter for ``cache``; :class:`UnsafeCache` if it has none."""
    if type(cache) is LocMemCache:
        return LocMemBytes(cache)
    if type(cache) is DjangoRedisCache:
        inner: Any = cache._cache
        return RedisBytes(lambda: inner.get_client(write=True), cache.make_and_validate_key)
    if type(cache) is PyMemcacheCache:
        if isinstance(cache._options.get("serde"), BytesSerde):  # type: ignore[attr-defined]
            return MemcachedBytes(cache)
        raise UnsafeCache(
            "the cache store cannot use PyMemcacheCache with pymemcache's pickle_serde, which "
            "unpickles any item flagged as a pickle, so whoever can write to memcached could "
            "run code in the app; give this alias OPTIONS {'serde': "
            "sessionkit.backends.memcached_serde.BytesSerde()}"
        )
    django_redis_client = _django_redis_client(cache)
    if django_redis_client is not None:
        return RedisBytes(
            lambda: django_redis_client.get_client(write=True), cache.make_and_validate_key
        )
    backend = f"{type(cache).__module__}.{type(cache).__qualname__}"
    raise UnsafeCache(
        f"the cache store cannot use {backend}: its get() unpickles whatever the cache "
        "holds, so whoever can write to the cache could run code in the app"
    )


def _django_redis_client(cache: BaseCache) -> Any:
    """django-redis's client for ``cache`` when it has one plain connection per server."""
    try:
        from django_redis.cache import RedisCache
        from django_redis.client import DefaultClient, ShardClient
    except ImportError:
        return None
    if not isinstance(cache, RedisCache):
        return None
    client = cache.client
    if not isinstance(client, DefaultClient) or isinstance(client, ShardClient):
        return None
    return client
