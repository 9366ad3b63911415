"""The contract every sessionkit store fulfils, on top of Django's ``SessionBase``.

A store implements a handful of primitives over an opaque *record* keyed by the SHA-256
of the session id (so a copy of the store holds no usable cookie):

- ``_fetch(sid, now)``: the live record or ``None``; a store that can pushes the expiry
  back in the same round trip (read-and-touch);
- ``_insert(sid, record)``: create, never overwriting (``False`` if the id exists);
- ``_update(sid, record, delta)``: write an existing record, only the changed fields when
  ``delta`` is given (``False`` if it is gone: another request destroyed it);
- ``_remove(sid)``, ``_contains(sid)``, ``_purge_expired()``; optionally ``_rename``.

Async variants (``_afetch`` ...) default to running the sync ones in a thread; a store with
a native async client overrides them. Everything else (expiry policy, absolute timeout,
change tracking, Django's API) lives here once.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, NamedTuple

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError

from sessionkit.conf import get_settings
from sessionkit.errors import StoreUnavailable, connection_errors
from sessionkit.tracking import Delta, Fields, decode_value, diff, from_fields, to_fields

logger = logging.getLogger("sessionkit")

#: Longest session id accepted from a cookie or a ``GENID`` callable.
MAX_KEY_LENGTH = 256
#: How many fresh ids ``create()`` tries before giving up (only a broken GENID collides).
CREATE_ATTEMPTS = 10


class ClientInfo(NamedTuple):
    """Who a session belongs to, as the per-user session list shows it."""

    user_agent: str = ""
    ip: str = ""


@dataclass(slots=True)
class Record:
    """A stored session: its fields plus metadata kept outside the session dict."""

    fields: Fields
    created: float
    expires: float
    #: Seconds a touch extends the session by; ``None`` for a fixed expiry date.
    age: int | None = None
    #: Absolute deadline (``ABSOLUTE_TIMEOUT`` from creation), or ``None``.
    deadline: float | None = None
    user_id: str | None = None
    client: ClientInfo = field(default_factory=ClientInfo)
    last_seen: float = 0.0

    def is_live(self, now: float) -> bool:
        return self.expires > now and (self.deadline is None or self.deadline > now)

    def touched(self, now: float) -> Record:
        """This record with its expiry pushed back as a new request would."""
        if self.age is None:
            return replace(self, last_seen=now)
        expires = now + self.age
        if self.deadline is not None:
            expires = min(expires, self.deadline)
        return replace(self, expires=max(expires, self.expires), last_seen=now)


def hash_key(session_key: str) -> str:
    """The store key for a session id: never the id itself."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def default_session_key() -> str:
    """192 random bits, URL- and cookie-safe."""
    return secrets.token_urlsafe(24)


def generated_key(genid: Callable[[], str] | None) -> str:
    """An id from the ``GENID`` hook when it gives a usable one, else 192 random bits."""
    if genid is not None:
        key = genid()
        if valid_session_key(key):
            return key
        logger.error("sessionkit: GENID returned an unusable id %r; using a random one", key)
    return default_session_key()


def valid_session_key(key: object) -> bool:
    return (
        isinstance(key, str)
        and 8 <= len(key) <= MAX_KEY_LENGTH
        and key.isascii()
        and key.isprintable()
        and " " not in key
    )


class SessionStore(SessionBase):
    """Base class of the sessionkit engines. Subclasses implement the primitives."""

    #: Whether the store drops expired sessions by itself (``clearsessions`` has no work).
    expires_by_itself: ClassVar[bool] = False
    #: Errors that mean "the store is down" (answered with 503), not a bug.
    unavailable_errors: ClassVar[tuple[type[BaseException], ...]] = connection_errors()

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        #: Fields as loaded from the store; ``None`` when the session did not come from it.
        self.original_fields: Fields | None = None
        #: Fields as last written; ``None`` when the store does not hold this session.
        self._saved: Fields | None = None
        self._created: float | None = None
        self.deadline: float | None = None
        #: Set by the middleware: who is making the request, and the GENID hook.
        self.client = ClientInfo()
        self.genid: Callable[[], str] | None = None
        #: Whether ``flush()`` ended the session (the cookie is then cleared, not replaced).
        self.destroyed = False
        #: The error that made the store unavailable during this request, if any.
        self.failure: StoreUnavailable | None = None
        #: The stored expiry as loaded (before any touch), for re-signing a cookie.
        self.loaded_expires: float | None = None

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        self.failure = StoreUnavailable.logged(type(self).__module__, exc)
        return self.failure

    def _io(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call a primitive, turning connection failures into ``StoreUnavailable``."""
        try:
            return fn(*args)
        except self.unavailable_errors as exc:
            raise self._unavailable(exc) from exc

    async def _aio(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await fn(*args)
        except self.unavailable_errors as exc:
            raise self._unavailable(exc) from exc

    # -- primitives -------------------------------------------------------------------

    def _fetch(self, sid: str, now: float) -> Record | None:
        raise NotImplementedError

    def _insert(self, sid: str, record: Record) -> bool:
        raise NotImplementedError

    def _update(self, sid: str, record: Record, delta: Delta | None) -> bool:
        raise NotImplementedError

    def _remove(self, sid: str) -> None:
        raise NotImplementedError

    def _contains(self, sid: str) -> bool:
        raise NotImplementedError

    @classmethod
    def _purge_expired(cls) -> int:
        raise NotImplementedError

    # Per-user index (optional; db, memory and redis have it).
    #: Whether the store keeps an index of each user's sessions.
    indexes_users: ClassVar[bool] = False

    @classmethod
    def _user_records(cls, user_id: str) -> list[tuple[str, Record]]:
        """``(sid, record)`` of every live session of ``user_id``."""
        raise NotImplementedError

    @classmethod
    def _end_user_records(cls, user_id: str, keep: str | None) -> int:
        """Delete every session of ``user_id`` but the one whose sid is ``keep``."""
        raise NotImplementedError

    async def _afetch(self, sid: str, now: float) -> Record | None:
        return await sync_to_async(self._fetch)(sid, now)

    async def _ainsert(self, sid: str, record: Record) -> bool:
        return await sync_to_async(self._insert)(sid, record)

    async def _aupdate(self, sid: str, record: Record, delta: Delta | None) -> bool:
        return await sync_to_async(self._update)(sid, record, delta)

    async def _aremove(self, sid: str) -> None:
        await sync_to_async(self._remove)(sid)

    async def _acontains(self, sid: str) -> bool:
        return await sync_to_async(self._contains)(sid)

    # -- ids and expiry ---------------------------------------------------------------

    def _validate_session_key(self, key: Any) -> bool:
        return valid_session_key(key)

    def _get_new_session_key(self) -> str:
        return generated_key(self.genid)

    async def _aget_new_session_key(self) -> str:
        if self.genid is None:
            return default_session_key()
        return await sync_to_async(generated_key)(self.genid)  # GENID may query the database

    def get_expire_at_browser_close(self) -> bool:
        if (expiry := self.get("_session_expiry")) is None:
            return get_settings().cookie.max_age is None
        return bool(expiry == 0)

    async def aget_expire_at_browser_close(self) -> bool:
        if (expiry := await self.aget("_session_expiry")) is None:
            return get_settings().cookie.max_age is None
        return bool(expiry == 0)

    def get_session_cookie_age(self) -> int:
        return get_settings().store_age

    def _expiry(
        self, data: dict[str, Any], now: float, created: float
    ) -> tuple[float, int | None, float | None]:
        """(expires, touch age, absolute deadline) for data saved at ``now``."""
        conf = get_settings()
        custom = data.get("_session_expiry")
        age: int | None
        if isinstance(custom, str):
            try:
                expires, age = datetime.fromisoformat(custom).timestamp(), None
            except ValueError:
                expires, age = now + conf.store_age, conf.store_age
        elif isinstance(custom, int) and custom:
            expires, age = now + custom, custom
        else:  # None, or 0 ("until the browser closes"): the idle timeout
            age = conf.store_age if custom is None else conf.idle_timeout
            expires = now + age
        deadline = created + conf.absolute_timeout if conf.absolute_timeout else None
        if deadline is not None:
            expires = min(expires, deadline)
        return expires, age, deadline

    # -- loading ----------------------------------------------------------------------

    def _loaded(self, record: Record | None, now: float) -> dict[str, Any]:
        data: dict[str, Any] | None = None
        if record is not None and record.is_live(now):
            try:
                data = from_fields(record.fields)
            except ValueError:
                logger.warning("sessionkit: undecodable session data; starting afresh")
        if data is None or record is None:
            self._session_key = None
            self.original_fields = self._saved = None
            self._created = self.deadline = None
            return {}
        self.original_fields = dict(record.fields)
        self._saved = dict(record.fields)
        self._created, self.deadline = record.created, record.deadline
        self.loaded_expires = record.expires
        return data

    def load(self) -> dict[str, Any]:
        if self.session_key is None:
            return {}
        now = time.time()
        return self._loaded(self._io(self._fetch, hash_key(self.session_key), now), now)

    async def aload(self) -> dict[str, Any]:
        if self.session_key is None:
            return {}
        now = time.time()
        return self._loaded(await self._aio(self._afetch, hash_key(self.session_key), now), now)

    # -- saving -----------------------------------------------------------------------

    def _pending(self, must_create: bool) -> tuple[str, Record, Delta | None]:
        """The record to write, and the delta against what the store holds."""
        assert self.session_key is not None
        data = self._get_session(no_load=must_create)  # type: ignore[attr-defined]
        fields = to_fields(data)
        now = time.time()
        created = self._created if self._created is not None else now
        expires, age, deadline = self._expiry(data, now, created)
        user = fields.get("_auth_user_id")
        record = Record(
            fields=fields,
            created=created,
            expires=expires,
            age=age,
            deadline=deadline,
            user_id=None if user is None else str(decode_value(user)),
            client=self.client,
            last_seen=now,
        )
        delta = None if must_create or self._saved is None else diff(self._saved, fields)
        return hash_key(self.session_key), record, delta

    def _saved_as(self, record: Record, ok: bool, must_create: bool) -> None:
        if not ok:
            if must_create:
                raise CreateError
            raise UpdateError
        self._saved = record.fields
        self._created, self.deadline = record.created, record.deadline

    @property
    def _unconfirmed(self) -> bool:
        """An id the store was never seen to hold (``clear()`` skips loading)."""
        return self._saved is None and self.original_fields is None

    def save(self, must_create: bool = False) -> None:
        self._get_session(no_load=must_create)  # type: ignore[attr-defined]  # may drop the id
        if self.session_key is None:
            return self.create()
        sid, record, delta = self._pending(must_create)
        if must_create:
            ok = self._io(self._insert, sid, record)
        else:
            ok = self._io(self._update, sid, record, delta)
            if not ok and self._unconfirmed:  # not a session we had: start a new one
                self._session_key = None
                return self.create()
        self._saved_as(record, ok, must_create)

    async def asave(self, must_create: bool = False) -> None:
        await self._aget_session(no_load=must_create)  # type: ignore[attr-defined]
        if self.session_key is None:
            return await self.acreate()
        sid, record, delta = self._pending(must_create)
        if must_create:
            ok = await self._aio(self._ainsert, sid, record)
        else:
            ok = await self._aio(self._aupdate, sid, record, delta)
            if not ok and self._unconfirmed:
                self._session_key = None
                return await self.acreate()
        self._saved_as(record, ok, must_create)

    def create(self) -> None:
        for _ in range(CREATE_ATTEMPTS):
            self._session_key = self._get_new_session_key()
            try:
                self.save(must_create=True)
            except CreateError:
                continue
            self.modified = True
            return
        raise CreateError("could not find an unused session id")

    async def acreate(self) -> None:
        for _ in range(CREATE_ATTEMPTS):
            self._session_key = await self._aget_new_session_key()
            try:
                await self.asave(must_create=True)
            except CreateError:
                continue
            self.modified = True
            return
        raise CreateError("could not find an unused session id")

    @property
    def has_unsaved_changes(self) -> bool:
        """Whether the session dict differs from what the store holds."""
        if not hasattr(self, "_session_cache"):
            return False
        return self._saved is None or to_fields(self._session_cache) != self._saved

    # -- deleting, cycling ------------------------------------------------------------

    def exists(self, session_key: str | None) -> bool:
        return session_key is not None and self._io(self._contains, hash_key(session_key))

    async def aexists(self, session_key: str | None) -> bool:
        return session_key is not None and await self._aio(self._acontains, hash_key(session_key))

    def _deleting(self, session_key: str | None) -> str | None:
        key = self.session_key if session_key is None else session_key
        if key is not None and key == self.session_key:
            self._saved = None
        return key

    def delete(self, session_key: str | None = None) -> None:
        if (key := self._deleting(session_key)) is not None:
            self._io(self._remove, hash_key(key))

    async def adelete(self, session_key: str | None = None) -> None:
        if (key := self._deleting(session_key)) is not None:
            await self._aio(self._aremove, hash_key(key))

    def flush(self) -> None:
        super().flush()
        self._created = self.deadline = None
        self.destroyed = True

    async def aflush(self) -> None:
        await super().aflush()
        self._created = self.deadline = None
        self.destroyed = True

    @classmethod
    def clear_expired(cls) -> int:  # type: ignore[override]
        """Delete expired sessions; returns how many (0 where the store expires by itself)."""
        return cls._purge_expired()

    @classmethod
    async def aclear_expired(cls) -> int:  # type: ignore[override]
        return await sync_to_async(cls._purge_expired)()
