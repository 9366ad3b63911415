"""The Redis store's opt-in process-local cache (``SESSIONKIT_REDIS["CLIENT_CACHE"]``)
against a real, private Redis: no round trip for a read of an unchanged session, never a
stale read once another process's changing response has been sent (two real processes,
thousands of times), and an emptied cache when the tracking connection is killed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.connection
from django.test import Client, override_settings

import sessionkit
from sessionkit.backends.redis import SessionStore
from sessionkit.backends.redis_cache import TrackingCache, tracking_cache
from sessionkit.backends.redis_client import sync_client
from sessionkit.checks import check_settings
from sessionkit.conf import RedisSettings, parse_redis
from sessionkit.errors import StoreUnavailable
from tests import servers
from tests.backends.test_redis import Counter, redis_settings

pytestmark = pytest.mark.redis

CACHED = {"CLIENT_CACHE": True}


@pytest.fixture
def cached(private_redis: servers.RedisServer) -> Iterator[tuple[redis.Redis, TrackingCache]]:
    """The store on a private Redis with the cache on: an admin client, and the cache."""
    admin = redis.Redis.from_url(private_redis.url)
    try:
        with override_settings(**redis_settings(private_redis.url), SESSIONKIT_REDIS=CACHED):
            cache = tracking_cache(sync_client())
            assert cache is not None
            yield admin, cache
    finally:
        admin.close()


def _stored(n: int) -> str:
    session = SessionStore()
    session["n"] = n
    session.save()
    assert session.session_key is not None
    return session.session_key


def test_the_setting_is_off_by_default_and_a_bad_value_is_e010() -> None:
    assert parse_redis(None).client_cache is False
    assert parse_redis({"CLIENT_CACHE": True, "CLIENT_CACHE_SIZE": 50}).client_cache_size == 50
    for bad in ({"CLIENT_CACHE": "yes"}, {"CLIENT_CACHE_SIZE": 0}, {"CLIENT_CACHE_SIZE": True}):
        conf = parse_redis(bad)
        assert conf == RedisSettings()
        assert [p.id for p in conf.problems] == ["E010"]


@pytest.mark.parametrize("value", [{"CLIENT_CACHE": 1}, {"CLIENT_CACHE_SIZE": -5}])
def test_manage_py_check_reports_a_bad_cache_setting_as_e010(value: dict[str, Any]) -> None:
    with override_settings(
        SESSION_ENGINE="sessionkit.backends.redis",
        SESSION_CACHE_ALIAS="redis",
        SESSIONKIT_REDIS=value,
    ):
        assert "sessionkit.E010" in [m.id for m in check_settings()]
    with override_settings(
        SESSION_ENGINE="sessionkit.backends.redis",
        SESSION_CACHE_ALIAS="redis",
        SESSIONKIT_REDIS=CACHED,
    ):
        assert [m.id for m in check_settings()] == []


def test_a_read_of_an_unchanged_session_costs_no_round_trip(
    cached: tuple[redis.Redis, TrackingCache],
) -> None:
    admin, cache = cached
    browser = Client()
    browser.get("/put/n/7/")
    assert browser.get("/read/").content == b"7"  # a miss: read, and tracked
    counter = Counter(admin)
    hits = cache.hits
    for _ in range(3):
        assert browser.get("/read/").content == b"7"
    assert counter.delta() == (0, 0, {})  # Redis saw nothing at all
    assert cache.hits == hits + 3


def test_a_write_costs_one_more_round_trip_the_barrier(
    cached: tuple[redis.Redis, TrackingCache],
) -> None:
    admin, _ = cached
    browser = Client()
    browser.get("/put/n/6/")
    browser.get("/put/n/7/")  # the server has cached the update script
    browser.get("/read/")
    counter = Counter(admin)
    assert browser.get("/put/n/8/").status_code == 200
    trips, _, calls = counter.delta()
    # The read is a hit; the write's script; the PING after it; the write invalidated
    # this process's copy, so the next read goes to Redis once.
    assert (trips, calls["evalsha"], calls["ping"]) == (2, 1, 1), calls
    assert browser.get("/read/").content == b"8"
    assert counter.delta()[::2] == (1, {"hgetall": 1})


def test_a_hit_serves_the_stored_session_whatever_an_earlier_reader_did_with_its_copy(
    cached: tuple[redis.Redis, TrackingCache],
) -> None:
    """Hits share one parsed copy of the hash: a reader that changes its session in place
    and in bulk, then never saves, changes nothing the next reader sees."""
    _, cache = cached
    session = SessionStore()
    session.update({"cart": [1, 2], "user": {"name": "ann"}, "n": 1})
    session.save()
    key = session.session_key
    SessionStore(key).load()  # a miss: now cached
    hits = cache.hits
    first = SessionStore(key)
    first["cart"].append(3)
    first["user"]["name"] = "bob"
    del first["n"]
    first["new"] = True
    first.update({"x": 1})
    first.pop("user")
    first.clear()  # no save: the store's copy is what it was
    second = SessionStore(key)
    assert dict(second.items()) == {"cart": [1, 2], "user": {"name": "ann"}, "n": 1}
    assert cache.hits == hits + 2


def test_a_change_by_another_client_is_seen_at_once(
    cached: tuple[redis.Redis, TrackingCache],
) -> None:
    admin, _ = cached
    key = _stored(1)
    assert SessionStore(key)["n"] == 1
    assert SessionStore(key)["n"] == 1  # from the cache
    SessionStore(key).delete()  # through the store: also this process's own write
    assert SessionStore(key).get("n") is None
    key = _stored(2)
    SessionStore(key).load()
    stored = next(iter(admin.scan_iter(match="sessionkit:{*")))
    admin.hset(stored, "n", "3")  # another client, not the store: only Redis can tell us
    admin.ping()  # the barrier the store's own writes end with (docs/redis.md)
    assert SessionStore(key)["n"] == 3
    admin.delete(stored)
    admin.ping()  # the barrier the store's own writes end with (docs/redis.md)
    assert SessionStore(key).load() == {}


def test_a_killed_tracking_connection_empties_the_cache_and_serves_nothing_stale(
    cached: tuple[redis.Redis, TrackingCache],
) -> None:
    admin, cache = cached
    key = _stored(1)
    assert SessionStore(key)["n"] == 1
    assert SessionStore(key)["n"] == 1
    flushes = cache.flushes
    assert admin.client_kill_filter(_id=cache.client_id) == 1
    # Changed while the connection is gone: Redis has nobody to tell.
    stored = next(iter(admin.scan_iter(match="sessionkit:{*")))
    admin.hset(stored, "n", "2")
    admin.ping()  # the barrier the store's own writes end with (docs/redis.md)
    assert SessionStore(key)["n"] == 2
    assert cache.flushes > flushes
    assert SessionStore(key)["n"] == 2  # tracked again on the new connection
    admin.hset(stored, "n", "3")
    admin.ping()  # the barrier the store's own writes end with (docs/redis.md)
    assert SessionStore(key)["n"] == 3


async def test_async_reads_are_served_from_the_same_cache(
    cached: tuple[redis.Redis, TrackingCache],
) -> None:
    admin, cache = cached
    key = _stored(1)
    assert await SessionStore(key).aget("n") == 1
    counter = Counter(admin)
    hits = cache.hits
    assert await SessionStore(key).aget("n") == 1
    assert counter.delta() == (0, 0, {})
    assert cache.hits == hits + 1
    other = SessionStore(key)
    await other.aset("n", 2)
    await other.asave()
    assert await SessionStore(key).aget("n") == 2


async def test_an_async_read_never_waits_in_the_event_loop_for_a_miss_in_flight(
    cached: tuple[redis.Redis, TrackingCache],
) -> None:
    """A miss holds the one tracking connection for a round trip (against a Redis that has
    stopped answering, until its socket timeout): the event loop keeps serving meanwhile,
    and a read that needs the connection waits for it in a thread."""
    _, cache = cached
    key = _stored(1)
    assert await SessionStore(key).aget("n") == 1
    held, release = threading.Event(), threading.Event()
    released_in_time: list[bool] = []

    def miss_in_flight() -> None:
        with cache._lock:
            held.set()
            released_in_time.append(release.wait(2))

    thread = threading.Thread(target=miss_in_flight)
    thread.start()
    try:
        assert held.wait(2)
        read = asyncio.ensure_future(SessionStore(key).aget("n"))
        await asyncio.sleep(0.05)  # a loop stuck on the connection gets here only after 2 s
        release.set()
        assert await read == 1
    finally:
        release.set()
        thread.join()
    assert released_in_time == [True]


# -- two processes ----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
#: Rounds of the two-process test (about 1 ms each on a 2-CPU machine).
ROUNDS = 2000


class Worker:
    """A process of its own serving sessions with the cache on (redis_cache_worker)."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.backends.redis_cache_worker", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def ask(self, *command: Any) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(" ".join(map(str, command)) + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def test_a_session_changed_or_ended_by_one_process_is_never_stale_in_another(
    private_redis: servers.RedisServer,
) -> None:
    """Each round: the reader reads (and caches), the writer changes the session (before
    that, every 50th round, ends it and starts another, or cycles its id), the reader must
    see it at once; then reads again, from its cache. The two swap roles every round."""
    a, b = Worker(private_redis.url), Worker(private_redis.url)
    try:
        key = a.ask("new")
        stale = []
        for i in range(1, ROUNDS + 1):
            writer, reader = (a, b) if i % 2 else (b, a)
            reader.ask("get", key)
            if i % 50 == 0:
                writer.ask("end", key)
                if (seen := reader.ask("get", key)) != "gone":
                    stale.append((i, seen))
                key = writer.ask("new")
                reader.ask("get", key)
            elif i % 50 == 25:  # a login elsewhere moves the session to a new id
                old, key = key, writer.ask("cycle", key)
                if (seen := reader.ask("get", old)) != "gone":
                    stale.append((i, seen))
            writer.ask("set", key, i)
            if (seen := reader.ask("get", key)) != str(i):
                stale.append((i, seen))
            assert reader.ask("get", key) == str(i)
        assert stale == []
        hits = [int(w.ask("stats").split()[0]) for w in (a, b)]
        assert min(hits) > ROUNDS // 2  # the reads really came from the caches
    finally:
        a.close()
        b.close()


def _hash_of(admin: redis.Redis, key: str) -> bytes:
    from sessionkit.backends.base import hash_key
    from sessionkit.backends.redis_wire import session_key_name

    return session_key_name("sessionkit:", hash_key(key)).encode()


def test_flushdb_empties_every_cache(cached: tuple[redis.Redis, TrackingCache]) -> None:
    admin, cache = cached
    key = _stored(1)
    assert SessionStore(key)["n"] == 1
    flushes = cache.flushes
    admin.flushdb()
    admin.ping()  # the barrier the store's own writes end with (docs/redis.md)
    assert SessionStore(key).load() == {}
    assert cache.flushes > flushes


def test_many_invalidations_waiting_send_the_read_to_redis(
    cached: tuple[redis.Redis, TrackingCache],
) -> None:
    admin, cache = cached
    keys = [_stored(i) for i in range(100)]
    assert [SessionStore(k)["n"] for k in keys] == list(range(100))
    for key in keys:  # changed elsewhere: 100 invalidations wait on the socket
        admin.hset(_hash_of(admin, key), "n", "-1")
    admin.ping()  # the barrier the store's own writes end with (docs/redis.md)
    misses = cache.misses
    assert SessionStore(keys[0])["n"] == -1
    assert cache.misses == misses + 1
    assert [SessionStore(k)["n"] for k in keys] == [-1] * 100


def test_the_least_recently_used_session_leaves_a_full_cache(
    private_redis: servers.RedisServer,
) -> None:
    setting = {"CLIENT_CACHE": True, "CLIENT_CACHE_SIZE": 2}
    with override_settings(**redis_settings(private_redis.url), SESSIONKIT_REDIS=setting):
        cache = tracking_cache(sync_client())
        assert cache is not None
        keys = [_stored(i) for i in range(3)]
        for key in (*keys, keys[2]):
            SessionStore(key).load()
        hits, misses = cache.hits, cache.misses
        SessionStore(keys[2]).load()  # kept
        SessionStore(keys[0]).load()  # dropped when the third came in
        assert (cache.hits - hits, cache.misses - misses) == (1, 1)


def test_a_redis_restart_answers_503_then_serves_nothing_stale(
    private_redis: servers.RedisServer,
) -> None:
    with override_settings(**redis_settings(private_redis.url), SESSIONKIT_REDIS=CACHED):
        cache = tracking_cache(sync_client())
        assert cache is not None
        key = _stored(1)
        assert SessionStore(key)["n"] == 1
        private_redis.stop()
        with pytest.raises(StoreUnavailable):
            SessionStore(key).load()
        private_redis.start()  # an empty Redis: the session is gone
        assert SessionStore(key).load() == {}


def test_end_user_sessions_ends_cached_sessions_at_once(
    cached: tuple[redis.Redis, TrackingCache],
) -> None:
    devices = []
    for _ in range(3):
        session = SessionStore()
        session["_auth_user_id"] = "42"
        session.save()
        devices.append(session.session_key)
    assert all(SessionStore(k)["_auth_user_id"] == "42" for k in devices)
    assert sessionkit.end_user_sessions("42", keep=SessionStore(devices[0])) == 2
    assert [bool(SessionStore(k).load()) for k in devices] == [True, False, False]


def test_clients_the_cache_cannot_serve_read_without_it() -> None:
    class Custom(redis.connection.Connection):
        pass

    with override_settings(SESSIONKIT_REDIS=CACHED):
        assert tracking_cache(object()) is None  # a Cluster client: no connection pool
        custom = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=Custom))
        assert tracking_cache(custom) is None
    assert tracking_cache(redis.Redis()) is None  # the cache is off


async def test_async_end_user_sessions_ends_cached_sessions_at_once_after_a_script_flush(
    cached: tuple[redis.Redis, TrackingCache],
) -> None:
    """The async twin on the async client: cached sessions it ends are read as ended at
    once, and a server that lost its scripts (a restart, ``SCRIPT FLUSH``) runs them."""
    admin, _ = cached
    devices = []
    for _ in range(3):
        session = SessionStore()
        await session.aset("_auth_user_id", "42")
        await session.asave()
        devices.append(session.session_key)
    assert all([await SessionStore(k).aget("_auth_user_id") == "42" for k in devices])
    admin.script_flush()
    assert await sessionkit.aend_user_sessions("42", keep=SessionStore(devices[0])) == 2
    assert [bool(await SessionStore(k).aload()) for k in devices] == [True, False, False]
