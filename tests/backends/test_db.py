"""The database store: Django's session test suite, hashed keys, JSON rows, purging."""

from __future__ import annotations

import pytest
from django.test import TestCase

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
