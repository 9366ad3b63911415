"""manage.py clearsessions on every engine."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core.management import call_command

from sessionkit.backends import db, memory
from sessionkit.models import Session
from tests.backends.conformance import Recorder
from tests.helpers import at, epoch

pytestmark = [pytest.mark.db, pytest.mark.django_db]


def run() -> str:
    """``manage.py clearsessions`` by name: sessionkit's, listed before Django's app."""
    out = StringIO()
    call_command("clearsessions", stdout=out)
    return out.getvalue()


def make(store_class, n, expired):
    for _ in range(n):
        s = store_class()
        s["x"] = 1
        if expired:
            s.set_expiry(-10)
        s.save()


def test_db_store_deletes_expired_rows_in_batches(settings, monkeypatch):
    settings.SESSION_ENGINE = "sessionkit.backends.db"
    monkeypatch.setattr(db, "PURGE_BATCH", 3)
    make(db.SessionStore, 7, expired=True)
    make(db.SessionStore, 2, expired=False)
    assert "Deleted 7 expired session(s)." in run()
    assert Session.objects.count() == 2
    assert all(epoch(row.expires) > time.time() for row in Session.objects.all())


def test_memory_store_clears_expired(settings):
    settings.SESSION_ENGINE = "sessionkit.backends.memory"
    make(memory.SessionStore, 2, expired=True)
    make(memory.SessionStore, 1, expired=False)
    assert "Deleted 2 expired session(s)." in run()
    assert len(memory.SessionStore.records()) >= 1


def test_cache_store_says_the_cache_expires_by_itself(settings):
    settings.SESSION_ENGINE = "sessionkit.backends.cache"
    assert "expires sessions by itself" in run()


def test_django_engine_works_too(settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    assert run().strip() == "No expired sessions."


def test_command_is_found_without_django_contrib_sessions(settings):
    settings.INSTALLED_APPS = [
        a for a in settings.INSTALLED_APPS if a != "django.contrib.sessions"
    ]
    from django.core.management import get_commands

    get_commands.cache_clear()
    try:
        assert get_commands()["clearsessions"] == "sessionkit"
    finally:
        get_commands.cache_clear()


def test_db_store_ends_each_purged_session_as_expired_once(settings, monkeypatch):
    settings.SESSION_ENGINE = "sessionkit.backends.db"
    monkeypatch.setattr(db, "PURGE_BATCH", 3)
    make(db.SessionStore, 7, expired=True)
    make(db.SessionStore, 1, expired=False)
    ended = Session.objects.filter(expires__lte=at(time.time()))
    expired = set(ended.values_list("pk", flat=True))
    with Recorder() as seen:
        run()
        run()
    assert sorted(h for _, h, _ in seen.events()) == sorted(expired)
    assert {why for _, _, why in seen.events()} == {"expired"}
    assert {kw["request"] for _, _, kw in seen.sent} == {None}


@pytest.mark.django_db(transaction=True)
def test_concurrent_clearsessions_end_each_expired_session_once(settings):
    """Two purges over the same rows (PostgreSQL, real connections): each row's DELETE
    ... RETURNING answers in one of them only."""
    import threading

    from django.db import connection

    from tests.helpers import close_thread_connections

    if connection.vendor != "postgresql":
        pytest.skip("concurrent connections: runs in the PostgreSQL pass")
    settings.SESSION_ENGINE = "sessionkit.backends.db"
    make(db.SessionStore, 300, expired=True)
    start = threading.Barrier(4)

    def purge() -> None:
        try:
            start.wait(timeout=10)
            db.SessionStore.clear_expired()
        finally:
            close_thread_connections()

    threads = [threading.Thread(target=purge) for _ in range(4)]
    with Recorder() as seen:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    handles = [h for _, h, _ in seen.events()]
    assert len(handles) == len(set(handles)) == 300
    assert not Session.objects.exists()
