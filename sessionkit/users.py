"""Per-user sessions: list a user's devices, log out the others (CONTRACT section 6)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import import_module
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ImproperlyConfigured

from sessionkit.backends.base import Record, hash_key
from sessionkit.backends.base import SessionStore as KitStore
from sessionkit.errors import store_errors
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


def _store() -> type[KitStore]:
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not (isinstance(store, type) and issubclass(store, KitStore) and store.indexes_users):
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


def _call(store: type[KitStore], fn: Callable[..., T], *args: Any) -> T:
    """Run a store primitive; an unreachable store becomes ``StoreUnavailable`` (503)."""
    with store_errors(store.__module__, store.unavailable_errors):
        return fn(*args)


def user_sessions(user: Any, current: SessionBase | None = None) -> list[UserSession]:
    """The user's live sessions, most recently seen first; ``current`` marks this one."""
    here, store = _key_hash_of(current), _store()
    records = _call(store, store._user_records, _user_id(user))
    rows = [_row(key_hash, record, here) for key_hash, record in records]
    return sorted(rows, key=lambda row: row.last_seen, reverse=True)


def end_user_sessions(user: Any, keep: SessionBase | str | None = None) -> int:
    """End all the user's sessions except ``keep`` ("log out other devices"); returns how many."""
    store = _store()
    return _call(store, store._end_user_records, _user_id(user), _key_hash_of(keep))


def end_session(user: Any, handle: str) -> bool:
    """End one of the user's sessions by its ``handle`` (never another user's)."""
    store = _store()
    if not any(s == handle for s, _ in _call(store, store._user_records, _user_id(user))):
        return False
    _call(store, store()._remove, handle)
    return True
