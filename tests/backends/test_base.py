"""The store base class (``sessionkit.backends.base``) on the memory, db and cache stores.

What every store inherits, sync and async twin side by side: creating, restarting a save
of an id the store never held, ``cycle_key`` over ``_rename`` (a free id, a taken id, a
session destroyed meanwhile), and deleting.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.core.cache import caches
from django.db import connections

from sessionkit.backends.base import Record, hash_key
from sessionkit.backends.base import SessionStore as BaseStore
from sessionkit.backends.cache import KEY_PREFIX
from sessionkit.backends.cache import SessionStore as CacheStore
from sessionkit.backends.db import SessionStore as DbStore
from sessionkit.backends.db import _record as db_record
from sessionkit.backends.memory import SessionStore as MemoryStore
from sessionkit.models import Session
from tests.helpers import at, user_id

pytestmark = [pytest.mark.db, pytest.mark.django_db(transaction=True)]

STORES = {"memory": MemoryStore, "db": DbStore, "cache": CacheStore}
#: A session key no other test uses (the memory store outlives each test).
SECRET = "secret-" + secrets.token_hex(8)


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


def holding(store: type[BaseStore], key: str) -> list[str]:
    """The store keys of every live session holding ``key``, listed from the store itself
    (memory: its dict; db: the table; cache: the locmem cache's entries)."""
    if store is MemoryStore:
        hashes = list(MemoryStore.records())
    elif store is DbStore:
        hashes = list(Session.objects.values_list("pk", flat=True))
    else:
        entries = caches["default"]._cache  # type: ignore[attr-defined]  # LocMemCache's dict
        hashes = [k.rsplit(KEY_PREFIX, 1)[1] for k in list(entries) if KEY_PREFIX in k]
    now = time.time()
    records = {h: store()._fetch(h, now) for h in hashes}
    return [h for h, r in records.items() if r is not None and key in r.fields]


def test_cycle_key_moves_the_data_and_the_old_id_is_gone(store, twin):
    session = saved(store, x=1)
    old = session.session_key
    session["y"] = 2
    twin(session, "cycle_key")
    assert session.session_key != old
    assert not store().exists(old)
    assert store(session.session_key).load() == {"x": 1, "y": 2}


def test_cycle_key_of_a_session_destroyed_meanwhile_raises_and_revives_nothing(store, twin):
    """A request loaded a logged-in session; another request logged it out; the first one's
    ``login()`` / ``update_session_auth_hash()`` (``cycle_key``) must not bring it back."""
    a = saved(store, _auth_user_id="7", **{SECRET: "A's"})
    old = a.session_key
    assert a[SECRET] == "A's"  # loaded by request A
    b = store(old)
    b.flush()  # request B logs out
    fresh = "fresh-" + secrets.token_hex(16)
    a.genid = lambda: fresh
    with pytest.raises(UpdateError):
        twin(a, "cycle_key")
    assert (a.session_key, dict(a.items())) == (None, {})  # an empty, anonymous session
    assert not store().exists(old)
    assert not store().exists(fresh)
    assert holding(store, SECRET) == []


def test_a_session_whose_cycle_key_failed_saves_only_what_is_put_in_it_afterwards(store, twin):
    a = saved(store, _auth_user_id="7", **{SECRET: "A's"})
    assert a[SECRET] == "A's"
    store(a.session_key).flush()
    with pytest.raises(UpdateError):
        twin(a, "cycle_key")
    a["theme"] = "dark"  # the view carries on with a new, anonymous session
    twin(a, "save")
    assert store(a.session_key).load() == {"theme": "dark"}
    assert holding(store, SECRET) == []


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


# -- expiry merged like data (memory and db merge under a lock) ---------------------------

MERGING = {"memory": MemoryStore, "db": DbStore}


@pytest.fixture(params=sorted(MERGING))
def merging(request: pytest.FixtureRequest) -> Iterator[type[BaseStore]]:
    yield MERGING[request.param]
    connections.close_all()


def stored(store: type[BaseStore], session_key: str | None) -> Record | None:
    """What the store holds for ``session_key``, read from the store's own dict or table
    without touching it (``None``: nothing)."""
    assert session_key is not None
    key_hash = hash_key(session_key)
    if store is MemoryStore:
        return MemoryStore.records().get(key_hash)
    row = Session.objects.filter(pk=key_hash).first()
    return None if row is None else db_record(row)


def loaded_twice(store: type[BaseStore], **data: object) -> tuple[BaseStore, BaseStore]:
    """Two requests, A and B, that loaded the same session."""
    key = saved(store, **data).session_key
    a, b = store(key), store(key)
    assert dict(a.items()) == dict(b.items()) == data
    return a, b


def planted(**fields: str) -> str:
    """A memory-store session holding ``fields`` as these exact texts (as another program
    could have written them: spaced, escaped); returns its id."""
    key = "planted-" + secrets.token_hex(8)
    now = time.time()
    MemoryStore._records[hash_key(key)] = Record(
        fields=fields, created=now, expires=now + 3600, age=3600, last_seen=now
    )
    return key


def test_a_write_leaves_the_stored_text_of_every_value_it_did_not_change(twin):
    key = planted(spaced='{"a": [1, 2]}', escaped='"caf\\u00e9"', n="1")
    session = MemoryStore(key)
    assert session["spaced"] == {"a": [1, 2]}  # read, left alone
    session["n"] = 2
    twin(session, "save")
    assert MemoryStore.records()[hash_key(key)].fields == {
        "spaced": '{"a": [1, 2]}',
        "escaped": '"caf\\u00e9"',
        "n": "2",
    }


def test_a_value_spelled_otherwise_and_not_changed_is_not_in_the_delta(twin):
    """Request A loaded the session and changes ``n``; B, meanwhile, changed ``spaced``:
    A's write, a delta of ``n`` alone, keeps B's value."""
    key = planted(spaced='{"a": [1, 2]}', n="1")
    a, b = MemoryStore(key), MemoryStore(key)
    assert a["n"] == b["n"] == 1
    b["spaced"] = {"b": 2}
    twin(b, "save")
    a["n"] = 2
    twin(a, "save")
    assert MemoryStore(key).load() == {"spaced": {"b": 2}, "n": 2}


def test_a_concurrent_write_of_another_key_keeps_a_shortened_expiry(merging, twin):
    a, b = loaded_twice(merging, x=0)
    a.set_expiry(2)  # A: "log me out in 2 s"
    a["a"] = 1
    twin(a, "save")
    b["b"] = 1  # B, loaded before A's write, changes another key
    twin(b, "save")
    record = stored(merging, a.session_key)
    assert record is not None
    assert record.age == 2
    assert time.time() < record.expires <= time.time() + 2.001  # kept to the millisecond
    assert merging(a.session_key).load() == {"x": 0, "a": 1, "b": 1, "_session_expiry": 2}


def test_a_concurrent_writer_never_pushes_the_deadline_back(merging, twin, settings):
    settings.SESSIONKIT = {"ABSOLUTE_TIMEOUT": 3600}
    a, b = loaded_twice(merging, x=0)
    settings.SESSIONKIT = {"ABSOLUTE_TIMEOUT": 60}  # A's process: the cap lowered
    a["a"] = 1
    twin(a, "save")
    settings.SESSIONKIT = {"ABSOLUTE_TIMEOUT": 3600}  # B's process: not yet redeployed
    b["b"] = 1
    twin(b, "save")
    record = stored(merging, a.session_key)
    assert record is not None
    assert record.deadline == pytest.approx(record.created + 60)
    assert record.expires <= record.deadline
    assert merging(a.session_key).load() == {"x": 0, "a": 1, "b": 1}


def test_a_write_of_another_key_keeps_the_user_a_concurrent_login_stored(merging, twin):
    """The per-user index (``end_user_sessions``) follows the merged session."""
    a, b = loaded_twice(merging, x=0)
    user = user_id()
    a["_auth_user_id"] = user
    twin(a, "save")
    b["b"] = 1
    twin(b, "save")
    record = stored(merging, a.session_key)
    assert record is not None and record.user_id == user


# -- the settings in force at read time (a lowered ABSOLUTE_TIMEOUT or MAX_AGE) -----------


def backdate(store: type[BaseStore], session_key: str | None, created: float, seen: float) -> None:
    """Pretend the session was created ``created`` s ago and last used ``seen`` s ago:
    its stored times move back as the clock would have moved forward."""
    record = stored(store, session_key)
    assert record is not None and session_key is not None
    key_hash = hash_key(session_key)
    times = {
        "created": record.created - created,
        "deadline": None if record.deadline is None else record.deadline - created,
        "expires": record.expires - seen,
        "last_seen": record.last_seen - seen,
    }
    if store is MemoryStore:
        with MemoryStore._lock:
            MemoryStore._records[key_hash] = replace(record, **times)  # type: ignore[arg-type]
    else:
        Session.objects.filter(pk=key_hash).update(
            **{name: None if t is None else at(t) for name, t in times.items()}
        )


@pytest.mark.parametrize(
    ("before", "after", "created", "seen"),
    [
        ({}, {"ABSOLUTE_TIMEOUT": 300}, 600, 10),  # turned on below the session's age
        ({"ABSOLUTE_TIMEOUT": 3600}, {"ABSOLUTE_TIMEOUT": 300}, 600, 10),  # lowered
        ({}, {"COOKIE": {"MAX_AGE": 300}}, 600, 400),  # idle longer than the new MAX_AGE
        ({"COOKIE": {"MAX_AGE": None}}, {"COOKIE": {"MAX_AGE": None}}, 600, 400),
    ],
)
def test_lowered_settings_end_an_existing_session_on_its_next_read(
    merging, twin, settings, before, after, created, seen
):
    settings.SESSION_COOKIE_AGE = 3600
    settings.SESSIONKIT = before
    key = saved(merging, x=1).session_key
    backdate(merging, key, created, seen)
    settings.SESSION_COOKIE_AGE = 300  # the browser-session case's idle timeout
    settings.SESSIONKIT = after
    session = merging(key)
    twin(session, "load")
    assert session.session_key is None  # read as expired: a fresh session
    assert stored(merging, key) is None  # and removed from the store


def test_raised_settings_shorten_nothing(merging, twin, settings):
    settings.SESSIONKIT = {"ABSOLUTE_TIMEOUT": 3600, "COOKIE": {"MAX_AGE": 3600}}
    key = saved(merging, x=1).session_key
    backdate(merging, key, 3000, 3000)
    before = stored(merging, key)
    settings.SESSIONKIT = {"ABSOLUTE_TIMEOUT": 7200, "COOKIE": {"MAX_AGE": 7200}}
    session = merging(key)
    twin(session, "load")
    assert session.session_key == key
    assert before is not None and session.loaded_expires == before.expires


@pytest.mark.parametrize(
    ("after", "created", "seen"),
    [
        ({"COOKIE": {"MAX_AGE": 300}}, 3000, 100),  # used more recently than the new MAX_AGE
        ({"ABSOLUTE_TIMEOUT": 3500}, 3000, 3000),  # younger than the new cap
    ],
)
def test_lowered_settings_spare_a_session_within_them(
    merging, twin, settings, after, created, seen
):
    settings.SESSIONKIT = {"ABSOLUTE_TIMEOUT": 3600, "COOKIE": {"MAX_AGE": 3600}}
    key = saved(merging, x=1).session_key
    backdate(merging, key, created, seen)
    settings.SESSIONKIT = after
    session = merging(key)
    twin(session, "load")
    assert session.session_key == key
    assert session["x"] == 1
    assert stored(merging, key) is not None


def test_a_set_expiry_session_keeps_its_own_idle_timeout_when_max_age_is_lowered(
    merging, twin, settings
):
    session = merging()
    session["x"] = 1
    session.set_expiry(7200)  # "remember me"
    session.save()
    backdate(merging, session.session_key, 3000, 3000)
    settings.SESSIONKIT = {"COOKIE": {"MAX_AGE": 300}}
    again = merging(session.session_key)
    twin(again, "load")
    assert again.session_key == session.session_key
