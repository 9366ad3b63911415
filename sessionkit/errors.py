"""Exceptions sessionkit raises, and which store errors mean "cannot serve this now".

A store error is either the store refusing or failing to serve right now (down, paused,
full, read-only, loading, busy, a lost connection, a lock held too long), which the
middleware answers with a 503 and a log line, or a bug or a misconfiguration (a missing
table, a wrong type, a bad script), which stays an exception and Django's 500. The one
place that tells them apart is :func:`unavailable`.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

logger = logging.getLogger(__name__)

#: Redis error replies (their first word) that redis-py leaves as a plain ``ResponseError``
#: but that mean the server cannot serve now: a script running past ``busy-reply-threshold``,
#: too few replicas for ``min-replicas-to-write``, writes stopped after a failed snapshot.
UNAVAILABLE_REDIS_REPLIES = frozenset({"BUSY", "NOREPLICAS", "MISCONF"})

#: PostgreSQL SQLSTATE classes of a server that cannot serve now: connection exception,
#: insufficient resources, operator intervention (terminated backend, shutdown, statement
#: timeout), system error, transaction rollback (deadlock, serialization failure).
UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
#: Single PostgreSQL SQLSTATEs that mean the same: ``lock_not_available`` (``lock_timeout``).
UNAVAILABLE_SQLSTATES = frozenset({"55P03"})


class StoreUnavailable(Exception):
    """The session store cannot serve this request now; the middleware answers 503."""

    def __init__(self, store: str, cause: BaseException) -> None:
        super().__init__(f"session store {store} is unavailable: {cause}")
        self.store = store
        self.cause = cause

    @classmethod
    def logged(cls, store: str, cause: BaseException) -> StoreUnavailable:
        """The error for ``store``, with the log line naming it (CONTRACT section 4)."""
        error = cls(store, cause)
        logger.error("sessionkit: %s", error)
        return error


@contextmanager
def store_errors(
    store: str,
    errors: tuple[type[BaseException], ...],
    failed: Callable[[StoreUnavailable], None] | None = None,
) -> Iterator[None]:
    """Turn the store client's "cannot serve this now" errors into one logged
    :class:`StoreUnavailable` (the middleware's 503); ``failed`` is told of it. Of the
    ``errors`` caught, those :func:`unavailable` does not accept propagate (a 500)."""
    try:
        yield
    except errors as exc:
        if not unavailable(exc):
            raise
        error = StoreUnavailable.logged(store, exc)
        if failed is not None:
            failed(error)
        raise error from exc


class _Kinds(NamedTuple):
    """The store clients' error classes, by how :func:`unavailable` judges them."""

    #: Always "cannot serve this now": lost or refused connections, timeouts, and the
    #: Redis replies redis-py gives classes of their own (OOM, READONLY, LOADING,
    #: CLUSTERDOWN, MASTERDOWN, TRYAGAIN).
    unavailable: tuple[type[BaseException], ...]
    #: Judged by their first word (:data:`UNAVAILABLE_REDIS_REPLIES`): Redis error replies.
    replies: tuple[type[BaseException], ...]
    #: Judged by the error they wrap: django-redis's ``ConnectionInterrupted``.
    wrappers: tuple[type[BaseException], ...]


@functools.cache
def _kinds() -> _Kinds:
    """The classes of the clients installed (redis-py and django-redis are optional)."""
    from django.db import InterfaceError

    unavailable: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, InterfaceError)
    replies: tuple[type[BaseException], ...] = ()
    wrappers: tuple[type[BaseException], ...] = ()
    try:
        from redis import exceptions as rx
    except ImportError:
        return _Kinds(unavailable, replies, wrappers)
    unavailable += (
        rx.ConnectionError,  # refused, reset, LOADING (BusyLoadingError), pool exhausted
        rx.TimeoutError,
        rx.OutOfMemoryError,  # OOM: maxmemory reached under noeviction
        rx.ReadOnlyError,  # READONLY: a replica (after a failover, or misrouted)
        rx.ClusterError,  # CLUSTERDOWN, MASTERDOWN, cluster retries exhausted
        rx.TryAgainError,  # TRYAGAIN: a slot being resharded
        rx.SlotNotCoveredError,
    )
    replies = (rx.ResponseError,)
    try:
        from django_redis.exceptions import ConnectionInterrupted
    except ImportError:
        return _Kinds(unavailable, replies, wrappers)
    return _Kinds(unavailable, replies, (ConnectionInterrupted,))


def connection_errors() -> tuple[type[BaseException], ...]:
    """The exception classes of the clients sessionkit may sit on that can mean "the
    store cannot serve this now"; :func:`unavailable` decides for each error."""
    from django.db import OperationalError

    kinds = _kinds()
    return (*kinds.unavailable, *kinds.replies, *kinds.wrappers, OperationalError)


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the store cannot serve this now (503), not a bug (500)."""
    from django.db import OperationalError

    kinds = _kinds()
    if isinstance(error, kinds.unavailable):
        return True
    if isinstance(error, kinds.replies):  # BUSY, NOREPLICAS, MISCONF; not WRONGTYPE
        return str(error).split(" ", 1)[0] in UNAVAILABLE_REDIS_REPLIES
    if isinstance(error, kinds.wrappers):  # django-redis wraps a WRONGTYPE like a timeout
        return error.__cause__ is None or unavailable(error.__cause__)
    return isinstance(error, OperationalError) and _database_unavailable(error.__cause__)


def _database_unavailable(cause: BaseException | None) -> bool:
    """The verdict on a Django ``OperationalError`` from the driver's error under it."""
    if isinstance(cause, sqlite3.Error):
        # Busy or locked after the ``timeout`` wait; "no such table" is a bug (SQLITE_ERROR).
        name = getattr(cause, "sqlite_errorname", "")
        return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
    if cause is not None and type(cause).__module__.startswith("psycopg"):
        # psycopg 3 says ``sqlstate``, psycopg2 ``pgcode``; none: the client lost the server.
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if state is None:
            return True
        return state[:2] in UNAVAILABLE_SQLSTATE_CLASSES or state in UNAVAILABLE_SQLSTATES
    return True  # another driver: its OperationalError is about the server, as Django has it
