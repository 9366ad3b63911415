"""In-process store for development and tests: a dict, expiry checked on read (an expired
session read is deleted by the base class, which sends ``session_ended``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import ClassVar

from sessionkit.backends.base import (
    NEW_TAKEN,
    NOT_FOUND,
    OLD_GONE,
    RENAMED,
    Purged,
    Record,
    Removed,
)
from sessionkit.backends.base import SessionStore as BaseStore
from sessionkit.session_fields import Delta


class SessionStore(BaseStore):
    """Sessions live in this process only and vanish with it."""

    _records: ClassVar[dict[str, Record]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def _fetch(self, key_hash: str, now: float) -> Record | None:
        with self._lock:
            record = self._records.get(key_hash)
            if record is not None and record.is_live(now):
                self._records[key_hash] = record.touched(now)
            return record  # expired: the caller removes it

    def _live(self, key_hash: str) -> Record | None:
        """The live record at ``key_hash`` (the caller holds the lock)."""
        record = self._records.get(key_hash)
        return record if record is not None and record.is_live(time.time()) else None

    def _insert(self, key_hash: str, record: Record) -> bool:
        with self._lock:
            if self._live(key_hash) is not None:
                return False
            self._records[key_hash] = record
            return True

    def _update(self, key_hash: str, record: Record, delta: Delta | None) -> bool:
        with self._lock:
            if (existing := self._live(key_hash)) is None:
                return False
            self._records[key_hash] = record.merged(existing, delta)
            return True

    def _rename(self, old: str, new: str, record: Record, delta: Delta | None) -> int:
        """Atomic under the store's lock."""
        with self._lock:
            if (existing := self._live(old)) is None:
                return OLD_GONE
            if new in self._records:
                return NEW_TAKEN
            del self._records[old]
            self._records[new] = record.merged(existing, delta)
            return RENAMED

    def _remove(self, key_hash: str) -> Removed:
        with self._lock:
            record = self._records.pop(key_hash, None)
        return NOT_FOUND if record is None else Removed(True, record.user_id)

    def _contains(self, key_hash: str) -> bool:
        with self._lock:
            return self._live(key_hash) is not None

    @classmethod
    def _purge_expired(cls) -> Iterator[Purged]:
        now = time.time()
        with cls._lock:
            dead = [(k, r.user_id) for k, r in cls._records.items() if not r.is_live(now)]
            for key_hash, _ in dead:
                del cls._records[key_hash]
        yield from dead

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
    def _end_user_records(cls, user_id: str, keep: str | None) -> list[str]:
        now = time.time()
        with cls._lock:
            doomed = [
                s
                for s, r in cls._records.items()
                if r.user_id == user_id and s != keep and r.is_live(now)
            ]
            for key_hash in doomed:
                del cls._records[key_hash]
        return doomed

    @classmethod
    def reset(cls) -> None:
        """Forget every session, as a new process would: call it between tests so one
        test's sessions never reach the next (sessionkit's pytest plugin does, before each
        test, once the memory store has been imported)."""
        with cls._lock:
            cls._records.clear()

    @classmethod
    def records(cls) -> dict[str, Record]:
        """A snapshot of the store, for tests and the per-user listing."""
        with cls._lock:
            return dict(cls._records)
