"""Exceptions sessionkit raises."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)


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
    :class:`StoreUnavailable` (the middleware's 503); ``failed`` is told of it."""
    try:
        yield
    except errors as exc:
        error = StoreUnavailable.logged(store, exc)
        if failed is not None:
            failed(error)
        raise error from exc


def connection_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning "the store is down" for the clients sessionkit may sit on."""
    from django.db import InterfaceError, OperationalError

    errors: list[type[BaseException]] = [
        ConnectionError,
        TimeoutError,
        OperationalError,
        InterfaceError,
    ]
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        errors += [RedisConnectionError, RedisTimeoutError]
    except ImportError:
        pass
    try:
        from django_redis.exceptions import ConnectionInterrupted

        errors.append(ConnectionInterrupted)
    except ImportError:
        pass
    return tuple(errors)
