"""What the soak app runs on: PostgreSQL (users, and the db store's sessions) and Redis.

The machine's servers are used when they answer, else private ones are started, as the
tests do (:mod:`tests.servers`). Each run gets a database and a Redis key prefix of its own,
removed afterwards, so it never touches what the test suite keeps on the same servers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

from tests import servers

#: Redis database of the soak on a shared server (the test suite flushes 15, the
#: benchmarks use 14).
SOAK_REDIS_DB = 13
PASSWORD = "soak-password-0123"


@dataclass(frozen=True)
class Stack:
    """The servers of one soak run: its ``DATABASES`` entry, Redis URL and key prefix."""

    database: dict[str, Any]
    redis_url: str
    redis_prefix: str


def _redis_url() -> str:
    url = servers.redis_url()
    if os.environ.get("SESSIONKIT_TEST_REDIS_URL"):
        return url  # the user's choice, as is
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{SOAK_REDIS_DB}"))


def _admin(entry: dict[str, Any]) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=entry["HOST"],
        port=int(entry["PORT"]),
        user=entry["USER"],
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    )


@contextmanager
def stack() -> Iterator[Stack]:
    """Find or start the servers, make this run's database, and remove it all afterwards."""
    tag = f"soak_{os.getpid()}"
    entry = {**servers.postgres_dsn(), "NAME": f"sessionkit_{tag}"}
    entry.pop("TEST", None)
    url = _redis_url()
    prefix = f"{tag}:"
    name = sql.Identifier(entry["NAME"])
    with _admin(entry) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    try:
        yield Stack(entry, url, prefix)
    finally:
        with _admin(entry) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            for start in range(0, len(keys), 1000):
                client.unlink(*keys[start : start + 1000])
        finally:
            client.close()


def environment(run: Stack, engine: str) -> dict[str, str]:
    """The environment the soak app reads its settings from (:mod:`soak.settings`)."""
    import json

    return {
        "DJANGO_SETTINGS_MODULE": "soak.settings",
        "SOAK_ENGINE": engine,
        "SOAK_DATABASE": json.dumps(run.database),
        "SOAK_REDIS_URL": run.redis_url,
        "SOAK_REDIS_PREFIX": run.redis_prefix,
    }


def prepare(run: Stack, usernames: list[str]) -> None:
    """Migrate this run's database and create the users, in this process."""
    os.environ.update(environment(run, "db"))
    import django
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    from django.contrib.auth.models import User

    call_command("migrate", verbosity=0, interactive=False)
    hashed = make_password(PASSWORD)
    User.objects.bulk_create(User(username=name, password=hashed) for name in usernames)
    connections.close_all()
