"""The contract every sessionkit store fulfils, on top of Django's ``SessionBase``.

A store implements a handful of primitives over an opaque *record* keyed by the SHA-256
of the session id (so a copy of the store holds no usable cookie; ``_storage_key``, which
a store read by another program by id overrides):

- ``_fetch(key_hash, now)``: the live record or ``None``; a store that can pushes the expiry
  back in the same round trip (read-and-touch);
- ``_insert(key_hash, record)``: create, never overwriting (``False`` if the id exists);
- ``_update(key_hash, record, delta)``: write an existing record, only the changed fields when
  ``delta`` is given (``False`` if it is gone: another request destroyed it);
- ``_remove(key_hash)``: delete, answering whether *this* call deleted a session (and its
  user), so two requests ending one session send one ``session_ended``;
- ``_contains(key_hash)``; ``_purge_expired()``: delete expired sessions, yielding each;
- ``_rename(old, new, record, delta)``: move a session to a new id (``cycle_key()``); the
  default inserts the new record and removes the old one, a store that can does it
  atomically.

Async variants (``_afetch`` ...) default to running the sync ones in a thread; a store with
a native async client overrides them. Everything else (change tracking, Django's API, the
``cycle_key`` retry loop, the :mod:`sessionkit.signals`) lives here once; lifetimes come
from :mod:`sessionkit.lifetime`.

:class:`TrackedSession` is what the middleware may ask of a session: sessionkit's stores
fulfil it, and so do Django's own engines once :mod:`sessionkit.engines` wraps them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Protocol

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError

from sessionkit import lifetime, signals, user_events
from sessionkit.conf import get_settings
from sessionkit.errors import StoreUnavailable, connection_errors, store_errors
from sessionkit.rules import Snapshot
from sessionkit.session_fields import Delta, Fields, LazyData, decode_value, diff, to_fields

logger = logging.getLogger(__name__)

#: Longest session id accepted from a cookie or a ``GENID`` callable.
MAX_KEY_LENGTH = 256
#: How many fresh ids ``create()`` tries before giving up (only a broken GENID collides).
CREATE_ATTEMPTS = 10
#: ``_rename``'s answers: done; the old session is gone (destroyed meanwhile); the new id
#: is taken (try another).
RENAMED, OLD_GONE, NEW_TAKEN = 1, 0, -1


class ClientInfo(NamedTuple):
    """Who a session belongs to, as the per-user session list shows it."""

    user_agent: str = ""
    ip: str = ""


class Removed(NamedTuple):
    """``_remove``'s answer: whether this call deleted a session, and whose it was."""

    found: bool
    user_id: str | None = None


NOT_FOUND = Removed(False)
#: A purged session: its handle and user.
Purged = tuple[str, str | None]


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

    def merged(self, stored: Record, delta: Delta | None) -> Record:
        """This record as written over ``stored`` (what the store holds now, read under its
        lock). With a ``delta`` only its keys change, so concurrent writers of other keys
        lose nothing. The expiry, touch window, deadline and user come from the merged
        session (:func:`lifetime.merged_lifetime`), not from this writer's copy: a write
        never undoes another request's ``set_expiry()`` nor pushes the deadline back."""
        fields = self.fields if delta is None else delta.applied_to(stored.fields)
        now = time.time()
        life = lifetime.merged_lifetime(
            custom_expiry(fields), now, stored.created, stored.deadline, get_settings()
        )
        return Record(
            fields, stored.created, life.expires, life.age, life.deadline,
            user_of(fields), self.client, now,
        )  # fmt: skip

    def touched(self, now: float) -> Record:
        """This record with its expiry pushed back as a new request would (built directly:
        ``dataclasses.replace`` costs more than the rest of a memory-store read)."""
        expires = lifetime.touched_expiry(self.expires, self.age, self.deadline, now)
        return Record(
            self.fields, self.created, expires, self.age, self.deadline,
            self.user_id, self.client, now,
        )  # fmt: skip


def custom_expiry(fields: Fields) -> Any:
    """What ``set_expiry()`` stored in ``fields`` (``None``: not called, or unreadable)."""
    text = fields.get("_session_expiry")
    try:
        return None if text is None else decode_value(text)
    except ValueError:
        return None


def user_of(fields: Fields) -> str | None:
    """The id of the user logged in to a session with ``fields``, as the index keys it."""
    user = fields.get("_auth_user_id")
    return None if user is None else str(decode_value(user))


def hash_key(session_key: str) -> str:
    """The store key for a session id: never the id itself."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def default_session_key() -> str:
    """192 random bits, URL- and cookie-safe."""
    return secrets.token_urlsafe(24)


def generated_key(genid: Callable[[], str] | None, max_length: int = MAX_KEY_LENGTH) -> str:
    """An id from the ``GENID`` hook when it gives a usable one (at most ``max_length``
    characters), else 192 random bits."""
    if genid is not None:
        try:
            key = genid()
        except TypeError:  # e.g. secrets.token_urlsafe, which takes no request
            logger.exception(
                "sessionkit: GENID raised TypeError (does it take the request?); using a random id"
            )
            return default_session_key()
        if valid_session_key(key) and len(key) <= max_length:
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


class TrackedSession(Protocol):
    """What the middleware asks of a session, whatever stores it."""

    @property
    def session_key(self) -> str | None: ...

    accessed: bool
    #: The error that made the store unavailable during this request, if any.
    failure: StoreUnavailable | None

    def begin(
        self,
        genid: Callable[[], str] | None,
        client: ClientInfo,
        request: Any = None,
        *,
        cookie_secure: bool = False,
    ) -> None:
        """Take what the store needs from the request: the GENID hook, the client, the
        request itself (for the signals), whether the cookie this response may send is
        Secure."""

    def load_to_touch(self) -> None:
        """Load the session for its side effect: the store pushes its expiry back."""

    async def aload_to_touch(self) -> None: ...

    def snapshot(self, now: float) -> Snapshot:
        """The session as the view left it, for :func:`sessionkit.rules.plan`."""

    def save(self, must_create: bool = False) -> None: ...

    async def asave(self, must_create: bool = False) -> None: ...


def _no_request() -> None:
    return None


class Tracking:
    """The state :class:`TrackedSession` needs, kept alike by sessionkit's stores and by
    Django's engines (mixed in once per engine class by :mod:`sessionkit.engines`)."""

    #: Errors that mean "the store is down" (answered with 503), not a bug.
    unavailable_errors: ClassVar[tuple[type[BaseException], ...]] = connection_errors()
    #: Whether loading a session pushes its stored expiry back.
    touches_on_load: ClassVar[bool] = False

    session_key: str | None
    accessed: bool

    def _start_tracking(self) -> None:
        #: Fields as loaded from the store; ``None`` when the session did not come from it.
        self.original_fields: Fields | None = None
        #: Whether ``flush()`` ended the session (the cookie is then cleared, not replaced).
        self.destroyed = False
        self.failure: StoreUnavailable | None = None
        #: Set by the middleware: who is making the request, and the GENID hook.
        self.client = ClientInfo()
        self.genid: Callable[[], str] | None = None
        self._request: Callable[[], Any] = _no_request
        #: Whether a cookie sent on this response is Secure (``SECURE="auto"`` decided).
        self.cookie_secure = False
        #: The stored expiry as loaded (before any touch), for re-signing a cookie;
        #: ``None`` where the store does not say (Django's engines).
        self.loaded_expires: float | None = None
        #: The stored expiry when this request's read left it where it was (the db store's
        #: touch slack); ``None`` when the read renewed it, or where unknown.
        self.stored_expires: float | None = None

    def begin(
        self,
        genid: Callable[[], str] | None,
        client: ClientInfo,
        request: Any = None,
        *,
        cookie_secure: bool = False,
    ) -> None:
        self.genid, self.client, self.cookie_secure = genid, client, cookie_secure
        # weak: the request holds this session, which must not keep the request alive
        self._request = _no_request if request is None else weakref.ref(request)

    @property
    def request(self) -> Any:
        """The request this session was opened for (``None`` outside one)."""
        return self._request()

    def _failed(self, error: StoreUnavailable) -> None:
        self.failure = error

    def _store_errors(self) -> contextlib.AbstractContextManager[None]:
        """Turn this store's connection failures into ``StoreUnavailable`` (503)."""
        return store_errors(type(self).__module__, self.unavailable_errors, self._failed)

    def load_to_touch(self) -> None:
        self._get_session()  # type: ignore[attr-defined]

    async def aload_to_touch(self) -> None:
        await self._aget_session()  # type: ignore[attr-defined]

    def snapshot(self, now: float) -> Snapshot:
        cache: dict[str, Any] | None = getattr(self, "_session_cache", None)
        loaded = self.original_fields
        current = (loaded or {}) if cache is None else to_fields(cache, strict=False)
        return Snapshot(
            key=self.session_key,
            accessed=self.accessed,
            loaded=loaded,
            current=current,
            destroyed=self.destroyed,
            unsaved=self._unsaved(current),
            touched_on_load=self.touches_on_load,
            loaded_expires=self.loaded_expires,
            stored_expires=self.stored_expires,
            deadline=self._deadline(now),
            now=now,
        )

    def _unsaved(self, current: Fields) -> bool:
        """Whether ``current`` differs from what the store holds (unknown: yes)."""
        return True

    def _deadline(self, now: float) -> float | None:
        return None

    def _keep_loaded(self, data: dict[str, Any]) -> dict[str, Any]:
        """Remember what a load returned, to judge "modified" by value later."""
        if self.session_key is not None:
            self.original_fields = to_fields(data, strict=False)
        return data

    def flush(self) -> None:
        super().flush()  # type: ignore[misc]
        self.destroyed = True

    async def aflush(self) -> None:
        await super().aflush()  # type: ignore[misc]
        self.destroyed = True


class SessionStore(Tracking, SessionBase):
    """Base class of the sessionkit engines. Subclasses implement the primitives."""

    #: Whether the store drops expired sessions by itself (``clearsessions`` has no work).
    expires_by_itself: ClassVar[bool] = False
    touches_on_load = True

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._start_tracking()
        #: Fields as last written; ``None`` when the store does not hold this session.
        self._saved: Fields | None = None
        self._created: float | None = None
        self.deadline: float | None = None

    def _io(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call a primitive, turning connection failures into ``StoreUnavailable``."""
        with self._store_errors():
            return fn(*args)

    async def _aio(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._store_errors():
            return await fn(*args)

    # -- primitives -------------------------------------------------------------------

    def _fetch(self, key_hash: str, now: float) -> Record | None:
        raise NotImplementedError

    def _insert(self, key_hash: str, record: Record) -> bool:
        raise NotImplementedError

    def _update(self, key_hash: str, record: Record, delta: Delta | None) -> bool:
        raise NotImplementedError

    def _remove(self, key_hash: str) -> Removed:
        raise NotImplementedError

    def _contains(self, key_hash: str) -> bool:
        raise NotImplementedError

    def _rename(self, old: str, new: str, record: Record, delta: Delta | None) -> int:
        """Move ``old`` to ``new`` as ``record``: :data:`RENAMED`, :data:`OLD_GONE` (another
        request destroyed it) or :data:`NEW_TAKEN`. Here by :meth:`_copy`; stores that can
        do it atomically override."""
        return self._copy(old, new, record)

    def _copy(self, old: str, new: str, record: Record) -> int:
        """Rename by create-then-delete (not atomic), with ``_rename``'s answers."""
        if not self._contains(old):
            return OLD_GONE
        if not self._insert(new, record):
            return NEW_TAKEN
        if self._remove(old).found:
            return RENAMED
        self._remove(new)  # destroyed meanwhile: its copy goes too, and it stays ended
        return OLD_GONE

    async def _acopy(self, old: str, new: str, record: Record) -> int:
        if not await self._acontains(old):
            return OLD_GONE
        if not await self._ainsert(new, record):
            return NEW_TAKEN
        if (await self._aremove(old)).found:
            return RENAMED
        await self._aremove(new)
        return OLD_GONE

    @classmethod
    def _purge_expired(cls) -> Iterator[Purged]:
        """Delete the expired sessions, yielding each as it goes (none: the store
        expires them by itself)."""
        raise NotImplementedError

    # Per-user index (optional; db, memory and redis have it).
    #: Whether the store keeps an index of each user's sessions.
    indexes_users: ClassVar[bool] = False

    @classmethod
    def _user_records(cls, user_id: str) -> list[tuple[str, Record]]:
        """``(key_hash, record)`` of every live session of ``user_id``."""
        raise NotImplementedError

    @classmethod
    def _end_user_records(cls, user_id: str, keep: str | None) -> list[str]:
        """Delete every session of ``user_id`` but the one whose key_hash is ``keep``;
        answers the key_hashes this call deleted."""
        raise NotImplementedError

    @classmethod
    async def _auser_records(cls, user_id: str) -> list[tuple[str, Record]]:
        return await sync_to_async(cls._user_records)(user_id)

    @classmethod
    async def _aend_user_records(cls, user_id: str, keep: str | None) -> list[str]:
        return await sync_to_async(cls._end_user_records)(user_id, keep)

    async def _afetch(self, key_hash: str, now: float) -> Record | None:
        return await sync_to_async(self._fetch)(key_hash, now)

    async def _ainsert(self, key_hash: str, record: Record) -> bool:
        return await sync_to_async(self._insert)(key_hash, record)

    async def _aupdate(self, key_hash: str, record: Record, delta: Delta | None) -> bool:
        return await sync_to_async(self._update)(key_hash, record, delta)

    async def _aremove(self, key_hash: str) -> Removed:
        return await sync_to_async(self._remove)(key_hash)

    async def _acontains(self, key_hash: str) -> bool:
        return await sync_to_async(self._contains)(key_hash)

    async def _arename(self, old: str, new: str, record: Record, delta: Delta | None) -> int:
        return await sync_to_async(self._rename)(old, new, record, delta)

    # -- what the middleware reads ------------------------------------------------------

    @staticmethod
    def _read_slack(age: int | None) -> float:
        """How far this store's read may leave the expiry behind (none: always touched)."""
        return 0.0

    def _expiry_after_read(self, record: Record, now: float) -> float:
        """The expiry the store holds once ``_fetch`` at ``now`` returned ``record``."""
        slack = self._read_slack(record.age)
        return lifetime.expiry_after_read(record.expires, record.age, record.deadline, now, slack)

    def _unsaved(self, current: Fields) -> bool:
        return self._saved is None or current != self._saved

    def _deadline(self, now: float) -> float | None:
        """The deadline stored, or the ``ABSOLUTE_TIMEOUT`` in force if that ends sooner."""
        if self._created is None:  # not stored yet: the deadline it gets when saved now
            return lifetime.deadline(now, get_settings())
        return lifetime.earliest(self.deadline, lifetime.deadline(self._created, get_settings()))

    # -- ids and expiry ---------------------------------------------------------------

    @staticmethod
    def _storage_key(session_key: str) -> str:
        """The key a session id is stored under: its SHA-256 (:func:`hash_key`), so a copy
        of the store holds no usable cookie. A store another program reads by id
        (``connect_redis``) stores it as it is."""
        return hash_key(session_key)

    @staticmethod
    def handle_of(stored: str) -> str:
        """The opaque handle (signals, :mod:`sessionkit.users`) of the session stored under
        ``stored``: that key itself, already a hash."""
        return stored

    def _validate_session_key(self, key: Any) -> bool:
        return valid_session_key(key)

    def _get_new_session_key(self) -> str:
        return generated_key(self.genid)

    async def _aget_new_session_key(self) -> str:
        if self.genid is None:
            return default_session_key()
        return await sync_to_async(generated_key)(self.genid)  # GENID may query the database

    def _new_key_for(self, old_hash: str) -> str:
        """A fresh id for ``cycle_key()`` of the session stored at ``old_hash``."""
        return self._get_new_session_key()

    def get_expire_at_browser_close(self) -> bool:
        return lifetime.expires_at_browser_close(self.get("_session_expiry"), get_settings())

    async def aget_expire_at_browser_close(self) -> bool:
        custom = await self.aget("_session_expiry")
        return lifetime.expires_at_browser_close(custom, get_settings())

    def get_session_cookie_age(self) -> int:
        return lifetime.store_age(get_settings())

    # -- loading ----------------------------------------------------------------------

    @staticmethod
    def _expiry_in_force(record: Record) -> float:
        """``record``'s expiry as the settings in force have it (lowered: sooner)."""
        return lifetime.expiry_in_force(
            record.expires,
            record.age,
            record.created,
            record.last_seen,
            custom_expiry(record.fields),
            get_settings(),
        )

    def _in_force(self, record: Record | None, now: float) -> float | None:
        """``record``'s expiry under the settings in force, or ``None`` when it is not live
        (expired, or ended by a lowered ``ABSOLUTE_TIMEOUT``, ``MAX_AGE`` or
        ``SESSION_COOKIE_AGE``: the caller then removes it, and it reads as expired)."""
        if record is None or not record.is_live(now):
            return None
        in_force = self._expiry_in_force(record)
        return in_force if in_force > now else None

    def _loaded(self, record: Record | None, in_force: float | None, now: float) -> dict[str, Any]:
        """The session dict of a fetched ``record`` live until ``in_force``, its values
        decoded as the view reads them (:class:`LazyData`). Nothing changes
        ``record.fields`` in place (a save replaces ``_saved``), so it is kept, not copied."""
        if record is None or in_force is None:
            self._session_key = None
            self.original_fields = self._saved = None
            self._created = self.deadline = None
            return {}
        self.original_fields = self._saved = record.fields
        self._created, self.deadline = record.created, record.deadline
        self.loaded_expires = in_force
        after = self._expiry_after_read(record, now)
        self.stored_expires = min(after, in_force) if after == record.expires else None
        return LazyData(record.fields)

    def load(self) -> dict[str, Any]:
        if self.session_key is None:
            return {}
        now = time.time()
        key_hash = self._storage_key(self.session_key)
        record = self._io(self._fetch, key_hash, now)
        in_force = self._in_force(record, now)
        if record is not None and in_force is None:  # expired, or ended by the settings
            self._ended(key_hash, self._io(self._remove, key_hash), "expired")
        return self._loaded(record, in_force, now)

    async def aload(self) -> dict[str, Any]:
        if self.session_key is None:
            return {}
        now = time.time()
        key_hash = self._storage_key(self.session_key)
        record = await self._aio(self._afetch, key_hash, now)
        in_force = self._in_force(record, now)
        if record is not None and in_force is None:
            await self._aended(key_hash, await self._aio(self._aremove, key_hash), "expired")
        return self._loaded(record, in_force, now)

    # -- signals ----------------------------------------------------------------------

    def _ended(self, key_hash: str, removed: Removed, reason: signals.Reason) -> None:
        """``session_ended``, if this call's ``_remove`` is the one that deleted it."""
        if removed.found:
            signals.ended(type(self), key_hash, removed.user_id, reason, self.request)

    async def _aended(self, key_hash: str, removed: Removed, reason: signals.Reason) -> None:
        if removed.found:
            await signals.aended(type(self), key_hash, removed.user_id, reason, self.request)

    # -- saving -----------------------------------------------------------------------

    def _pending(self, must_create: bool) -> tuple[str, Record, Delta | None]:
        """The record to write, and the delta against what the store holds."""
        assert self.session_key is not None
        data = self._get_session(no_load=must_create)  # type: ignore[attr-defined]
        fields = to_fields(data)
        now = time.time()
        created = self._created if self._created is not None else now
        life = lifetime.store_lifetime(data.get("_session_expiry"), now, created, get_settings())
        record = Record(
            fields=fields,
            created=created,
            expires=life.expires,
            age=life.age,
            deadline=life.deadline,
            user_id=user_of(fields),
            client=self.client,
            last_seen=now,
        )
        delta = None if must_create or self._saved is None else diff(self._saved, fields)
        return self._storage_key(self.session_key), record, delta

    def _saved_as(self, record: Record, ok: bool, must_create: bool) -> None:
        if not ok:
            if must_create:
                raise CreateError
            raise UpdateError
        self._saved = record.fields
        self._created, self.deadline = record.created, record.deadline

    def _restart(self, ok: bool, must_create: bool) -> bool:
        """Whether a failed update was of an id the store was never seen to hold
        (``clear()`` skips loading): start a new session instead of failing."""
        if ok or must_create or self._saved is not None or self.original_fields is not None:
            return False
        self._session_key = None
        return True

    def save(self, must_create: bool = False) -> None:
        self._get_session(no_load=must_create)  # type: ignore[attr-defined]  # may drop the id
        if self.session_key is None:
            return self.create()
        key_hash, record, delta = self._pending(must_create)
        before = self._saved
        if must_create:
            ok = self._io(self._insert, key_hash, record)
        else:
            ok = self._io(self._update, key_hash, record, delta)
        if self._restart(ok, must_create):
            return self.create()
        self._saved_as(record, ok, must_create)
        if must_create:
            signals.created(type(self), key_hash, record.user_id, self.request, None)
        elif (change := user_events.rehashed(before, record.fields)) is not None:
            user_events.password_changed(change, key_hash, self.request)

    async def asave(self, must_create: bool = False) -> None:
        await self._aget_session(no_load=must_create)  # type: ignore[attr-defined]
        if self.session_key is None:
            return await self.acreate()
        key_hash, record, delta = self._pending(must_create)
        before = self._saved
        if must_create:
            ok = await self._aio(self._ainsert, key_hash, record)
        else:
            ok = await self._aio(self._aupdate, key_hash, record, delta)
        if self._restart(ok, must_create):
            return await self.acreate()
        self._saved_as(record, ok, must_create)
        if must_create:
            await signals.acreated(type(self), key_hash, record.user_id, self.request, None)
        elif (change := user_events.rehashed(before, record.fields)) is not None:
            await user_events.apassword_changed(change, key_hash, self.request)

    def create(self) -> None:
        for _ in range(CREATE_ATTEMPTS):
            self._session_key = self._get_new_session_key()
            with contextlib.suppress(CreateError):
                self.save(must_create=True)
                self.modified = True
                return
        raise CreateError("could not find an unused session id")

    async def acreate(self) -> None:
        for _ in range(CREATE_ATTEMPTS):
            self._session_key = await self._aget_new_session_key()
            with contextlib.suppress(CreateError):
                await self.asave(must_create=True)
                self.modified = True
                return
        raise CreateError("could not find an unused session id")

    # -- deleting, cycling ------------------------------------------------------------

    def exists(self, session_key: str | None) -> bool:
        return session_key is not None and self._io(self._contains, self._storage_key(session_key))

    async def aexists(self, session_key: str | None) -> bool:
        return session_key is not None and await self._aio(
            self._acontains, self._storage_key(session_key)
        )

    def _deleting(self, session_key: str | None) -> str | None:
        key = self.session_key if session_key is None else session_key
        if key is not None and key == self.session_key:
            self._saved = None
        return key

    def delete(self, session_key: str | None = None) -> None:
        if (key := self._deleting(session_key)) is not None:
            key_hash = self._storage_key(key)
            self._ended(key_hash, self._io(self._remove, key_hash), "logout")

    async def adelete(self, session_key: str | None = None) -> None:
        if (key := self._deleting(session_key)) is not None:
            key_hash = self._storage_key(key)
            await self._aended(key_hash, await self._aio(self._aremove, key_hash), "logout")

    def flush(self) -> None:
        super().flush()
        self._created = self.deadline = None

    async def aflush(self) -> None:
        await super().aflush()
        self._created = self.deadline = None

    def _cycle_attempt(self, old_hash: str) -> tuple[str, Record, Delta | None]:
        self._session_key = self._new_key_for(old_hash)
        return self._pending(must_create=False)

    def _renamed(self, record: Record) -> None:
        self._saved_as(record, True, False)
        self.modified = True

    def _rotated(self, old: str, new: str, record: Record) -> None:
        """The signals of a rename: the old handle ended, the new one created."""
        signals.ended(type(self), old, record.user_id, "rotated", self.request)
        signals.created(type(self), new, record.user_id, self.request, old)

    async def _arotated(self, old: str, new: str, record: Record) -> None:
        await signals.aended(type(self), old, record.user_id, "rotated", self.request)
        await signals.acreated(type(self), new, record.user_id, self.request, old)

    def _gone(self) -> UpdateError:
        """``cycle_key()`` found the session destroyed by another request (a logout): it
        is not brought back under a new id. This object is left as ``flush()`` leaves it,
        an empty session with no id (the middleware clears the cookie), and the caller
        gets the error to raise, which the middleware answers with Django's 400."""
        self.clear()
        self._session_key = None
        self._saved = None
        self._created = self.deadline = None
        self.destroyed = True
        return UpdateError("the session was destroyed by another request before cycle_key()")

    def cycle_key(self) -> None:
        """Give the session a new id; the old id is gone at once (atomically where the
        store's ``_rename`` is). Raises ``UpdateError`` if another request destroyed the
        session meanwhile (see :meth:`_gone`)."""
        self._get_session()  # type: ignore[attr-defined]
        old = self.session_key
        if old is None or self._saved is None:  # nothing stored yet: Django's way
            super().cycle_key()
            return
        old_hash = self._storage_key(old)
        for _ in range(CREATE_ATTEMPTS):
            key_hash, record, delta = self._cycle_attempt(old_hash)
            status = self._io(self._rename, old_hash, key_hash, record, delta)
            if status == NEW_TAKEN:
                continue
            if status != RENAMED:
                raise self._gone()
            self._renamed(record)
            self._rotated(old_hash, key_hash, record)
            return
        raise CreateError("could not find an unused session id")

    async def acycle_key(self) -> None:
        await self._aget_session()  # type: ignore[attr-defined]
        old = self.session_key
        if old is None or self._saved is None:
            await super().acycle_key()
            return
        old_hash = self._storage_key(old)
        for _ in range(CREATE_ATTEMPTS):
            key_hash, record, delta = self._cycle_attempt(old_hash)
            status = await self._aio(self._arename, old_hash, key_hash, record, delta)
            if status == NEW_TAKEN:
                continue
            if status != RENAMED:
                raise self._gone()
            self._renamed(record)
            await self._arotated(old_hash, key_hash, record)
            return
        raise CreateError("could not find an unused session id")

    @classmethod
    def clear_expired(cls) -> int:  # type: ignore[override]
        """Delete expired sessions, each with ``session_ended`` (``expired``); returns how
        many (0 where the store expires by itself)."""
        count = 0
        for key_hash, user_id in cls._purge_expired():
            signals.ended(cls, key_hash, user_id, "expired", None)
            count += 1
        return count

    @classmethod
    async def aclear_expired(cls) -> int:  # type: ignore[override]
        return await sync_to_async(cls.clear_expired)()
