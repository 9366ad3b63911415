"""A store over a Django cache (locmem, Django's RedisCache, django-redis, memcached).

Sessions are JSON bytes written and read beneath the cache API (:mod:`.raw_cache`), because
``cache.get`` would unpickle whatever the cache holds: a value that is not our JSON (planted
by whoever can write to the cache, or left by another program) is ignored with a warning and
the request gets a fresh session. The cache's own timeout expires sessions, and reads extend
it with a touch (so a read never re-creates a session that a concurrent logout deleted).
Creation is an add, so an existing id is never overwritten; an update writes only over an
entry that still exists. Updates are read-check-write, not atomic: two requests racing on
one session are last-writer-wins for the whole session. Use the db or Redis store where
that matters.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, replace

from django.conf import settings
from django.core.cache import caches

from sessionkit.backends.base import NOT_FOUND, ClientInfo, Purged, Record, Removed
from sessionkit.backends.base import SessionStore as BaseStore
from sessionkit.backends.raw_cache import RawCache, raw_cache
from sessionkit.session_fields import Delta

logger = logging.getLogger(__name__)

KEY_PREFIX = "sessionkit.cache:"


def _pack(record: Record) -> bytes:
    """UTF-8 JSON, stored as is: no cache layer pickles it."""
    return json.dumps(asdict(record), separators=(",", ":")).encode()


def _unpack(value: bytes) -> Record | None:
    try:
        fields = json.loads(value)
        fields["client"] = ClientInfo(*fields.get("client", ()))
        return Record(**fields)
    except (ValueError, TypeError, AttributeError):  # not JSON, or not our record
        return None


class SessionStore(BaseStore):
    """Sessions in the cache named by ``SESSION_CACHE_ALIAS``."""

    expires_by_itself = True

    @property
    def _cache(self) -> RawCache:
        return raw_cache(caches[settings.SESSION_CACHE_ALIAS])

    @staticmethod
    def _timeout(record: Record, now: float) -> int:
        return max(1, int(record.expires - now) + 1)

    @staticmethod
    def _live(record: Record | None, now: float) -> Record | None:
        """The record with its real expiry. A session with an idle age is extended by
        ``cache.touch`` (the cache's timeout is authoritative, the stored one stale)."""
        if record is None:
            return None
        if record.age is not None and record.age > 0:
            record = replace(record, expires=max(record.expires, now + 1))
        return record if record.is_live(now) else None

    def _read(self, key_hash: str) -> Record | None:
        """The stored record, or ``None``; never deserializes anything but JSON."""
        value = self._cache.get(KEY_PREFIX + key_hash)
        if value is None:
            return None
        record = _unpack(value)
        if record is None:
            logger.warning(
                "sessionkit: the cache entry of session %s is not a session record "
                "(planted, or written by another program); ignored",
                key_hash[:12],
            )
        return record

    def _fetch(self, key_hash: str, now: float) -> Record | None:
        record = self._live(self._read(key_hash), now)
        if record is not None and record.age is not None:
            # touch, not set: a session deleted meanwhile (logout) stays deleted
            self._cache.touch(KEY_PREFIX + key_hash, self._timeout(record.touched(now), now))
        return record

    def _insert(self, key_hash: str, record: Record) -> bool:
        now = time.time()
        return bool(
            self._cache.add(KEY_PREFIX + key_hash, _pack(record), self._timeout(record, now))
        )

    def _update(self, key_hash: str, record: Record, delta: Delta | None) -> bool:
        now = time.time()
        if self._live(self._read(key_hash), now) is None:
            return False
        # replace, not set: a session deleted since the read (logout) stays deleted
        return self._cache.replace(
            KEY_PREFIX + key_hash, _pack(record), self._timeout(record, now)
        )

    def _remove(self, key_hash: str) -> Removed:
        """The cache's own answer tells whether this call deleted it (the user it held is
        read just before: a concurrent login may change it, never who ends it)."""
        record = self._read(key_hash)
        if not self._cache.delete(KEY_PREFIX + key_hash):
            return NOT_FOUND
        return Removed(True, None if record is None else record.user_id)

    def _contains(self, key_hash: str) -> bool:
        return self._live(self._read(key_hash), time.time()) is not None

    @classmethod
    def _purge_expired(cls) -> Iterator[Purged]:
        return iter(())  # the cache expires entries by itself
