"""Django's own ``SessionTestsMixin`` applied to a sessionkit engine, and sessionkit's own
signal tests (:class:`SignalTestsMixin`) for every sessionkit store.

When Django's suite has not been fetched (``python -m tests.django_suite``), a stand-in
mixin gives each store's conformance class one test that is skipped and says so; ``make
test``, tox and CI refuse to start without the suite instead (see ``tests/conftest.py``).
"""

from __future__ import annotations

import unittest
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import SessionBase
from django.test import override_settings

from sessionkit.backends.base import hash_key
from sessionkit.signals import session_created, session_ended
from tests.django_suite import MISSING_REASON, find_sessions_tests

if TYPE_CHECKING or find_sessions_tests() is not None:
    from sessions_tests.tests import SessionTestsMixin
else:

    class SessionTestsMixin:
        """Stands in for Django's mixin while its suite is missing."""

        def test_djangos_session_suite(self) -> None:
            raise unittest.SkipTest(MISSING_REASON)


__all__ = ["Recorder", "SessionTestsMixin", "SignalTestsMixin"]


class Recorder:
    """Every ``session_created`` / ``session_ended`` sent while connected, as
    ``(signal name, sender, kwargs)``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, type, dict[str, Any]]] = []

    def __enter__(self) -> Recorder:
        session_created.connect(self.created)
        session_ended.connect(self.ended)
        return self

    def __exit__(self, *exc: object) -> None:
        session_created.disconnect(self.created)
        session_ended.disconnect(self.ended)

    def created(self, sender: type, **kwargs: Any) -> None:
        kwargs.pop("signal")
        self.sent.append(("created", sender, kwargs))

    def ended(self, sender: type, **kwargs: Any) -> None:
        kwargs.pop("signal")
        self.sent.append(("ended", sender, kwargs))

    def events(self) -> list[tuple[str, str, str | None]]:
        """``(name, handle, reason or previous)`` of each signal, in order."""
        return [
            (name, kw["handle"], kw.get("reason", kw.get("previous"))) for name, _, kw in self.sent
        ]


class SignalTestsMixin:
    """``session_created`` and ``session_ended``, each once per event, on a sessionkit store
    (``backend``), sync and async. A store class defines :meth:`age` (make a stored session
    older than it is, as time passing would)."""

    backend: type[SessionBase]

    def age(self, session_key: str, seconds: int) -> None:
        raise NotImplementedError

    def _new(self, **data: Any) -> Any:
        session = self.backend()
        for key, value in (data or {"n": 1}).items():
            session[key] = value
        session.save()
        return session

    def test_one_session_created_when_first_stored_and_none_on_later_writes(self) -> None:
        with Recorder() as seen:
            session = self._new()
            session["n"] = 2
            session.save()
            self.backend(session.session_key).load()
        assert seen.events() == [("created", hash_key(session.session_key), None)]
        ((_, sender, kwargs),) = seen.sent
        assert sender is self.backend
        assert kwargs == {
            "handle": hash_key(session.session_key),
            "user_id": None,
            "request": None,
            "previous": None,
        }

    async def test_async_one_session_created_when_first_stored(self) -> None:
        with Recorder() as seen:
            session = self.backend()
            await session.aset("n", 1)
            await session.asave()
            await session.aset("n", 2)
            await session.asave()
        assert seen.events() == [("created", hash_key(session.session_key), None)]

    def test_logout_ends_the_session_once_with_its_user(self) -> None:
        session = self._new(_auth_user_id="7")
        key = session.session_key
        other = self.backend(key)
        with Recorder() as seen:
            session.flush()
            other.delete()  # a second logout of the same session: nothing left to end
            self.backend().delete(key)
        assert seen.events() == [("ended", hash_key(key), "logout")]
        assert seen.sent[0][2]["user_id"] == "7"

    async def test_async_logout_ends_the_session_once(self) -> None:
        session = await sync_to_async(self._new)(_auth_user_id="7")
        key = session.session_key
        with Recorder() as seen:
            await session.aflush()
            await self.backend(key).adelete()
        assert seen.events() == [("ended", hash_key(key), "logout")]
        assert seen.sent[0][2]["user_id"] == "7"

    def test_cycle_key_ends_the_old_handle_and_creates_the_new(self) -> None:
        session = self._new(_auth_user_id="7")
        old = hash_key(session.session_key)
        with Recorder() as seen:
            session.cycle_key()
        new = hash_key(session.session_key)
        assert seen.events() == [("ended", old, "rotated"), ("created", new, old)]
        assert [kw["user_id"] for _, _, kw in seen.sent] == ["7", "7"]

    async def test_async_cycle_key_ends_the_old_handle_and_creates_the_new(self) -> None:
        session = await sync_to_async(self._new)()
        old = hash_key(session.session_key)
        with Recorder() as seen:
            await session.acycle_key()
        new = hash_key(session.session_key)
        assert seen.events() == [("ended", old, "rotated"), ("created", new, old)]

    def test_cycle_key_of_a_session_never_stored_creates_one(self) -> None:
        session = self.backend()
        session["n"] = 1
        with Recorder() as seen:
            session.cycle_key()
        assert seen.events() == [("created", hash_key(session.session_key), None)]

    def test_a_session_found_ended_on_read_ends_as_expired_once(self) -> None:
        session = self._new(_auth_user_id="7")
        key = session.session_key
        self.age(key, 7200)
        with override_settings(SESSIONKIT={"ABSOLUTE_TIMEOUT": 3600}), Recorder() as seen:
            assert self.backend(key).load() == {}
            assert self.backend(key).load() == {}
        assert seen.events() == [("ended", hash_key(key), "expired")]
        assert seen.sent[0][2]["user_id"] == "7"

    async def test_async_a_session_found_ended_on_read_ends_as_expired_once(self) -> None:
        session = await sync_to_async(self._new)()
        key = session.session_key
        await sync_to_async(self.age)(key, 7200)
        with override_settings(SESSIONKIT={"ABSOLUTE_TIMEOUT": 3600}), Recorder() as seen:
            assert await self.backend(key).aload() == {}
            assert await self.backend(key).aload() == {}
        assert seen.events() == [("ended", hash_key(key), "expired")]
