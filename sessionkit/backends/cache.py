"""A store over any Django cache (memcached, locmem, file, Redis via Django's cache...).

The cache's own timeout expires sessions. Creation uses ``cache.add`` so an existing id is
never overwritten; updates are read-check-write, so unlike the Redis store two requests
racing on one session are last-writer-wins for the whole session.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache, caches

from sessionkit.backends.base import ClientInfo, Record
from sessionkit.backends.base import SessionStore as BaseStore
from sessionkit.tracking import Delta

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

    def _fetch(self, sid: str, now: float) -> Record | None:
        record = _unpack(self._cache.get(KEY_PREFIX + sid))
        if record is None or not record.is_live(now):
            return None
        touched = record.touched(now)
        if touched.expires - record.expires >= 1:
            self._cache.set(KEY_PREFIX + sid, _pack(touched), self._timeout(touched, now))
        return record

    def _insert(self, sid: str, record: Record) -> bool:
        now = time.time()
        return bool(self._cache.add(KEY_PREFIX + sid, _pack(record), self._timeout(record, now)))

    def _update(self, sid: str, record: Record, delta: Delta | None) -> bool:
        now = time.time()
        existing = _unpack(self._cache.get(KEY_PREFIX + sid))
        if existing is None or not existing.is_live(now):
            return False
        self._cache.set(KEY_PREFIX + sid, _pack(record), self._timeout(record, now))
        return True

    def _remove(self, sid: str) -> None:
        self._cache.delete(KEY_PREFIX + sid)

    def _contains(self, sid: str) -> bool:
        record = _unpack(self._cache.get(KEY_PREFIX + sid))
        return record is not None and record.is_live(time.time())

    @classmethod
    def _purge_expired(cls) -> int:
        return 0  # the cache expires entries by itself
