"""The database store: Django's session test suite, hashed keys, JSON rows, purging."""

from __future__ import annotations

import pytest
from django.test import TestCase

from sessionkit.backends.base import hash_key
from sessionkit.backends.db import SessionStore
from tests.backends.conformance import SessionTestsMixin

pytestmark = pytest.mark.db


class DatabaseStoreConformanceTests(SessionTestsMixin, TestCase):
    backend = SessionStore


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_different_keys_all_survive():
    """Improvement 5 on the db store: each writer merges its delta into the locked row."""
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs row locks (SELECT ... FOR UPDATE): runs in the PostgreSQL pass")
    store = SessionStore()
    store["base"] = 0
    store.save()
    key = store.session_key
    writers = 20
    loaded = threading.Barrier(writers)

    def write(i: int) -> None:
        try:
            session = SessionStore(key)
            assert session["base"] == 0  # loads the session
            loaded.wait(timeout=30)  # everyone read the same state before anyone writes
            session[f"k{i}"] = i
            session.save()
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = SessionStore(key).load()
    assert final == {"base": 0, **{f"k{i}": i for i in range(writers)}}


@pytest.mark.django_db(transaction=True)
def test_log_out_other_devices_ends_a_session_cycled_while_it_runs():
    """A password change on device B (cycle_key) holds B's row locked when "log out other
    devices" runs on device A: the DELETE waits, then skips the old row, and B's new row,
    committed after the DELETE's snapshot, must still be ended."""
    import threading

    from django.db import connection, connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks and READ COMMITTED snapshots: runs in the PostgreSQL pass")

    def logged_in() -> SessionStore:
        session = SessionStore()
        session.update({"_auth_user_id": "7", "x": "device data"})
        session.save()
        return session

    device_a, device_b = logged_in(), SessionStore(logged_in().session_key)
    device_b.load()
    ending_waits, cycled, ended = threading.Event(), threading.Event(), []

    def change_password() -> None:
        try:
            with transaction.atomic():  # commits once the DELETE waits on B's row
                device_b.cycle_key()
                cycled.set()
                assert ending_waits.wait(timeout=10)
        finally:
            connections.close_all()

    def log_out_others() -> None:
        try:
            assert cycled.wait(timeout=10)
            ended.append(SessionStore._end_user_records("7", hash_key(device_a.session_key)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=change_password), threading.Thread(target=log_out_others)]
    for thread in threads:
        thread.start()
    with connection.cursor() as cursor:
        for _ in range(1000):  # bounded: until the DELETE waits on the row lock
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'DELETE%%'"
            )
            if cursor.fetchone()[0]:
                break
            threading.Event().wait(0.01)
    ending_waits.set()
    for thread in threads:
        thread.join(timeout=10)
    assert ended == [1]
    assert SessionStore(device_b.session_key).load() == {}
    assert SessionStore(device_a.session_key).load()["x"] == "device data"
