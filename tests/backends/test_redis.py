"""The Redis store against a real Redis: Django's session suite, data model, round trips
(counted by Redis itself), conditional writes, concurrency, cycle_key, the per-user index,
native async and an outage. No mocks, no fakeredis."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.core.management import call_command
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client, SimpleTestCase, override_settings
from django.urls import path
from redis.crc import key_slot

import sessionkit
from sessionkit.backends.base import ClientInfo, Record, hash_key
from sessionkit.backends.redis import SessionStore
from sessionkit.backends.redis_client import async_client, sync_client
from sessionkit.backends.redis_wire import FETCH, session_key_name, user_key_name
from sessionkit.conf import RedisSettings, get_redis_settings
from sessionkit.errors import StoreUnavailable
from sessionkit.management.commands import clearsessions
from tests import servers
from tests.backends.conformance import SessionTestsMixin

pytestmark = pytest.mark.redis

ENGINE = "sessionkit.backends.redis"
PREFIX = "sessionkit:"
COOKIE = "sessionid"


# -- views of this module's own urlconf ---------------------------------------------------

#: Set by the concurrency test: every request waits here once it has loaded the session.
barrier: threading.Barrier | None = None


def noop(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def read(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(request.session.get("n", "")))


def put(request: HttpRequest, key: str, value: str) -> HttpResponse:
    if barrier is not None:
        request.session.get("n")  # load, then wait until every request has loaded
        barrier.wait(timeout=30)
    request.session[key] = value
    return HttpResponse("ok")


def dump(request: HttpRequest) -> JsonResponse:
    return JsonResponse(dict(request.session.items()))


def fill(request: HttpRequest) -> HttpResponse:
    """A session of about 4 KB: 64 keys of 64 characters."""
    for i in range(64):
        request.session[f"k{i:02d}"] = "x" * 64
    return HttpResponse("ok")


def clobber(request: HttpRequest) -> HttpResponse:
    """Load the session, let "another request" destroy it, then modify it."""
    request.session.get("n")
    sync_client().delete(session_key_name(PREFIX, hash_key(request.session.session_key or "")))
    request.session["n"] = "after logout"
    return HttpResponse("ok")


urlpatterns = [
    path("noop/", noop),
    path("read/", read),
    path("put/<str:key>/<str:value>/", put),
    path("fill/", fill),
    path("dump/", dump),
    path("clobber/", clobber),
]


def redis_settings(url: str, **extra: Any) -> dict[str, Any]:
    """Settings for requests on the Redis store at ``url`` through django-redis."""
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "sessions": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url},
    }
    return {
        "CACHES": caches,
        "SESSION_CACHE_ALIAS": "sessions",
        "SESSION_ENGINE": ENGINE,
        "ROOT_URLCONF": __name__,
        **extra,
    }


def user_set(client: redis.Redis, user_id: str) -> set[bytes]:
    """The key_hashes in a user's sorted set."""
    return set(client.zrange(user_key_name(PREFIX, user_id), 0, -1))


def stored_key(session: SessionStore) -> str:
    assert session.session_key is not None
    return session_key_name(PREFIX, hash_key(session.session_key))


# -- Django's own suite -------------------------------------------------------------------


@override_settings(SESSION_CACHE_ALIAS="redis", SESSION_ENGINE=ENGINE)
class RedisStoreConformanceTests(SessionTestsMixin, SimpleTestCase):
    backend = SessionStore


# -- data model -----------------------------------------------------------------------------


@pytest.fixture
def store(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """The shared test Redis (flushed), used by the store through django-redis."""
    with override_settings(SESSION_CACHE_ALIAS="redis", SESSION_ENGINE=ENGINE):
        yield redis_client


def test_session_is_one_hash_of_json_fields_keyed_by_hash_of_id(store: redis.Redis) -> None:
    session = SessionStore()
    session["cart"] = {"items": [1, 2]}
    session["name"] = "Zoë"
    session.save()
    assert session.session_key is not None
    key = stored_key(session)
    assert store.type(key) == b"hash"
    stored = store.hgetall(key)
    assert stored[b"cart"] == b'{"items":[1,2]}'
    assert stored[b"name"] == '"Zoë"'.encode()
    assert {b"#created", b"#expires", b"#age", b"#seen"} <= set(stored)
    assert all(session.session_key.encode() not in k for k in store.keys("*"))
    # PEXPIREAT matches the stored expiry, to the millisecond.
    assert store.pexpiretime(key) == int(stored[b"#expires"])


def test_no_key_is_ever_left_without_a_ttl(store: redis.Redis) -> None:
    session = SessionStore()
    session["_auth_user_id"] = "7"
    session.save()
    session["n"] = 1
    session.save()
    session.cycle_key()
    SessionStore(session.session_key).load()
    keys = store.keys("*")
    assert len(keys) == 2  # the session and the user's set
    assert all(store.pttl(k) > 0 for k in keys)


def test_user_keys_that_look_like_metadata_are_kept_apart(store: redis.Redis) -> None:
    session = SessionStore()
    session["#expires"] = "mine"
    session["##user"] = [1]
    session["#"] = None
    session.save()
    stored = store.hgetall(stored_key(session))
    assert stored[b"##expires"] == b'"mine"'
    assert int(stored[b"#expires"]) > time.time() * 1000
    loaded = SessionStore(session.session_key)
    assert dict(loaded.items()) == {"#expires": "mine", "##user": [1], "#": None}


def test_read_pushes_expiry_back_and_returns_the_record_before_the_touch(
    store: redis.Redis,
) -> None:
    session = SessionStore()
    session["n"] = 1
    session.save()
    key = stored_key(session)
    soon = int(time.time() * 1000) + 60_000
    store.hset(key, "#expires", soon)
    store.pexpireat(key, soon)
    loaded = SessionStore(session.session_key)
    assert loaded["n"] == 1
    assert loaded.loaded_expires == soon / 1000  # as it was before the touch
    assert int(store.hget(key, "#expires") or 0) > soon + 1_000_000
    assert store.pexpiretime(key) == int(store.hget(key, "#expires") or 0)


def test_expiry_date_is_not_extended_by_reads(store: redis.Redis) -> None:
    session = SessionStore()
    session.set_expiry(3600)  # int: rolling by an hour
    session.save()
    session2 = SessionStore()
    from datetime import datetime, timedelta

    session2.set_expiry(datetime.now() + timedelta(hours=1))  # a fixed date
    session2.save()
    key = stored_key(session2)
    before = store.pexpiretime(key)
    SessionStore(session2.session_key).load()
    assert store.pexpiretime(key) == before
    assert store.hget(key, "#age") is None


def test_absolute_deadline_caps_the_ttl(store: redis.Redis) -> None:
    with override_settings(SESSIONKIT={"ABSOLUTE_TIMEOUT": 60}):
        session = SessionStore()
        session["n"] = 1
        session.save()
        key = stored_key(session)
        SessionStore(session.session_key).load()
        assert store.pttl(key) <= 60_000
        assert store.hget(key, "#deadline") is not None


#: Redis reads its clock once per event-loop turn and expiries are rounded to whole ms: a
#: TTL set from Python's clock can read a millisecond or two over.
CLOCK_MS = 5


def _expires_in_ms(client: redis.Redis, key: str) -> float:
    return int(client.hget(key, "#expires") or 0) - time.time() * 1000


def test_a_concurrent_write_of_another_key_keeps_a_shortened_expiry(store: redis.Redis) -> None:
    session = _login("42")  # two weeks
    a, b = SessionStore(session.session_key), SessionStore(session.session_key)
    assert a["cart"] == b["cart"] == [1]
    a.set_expiry(2)
    a.save()
    b["x"] = 1
    b.save()
    key = stored_key(session)
    assert 0 < store.pttl(key) <= 2000 + CLOCK_MS
    assert 1500 < _expires_in_ms(store, key) <= 2000 + CLOCK_MS
    assert store.hget(key, "_session_expiry") == b"2" and store.hget(key, "x") == b"1"
    assert store.hget(key, "#age") == b"2000"


async def test_async_concurrent_write_of_another_key_keeps_a_shortened_expiry(
    store: redis.Redis,
) -> None:
    session = await _alogin("42")
    a, b = SessionStore(session.session_key), SessionStore(session.session_key)
    assert await a.aget("cart") == await b.aget("cart") == [1]
    await a.aset_expiry(2)
    await a.asave()
    await b.aset("x", 1)
    await b.asave()
    key = stored_key(session)
    assert 0 < store.pttl(key) <= 2000 + CLOCK_MS
    assert 1500 < _expires_in_ms(store, key) <= 2000 + CLOCK_MS
    assert store.hget(key, "_session_expiry") == b"2" and store.hget(key, "x") == b"1"


def test_a_concurrent_writer_never_pushes_the_deadline_later(store: redis.Redis) -> None:
    with override_settings(SESSIONKIT={"ABSOLUTE_TIMEOUT": 3}):
        session = _stored_session(1)
    key = stored_key(session)
    created, deadline = store.hget(key, "#created"), store.hget(key, "#deadline")
    # Writers running with a longer ABSOLUTE_TIMEOUT (a deploy rolling out), one of them
    # writing the session in full without loading it (Django's clear()).
    with override_settings(SESSIONKIT={"ABSOLUTE_TIMEOUT": 3600}):
        longer = SessionStore(session.session_key)
        longer.set_expiry(600)
        longer.save()
        cleared = SessionStore(session.session_key)
        cleared.clear()
        cleared["y"] = 1
        cleared.save()
    assert store.hget(key, "#deadline") == deadline
    assert store.hget(key, "#created") == created
    assert 0 < store.pttl(key) <= 3000


def test_create_never_overwrites_an_existing_id(store: redis.Redis) -> None:
    first = SessionStore()
    first["owner"] = "first"
    first.save()
    second = SessionStore(first.session_key)
    second._session_cache = {"owner": "second"}
    with pytest.raises(CreateError):
        second.save(must_create=True)
    assert SessionStore(first.session_key)["owner"] == "first"


def test_update_of_a_destroyed_session_fails_and_writes_nothing(store: redis.Redis) -> None:
    session = SessionStore()
    session["n"] = 1
    session.save()
    key = stored_key(session)
    store.delete(key)
    record = Record({"n": "2"}, time.time(), time.time() + 60)
    assert session._update(hash_key(session.session_key or ""), record, None) is False
    assert not store.exists(key)


def test_clear_expired_is_a_no_op_and_clearsessions_says_so(store: redis.Redis) -> None:
    assert SessionStore.clear_expired() == 0
    out = io.StringIO()
    call_command(clearsessions.Command(), stdout=out)
    assert "expires sessions by itself" in out.getvalue()


def test_prefix_setting_and_a_bad_value_falling_back_to_the_default(store: redis.Redis) -> None:
    with override_settings(SESSIONKIT_REDIS={"PREFIX": "app1:sess:"}):
        session = SessionStore()
        session["n"] = 1
        session.save()
        assert store.exists(session_key_name("app1:sess:", hash_key(session.session_key or "")))
    for bad in ({"PREFIX": "a{b}"}, {"PREFIX": 3}, {"NOPE": 1}, {"CLIENT_FACTORY": 1}):
        with override_settings(SESSIONKIT_REDIS=bad):
            conf = get_redis_settings()
            assert conf == RedisSettings()
            assert [p.id for p in conf.problems] == ["E010"]
            session = SessionStore()  # the request goes on, on the default settings
            session["n"] = 1
            session.save()
            assert store.exists(stored_key(session))
            assert SessionStore(session.session_key)["n"] == 1


# -- cycle_key ------------------------------------------------------------------------------


def test_cycle_key_renames_within_one_slot_and_the_old_id_is_gone(store: redis.Redis) -> None:
    session = SessionStore()
    session["n"] = 1
    session.save()
    old_key, old_id = stored_key(session), session.session_key
    created = store.hget(old_key, "#created")
    session["m"] = 2
    session.cycle_key()
    new_key = stored_key(session)
    assert session.session_key != old_id
    assert not store.exists(old_key)
    assert key_slot(new_key.encode()) == key_slot(old_key.encode())
    assert store.hget(new_key, "#created") == created
    assert store.pttl(new_key) > 0
    assert dict(SessionStore(session.session_key).items()) == {"n": 1, "m": 2}
    assert not SessionStore().exists(old_id)


def test_cycle_key_keeps_keys_written_concurrently_by_another_request(
    store: redis.Redis,
) -> None:
    session = SessionStore()
    session["n"] = 1
    session.save()
    loaded = SessionStore(session.session_key)
    assert loaded.get("n") == 1
    other = SessionStore(session.session_key)
    other["cart"] = [1]
    other.save()
    loaded.cycle_key()
    assert dict(SessionStore(loaded.session_key).items()) == {"n": 1, "cart": [1]}


def session_hashes(client: redis.Redis) -> list[bytes]:
    """Every session hash in Redis (``SCAN`` of the prefix)."""
    return list(client.scan_iter(match=f"{PREFIX}{{*"))


def test_cycle_key_of_a_session_logged_out_meanwhile_raises_and_stores_nothing(
    store: redis.Redis,
) -> None:
    session = _login("42")
    loaded = SessionStore(session.session_key)
    assert loaded["_auth_user_id"] == "42"
    SessionStore(session.session_key).flush()  # another request logs out
    with pytest.raises(UpdateError):
        loaded.cycle_key()  # a password change, say
    assert session_hashes(store) == []
    assert user_set(store, "42") == set()
    assert sessionkit.user_sessions("42") == []


async def test_async_cycle_key_of_a_session_logged_out_meanwhile_raises_and_stores_nothing(
    store: redis.Redis,
) -> None:
    session = await _alogin("42")
    loaded = SessionStore(session.session_key)
    assert await loaded.aget("_auth_user_id") == "42"
    await SessionStore(session.session_key).aflush()
    with pytest.raises(UpdateError):
        await loaded.acycle_key()
    assert session_hashes(store) == []
    assert user_set(store, "42") == set()


def test_cycle_key_of_a_session_never_stored_is_djangos(store: redis.Redis) -> None:
    session = SessionStore()
    session["n"] = 1
    session.cycle_key()
    assert session.session_key is not None
    session.save()
    assert SessionStore(session.session_key)["n"] == 1


async def test_async_cycle_key_of_a_session_never_stored_is_djangos(store: redis.Redis) -> None:
    session = SessionStore()
    await session.aset("n", 1)
    await session.acycle_key()
    assert session.session_key is not None
    await session.asave()
    assert await SessionStore(session.session_key).aget("n") == 1


def _taken_then_free(taken: str) -> Any:
    """A ``GENID`` hook answering ``taken`` first, then fresh ids."""
    ids = iter([taken, *(f"fresh-id-{i:04d}" for i in range(100))])
    return lambda: next(ids)


def _stored_session(n: int) -> SessionStore:
    session = SessionStore()
    session["n"] = n
    session.save()
    return session


def test_cycle_key_skips_an_id_that_is_taken(store: redis.Redis) -> None:
    other, session = _stored_session(0), _stored_session(1)
    session.genid = _taken_then_free(other.session_key or "")
    session.cycle_key()
    assert session.session_key == "fresh-id-0000"
    assert SessionStore(other.session_key)["n"] == 0  # not overwritten
    assert SessionStore(session.session_key)["n"] == 1


async def test_async_cycle_key_skips_an_id_that_is_taken(store: redis.Redis) -> None:
    other, session = _stored_session(0), _stored_session(1)
    session.genid = _taken_then_free(other.session_key or "")
    await session.acycle_key()
    assert session.session_key == "fresh-id-0000"
    assert await SessionStore(other.session_key).aget("n") == 0
    assert await SessionStore(session.session_key).aget("n") == 1


def test_cycle_key_gives_up_when_every_id_is_taken(store: redis.Redis) -> None:
    other, session = _stored_session(0), _stored_session(1)
    session.genid = lambda: other.session_key or ""
    with pytest.raises(CreateError, match="unused session id"):
        session.cycle_key()
    assert SessionStore(other.session_key)["n"] == 0


async def test_async_cycle_key_gives_up_when_every_id_is_taken(store: redis.Redis) -> None:
    other, session = _stored_session(0), _stored_session(1)
    session.genid = lambda: other.session_key or ""
    with pytest.raises(CreateError, match="unused session id"):
        await session.acycle_key()
    assert await SessionStore(other.session_key).aget("n") == 0


# -- per-user index -------------------------------------------------------------------------


def _login(user_id: str, agent: str = "", ip: str = "") -> SessionStore:
    """What Django's login() does to a session: cycle the key, then store the user."""
    session = SessionStore()
    session.client = ClientInfo(agent, ip)
    session["cart"] = [1]
    session.save()
    session.cycle_key()
    session["_auth_user_id"] = user_id
    session.save()
    return session


async def _alogin(user_id: str) -> SessionStore:
    session = SessionStore()
    await session.aset("cart", [1])
    await session.asave()
    await session.acycle_key()
    await session.aset("_auth_user_id", user_id)
    await session.asave()
    return session


def test_login_logout_and_listing_keep_the_users_set(store: redis.Redis) -> None:
    with override_settings(SESSION_ENGINE=ENGINE):
        phone = _login("42", "Phone", "10.0.0.1")
        laptop = _login("42", "Laptop", "10.0.0.2")
        _login("43")
        assert user_set(store, "42") == {
            hash_key(phone.session_key or "").encode(),
            hash_key(laptop.session_key or "").encode(),
        }
        rows = sessionkit.user_sessions("42", current=laptop)
        assert [(r.user_agent, r.ip, r.current) for r in rows] == [
            ("Laptop", "10.0.0.2", True),
            ("Phone", "10.0.0.1", False),
        ]
        assert all(r.expires > r.created for r in rows)
        phone.flush()  # logout
        assert user_set(store, "42") == {hash_key(laptop.session_key or "").encode()}
        assert store.pttl(user_key_name(PREFIX, "42")) >= store.pttl(stored_key(laptop))


def test_cycle_key_of_a_logged_in_session_moves_it_in_the_users_set(store: redis.Redis) -> None:
    session = _login("42")
    old = hash_key(session.session_key or "")
    session.cycle_key()
    assert user_set(store, "42") == {hash_key(session.session_key or "").encode()}
    assert old.encode() not in user_set(store, "42")


def test_switching_user_moves_the_session_between_sets(store: redis.Redis) -> None:
    session = _login("42")
    session["_auth_user_id"] = "43"
    session.save()
    assert user_set(store, "42") == set()
    assert len(user_set(store, "43")) == 1
    del session["_auth_user_id"]
    session.save()
    assert user_set(store, "43") == set()
    assert store.hget(stored_key(session), "#user") is None


def test_listing_skips_gone_sessions_and_the_set_drops_them_once_expired(
    store: redis.Redis,
) -> None:
    with override_settings(SESSION_ENGINE=ENGINE):
        keep, gone = _login("42"), _login("42")
        store.delete(stored_key(gone))  # as if Redis had expired it
        rows = sessionkit.user_sessions("42")
        assert [r.handle for r in rows] == [hash_key(keep.session_key or "")]
        # Its score (the time until which it may live) passes: the next add drops it.
        store.zadd(user_key_name(PREFIX, "42"), {hash_key(gone.session_key or ""): 1})
        _login("42")
        assert hash_key(gone.session_key or "").encode() not in user_set(store, "42")
        assert len(user_set(store, "42")) == 2


def test_end_user_sessions_keeps_only_the_current_one(store: redis.Redis) -> None:
    with override_settings(SESSION_ENGINE=ENGINE):
        here, *others = (_login("42") for _ in range(4))
        other_user = _login("43")
        assert sessionkit.end_user_sessions("42", keep=here) == 3
        assert all(not store.exists(stored_key(s)) for s in others)
        assert store.exists(stored_key(here)) and store.exists(stored_key(other_user))
        assert [r.handle for r in sessionkit.user_sessions("42")] == [
            hash_key(here.session_key or "")
        ]
        assert sessionkit.end_user_sessions("42") == 1
        assert not store.exists(stored_key(here))


def test_ending_the_sessions_of_a_user_without_any_ends_none(store: redis.Redis) -> None:
    with override_settings(SESSION_ENGINE=ENGINE):
        keep = _login("42")
        assert sessionkit.end_user_sessions("7") == 0
        assert sessionkit.end_user_sessions("42", keep=keep) == 0
        assert store.exists(stored_key(keep))


def test_user_set_ttl_is_renewed_when_a_touch_outlives_it(store: redis.Redis) -> None:
    session = _login("42")
    key, set_key = stored_key(session), user_key_name(PREFIX, "42")
    store.hset(key, "#index", 1)  # the set "expires" before the session's next touch
    store.pexpire(set_key, 5_000)
    # Two minutes have passed since the login: past the touch slack, so this read really
    # pushes the expiry back.
    store.hset(key, "#expires", int(store.hget(key, "#expires") or 0) - 120_000)
    SessionStore(session.session_key).load()
    assert store.pttl(set_key) > store.pttl(key)
    assert int(store.hget(key, "#index") or 0) > int(store.hget(key, "#expires") or 0)


# -- the per-user index under partial failure: a real server refusing the set's round trip --


@pytest.fixture
def refusing(private_redis: servers.RedisServer) -> Iterator[tuple[redis.Redis, Any]]:
    """The store on a private Redis as ACL user ``app``, and ``refuse(bool)``: while
    refusing, that user may touch session hashes but not the per-user sets, so every
    ``INDEX`` round trip fails for real (``NOPERM``) and nothing else does."""
    admin = redis.Redis.from_url(private_redis.url)

    def refuse(on: bool) -> None:
        keys = f"~{PREFIX}{{*" if on else "~*"
        admin.execute_command("ACL", "SETUSER", "app", "on", ">pw", "+@all", "resetkeys", keys)

    refuse(False)
    url = f"redis://app:pw@{servers.LOOPBACK}:{private_redis.port}/0"
    try:
        with override_settings(**redis_settings(url)):
            yield admin, refuse
    finally:
        admin.close()


#: What a refused round trip raises: Redis's NOPERM (a 503 if it is ever mapped to one).
REFUSED = (redis.exceptions.NoPermissionError, StoreUnavailable)


def assert_indexed_or_gone(admin: redis.Redis, session: SessionStore, user_id: str) -> None:
    """The invariant: a session hash whose ``#user`` is the user is in the user's set, with
    a score and a set TTL no earlier than the session's expiry."""
    key, set_key = stored_key(session), user_key_name(PREFIX, user_id)
    if admin.hget(key, "#user") != user_id.encode():
        return
    expires = admin.pexpiretime(key)
    score = admin.zscore(set_key, hash_key(session.session_key or ""))
    assert score is not None and score >= expires
    assert admin.pexpiretime(set_key) >= expires


def near_renewal(admin: redis.Redis, session: SessionStore) -> int:
    """Make the session's next read need its user's set renewed: the session expires in
    200 ms, its set (and member) in 300 ms. Answers the latter (ms since the epoch)."""
    key, set_key = stored_key(session), user_key_name(PREFIX, "42")
    now = int(time.time() * 1000)
    admin.hset(key, mapping={"#expires": now + 200, "#index": now + 300})
    admin.pexpireat(key, now + 200)
    admin.zadd(set_key, {hash_key(session.session_key or ""): now + 300})
    admin.pexpireat(set_key, now + 300)
    assert_indexed_or_gone(admin, session, "42")
    return now + 300


def test_a_refused_renewal_on_read_never_leaves_a_session_outside_its_users_set(
    refusing: tuple[redis.Redis, Any],
) -> None:
    admin, refuse = refusing
    session = _login("42")
    soon = near_renewal(admin, session)
    refuse(True)
    with pytest.raises(REFUSED):
        SessionStore(session.session_key).load()  # the touch needs the set renewed: refused
    refuse(False)
    assert_indexed_or_gone(admin, session, "42")
    time.sleep(max(0.0, soon / 1000 - time.time()) + 0.05)  # the set's TTL passes
    if SessionStore(session.session_key).load():  # still served: then listed, and ended
        assert [r.handle for r in sessionkit.user_sessions("42")] == [
            hash_key(session.session_key or "")
        ]
        assert sessionkit.end_user_sessions("42") == 1
    assert SessionStore(session.session_key).load() == {}


async def test_async_refused_renewal_on_read_never_leaves_a_session_outside_its_users_set(
    refusing: tuple[redis.Redis, Any],
) -> None:
    admin, refuse = refusing
    session = await _alogin("42")
    near_renewal(admin, session)
    refuse(True)
    with pytest.raises(REFUSED):
        await SessionStore(session.session_key).aload()
    refuse(False)
    assert_indexed_or_gone(admin, session, "42")


def test_a_refused_index_on_login_records_no_user(refusing: tuple[redis.Redis, Any]) -> None:
    admin, refuse = refusing
    session = SessionStore()
    session["cart"] = [1]
    session.save()
    session.cycle_key()
    refuse(True)
    session["_auth_user_id"] = "42"
    with pytest.raises(REFUSED):
        session.save()
    refuse(False)
    assert_indexed_or_gone(admin, session, "42")
    # The login did not happen: the session is served, but not as user 42's.
    assert SessionStore(session.session_key).get("_auth_user_id") is None
    assert sessionkit.user_sessions("42") == []


async def test_async_refused_index_on_login_records_no_user(
    refusing: tuple[redis.Redis, Any],
) -> None:
    admin, refuse = refusing
    session = SessionStore()
    await session.aset("cart", [1])
    await session.asave()
    await session.acycle_key()
    refuse(True)
    await session.aset("_auth_user_id", "42")
    with pytest.raises(REFUSED):
        await session.asave()
    refuse(False)
    assert_indexed_or_gone(admin, session, "42")
    assert await SessionStore(session.session_key).aget("_auth_user_id") is None


def test_a_refused_index_on_a_longer_expiry_keeps_the_shorter_one(
    refusing: tuple[redis.Redis, Any],
) -> None:
    admin, refuse = refusing
    session = _login("42")
    expires = admin.pexpiretime(stored_key(session))
    refuse(True)
    session.set_expiry(60 * 60 * 24 * 365)  # "remember me" for a year: past the set's TTL
    with pytest.raises(REFUSED):
        session.save()
    refuse(False)
    assert admin.pexpiretime(stored_key(session)) == expires
    assert_indexed_or_gone(admin, session, "42")


def test_end_user_sessions_spares_a_member_now_holding_another_users_session(
    store: redis.Redis,
) -> None:
    with override_settings(SESSION_ENGINE=ENGINE):
        session = _login("42")
        session["_auth_user_id"] = "43"
        session.save()
        # The user-42 member left behind, as a failed ZREM after the switch leaves it.
        store.zadd(user_key_name(PREFIX, "42"), {hash_key(session.session_key or ""): 2**40})
        assert sessionkit.end_user_sessions("42") == 0
        assert sessionkit.user_sessions("42") == []
        assert SessionStore(session.session_key)["_auth_user_id"] == "43"
        assert [r.handle for r in sessionkit.user_sessions("43")] == [
            hash_key(session.session_key or "")
        ]


def test_log_out_other_devices_ends_a_session_cycled_while_it_runs(
    store: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Device B's password change (cycle_key) lands between "log out other devices"
    reading the user's set and ending its members: B's new id must be ended too."""
    with override_settings(SESSION_ENGINE=ENGINE):
        device_a, device_b = _login("42"), SessionStore(_login("42").session_key)
        device_b.load()
        client_class = type(sync_client())
        zrange = client_class.zrange
        cycled: list[str | None] = []

        def zrange_then_cycle(self: Any, *args: Any, **kwargs: Any) -> Any:
            members = zrange(self, *args, **kwargs)
            if not cycled:
                device_b.cycle_key()
                cycled.append(device_b.session_key)
            return members

        monkeypatch.setattr(client_class, "zrange", zrange_then_cycle)
        assert sessionkit.end_user_sessions("42", keep=device_a) == 1
        monkeypatch.undo()
        assert cycled and SessionStore(cycled[0]).load() == {}
        assert SessionStore(device_a.session_key)["cart"] == [1]
        assert [r.handle for r in sessionkit.user_sessions("42")] == [
            hash_key(device_a.session_key or "")
        ]


# -- requests: round trips counted by Redis --------------------------------------------------


@pytest.fixture(scope="module")
def counted_redis() -> Iterator[servers.RedisServer]:
    """A private server: its INFO counters see only this module's traffic."""
    server = servers.start_redis_server()
    try:
        yield server
    finally:
        server.cleanup()


class Counter:
    """Round trips (``total_reads_processed``), bytes in and calls, from ``INFO``."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.before = self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        info: dict[str, Any] = self.client.info("all")
        return info

    def delta(self) -> tuple[int, int, dict[str, int]]:
        """(round trips, bytes received, calls per command) since creation or last call."""
        after = self._snapshot()
        before, self.before = self.before, after
        reads = after["total_reads_processed"] - before["total_reads_processed"] - 1
        received = after["total_net_input_bytes"] - before["total_net_input_bytes"]
        calls = {
            name.removeprefix("cmdstat_"): stats["calls"] - before.get(name, {}).get("calls", 0)
            for name, stats in after.items()
            if name.startswith("cmdstat_") and name != "cmdstat_info"
        }
        received -= len(b"*2\r\n$4\r\nINFO\r\n$3\r\nall\r\n")
        return reads, received, {k: v for k, v in calls.items() if v}


@pytest.fixture
def counted(counted_redis: servers.RedisServer) -> Iterator[tuple[Client, redis.Redis]]:
    client = redis.Redis.from_url(counted_redis.url)
    client.flushdb()
    with override_settings(**redis_settings(counted_redis.url)):
        browser = Client()
        browser.get("/put/n/0/")  # warm up: connection handshake, script cache
        browser.get("/read/")
        try:
            yield browser, client
        finally:
            client.close()


def test_request_that_does_not_use_the_session_costs_nothing(
    counted: tuple[Client, redis.Redis],
) -> None:
    browser, client = counted
    counter = Counter(client)
    assert browser.get("/noop/").status_code == 200
    assert counter.delta() == (0, 0, {}), counter.delta()


def test_a_read_within_the_touch_slack_is_one_hgetall_and_writes_nothing(
    counted: tuple[Client, redis.Redis],
) -> None:
    browser, client = counted
    key = next(iter(client.keys(f"{PREFIX}{{*")))
    stored = client.hgetall(key)
    counter = Counter(client)
    assert browser.get("/read/").content == b"0"
    assert counter.delta()[::2] == (1, {"hgetall": 1})  # no script, no write command
    assert client.hgetall(key) == stored  # neither #expires nor #seen rewritten


def test_a_read_past_the_touch_slack_pushes_the_expiry_back_once(
    counted: tuple[Client, redis.Redis],
) -> None:
    browser, client = counted
    key = next(iter(client.keys(f"{PREFIX}{{*")))
    age = int(client.hget(key, "#age") or 0)
    behind = int(time.time() * 1000) + age - 61_000  # last touched 61 s ago: past the slack
    client.hset(key, mapping={"#expires": behind, "#seen": behind - age})
    client.pexpireat(key, behind)
    client.script_load(FETCH.text)  # as a server that has run it before (no EVAL here)
    counter = Counter(client)
    assert browser.get("/read/").content == b"0"
    trips, _, calls = counter.delta()
    assert trips == 2 and calls["evalsha"] == 1  # the plain read, then the script
    assert calls["hgetall"] == 2 and calls["hset"] == 1 and calls["pexpireat"] == 1
    pushed = int(client.hget(key, "#expires") or 0)
    assert pushed - behind > 60_000 and client.pexpiretime(key) == pushed
    assert int(client.hget(key, "#seen") or 0) == pushed - age
    counter = Counter(client)
    assert browser.get("/read/").content == b"0"
    assert counter.delta()[::2] == (1, {"hgetall": 1})  # and the next read is plain again


def test_a_rolling_cookie_never_outlives_an_expiry_the_read_left_in_place(
    counted: tuple[Client, redis.Redis],
) -> None:
    """Within the slack the read writes nothing, so the re-sent cookie's Max-Age is the
    stored expiry's, not a full age: the session never expires before the cookie."""
    browser, client = counted
    key = next(iter(client.keys(f"{PREFIX}{{*")))
    age = int(client.hget(key, "#age") or 0)
    stored = int(time.time() * 1000) + age - 30_000  # touched 30 s ago: within the slack
    client.hset(key, "#expires", stored)
    client.pexpireat(key, stored)
    with override_settings(SESSIONKIT={"ROLLING": True}):
        counter = Counter(client)
        response = browser.get("/read/")
        assert counter.delta()[::2] == (1, {"hgetall": 1})
    max_age = int(response.cookies[COOKIE]["max-age"])
    assert max_age * 1000 <= client.pexpiretime(key) - time.time() * 1000
    assert max_age > age // 1000 - 60


def test_rolling_touch_without_access_is_one_round_trip(
    counted: tuple[Client, redis.Redis],
) -> None:
    browser, client = counted
    with override_settings(SESSIONKIT={"ROLLING": True}):
        counter = Counter(client)
        response = browser.get("/noop/")
        assert COOKIE in response.cookies
        assert counter.delta()[0] == 1


def test_new_session_is_created_in_one_round_trip(counted: tuple[Client, redis.Redis]) -> None:
    _, client = counted
    counter = Counter(client)
    response = Client().get("/put/a/1/")
    assert COOKIE in response.cookies
    trips, _, calls = counter.delta()
    assert trips == 1
    assert calls["evalsha"] == 1


def test_changing_one_key_of_a_4kb_session_writes_only_that_key(
    counted: tuple[Client, redis.Redis],
) -> None:
    browser, client = counted
    browser.get("/fill/")
    key = next(k for k in client.keys(f"{PREFIX}{{*") if client.hexists(k, "k63"))
    size = sum(len(k) + len(v) for k, v in client.hgetall(key).items())
    assert size > 4096
    counter = Counter(client)
    assert browser.get("/put/k07/y/").status_code == 200
    trips, received, calls = counter.delta()
    assert trips == 2  # the read, then the delta write
    assert calls["hgetall"] == 1 and calls["evalsha"] == 1
    assert received < 1024, received  # the changed key and metadata, not the session
    assert client.hget(key, "k07") == b'"y"'
    assert client.hget(key, "k08") == b'"' + b"x" * 64 + b'"'


def test_a_logged_in_sessions_read_is_one_round_trip_and_its_write_two(
    counted: tuple[Client, redis.Redis],
) -> None:
    browser, client = counted
    warm = Client()  # another login first: the server caches every script counted below
    warm.get("/put/n/0/")
    warm.get("/put/_auth_user_id/7/")
    counter = Counter(client)
    assert browser.get("/put/_auth_user_id/42/").status_code == 200
    assert counter.delta()[0] == 3  # the login: read, the user's set first, the write
    assert browser.get("/read/").status_code == 200
    assert counter.delta()[0] == 1
    assert browser.get("/put/n/1/").status_code == 200
    trips, _, calls = counter.delta()
    assert trips == 2  # within the set's recorded TTL: no index round trip
    assert calls["hgetall"] == 1 and calls["evalsha"] == 1


def test_saving_a_session_destroyed_by_another_request_answers_400(
    counted: tuple[Client, redis.Redis],
) -> None:
    browser, client = counted
    response = browser.get("/clobber/")
    assert response.status_code == 400
    assert not client.keys(f"{PREFIX}{{*")  # not resurrected


def test_fifty_concurrent_requests_changing_different_keys_all_survive(
    counted: tuple[Client, redis.Redis],
) -> None:
    global barrier
    browser, _ = counted
    cookie = browser.cookies[COOKIE].value
    n = 50
    barrier = threading.Barrier(n)
    statuses: list[int] = []

    def request(i: int) -> None:
        own = Client()
        own.cookies[COOKIE] = cookie
        statuses.append(own.get(f"/put/key{i}/{i}/").status_code)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(n)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        barrier = None
    assert statuses == [200] * n
    data = browser.get("/dump/").json()
    assert {k: v for k, v in data.items() if k.startswith("key")} == {
        f"key{i}": str(i) for i in range(n)
    }


# -- Redis down -------------------------------------------------------------------------------


@pytest.mark.slow
def test_redis_down_answers_503_and_recovers_without_a_restart(
    private_redis: servers.RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(**redis_settings(private_redis.url)):
        browser = Client()
        assert browser.get("/put/n/1/").status_code == 200
        assert browser.get("/read/").content == b"1"
        private_redis.stop()
        started = time.monotonic()
        with caplog.at_level("ERROR", logger="sessionkit"):
            response = browser.get("/read/")
        assert response.status_code == 503
        assert time.monotonic() - started < 5
        assert "sessionkit.backends.redis" in caplog.text
        private_redis.start()
        response = browser.get("/put/n/2/")  # the data died with the server: a new session
        assert response.status_code == 200
        assert browser.get("/read/").content == b"2"


# -- native async -------------------------------------------------------------------------


async def test_async_api_uses_a_native_client_per_event_loop(store: redis.Redis) -> None:
    client = async_client()
    assert isinstance(client, redis.asyncio.Redis)
    assert async_client() is client
    session = SessionStore()
    await session.aset("n", 1)
    await session.asave()
    loaded = SessionStore(session.session_key)
    assert await loaded.aget("n") == 1
    await loaded.aset("_auth_user_id", "42")
    await loaded.acycle_key()
    await loaded.asave()
    assert not await SessionStore().aexists(session.session_key)
    assert await SessionStore().aexists(loaded.session_key)
    assert user_set(store, "42") == {hash_key(loaded.session_key or "").encode()}
    await loaded.adelete()
    assert store.keys("*") == []

    def other_loop() -> Any:
        return asyncio.run(_client_in_new_loop())

    other = await asyncio.to_thread(other_loop)
    assert other is not client


async def _client_in_new_loop() -> Any:
    return async_client()


async def test_async_update_of_a_destroyed_session_is_refused(store: redis.Redis) -> None:
    session = SessionStore()
    await session.aset("n", 1)
    await session.asave()
    store.delete(stored_key(session))
    record = Record({"n": "2"}, time.time(), time.time() + 60)
    assert await session._aupdate(hash_key(session.session_key or ""), record, None) is False
    assert await session._ainsert(hash_key(session.session_key or ""), record) is True
    assert await session._ainsert(hash_key(session.session_key or ""), record) is False


# -- maxmemory ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["full", "delta", "cycle_key"])
def test_no_write_goes_through_at_maxmemory(private_redis: servers.RedisServer, how: str) -> None:
    """Redis refuses a script at maxmemory only at its first write, and lets DEL, HDEL and
    RENAME through (and every write after them): each write script starts with an HSET."""
    admin = redis.Redis.from_url(private_redis.url)
    try:
        with override_settings(**redis_settings(private_redis.url)):
            session = SessionStore()
            session["n"] = 1
            session.save()
            key = stored_key(session)
            before = admin.hgetall(key)
            loaded = SessionStore(session.session_key)
            loaded.load()
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", 1)
            with pytest.raises(StoreUnavailable):
                if how == "full":
                    loaded.clear()  # Django's clear(): a full write, DEL first
                    loaded["y"] = 1
                    loaded.save()
                elif how == "delta":
                    loaded.client = ClientInfo("", "")  # the delta HDELs #agent and #ip
                    loaded["n"] = 2
                    loaded.save()
                else:
                    loaded["n"] = 2
                    loaded.cycle_key()  # RENAME first
            admin.config_set("maxmemory", 0)
            assert admin.hgetall(key) == before
            assert admin.dbsize() == 1
    finally:
        admin.close()
