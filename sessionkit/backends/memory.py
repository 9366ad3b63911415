"""In-process store for development and tests: a dict, expiry checked on read."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import ClassVar

from sessionkit.backends.base import NEW_TAKEN, OLD_GONE, RENAMED, Record
from sessionkit.backends.base import SessionStore as BaseStore
from sessionkit.session_fields import Delta


class SessionStore(BaseStore):
    """Sessions live in this process only and vanish with it."""

    _records: ClassVar[dict[str, Record]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def _fetch(self, key_hash: str, now: float) -> Record | None:
        with self._lock:
            record = self._records.get(key_hash)
            if record is None:
                return None
            if not record.is_live(now):
                del self._records[key_hash]
                return None
            self._records[key_hash] = record.touched(now)
            return record

    def _insert(self, key_hash: str, record: Record) -> bool:
        with self._lock:
            existing = self._records.get(key_hash)
            if existing is not None and existing.is_live(time.time()):
                return False
            self._records[key_hash] = record
            return True

    def _update(self, key_hash: str, record: Record, delta: Delta | None) -> bool:
        with self._lock:
            existing = self._records.get(key_hash)
            if existing is None or not existing.is_live(time.time()):
                return False
            if delta is not None:  # merge, so concurrent writers of other keys survive
                record = replace(record, fields=delta.applied_to(existing.fields))
            self._records[key_hash] = record
            return True

    def _rename(self, old: str, new: str, record: Record, delta: Delta | None) -> int:
        """Atomic under the store's lock."""
        with self._lock:
            existing = self._records.get(old)
            if existing is None or not existing.is_live(time.time()):
                return OLD_GONE
            if new in self._records:
                return NEW_TAKEN
            if delta is not None:
                record = replace(record, fields=delta.applied_to(existing.fields))
            del self._records[old]
            self._records[new] = record
            return RENAMED

    def _remove(self, key_hash: str) -> None:
        with self._lock:
            self._records.pop(key_hash, None)

    def _contains(self, key_hash: str) -> bool:
        with self._lock:
            record = self._records.get(key_hash)
            return record is not None and record.is_live(time.time())

    @classmethod
    def _purge_expired(cls) -> int:
        now = time.time()
        with cls._lock:
            dead = [
                key_hash for key_hash, record in cls._records.items() if not record.is_live(now)
            ]
            for key_hash in dead:
                del cls._records[key_hash]
        return len(dead)

    indexes_users = True

    @classmethod
    def _user_records(cls, user_id: str) -> list[tuple[str, Record]]:
        now = time.time()
        return [
            (key_hash, r)
            for key_hash, r in cls.records().items()
            if r.user_id == user_id and r.is_live(now)
        ]

    @classmethod
    def _end_user_records(cls, user_id: str, keep: str | None) -> int:
        with cls._lock:
            doomed = [s for s, r in cls._records.items() if r.user_id == user_id and s != keep]
            for key_hash in doomed:
                del cls._records[key_hash]
        return len(doomed)

    @classmethod
    def records(cls) -> dict[str, Record]:
        """A snapshot of the store, for tests and the per-user listing."""
        with cls._lock:
            return dict(cls._records)
