"""Small helpers shared by the middleware tests: real stores, real cookies."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.http import HttpResponse

from sessionkit.backends import db_time
from sessionkit.backends.base import hash_key
from sessionkit.backends.db import SessionStore as DbStore
from sessionkit.conf import get_settings
from sessionkit.models import Session
from sessionkit.signing import encode_cookie_value


def stored_session(data: dict[str, Any] | None = None, *, aged: float = 3600) -> str:
    """Create a db session holding ``data``; pretend it was last touched ``aged`` s ago."""
    store = DbStore()
    for key, value in (data or {"x": 1}).items():
        store[key] = value
    store.save()
    assert store.session_key is not None
    row = Session.objects.get(pk=hash_key(store.session_key))
    row.expires -= timedelta(seconds=aged)
    row.last_seen -= timedelta(seconds=aged)
    row.save()
    return store.session_key


def epoch(value: datetime) -> float:
    """A datetime column's value (``USE_TZ`` on or off) in epoch seconds."""
    return db_time.to_epoch(value)


def at(seconds: float) -> datetime:
    """``seconds`` (epoch) as the db store's datetime columns hold it."""
    return db_time.to_datetime(seconds)


def user_id(username: str = "seven") -> str:
    """A real user's id as ``_auth_user_id`` holds it (the db store keeps only users that
    exist)."""
    from django.contrib.auth.models import User

    return str(User.objects.get_or_create(username=username)[0].pk)


def signed(session_key: str, key_index: int = 0) -> str:
    return encode_cookie_value(session_key, get_settings().keys[key_index])


def cookie_header(session_key: str) -> str:
    return f"{get_settings().name}={signed(session_key)}"


def set_cookie(response: HttpResponse) -> Any:
    """The response's session Set-Cookie morsel, or ``None``."""
    return response.cookies.get(get_settings().name)


def row(session_key: str) -> Session | None:
    return Session.objects.filter(pk=hash_key(session_key)).first()


def close_thread_connections() -> None:
    """Close this thread's database connections, in-memory SQLite included (Django's
    ``close()`` ignores it there, and Python 3.13 warns when the thread's connection is
    garbage-collected open)."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and conn.vendor == "sqlite" and conn.is_in_memory_db():
            conn.connection.close()
            conn.connection = None
        else:
            conn.close()
