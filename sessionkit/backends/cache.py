"""A store over any Django cache (memcached, locmem, file, Redis via Django's cache...).

The cache's own timeout expires sessions, and reads extend it with ``cache.touch`` (so a
read never re-creates a session that a concurrent logout deleted). Creation uses
``cache.add`` so an existing id is never overwritten. Updates are read-check-write, not
atomic: two requests racing on one session are last-writer-wins for the whole session, and
a logout racing with a write can lose. Use the db or Redis store where that matters.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, caches

from sessionkit.backends.base import ClientInfo, Record
from sessionkit.backends.base import SessionStore as BaseStore
from sessionkit.session_fields import Delta

KEY_PREFIX = "sessionkit.cache:"


def _pack(record: Record) -> str:
    """JSON text: the cache never pickles session data (it only stores a string)."""
    return json.dumps(asdict(record), separators=(",", ":"))


def _unpack(value: Any) -> Record | None:
    if not isinstance(value, str):
        return None
    try:
        fields = json.loads(value)
        fields["client"] = ClientInfo(*fields.get("client", ()))
        return Record(**fields)
    except (ValueError, TypeError):
        return None


class SessionStore(BaseStore):
    """Sessions in the cache named by ``SESSION_CACHE_ALIAS``."""

    expires_by_itself = True

    @property
    def _cache(self) -> BaseCache:
        return caches[settings.SESSION_CACHE_ALIAS]

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

    def _fetch(self, key_hash: str, now: float) -> Record | None:
        record = self._live(_unpack(self._cache.get(KEY_PREFIX + key_hash)), now)
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
        if self._live(_unpack(self._cache.get(KEY_PREFIX + key_hash)), now) is None:
            return False
        self._cache.set(KEY_PREFIX + key_hash, _pack(record), self._timeout(record, now))
        return True

    def _remove(self, key_hash: str) -> None:
        self._cache.delete(KEY_PREFIX + key_hash)

    def _contains(self, key_hash: str) -> bool:
        return self._live(_unpack(self._cache.get(KEY_PREFIX + key_hash)), time.time()) is not None

    @classmethod
    def _purge_expired(cls) -> int:
        return 0  # the cache expires entries by itself
