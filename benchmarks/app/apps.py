"""Counts the SQL statements the app runs, for the driver's ``/stats/`` probe.

Every statement a Django cursor executes is counted (``connection.execute_wrappers``,
installed on each new connection, so every thread's connection counts: the ASGI executor's
too). ``BEGIN`` / ``COMMIT`` issued by the driver itself (``atomic()``) are not statements
Django executes through a cursor and are not counted; savepoints are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.apps import AppConfig
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

_lock = threading.Lock()
_statements = 0


def statements() -> int:
    """Statements executed by this process so far."""
    return _statements


def _count(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    global _statements
    with _lock:
        _statements += 1
    return execute(sql, params, many, context)


def _install(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


class BenchAppConfig(AppConfig):
    name = "benchmarks.app"
    label = "bench"

    def ready(self) -> None:
        connection_created.connect(_install)
