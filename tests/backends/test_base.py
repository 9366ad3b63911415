"""The store base class (``sessionkit.backends.base``) on the memory, db and cache stores.

What every store inherits, sync and async twin side by side: creating, restarting a save
of an id the store never held, ``cycle_key`` over ``_rename`` (a free id, a taken id, a
session destroyed meanwhile), and deleting.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.sessions.backends.base import CreateError
from django.db import connections

from sessionkit.backends.base import SessionStore as BaseStore
from sessionkit.backends.cache import SessionStore as CacheStore
from sessionkit.backends.db import SessionStore as DbStore
from sessionkit.backends.memory import SessionStore as MemoryStore

pytestmark = [pytest.mark.db, pytest.mark.django_db(transaction=True)]

STORES = {"memory": MemoryStore, "db": DbStore, "cache": CacheStore}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[type[BaseStore]]:
    yield STORES[request.param]
    connections.close_all()


@pytest.fixture(params=["sync", "async"])
def twin(request: pytest.FixtureRequest) -> Callable[[BaseStore, str], None]:
    """Call a method or its async twin (``cycle_key`` / ``acycle_key``) on a session."""

    def call(session: BaseStore, name: str) -> None:
        if request.param == "sync":
            getattr(session, name)()
        else:
            async_to_sync(getattr(session, "a" + name))()

    return call


def saved(store: type[BaseStore], **data: object) -> BaseStore:
    session = store()
    session.update(data)
    session.save()
    return session


def test_cycle_key_moves_the_data_and_the_old_id_is_gone(store, twin):
    session = saved(store, x=1)
    old = session.session_key
    session["y"] = 2
    twin(session, "cycle_key")
    assert session.session_key != old
    assert not store().exists(old)
    assert store(session.session_key).load() == {"x": 1, "y": 2}


def test_cycle_key_of_a_session_destroyed_meanwhile_never_revives_its_id(store, twin):
    session = saved(store, x=1)
    old = session.session_key
    assert session["x"] == 1  # loaded by this request
    store().delete(old)  # another request logs out
    twin(session, "cycle_key")
    assert session.session_key != old
    assert not store().exists(old)


def test_cycle_key_tries_another_id_when_the_new_one_is_taken(store, twin):
    taken = saved(store, other="someone else's")
    session = saved(store, x=1)
    fresh = "fresh-" + secrets.token_hex(16)
    ids = iter([taken.session_key, fresh])
    session.genid = lambda: next(ids)
    twin(session, "cycle_key")
    assert session.session_key == fresh
    assert store(taken.session_key).load() == {"other": "someone else's"}
    assert store(fresh).load() == {"x": 1}


def test_cycle_key_of_a_session_never_stored_creates_it(store, twin):
    session = store()
    session["x"] = 1
    twin(session, "cycle_key")
    assert session.session_key is not None
    assert store(session.session_key).load() == {"x": 1}


def test_create_gives_up_when_every_id_is_taken(store, twin):
    taken = saved(store, x=1)
    session = store()
    session.genid = lambda: taken.session_key or ""
    with pytest.raises(CreateError):
        twin(session, "create")
    assert store(taken.session_key).load() == {"x": 1}


def test_saving_under_an_id_the_store_never_held_starts_a_new_session(store, twin):
    never_issued = "never-issued-" + secrets.token_hex(16)
    session = store(never_issued)
    session.clear()  # no load: the id was never confirmed
    session["x"] = 1
    twin(session, "save")
    assert session.session_key not in (None, never_issued)
    assert store(session.session_key).load() == {"x": 1}


def test_delete_without_a_session_key_does_nothing(store, twin):
    session = store()
    twin(session, "delete")
    assert session.session_key is None


async def test_aclear_expired_counts_what_it_deleted(store):
    expired = store()
    expired.set_expiry(-1)
    expired["x"] = 1
    await expired.asave()
    removed = await store.aclear_expired()  # the memory store may hold other tests' too
    assert removed >= (0 if store.expires_by_itself else 1)
    assert not await store().aexists(expired.session_key)
    await sync_to_async(connections.close_all)()  # the worker thread's connection
