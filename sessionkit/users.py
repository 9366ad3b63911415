"""Per-user sessions: list a user's devices, log out the others (CONTRACT section 6)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import import_module
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ImproperlyConfigured

from sessionkit import signals
from sessionkit.backends.base import Record, hash_key
from sessionkit.backends.base import SessionStore as KitStore
from sessionkit.errors import store_errors
from sessionkit.signals import Reason
from sessionkit.user_agents import device_label

T = TypeVar("T")


@dataclass(frozen=True)
class UserSession:
    """One of a user's live sessions, as a "your devices" page shows it."""

    #: Opaque handle (a hash of the session id): safe to render in a form and to pass back
    #: to :func:`end_session`; useless as a cookie.
    handle: str
    created: datetime
    last_seen: datetime
    #: When the session ends unless used again: the idle expiry or the absolute deadline,
    #: whichever comes first.
    expires: datetime
    #: The User-Agent header as stored (trimmed), and a short label for it.
    user_agent: str
    label: str
    ip: str
    #: Whether this is the session of the request passed as ``current``.
    current: bool


def indexed_store() -> type[KitStore] | None:
    """The ``SESSION_ENGINE``'s store if it keeps a per-user index (db, redis, memory)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if isinstance(store, type) and issubclass(store, KitStore) and store.indexes_users:
        return store
    return None


def _store() -> type[KitStore]:
    store = indexed_store()
    if store is None:
        raise ImproperlyConfigured(
            f"SESSION_ENGINE {settings.SESSION_ENGINE!r} keeps no per-user index; use "
            "sessionkit.backends.db, .redis or .memory."
        )
    return store


def _user_id(user: Any) -> str:
    return str(user.pk if hasattr(user, "pk") else user)


def _key_hash_of(session: SessionBase | str | None) -> str | None:
    if isinstance(session, SessionBase):
        return None if session.session_key is None else hash_key(session.session_key)
    return session


def _request_of(session: SessionBase | str | None, request: Any) -> Any:
    """The request to pass to the signals: the one given, or ``keep``'s."""
    return request if request is not None else getattr(session, "request", None)


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _row(key_hash: str, record: Record, current: str | None) -> UserSession:
    ends = record.expires if record.deadline is None else min(record.expires, record.deadline)
    return UserSession(
        handle=key_hash,
        created=_when(record.created),
        last_seen=_when(record.last_seen or record.created),
        expires=_when(ends),
        user_agent=record.client.user_agent,
        label=device_label(record.client.user_agent),
        ip=record.client.ip,
        current=key_hash == current,
    )


def _rows(records: list[tuple[str, Record]], current: SessionBase | None) -> list[UserSession]:
    here = _key_hash_of(current)
    rows = [_row(key_hash, record, here) for key_hash, record in records]
    return sorted(rows, key=lambda row: row.last_seen, reverse=True)


def _call(store: type[KitStore], fn: Callable[..., T], *args: Any) -> T:
    """Run a store primitive; an unreachable store becomes ``StoreUnavailable`` (503)."""
    with store_errors(store.__module__, store.unavailable_errors):
        return fn(*args)


async def _acall(store: type[KitStore], fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    with store_errors(store.__module__, store.unavailable_errors):
        return await fn(*args)


def user_sessions(user: Any, current: SessionBase | None = None) -> list[UserSession]:
    """The user's live sessions, most recently seen first; ``current`` marks this one."""
    store = _store()
    return _rows(_call(store, store._user_records, _user_id(user)), current)


async def auser_sessions(user: Any, current: SessionBase | None = None) -> list[UserSession]:
    """:func:`user_sessions` for async code (the Redis store's async client: no thread)."""
    store = _store()
    return _rows(await _acall(store, store._auser_records, _user_id(user)), current)


def end_user_sessions(
    user: Any,
    keep: SessionBase | str | None = None,
    *,
    reason: Reason = "revoked",
    request: Any = None,
) -> int:
    """End all the user's sessions except ``keep`` ("log out other devices"); returns how
    many this call ended, each with ``session_ended``."""
    store, user_id = _store(), _user_id(user)
    ended = _call(store, store._end_user_records, user_id, _key_hash_of(keep))
    request = _request_of(keep, request)
    for handle in ended:
        signals.ended(store, handle, user_id, reason, request)
    return len(ended)


async def aend_user_sessions(
    user: Any,
    keep: SessionBase | str | None = None,
    *,
    reason: Reason = "revoked",
    request: Any = None,
) -> int:
    """:func:`end_user_sessions` for async code."""
    store, user_id = _store(), _user_id(user)
    ended = await _acall(store, store._aend_user_records, user_id, _key_hash_of(keep))
    request = _request_of(keep, request)
    for handle in ended:
        await signals.aended(store, handle, user_id, reason, request)
    return len(ended)


def end_session(user: Any, handle: str, *, request: Any = None) -> bool:
    """End one of the user's sessions by its ``handle`` (never another user's); whether
    this call ended it."""
    store = _store()
    if not any(s == handle for s, _ in _call(store, store._user_records, _user_id(user))):
        return False
    removed = _call(store, store()._remove, handle)
    if removed.found:
        signals.ended(store, handle, removed.user_id, "revoked", request)
    return removed.found


async def aend_session(user: Any, handle: str, *, request: Any = None) -> bool:
    """:func:`end_session` for async code."""
    store = _store()
    records = await _acall(store, store._auser_records, _user_id(user))
    if not any(s == handle for s, _ in records):
        return False
    removed = await _acall(store, store()._aremove, handle)
    if removed.found:
        await signals.aended(store, handle, removed.user_id, "revoked", request)
    return removed.found
