"""Django's own engines (``django.contrib.sessions.backends.*``) under sessionkit's rules.

Each engine class gets sessionkit's tracking from a subclass built once (and cached), so
the middleware sees every session through :class:`~sessionkit.backends.base.TrackedSession`.
The subclass keeps the engine's ``__qualname__`` and ``__module__``: Django salts encoded
session data with the class's qualified name, and a renamed class could not decode a
single existing session. Store extras (touch on read, delta writes, hashed keys,
``ABSOLUTE_TIMEOUT``) stay sessionkit's own; the rules do without them.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import SessionBase

from sessionkit.backends.base import SessionStore as KitStore
from sessionkit.backends.base import TrackedSession, Tracking, generated_key

#: Longest id Django's engines can store (``django.contrib.sessions``' ``session_key``
#: column); a longer ``GENID`` id is replaced by a random one, with an error logged.
DJANGO_KEY_LENGTH = 40


class TrackedEngine(Tracking):
    """Mixed in before a Django engine: remembers what was loaded, reports an unreachable
    store as ``StoreUnavailable`` (503), and honours ``GENID``."""

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)  # type: ignore[call-arg]
        self._start_tracking()

    def load(self) -> dict[str, Any]:
        with self._store_errors():
            data: dict[str, Any] = super().load()  # type: ignore[misc]
        return self._keep_loaded(data)

    async def aload(self) -> dict[str, Any]:
        with self._store_errors():
            data: dict[str, Any] = await super().aload()  # type: ignore[misc]
        return self._keep_loaded(data)

    def save(self, must_create: bool = False) -> None:
        with self._store_errors():
            super().save(must_create)  # type: ignore[misc]

    async def asave(self, must_create: bool = False) -> None:
        with self._store_errors():
            await super().asave(must_create)  # type: ignore[misc]

    def _get_new_session_key(self) -> str:
        if self.genid is None:
            key: str = super()._get_new_session_key()  # type: ignore[misc]
            return key
        return generated_key(self.genid, DJANGO_KEY_LENGTH)

    async def _aget_new_session_key(self) -> str:
        if self.genid is None:
            key: str = await super()._aget_new_session_key()  # type: ignore[misc]
            return key
        # GENID may query the database
        return await sync_to_async(generated_key)(self.genid, DJANGO_KEY_LENGTH)


@functools.cache
def tracked(engine: type[SessionBase]) -> type[TrackedSession]:
    """``engine`` itself when it is sessionkit's, else its tracked subclass (built once)."""
    if issubclass(engine, KitStore):
        return cast(type[TrackedSession], engine)
    namespace = {"__qualname__": engine.__qualname__, "__module__": engine.__module__}
    subclass = type(engine.__name__, (TrackedEngine, engine), namespace)
    return cast(type[TrackedSession], subclass)
