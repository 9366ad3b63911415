"""The connect_redis store against a real Redis: Django's session suite, the stored format
(express-session's JSON under ``sess:<id>``), connect-redis's TTL and touch, the session
lifetime carried by the ``cookie`` object, refused values, and the checks. The Express
side itself is tests/e2e/test_express_interop.py."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from django.core.management import call_command
from django.test import SimpleTestCase, override_settings

from sessionkit.backends.base import hash_key
from sessionkit.backends.connect_redis import SessionStore
from sessionkit.backends.express_json import js_date, parse
from sessionkit.backends.redis import SessionStore as RedisStore
from sessionkit.backends.redis_wire import session_key_name
from sessionkit.conf import get_redis_settings, parse_redis
from tests import servers
from tests.backends.conformance import Recorder, SessionTestsMixin, SignalTestsMixin

pytestmark = pytest.mark.redis

ENGINE = "sessionkit.backends.connect_redis"
KIT = {"COOKIE": {"MAX_AGE": 3600, "SAMESITE": "Lax"}}


@override_settings(SESSION_CACHE_ALIAS="redis", SESSION_ENGINE=ENGINE)
class ConnectRedisConformanceTests(SessionTestsMixin, SimpleTestCase):
    backend = SessionStore


@override_settings(SESSION_CACHE_ALIAS="redis", SESSION_ENGINE=ENGINE)
class ConnectRedisSignalTests(SignalTestsMixin, SimpleTestCase):
    """The signals' ``handle`` is a hash here too, though the store keys by the raw id."""

    backend = SessionStore

    def _lapse(self, session_key: str) -> None:
        """Redis drops a session whose TTL ran out (the store has no deadline of its own:
        express-session's session has no creation time, W041)."""
        from sessionkit.backends.redis_client import sync_client

        sync_client().pexpire(f"sess:{session_key}", 1)
        time.sleep(0.01)

    def test_a_session_found_ended_on_read_ends_as_expired_once(self) -> None:
        session = self._new(_auth_user_id="7")
        self._lapse(session.session_key)
        with Recorder() as seen:
            assert self.backend(session.session_key).load() == {}
        assert seen.events() == []  # Redis expired it on its own: nothing to tell

    async def test_async_a_session_found_ended_on_read_ends_as_expired_once(self) -> None:
        from asgiref.sync import sync_to_async

        session = await sync_to_async(self._new)()
        await sync_to_async(self._lapse)(session.session_key)
        with Recorder() as seen:
            assert await self.backend(session.session_key).aload() == {}
        assert seen.events() == []


@pytest.fixture
def store(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    with override_settings(SESSION_CACHE_ALIAS="redis", SESSION_ENGINE=ENGINE, SESSIONKIT=KIT):
        yield redis_client


def saved(**data: object) -> SessionStore:
    session = SessionStore()
    for key, value in data.items():
        session[key] = value
    session.save()
    assert session.session_key is not None
    return session


def stored(client: redis.Redis, session_key: str, prefix: str = "sess:") -> dict[str, object]:
    raw = client.get(prefix + session_key)
    assert raw is not None
    value: dict[str, object] = json.loads(raw)
    return value


def test_session_is_express_sessions_json_under_the_raw_id(store: redis.Redis) -> None:
    before = time.time()
    session = saved(cart={"items": [1, 2]}, name="Zoë")
    key = session.session_key
    assert key is not None
    assert store.keys("*") == [f"sess:{key}".encode()]
    value = stored(store, key)
    assert list(value) == ["cookie", "cart", "name"]
    assert value["cart"] == {"items": [1, 2]} and value["name"] == "Zoë"
    cookie = value["cookie"]
    assert isinstance(cookie, dict)
    expires = datetime.fromisoformat(cookie.pop("expires")).timestamp()
    assert before + 3600 - 1 <= expires <= time.time() + 3600
    assert cookie == {
        "originalMaxAge": 3600000,
        "secure": False,
        "httpOnly": True,
        "path": "/",
        "sameSite": "lax",
    }
    assert 3599 <= store.ttl(f"sess:{key}") <= 3600  # connect-redis's ceil(expires - now)


def test_prefix_and_browser_session_ttl_come_from_sessionkit_redis(store: redis.Redis) -> None:
    conf = {"CONNECT_PREFIX": "app:s:", "CONNECT_TTL": 600}
    with override_settings(SESSIONKIT_REDIS=conf, SESSIONKIT={"COOKIE": {"MAX_AGE": None}}):
        session = saved(x=1)
        key = session.session_key
        assert key is not None
        value = stored(store, key, "app:s:")
        assert value["cookie"] == {
            "originalMaxAge": None,
            "expires": None,
            "secure": False,
            "httpOnly": True,
            "path": "/",
            "sameSite": "lax",
        }
        assert 599 <= store.ttl(f"app:s:{key}") <= 600  # connect-redis's ttl option
        assert SessionStore(key)["x"] == 1


def test_reads_a_session_express_wrote_with_its_own_lifetime(store: redis.Redis) -> None:
    """A "remember me" set on the Express side (cookie.maxAge of 30 days, drifted by a
    millisecond as express-session's rolls leave it) reads as set_expiry(30 days), and a
    Django write keeps it."""
    month = 30 * 86400
    text = json.dumps(
        {
            "cookie": {
                "originalMaxAge": month * 1000 - 1,
                "expires": js_date(time.time() + month),
                "httpOnly": True,
                "path": "/",
            },
            "userId": 7,
            "cart": [],
        }
    )
    store.set("sess:express-made-id-0001", text, ex=month)
    session = SessionStore("express-made-id-0001")
    assert session["userId"] == 7 and session["cart"] == []
    assert session.get_expiry_age() == month
    assert "cookie" not in session
    session["cart"] = ["pear"]
    session.save()
    value = stored(store, "express-made-id-0001")
    assert value["cookie"]["originalMaxAge"] == month * 1000  # type: ignore[index]
    assert "_session_expiry" not in value
    assert store.ttl("sess:express-made-id-0001") > month - 5


def test_set_expiry_is_the_cookies_original_max_age(store: redis.Redis) -> None:
    session = saved(x=1)
    key = session.session_key
    assert key is not None
    session.set_expiry(120)
    session.save()
    assert stored(store, key)["cookie"]["originalMaxAge"] == 120000  # type: ignore[index]
    assert store.ttl(f"sess:{key}") <= 120
    session.set_expiry(0)  # a browser-session cookie: connect-redis's default TTL
    session.save()
    cookie = stored(store, key)["cookie"]
    assert cookie["originalMaxAge"] is None and cookie["expires"] is None  # type: ignore[index]
    assert store.ttl(f"sess:{key}") > 80000
    assert SessionStore(key).get_expire_at_browser_close()
    when = datetime.now(UTC) + timedelta(seconds=300)
    session.set_expiry(when)
    session.save()
    cookie = stored(store, key)["cookie"]
    assert cookie["expires"] == js_date(when.timestamp())  # type: ignore[index]
    assert 298 <= store.ttl(f"sess:{key}") <= 300


def test_a_read_touches_as_connect_redis_does(store: redis.Redis) -> None:
    key = saved(x=1).session_key
    assert key is not None
    store.expire(f"sess:{key}", 100)  # an hour-long session, idle for most of it
    assert SessionStore(key)["x"] == 1
    assert store.ttl(f"sess:{key}") >= 3599
    # within the touch slack (1% of the age, at most a minute): no write
    store.expire(f"sess:{key}", 3590)
    assert SessionStore(key)["x"] == 1
    assert store.ttl(f"sess:{key}") <= 3590


def test_a_value_json_cannot_hold_is_a_clear_error_and_writes_nothing(
    store: redis.Redis,
) -> None:
    session = saved(x=1)
    key = session.session_key
    assert key is not None
    session["when"] = datetime.now(UTC)
    with pytest.raises(TypeError, match="'when' holds a datetime"):
        session.save()
    assert stored(store, key) == {"cookie": stored(store, key)["cookie"], "x": 1}
    fresh = SessionStore()
    fresh["cookie"] = {"mine": True}
    with pytest.raises(ValueError, match="'cookie' is express-session's own"):
        fresh.save()
    assert store.keys("*") == [f"sess:{key}".encode()]


@pytest.mark.parametrize(
    "text", [b"not json", b"[1, 2]", b'{"x": 1}', b'{"cookie": 5}', b'{"cookie": {}, "n": 1e999}']
)
def test_a_value_that_is_not_an_express_session_is_a_fresh_session(
    store: redis.Redis, text: bytes
) -> None:
    store.set("sess:planted-value-0001", text)
    assert SessionStore("planted-value-0001").load() == {}
    assert parse(text) is None


def test_a_write_merges_into_what_another_request_stored(store: redis.Redis) -> None:
    first = saved(a=1, b=1)
    key = first.session_key
    assert key is not None
    second = SessionStore(key)
    assert second["b"] == 1
    first["a"] = 2
    first.save()
    second["b"] = 2
    second.save()
    value = stored(store, key)
    assert value["a"] == 2 and value["b"] == 2


def test_cycle_key_leaves_the_old_id_dead(store: redis.Redis) -> None:
    session = saved(x=1)
    old = session.session_key
    session.cycle_key()
    assert session.session_key != old
    assert store.get(f"sess:{old}") is None
    assert stored(store, session.session_key or "")["x"] == 1


def test_clearsessions_says_redis_expires_them(store: redis.Redis) -> None:
    saved(x=1)
    out = io.StringIO()
    call_command("clearsessions", stdout=out)
    assert "expires sessions by itself" in out.getvalue()
    assert len(store.keys("*")) == 1


def test_connect_settings_are_validated() -> None:
    conf = parse_redis({"CONNECT_PREFIX": 5, "CONNECT_TTL": 0})
    assert conf.connect_prefix == "sess:" and conf.connect_ttl == 86400
    assert [p.id for p in conf.problems] == ["E010", "E010"]
    with override_settings(SESSIONKIT_REDIS={"CONNECT_PREFIX": "x:", "CONNECT_TTL": 60}):
        assert get_redis_settings().connect_prefix == "x:"
        assert get_redis_settings().connect_ttl == 60


# -- retiring the Express side: ADOPT_FROM into the Redis store ------------------------------

SECRET = "keyboard cat, shared by both apps, long enough"
MOVED = {
    "SESSION_ENGINE": "sessionkit.backends.redis",
    "SESSION_CACHE_ALIAS": "redis",
    "SESSIONKIT": {"SECRET": SECRET, "ADOPT_FROM": ENGINE, **KIT},
}


def express_sessions(client: redis.Redis, count: int, ttl: int = 1800) -> list[str]:
    """Sessions as the Express app left them (connect-redis's keys, express's JSON)."""
    keys = []
    for i in range(count):
        key = f"express-session-id-{i:04d}"
        cookie = {"originalMaxAge": 3600000, "expires": js_date(time.time() + ttl), "path": "/"}
        client.set(f"sess:{key}", json.dumps({"cookie": cookie, "x": i}), ex=ttl)
        keys.append(key)
    return keys


def test_adopt_from_connect_redis_is_accepted() -> None:
    from sessionkit.conf import parse

    with override_settings(**MOVED):
        conf = parse(MOVED["SESSIONKIT"])
    assert conf.adopt_from is SessionStore and conf.problems == ()


def test_an_express_session_moves_to_the_same_id_on_its_next_request(
    redis_client: redis.Redis,
) -> None:
    from django.test import Client

    from sessionkit.signing import encode_cookie_value

    (key,) = express_sessions(redis_client, 1)
    with override_settings(**MOVED):
        browser = Client()
        browser.cookies["sessionid"] = encode_cookie_value(key, SECRET.encode())
        response = browser.get("/read/")
        assert response.json() == {"value": 0, "key": key}
        assert "sessionid" not in response.cookies  # the cookie stays as it is
        assert redis_client.get(f"sess:{key}") is None  # claimed from connect-redis's keys
        assert redis_client.exists(session_key_name("sessionkit:", hash_key(key)))
        assert RedisStore(key)["x"] == 0
        # logged out after the move: not brought back from anywhere
        browser.get("/flush/")
        browser.cookies["sessionid"] = encode_cookie_value(key, SECRET.encode())
        assert browser.get("/read/").json() == {"value": None, "key": None}


def test_the_command_moves_every_express_session_once(redis_client: redis.Redis) -> None:
    keys = express_sessions(redis_client, 7)
    redis_client.set("sess:not-a-session-0001", b"not json")
    with override_settings(**MOVED):
        out, err = io.StringIO(), io.StringIO()
        call_command("sessionkit_adopt", "--batch-size", "3", stdout=out, stderr=err)
        assert "Moved 7 session(s), skipped 1" in out.getvalue()
        assert "8/8" in err.getvalue()
        assert redis_client.keys("sess:*") == []
        # each under its id, ending when it would have (connect-redis's TTL kept)
        names = [session_key_name("sessionkit:", hash_key(key)) for key in keys]
        assert all(1790 <= redis_client.ttl(name) <= 1800 for name in names)
        assert [RedisStore(key)["x"] for key in keys] == list(range(7))
        again = io.StringIO()
        call_command("sessionkit_adopt", stdout=again, stderr=io.StringIO())
        assert "Moved 0 session(s), skipped 0" in again.getvalue()


async def test_an_express_session_moves_on_the_async_path(redis_client: redis.Redis) -> None:
    from django.test import AsyncClient

    from sessionkit.signing import encode_cookie_value

    (key,) = express_sessions(redis_client, 1)
    with override_settings(**MOVED):
        browser = AsyncClient()
        browser.cookies["sessionid"] = encode_cookie_value(key, SECRET.encode())
        response = await browser.get("/aread/")
        assert response.json() == {"value": 0, "key": key}
    assert redis_client.get(f"sess:{key}") is None


def test_a_session_already_in_the_new_store_is_not_overwritten(redis_client: redis.Redis) -> None:
    from sessionkit import adopt

    (key,) = express_sessions(redis_client, 1)
    with override_settings(**MOVED):
        before = adopt.Legacy({"x": "moved before"}, time.time() + 60)
        assert adopt.put(RedisStore, key, before, adopt.NO_CLIENT)
        outcome = adopt.move_by_id(SessionStore, RedisStore, key)
        assert outcome == adopt.Outcome("already", key)
        assert RedisStore(key)["x"] == "moved before"
        assert redis_client.get(f"sess:{key}") is None


# -- writes: races, ends, odd values ---------------------------------------------------------


class RacedStore(SessionStore):
    """A store whose first read-merge-write sees another writer change ``b`` between its
    read and its write (a real second client, so Redis's WATCH aborts the first try)."""

    raced = False

    def _merged(self, raw: bytes, name: str, record: Any, delta: Any) -> Any:
        if not RacedStore.raced:
            RacedStore.raced = True
            other = redis.Redis.from_url(servers.redis_url())
            value = json.loads(other.get(name) or b"{}")
            other.set(name, json.dumps({**value, "b": "other"}), keepttl=True)
            other.close()
        return super()._merged(raw, name, record, delta)


def test_a_write_raced_between_its_read_and_write_is_retried_and_keeps_both(
    store: redis.Redis,
) -> None:
    key = saved(a=0, b=0).session_key
    session = RacedStore(key)
    session["a"] = "mine"
    session.save()
    assert RacedStore.raced
    value = stored(store, key or "")
    assert value["a"] == "mine" and value["b"] == "other"


def test_a_negative_expiry_deletes_as_connect_redis_does(store: redis.Redis) -> None:
    session = saved(x=1)
    session.set_expiry(-1)
    session.save()
    assert store.keys("*") == []
    fresh = SessionStore()
    fresh["x"] = 1
    fresh.set_expiry(-5)
    fresh.save()  # expired as it is made: nothing stored
    assert store.keys("*") == []


def test_a_write_over_a_value_that_is_not_express_s_writes_the_whole_session(
    store: redis.Redis,
) -> None:
    session = saved(x=1)
    key = session.session_key or ""
    session["y"] = 2
    store.set(f"sess:{key}", b"planted", keepttl=True)
    session.save()
    assert {k: v for k, v in stored(store, key).items() if k != "cookie"} == {"x": 1, "y": 2}


def test_cycle_key_of_a_session_destroyed_meanwhile_does_not_bring_it_back(
    store: redis.Redis,
) -> None:
    from django.contrib.sessions.backends.base import UpdateError

    session = saved(x=1)
    assert session["x"] == 1
    store.delete(f"sess:{session.session_key}")
    with pytest.raises(UpdateError):
        session.cycle_key()
    assert store.keys("*") == []


def test_cycle_key_to_an_id_already_taken_tries_another(store: redis.Redis) -> None:
    from sessionkit.backends.base import ClientInfo

    taken = saved(mine=False).session_key
    session = saved(x=1)
    ids = iter([taken, "a-fresh-id-for-the-cycled-session"])
    session.begin(lambda: next(ids), ClientInfo())
    session.cycle_key()
    assert session.session_key == "a-fresh-id-for-the-cycled-session"
    assert stored(store, taken or "")["mine"] is False
    assert stored(store, session.session_key)["x"] == 1


def test_the_cookie_object_follows_domain_and_samesite(store: redis.Redis) -> None:
    cookie = {"MAX_AGE": 60, "DOMAIN": ".example.com", "SAMESITE": False, "SECURE": True}
    with override_settings(SESSIONKIT={"COOKIE": cookie}):
        key = saved(x=1).session_key or ""
        written = stored(store, key)["cookie"]
    assert isinstance(written, dict)
    assert written["domain"] == ".example.com" and written["secure"] is True
    assert "sameSite" not in written


def test_a_cookie_expiry_that_is_not_a_date_reads_as_none() -> None:
    parsed = parse(b'{"cookie": {"originalMaxAge": 5000, "expires": 5}, "x": 1}')
    assert parsed is not None and parsed.expires is None and parsed.original_max_age == 5000
    assert parse(b'{"cookie": {"expires": "soon"}}') == parse(b'{"cookie": {}}')


class RacedSource(SessionStore):
    """A source whose session another mover deletes right after this one read it (the
    other's move, then its user's logout), through a real second client."""

    @staticmethod
    def _read(raw: bytes | None, name: str) -> Any:
        read = SessionStore._read(raw, name)
        other = redis.Redis.from_url(servers.redis_url())
        other.delete(name)
        other.close()
        return read


def test_a_copy_whose_source_changed_meanwhile_is_removed_not_kept(
    redis_client: redis.Redis,
) -> None:
    """The transaction deleting the source fails, and this mover's copy goes too: the
    logged-out session is not brought back."""
    from sessionkit import adopt

    (key,) = express_sessions(redis_client, 1)
    with override_settings(**MOVED):
        assert adopt.move_by_id(RacedSource, RedisStore, key) == adopt.Outcome("gone")
        assert not RedisStore().exists(key)
        assert redis_client.keys("*") == []
