"""Sessions in connect-redis's format, shared with a running Express app.

Each session is one string key, ``<CONNECT_PREFIX><id>`` (the raw id: the Express side
looks sessions up by it), holding express-session's JSON (:mod:`~sessionkit.backends.express_json`)
with the TTL connect-redis sets: ``ceil(cookie.expires - now)`` seconds, or ``CONNECT_TTL``
(connect-redis's ``ttl``, default one day) for a browser-session cookie; a write whose TTL
is not positive deletes the session, as connect-redis's ``set`` does. A read pushes the
TTL back as connect-redis's ``touch`` does (``EXPIRE``, from ``cookie.originalMaxAge``),
once it would move by more than the touch slack (:func:`sessionkit.lifetime.touch_slack`).

The ``cookie`` object is not in Django's session dict. Its lifetime is: an
``originalMaxAge`` other than ``COOKIE["MAX_AGE"]`` (express-session's per-session
``req.session.cookie.maxAge``, a "remember me") reads as ``set_expiry()`` seconds (``0``
for a browser-session cookie), and ``set_expiry()`` writes ``originalMaxAge``; so a session
keeps its own lifetime whichever side writes it, as express-session keeps a session's
``originalMaxAge`` whatever its ``maxAge`` option says now. The other attributes come from
``SESSIONKIT["COOKIE"]``, which must match the Express app's ``cookie`` option.

Django's writes are read-merge-writes under ``WATCH`` (retried when another writer got
there first): a Django request that changed one key keeps what a concurrent request, on
either side, wrote to other keys before it. connect-redis writes the whole object it
loaded, so an Express request that saves overwrites what was written since its read.

The same connection as :mod:`sessionkit.backends.redis` (django-redis's
``SESSION_CACHE_ALIAS``, or ``SESSIONKIT_REDIS["CLIENT_FACTORY"]``); not Redis Cluster
(a ``cycle_key()`` moves one key to another in one transaction). No per-user index.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal, TypeVar

import redis
from redis.exceptions import WatchError

from sessionkit import lifetime
from sessionkit.backends import express_json
from sessionkit.backends.base import (
    NEW_TAKEN,
    NOT_FOUND,
    OLD_GONE,
    RENAMED,
    Purged,
    Record,
    Removed,
    custom_expiry,
    hash_key,
    user_of,
)
from sessionkit.backends.base import SessionStore as BaseStore
from sessionkit.backends.redis_client import sync_client
from sessionkit.conf import get_redis_settings, get_settings
from sessionkit.session_fields import Delta, Fields, to_fields

logger = logging.getLogger(__name__)

#: Where Django keeps ``set_expiry()``'s value; here it is the cookie's ``originalMaxAge``.
EXPIRY_KEY = "_session_expiry"

T = TypeVar("T")
#: What :meth:`SessionStore.move_out` did with a session.
MoveResult = Literal["moved", "already", "lost", "gone"]


def key_name(session_key: str) -> str:
    return get_redis_settings().connect_prefix + session_key


def redis_ttl(expires: float | None, now: float) -> int:
    """The TTL connect-redis's ``getTTL`` gives a session whose ``cookie.expires`` is
    ``expires``: the seconds left, rounded up, or its default ``ttl``."""
    if expires is None:
        return get_redis_settings().connect_ttl
    return math.ceil(expires - now)


def touch_age(original_max_age: float | None) -> int:
    """Seconds connect-redis's ``touch`` gives the session (express-session first resets
    ``cookie.expires`` to now + ``originalMaxAge``)."""
    if original_max_age is None:
        return get_redis_settings().connect_ttl
    return math.ceil(original_max_age / 1000)


def _django_expiry(original_max_age: float | None) -> int | None:
    """The ``set_expiry()`` value a stored ``originalMaxAge`` stands for: ``None`` when it is
    the configured ``MAX_AGE`` (the cookie option both sides share)."""
    configured = get_settings().cookie.max_age
    if original_max_age is None:
        return None if configured is None else 0
    seconds = round(original_max_age / 1000)  # express-session's rolls drift by a ms
    return None if seconds == configured or seconds <= 0 else seconds


def _max_age_ms(custom: Any, now: float) -> tuple[int | None, float | None]:
    """``(originalMaxAge, expires)`` of a session written at ``now`` whose
    ``_session_expiry`` is ``custom``, as express-session would hold them."""
    conf = get_settings()
    if lifetime.expires_at_browser_close(custom, conf):
        return None, None
    if isinstance(custom, str):  # set_expiry(datetime): the time left, then rolling
        fixed = lifetime.store_lifetime(custom, now, now, conf).expires
        return max(int((fixed - now) * 1000), 0), fixed
    seconds = lifetime.touch_age(custom, conf) or 0
    return seconds * 1000, now + seconds


class SessionStore(BaseStore):
    """express-session + connect-redis's sessions, read and written as they do."""

    #: ``ADOPT_FROM`` this store: its cookie is sessionkit's already (the same secret), so a
    #: session moves to the same id (:func:`sessionkit.adopt.move_by_id`).
    adopts_by_id: ClassVar[bool] = True
    expires_by_itself = True
    unavailable_errors: ClassVar[tuple[type[BaseException], ...]] = (
        *BaseStore.unavailable_errors,
        redis.exceptions.ReadOnlyError,
    )

    @staticmethod
    def _storage_key(session_key: str) -> str:
        """The id itself: the Express app finds the session by it (no hashing)."""
        return session_key

    @staticmethod
    def handle_of(stored: str) -> str:
        """A hash of the id: a signal receiver (an audit log) never sees a usable id."""
        return hash_key(stored)

    # -- the session as stored, both ways -------------------------------------------------

    def _cookie_secure(self) -> bool:
        secure = get_settings().cookie.secure
        return secure is True or (secure == "auto" and self.cookie_secure)

    def _value(self, fields: Fields, now: float) -> tuple[str, int]:
        """The stored text of ``fields`` and its TTL (not positive: delete it)."""
        cookie_conf = get_settings().cookie
        original, expires = _max_age_ms(custom_expiry(fields), now)
        cookie = express_json.cookie_object(
            original,
            expires,
            secure=self._cookie_secure(),
            httponly=cookie_conf.httponly,
            domain=cookie_conf.domain,
            path=cookie_conf.path,
            samesite=cookie_conf.samesite or None,
        )
        body = {k: v for k, v in fields.items() if k != EXPIRY_KEY}
        return express_json.dump(body, cookie), redis_ttl(expires, now)

    @staticmethod
    def _read(raw: bytes | None, name: str) -> tuple[Fields, float | None] | None:
        """Django's fields of a stored value (its keys, and the cookie's lifetime as
        ``_session_expiry`` where it is not the configured one) and ``originalMaxAge``."""
        if raw is None:
            return None
        stored = express_json.parse(raw)
        if stored is None:
            logger.warning("sessionkit: %s is not an express-session session; ignored", name)
            return None
        fields = {k: v for k, v in stored.fields.items() if k != EXPIRY_KEY}
        if (custom := _django_expiry(stored.original_max_age)) is not None:
            fields[EXPIRY_KEY] = str(custom)
        return fields, stored.original_max_age

    def _pending(self, must_create: bool) -> tuple[str, Record, Delta | None]:
        """The base's, refusing what express-session could not read back: a ``cookie`` key
        (its own), or a value JSON cannot hold (named, rather than a bare ``TypeError``)."""
        data = self._get_session(no_load=must_create)  # type: ignore[attr-defined]
        if express_json.COOKIE in data:
            raise ValueError(
                "the session key 'cookie' is express-session's own (its cookie object), so "
                "the connect_redis store cannot save it: rename the key."
            )
        try:
            return super()._pending(must_create)
        except (TypeError, ValueError) as exc:
            for key in list(data):
                try:
                    to_fields({key: data[key]})
                except (TypeError, ValueError):
                    raise TypeError(
                        f"the session key {key!r} holds a {type(data[key]).__name__}, which "
                        "JSON cannot represent: the connect_redis store shares sessions with "
                        "express-session as JSON. Store a str, number, bool, None, list or "
                        "dict."
                    ) from exc
            raise  # pragma: no cover  # every value encoded alone: not a value's fault

    # -- primitives -------------------------------------------------------------------------

    @staticmethod
    def _read_slack(age: int | None) -> float:
        return lifetime.touch_slack(age)

    @staticmethod
    def _expiry_in_force(record: Record) -> float:
        """The TTL Redis holds: express-session keeps a session's own lifetime."""
        return record.expires

    def _fetch(self, key_hash: str, now: float) -> Record | None:
        """``GET`` and ``PTTL`` in one round trip; ``EXPIRE`` (connect-redis's ``touch``)
        when the touch is due."""
        client = sync_client()
        name = key_name(key_hash)
        pipe = client.pipeline(transaction=True)
        raw, pttl = pipe.get(name).pttl(name).execute()
        if (read := self._read(raw, name)) is None:
            return None
        fields, original_max_age = read
        age = touch_age(original_max_age)
        expires = now + (pttl / 1000 if pttl >= 0 else age)  # -1: no TTL (disableTTL)
        record = Record(fields, now, expires, age, None, user_of(fields), last_seen=now)
        after = lifetime.expiry_after_read(expires, age, None, now, self._read_slack(age))
        if after != expires and pttl >= 0:
            client.expire(name, age)
        return record

    def _watched(self, names: tuple[str, ...], body: Callable[[Any], T]) -> T:
        """Run ``body(pipe)`` with ``names`` watched until no other writer intervened:
        ``body`` reads, then calls ``pipe.multi()`` and queues its writes (or returns
        before, writing nothing)."""
        with sync_client().pipeline() as pipe:
            while True:
                try:
                    pipe.watch(*names)
                    result = body(pipe)
                    if pipe.explicit_transaction:
                        pipe.execute()
                    return result
                except WatchError:
                    continue

    def _merged(self, raw: bytes, name: str, record: Record, delta: Delta | None) -> Fields:
        stored = self._read(raw, name)
        if delta is None or stored is None:
            return record.fields
        return delta.applied_to(stored[0])

    def _queue_write(self, pipe: Any, name: str, fields: Fields) -> None:
        value, ttl = self._value(fields, time.time())
        if ttl > 0:
            pipe.set(name, value, ex=ttl)
        else:
            pipe.delete(name)

    def _insert(self, key_hash: str, record: Record) -> bool:
        value, ttl = self._value(record.fields, time.time())
        if ttl <= 0:
            return True  # expired as it is made: connect-redis would destroy it
        return bool(sync_client().set(key_name(key_hash), value, ex=ttl, nx=True))

    def _update(self, key_hash: str, record: Record, delta: Delta | None) -> bool:
        name = key_name(key_hash)

        def write(pipe: Any) -> bool:
            raw = pipe.get(name)
            if raw is None:
                return False  # destroyed by another request: not brought back
            fields = self._merged(raw, name, record, delta)
            pipe.multi()
            self._queue_write(pipe, name, fields)
            return True

        return self._watched((name,), write)

    def _rename(self, old: str, new: str, record: Record, delta: Delta | None) -> int:
        """Move ``old`` to ``new`` in one transaction: the old id is dead on both sides."""
        old_name, new_name = key_name(old), key_name(new)

        def move(pipe: Any) -> int:
            raw = pipe.get(old_name)
            if raw is None:
                return OLD_GONE
            if pipe.exists(new_name):
                return NEW_TAKEN
            fields = self._merged(raw, old_name, record, delta)
            pipe.multi()
            self._queue_write(pipe, new_name, fields)
            pipe.delete(old_name)
            return RENAMED

        return self._watched((old_name, new_name), move)

    def _remove(self, key_hash: str) -> Removed:
        """``GETDEL``: whether this call deleted the session (one ``session_ended`` of two
        racing logouts), and whose it was."""
        name = key_name(key_hash)
        raw = sync_client().getdel(name)
        if raw is None:
            return NOT_FOUND
        read = self._read(raw, name)
        return Removed(True, None if read is None else user_of(read[0]))

    def _contains(self, key_hash: str) -> bool:
        return bool(sync_client().exists(key_name(key_hash)))

    @classmethod
    def _purge_expired(cls) -> Iterator[Purged]:
        """Nothing to do: Redis expires every session by its TTL."""
        return iter(())

    # -- moving sessions out (ADOPT_FROM, once the Express app is retired) ---------------

    @classmethod
    def move_out(cls, session_key: str, put: Callable[[Fields, float], bool]) -> MoveResult:
        """Move a session out of the store: ``put(fields, expires)`` stores it elsewhere
        (``False``: taken there already), then the key is deleted, in a transaction
        watching it since it was read. So a request that finds the key gone finds the
        copy in place; and if the key changed or went meanwhile (another mover's copy
        since ended by a logout, or the Express app still writing), the answer is
        ``"lost"``, and the caller removes what ``put`` stored rather than bring a
        session back. A value that is not an express-session session is deleted."""
        name = key_name(session_key)
        if not sync_client().exists(name):
            return "gone"  # one round trip: every request's answer once it has moved
        with sync_client().pipeline() as pipe:
            pipe.watch(name)
            raw, pttl = pipe.get(name), pipe.pttl(name)
            if (read := cls._read(raw, name)) is None:
                sync_client().delete(name)  # not express-session's (or gone meanwhile)
                return "gone"
            fields, original_max_age = read
            expires = time.time() + (pttl / 1000 if pttl >= 0 else touch_age(original_max_age))
            if not put(fields, expires):
                sync_client().delete(name)  # moved already: the copy is the session
                return "already"
            pipe.multi()
            pipe.delete(name)
            try:
                pipe.execute()
            except WatchError:
                return "lost"
        return "moved"

    @classmethod
    def ids(cls, batch_size: int) -> Iterator[list[str]]:
        """Every stored session id, ``batch_size`` at a time (``SCAN``: an id stored or
        deleted meanwhile may or may not be listed, and one may be listed twice)."""
        prefix = get_redis_settings().connect_prefix
        batch: list[str] = []
        pattern = _glob_escape(prefix) + "*"
        for name in sync_client().scan_iter(match=pattern, count=batch_size):
            batch.append(name.decode()[len(prefix) :] if isinstance(name, bytes) else name)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch


def _glob_escape(text: str) -> str:
    """``text`` matched literally by a ``SCAN MATCH`` pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
