"""Exceptions sessionkit raises."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The session store could not be reached; the middleware answers 503."""

    def __init__(self, store: str, cause: BaseException) -> None:
        super().__init__(f"session store {store} is unavailable: {cause}")
        self.store = store
        self.cause = cause
