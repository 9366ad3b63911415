"""Migrations 0002-0004 on a table written by 0001: every live session is kept, and
backwards gives 0001's table again. Run for real (``MigrationExecutor``) on SQLite and,
in the ``db`` pass, PostgreSQL."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

import sessionkit
from sessionkit.backends.base import hash_key
from sessionkit.backends.db import SessionStore
from sessionkit.models import Session
from tests.helpers import epoch

pytestmark = [pytest.mark.db, pytest.mark.django_db(transaction=True)]

OLD = ("sessionkit", "0001_initial")
COLUMNS = ("key_hash", "data", "created", "expires", "last_seen", "age", "deadline", "user_id")


def migrate(target: tuple[str, str]) -> None:
    MigrationExecutor(connection).migrate([target])


def latest() -> tuple[str, str]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes("sessionkit")[0]


@pytest.fixture
def at_0001() -> Iterator[None]:
    """The table as 0001 made it; the latest schema again afterwards."""
    new = latest()
    migrate(OLD)
    try:
        yield
    finally:
        migrate(new)


def old_row(data: dict[str, Any], user_id: str | None, *, expires_in: float = 3600) -> str:
    """Insert a session through 0001's schema (epoch floats, text user id); its id."""
    key, now = secrets.token_urlsafe(24), time.time()
    values = (hash_key(key), json.dumps(data), now - 60, now + expires_in, now - 5, 3600)
    values += (now + 7200, user_id)
    table, quote = "sessionkit_session", connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(table)} ({', '.join(map(quote, COLUMNS))}, "
            f"{quote('user_agent')}, {quote('ip')}) "
            f"VALUES ({', '.join(['%s'] * len(COLUMNS))}, 'Phone/1.0', '10.0.0.1')",
            values,
        )
    return key


def old_rows() -> dict[str, tuple[Any, ...]]:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(map(quote, COLUMNS))} FROM sessionkit_session")
        return {row[0]: row[1:] for row in cursor.fetchall()}


def test_every_live_session_survives_the_migration_and_back(at_0001):
    lin = User.objects.create_user("lin", password="pw-123456")
    gone_id = str(lin.pk + 1000)  # no such user (deleted, or never there)
    keys = {
        "lin": old_row({"_auth_user_id": str(lin.pk), "x": 1}, str(lin.pk)),
        "deleted user": old_row({"_auth_user_id": gone_id, "x": 2}, gone_id),
        "no valid key": old_row({"_auth_user_id": "not-a-pk", "x": 3}, "not-a-pk"),
        "anonymous": old_row({"cart": [1, 2]}, None),
        "expired": old_row({"_auth_user_id": str(lin.pk)}, str(lin.pk), expires_in=-1),
    }
    before = old_rows()

    migrate(latest())

    assert SessionStore(keys["lin"]).load() == {"_auth_user_id": str(lin.pk), "x": 1}
    assert SessionStore(keys["deleted user"]).load()["x"] == 2
    assert SessionStore(keys["no valid key"]).load()["x"] == 3
    assert SessionStore(keys["anonymous"]).load() == {"cart": [1, 2]}
    assert SessionStore(keys["expired"]).load() == {}
    assert not Session.objects.filter(pk=hash_key(keys["expired"])).exists()
    row = Session.objects.get(pk=hash_key(keys["lin"]))
    old = before[row.pk]
    assert row.user == lin and (row.user_agent, row.ip) == ("Phone/1.0", "10.0.0.1")
    assert epoch(row.created) == pytest.approx(old[1], abs=0.001)
    assert epoch(row.deadline) == pytest.approx(old[5], abs=0.001)
    assert [s.handle for s in sessionkit.user_sessions(lin)] == [row.pk]
    others = Session.objects.exclude(pk=row.pk)
    assert list(others.values_list("user", flat=True)) == [None, None, None]

    migrate(OLD)

    after = old_rows()
    assert set(after) == {hash_key(keys[k]) for k in keys if k != "expired"}
    lin_row = after[hash_key(keys["lin"])]
    assert lin_row[-1] == str(lin.pk)
    assert lin_row[:-1] == pytest.approx(before[hash_key(keys["lin"])][:-1], abs=0.001)
    assert after[hash_key(keys["deleted user"])][-1] is None  # no such user any more
