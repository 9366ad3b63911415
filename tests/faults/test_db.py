"""The db store's database failing under concurrent requests: PostgreSQL connections
terminated (``pg_terminate_backend``), SQLite locked by another writer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import (
    ServedClient,
    persistent_connections,
    require_postgresql,
    sqlite_file_database,
    sqlite_locked,
    terminate_backends,
    through_fault,
)


def browser() -> ServedClient:
    return ServedClient(raise_request_exception=False)


@pytest.mark.db
@pytest.mark.django_db(transaction=True)
def test_postgresql_connections_terminated_during_requests() -> None:
    require_postgresql()

    @contextmanager
    def terminating() -> Iterator[None]:
        """An operator (or a failover) killing every connection, every 50 ms."""
        done = threading.Event()

        def kill() -> None:
            while not done.wait(0.05):
                terminate_backends()

        killer = threading.Thread(target=kill)
        killer.start()
        try:
            yield
        finally:
            done.set()
            killer.join(5)

    with persistent_connections(health_checks=True):  # no 503 for a connection killed idle
        through_fault(browser, terminating, hold=0.4)


def test_sqlite_locked_by_another_writer_during_requests(
    tmp_path: Path, django_db_blocker: Any
) -> None:
    path = tmp_path / "sessions.sqlite3"
    with django_db_blocker.unblock(), sqlite_file_database(path, timeout=0.2):
        through_fault(browser, lambda: sqlite_locked(path), hold=0.6)
