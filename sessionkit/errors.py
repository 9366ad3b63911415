"""Exceptions sessionkit raises, and which store errors mean "cannot serve this now".

A store error is either the store refusing or failing to serve right now (down, paused,
full, read-only, loading, busy, a lost connection, a lock held too long), which the
middleware answers with a 503 and a log line, or a bug or a misconfiguration (a missing
table, a wrong type, a bad script), which stays an exception and Django's 500. The one
place that tells them apart is :func:`unavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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
    """The session store could not be reached; the middleware answers 503."""

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


def connection_errors() -> tuple[type[BaseException], ...]:
    """The exception classes of the clients sessionkit may sit on that can mean "the
    store cannot serve this now"; :func:`unavailable` decides for each error."""
    from django.db import InterfaceError, OperationalError

    errors: list[type[BaseException]] = [
        ConnectionError,
        TimeoutError,
        OperationalError,
        InterfaceError,
    ]
    try:
        from redis.exceptions import RedisClusterException, RedisError

        errors += [RedisError, RedisClusterException]
    except ImportError:
        pass
    try:
        from django_redis.exceptions import ConnectionInterrupted

        errors.append(ConnectionInterrupted)
    except ImportError:
        pass
    return tuple(errors)


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the store cannot serve this now (503), not a bug (500)."""
    if isinstance(error, ConnectionError | TimeoutError):  # socket errors, asyncio timeouts
        return True
    cause = error.__cause__
    if _is_django_redis_interrupted(error):
        # django-redis wraps every redis-py error, a WRONGTYPE as much as a timeout.
        return cause is None or unavailable(cause)
    redis_verdict = _redis_unavailable(error)
    if redis_verdict is not None:
        return redis_verdict
    from django.db import InterfaceError, OperationalError

    if isinstance(error, InterfaceError):  # the connection is closed or unusable
        return True
    if isinstance(error, OperationalError):
        return _database_unavailable(cause)
    return False


def _is_django_redis_interrupted(error: BaseException) -> bool:
    try:
        from django_redis.exceptions import ConnectionInterrupted
    except ImportError:
        return False
    return isinstance(error, ConnectionInterrupted)


def _redis_unavailable(error: BaseException) -> bool | None:
    """The verdict on a redis-py error; ``None`` when ``error`` is not one."""
    try:
        from redis import exceptions as rx
    except ImportError:
        return None
    if isinstance(
        error,
        rx.ConnectionError  # refused, reset, LOADING (BusyLoadingError), pool exhausted
        | rx.TimeoutError
        | rx.OutOfMemoryError  # OOM: maxmemory reached under noeviction
        | rx.ReadOnlyError  # READONLY: a replica (after a failover, or misrouted)
        | rx.ClusterError  # CLUSTERDOWN, MASTERDOWN, cluster retries exhausted
        | rx.TryAgainError  # TRYAGAIN: a slot being resharded
        | rx.SlotNotCoveredError,
    ):
        return True
    if isinstance(error, rx.ResponseError):
        return str(error).split(" ", 1)[0] in UNAVAILABLE_REDIS_REPLIES
    if isinstance(error, rx.RedisError | rx.RedisClusterException):
        return False
    return None


def _database_unavailable(cause: BaseException | None) -> bool:
    """The verdict on a Django ``OperationalError`` from the driver's error under it."""
    import sqlite3

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
