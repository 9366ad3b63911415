"""The memory store: Django's session test suite, the signals, expiry on read."""

from __future__ import annotations

import dataclasses
import time

from django.test import SimpleTestCase

from sessionkit.backends.base import hash_key
from sessionkit.backends.memory import SessionStore
from tests.backends.conformance import Recorder, SessionTestsMixin, SignalTestsMixin


class MemoryStoreConformanceTests(SessionTestsMixin, SimpleTestCase):
    backend = SessionStore


def _shift(session_key: str, **fields: float) -> None:
    """Move a stored record's times back by the seconds given per field."""
    key_hash = hash_key(session_key)
    record = SessionStore._records[key_hash]
    moved = {name: getattr(record, name) - seconds for name, seconds in fields.items()}
    SessionStore._records[key_hash] = dataclasses.replace(record, **moved)


class MemoryStoreSignalTests(SignalTestsMixin, SimpleTestCase):
    backend = SessionStore

    def age(self, session_key: str, seconds: int) -> None:
        _shift(session_key, created=seconds)


def _expired_session() -> str:
    session = SessionStore()
    session["_auth_user_id"] = "7"
    session.save()
    assert session.session_key is not None
    key_hash = hash_key(session.session_key)
    expired = dataclasses.replace(SessionStore._records[key_hash], expires=time.time() - 10)
    SessionStore._records[key_hash] = expired
    return session.session_key


def test_a_session_read_after_its_expiry_is_deleted_and_ends_as_expired_once() -> None:
    key = _expired_session()
    with Recorder() as seen:
        assert SessionStore(key).load() == {}
        assert SessionStore(key).load() == {}
    assert seen.events() == [("ended", hash_key(key), "expired")]
    assert hash_key(key) not in SessionStore.records()


def test_clear_expired_ends_each_expired_session_as_expired() -> None:
    expired, live = _expired_session(), SessionStore()
    live["n"] = 1
    live.save()
    with Recorder() as seen:
        assert SessionStore.clear_expired() == 1
        assert SessionStore.clear_expired() == 0
    assert seen.events() == [("ended", hash_key(expired), "expired")]
    assert seen.sent[0][2]["user_id"] == "7"


def test_a_key_that_is_not_a_str_reads_back_as_djangos_json_serializer_writes_it() -> None:
    """As from every store: ``json.dumps`` writes ``7`` as ``"7"``, ``None`` as ``"null"``."""
    session = SessionStore()
    session.update({7: "seven", None: 1})
    session.save()
    assert session.session_key is not None
    assert SessionStore(session.session_key).load() == {"7": "seven", "null": 1}
