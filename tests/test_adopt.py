"""``SESSIONKIT["ADOPT_FROM"]``: a session of the Django engine the site used before is
served, moved into sessionkit's store under a new signed id and deleted from the legacy
engine, on the same response; and ``manage.py sessionkit_adopt`` moves them ahead of time."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from importlib import import_module
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.backends import file as dj_file
from django.contrib.sessions.models import Session as LegacyRow
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import AsyncClient, Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sessionkit import adopt
from sessionkit.backends import memory
from sessionkit.backends.base import hash_key
from sessionkit.conf import get_settings, parse
from sessionkit.models import Session as KitRow
from sessionkit.signing import decode_cookie_value, encode_cookie_value
from tests.backends.conformance import Recorder
from tests.faults.harness import require_postgresql, run_concurrently

pytestmark = [pytest.mark.db, pytest.mark.django_db]

ENGINES = ["db", "cached_db", "cache", "file", "signed_cookies"]
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "adopt"}


def legacy_path(name: str) -> str:
    return f"django.contrib.sessions.backends.{name}"


@pytest.fixture
def legacy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Settings adopting from the engine named by the test's parameter, on sessionkit's db
    store (memory store for the parameters ending in ``>memory``)."""
    name, _, target = request.param.partition(">")
    engine = target if "." in target else f"sessionkit.backends.{target or 'db'}"
    caches["default"].clear()
    memory.SessionStore.reset()
    # Django's file engine keeps the first SESSION_FILE_PATH it saw for the process
    if "_storage_path" in vars(dj_file.SessionStore):
        del dj_file.SessionStore._storage_path
    with override_settings(
        SESSION_ENGINE=engine,
        SESSION_FILE_PATH=str(tmp_path),
        SESSIONKIT={"ADOPT_FROM": legacy_path(name)},
    ):
        yield name
    memory.SessionStore.reset()


def legacy_store(name: str, key: str | None = None) -> Any:
    return import_module(legacy_path(name)).SessionStore(key)


def make_legacy(name: str, data: dict[str, Any], expiry: Any = None) -> str:
    """A session saved by Django's ``name`` engine; returns what its cookie holds."""
    store = legacy_store(name)
    store.update(data)
    if expiry is not None:
        store.set_expiry(expiry)
    store.save()
    assert store.session_key
    return str(store.session_key)


def legacy_exists(name: str, key: str) -> bool:
    if name == "signed_cookies":
        return bool(legacy_store(name, key).load())
    if name == "cached_db":  # the row, not only the cache copy
        return LegacyRow.objects.filter(session_key=key).exists()
    return bool(legacy_store(name).exists(key))


def kit_cookie(response: Any, name: str = "sessionid") -> str | None:
    """The sessionkit id the response's Set-Cookie names (verified), or None."""
    morsel = response.cookies.get(name)
    if morsel is None or not morsel.value:
        return None
    verified = decode_cookie_value(unquote(morsel.value), get_settings().keys)
    return verified.value if verified else None


def kit_store(key: str) -> Any:
    return import_module(_engine()).SessionStore(key)


def _engine() -> str:
    from django.conf import settings

    return str(settings.SESSION_ENGINE)


# -- per engine, sync and async ---------------------------------------------------------


@pytest.mark.parametrize("legacy", ENGINES, indirect=True)
def test_legacy_session_is_served_moved_and_deleted(legacy: str) -> None:
    key = make_legacy(legacy, {"x": "cart", "_auth_user_id": "7"})
    client = Client()
    client.cookies["sessionid"] = key
    response = client.get("/read/")
    assert json.loads(response.content)["value"] == "cart"
    new = kit_cookie(response)
    assert new is not None and new != key
    assert new == adopt.adopted_key(key, get_settings().keys[0])
    assert not legacy_exists(legacy, key) or legacy == "signed_cookies"  # nothing to delete
    assert kit_store(new).load() == {"x": "cart", "_auth_user_id": "7"}
    # the next request, on the new signed cookie alone, is the same session
    follow = client.get("/read/")
    assert json.loads(follow.content) == {"value": "cart", "key": new}


@pytest.mark.django_db(transaction=True)  # the async path writes from another thread
@pytest.mark.parametrize("legacy", ENGINES, indirect=True)
async def test_legacy_session_is_adopted_on_the_async_path(legacy: str) -> None:
    key = await _amake(legacy, {"x": "async cart"})
    client = AsyncClient()
    client.cookies["sessionid"] = key
    response = await client.get("/aread/")
    assert json.loads(response.content)["value"] == "async cart"
    new = kit_cookie(response)
    assert new == adopt.adopted_key(key, get_settings().keys[0])
    assert not await _aexists(legacy, key) or legacy == "signed_cookies"
    await sync_to_async(connections.close_all)()  # the worker thread's connection


async def _amake(name: str, data: dict[str, Any]) -> str:
    return await sync_to_async(make_legacy)(name, data)


async def _aexists(name: str, key: str) -> bool:
    return await sync_to_async(legacy_exists)(name, key)


@pytest.mark.parametrize("legacy", ENGINES, indirect=True)
def test_unknown_legacy_key_gives_a_fresh_session_and_creates_nothing(legacy: str) -> None:
    before = KitRow.objects.count()
    client = Client()
    client.cookies["sessionid"] = "x" * 32 if legacy != "signed_cookies" else "forged:1:sig"
    response = client.get("/read/")
    assert json.loads(response.content) == {"value": None, "key": None}
    assert KitRow.objects.count() == before
    assert response.cookies["sessionid"]["max-age"] == 0  # the dead cookie is cleared


@pytest.mark.parametrize("legacy", ENGINES, indirect=True)
@pytest.mark.parametrize("value", ["../../../../etc/passwd", "short", "k" * 300, "s:a b.c"])
def test_a_legacy_cookie_no_engine_could_have_made_is_a_fresh_session(
    legacy: str, value: str
) -> None:
    client = Client()
    client.cookies["sessionid"] = value
    response = client.get("/read/")
    assert response.status_code == 200
    assert json.loads(response.content) == {"value": None, "key": None}


@pytest.mark.parametrize("legacy", ["db", "file", "signed_cookies"], indirect=True)
def test_expired_legacy_session_gives_a_fresh_session(legacy: str, settings: Any) -> None:
    if legacy == "db":
        key = make_legacy(legacy, {"x": 1})
        LegacyRow.objects.filter(session_key=key).update(
            expire_date=timezone.now() - timedelta(seconds=1)
        )
    else:  # file and signed_cookies expire SESSION_COOKIE_AGE after they were written
        key = make_legacy(legacy, {"x": 1})
        settings.SESSION_COOKIE_AGE = 1
        if legacy == "file":
            path = legacy_store(legacy, key)._key_to_file()
            os.utime(path, (time.time() - 10, time.time() - 10))
        else:
            time.sleep(2.1)  # the signed value's timestamp has whole-second resolution
    before = KitRow.objects.count()
    client = Client()
    client.cookies["sessionid"] = key
    assert json.loads(client.get("/read/").content)["value"] is None
    assert KitRow.objects.count() == before


@pytest.mark.parametrize("legacy", ["db"], indirect=True)
def test_legacy_expiry_is_kept(legacy: str) -> None:
    key = make_legacy(legacy, {"x": 1})
    LegacyRow.objects.filter(session_key=key).update(
        expire_date=timezone.now() + timedelta(seconds=1000)
    )
    client = Client()
    client.cookies["sessionid"] = key
    response = client.get("/noop/")
    max_age = int(response.cookies["sessionid"]["max-age"])
    assert 990 <= max_age <= 1000  # what the legacy session had left, not a fresh 2 weeks


@pytest.mark.parametrize("legacy", ["db"], indirect=True)
def test_command_moved_session_expires_when_the_legacy_one_would(legacy: str) -> None:
    key = make_legacy(legacy, {"x": 1})
    deadline = timezone.now() + timedelta(seconds=1000)
    LegacyRow.objects.filter(session_key=key).update(expire_date=deadline)
    run_command()
    new = adopt.adopted_key(key, get_settings().keys[0])
    row = KitRow.objects.get(key_hash=hash_key(new))
    assert abs(row.expires - deadline) < timedelta(seconds=2)


@pytest.mark.parametrize("legacy", ["db"], indirect=True)
def test_a_sessionkit_cookie_never_goes_through_adoption(legacy: str) -> None:
    store = kit_store(None)
    store["x"] = "ours"
    store.save()
    client = Client()
    client.cookies["sessionid"] = encode_cookie_value(store.session_key, get_settings().keys[0])
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/read/")
    assert json.loads(response.content)["value"] == "ours"
    assert not [q for q in queries.captured_queries if "django_session" in q["sql"]]


@pytest.mark.parametrize("legacy", ["db"], indirect=True)
def test_without_adopt_from_the_legacy_cookie_is_not_read(legacy: str, settings: Any) -> None:
    key = make_legacy(legacy, {"x": 1})
    settings.SESSIONKIT = {}
    client = Client()
    client.cookies["sessionid"] = key
    assert json.loads(client.get("/read/").content)["value"] is None
    assert legacy_exists(legacy, key)


@pytest.mark.parametrize("legacy", ["db", "signed_cookies"], indirect=True)
def test_renamed_cookie_adopts_the_legacy_one_and_clears_it(legacy: str, settings: Any) -> None:
    key = make_legacy(legacy, {"x": "renamed"})
    settings.SESSIONKIT = {"ADOPT_FROM": legacy_path(legacy), "NAME": "kit"}
    client = Client()
    client.cookies["sessionid"] = key
    response = client.get("/read/")
    assert json.loads(response.content)["value"] == "renamed"
    assert kit_cookie(response, "kit") == adopt.adopted_key(key, get_settings().keys[0])
    assert response.cookies["sessionid"]["max-age"] == 0
    assert json.loads(client.get("/read/").content)["value"] == "renamed"


@pytest.mark.parametrize("legacy", ["db"], indirect=True)
def test_logged_out_adopted_session_is_not_brought_back_by_the_legacy_cookie(
    legacy: str,
) -> None:
    key = make_legacy(legacy, {"x": 1})
    client = Client()
    client.cookies["sessionid"] = key
    client.get("/read/")
    client.get("/flush/")
    replay = Client()
    replay.cookies["sessionid"] = key
    assert json.loads(replay.get("/read/").content)["value"] is None
    new = adopt.adopted_key(key, get_settings().keys[0])
    assert not KitRow.objects.filter(key_hash=hash_key(new)).exists()


# -- concurrency: one new session, not two ------------------------------------------------


def race(key: str, n: int) -> list[Any]:
    def one(_: int) -> Any:
        client = Client()
        client.cookies["sessionid"] = key
        response = client.get("/read/")
        return json.loads(response.content)["value"], kit_cookie(response)

    return run_concurrently(one, n)


@pytest.mark.parametrize("legacy", ["cache>memory", "file>memory"], indirect=True)
def test_concurrent_requests_with_one_legacy_cookie_make_one_session(legacy: str) -> None:
    key = make_legacy(legacy.partition(">")[0], {"x": "once"})
    results = race(key, 12)
    new = adopt.adopted_key(key, get_settings().keys[0])
    assert len(memory.SessionStore.records()) == 1
    assert {cookie for _, cookie in results} <= {new, None}
    assert any(value == "once" for value, _ in results)


@pytest.mark.db
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("legacy", ["db", "cached_db"], indirect=True)
def test_concurrent_requests_make_one_session_on_postgresql(legacy: str) -> None:
    require_postgresql()
    key = make_legacy(legacy, {"x": "once"})
    results = race(key, 12)
    new = adopt.adopted_key(key, get_settings().keys[0])
    assert KitRow.objects.count() == 1
    assert KitRow.objects.get().key_hash == hash_key(new)
    assert {cookie for _, cookie in results} <= {new, None}
    assert any(value == "once" for value, _ in results)
    assert not LegacyRow.objects.exists()


# -- manage.py sessionkit_adopt -------------------------------------------------------------


def run_command(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sessionkit_adopt", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("legacy", ["db", "cached_db", "file"], indirect=True)
def test_command_moves_every_live_session_and_is_idempotent(legacy: str) -> None:
    live = [make_legacy(legacy, {"n": i}) for i in range(5)]
    dead = [make_legacy(legacy, {"n": 99}, expiry=-10) for _ in range(2)]
    # one moved already, by a request
    client = Client()
    client.cookies["sessionid"] = live[0]
    client.get("/read/")
    out, err = run_command("--batch-size", "2")
    assert "Moved 4 session(s), skipped 0" in out, out
    assert "deleted 2 expired" in out
    assert "2/6" in err and "[" + "#" * 30 + "] 6/6" in err  # one line per batch
    assert not any(legacy_exists(legacy, k) for k in live + dead)
    again, _ = run_command()
    assert "Moved 0 session(s), skipped 0" in again and "deleted 0 expired" in again
    # every legacy cookie still finds its session, and gets a signed cookie for it
    for i, key in enumerate(live):
        browser = Client()
        browser.cookies["sessionid"] = key
        response = browser.get("/read/?k=n")
        assert kit_store(kit_cookie(response)).load() == {"n": i}


@pytest.mark.parametrize("legacy", ["db"], indirect=True)
def test_command_skips_a_session_whose_new_id_is_taken(legacy: str) -> None:
    key = make_legacy(legacy, {"n": 1})
    store = kit_store(adopt.adopted_key(key, get_settings().keys[0]))
    store._session_cache = {"n": 1}  # not loaded first: it would drop the unknown id
    store.save(must_create=True)
    out, _ = run_command()
    assert "Moved 0 session(s), skipped 1" in out
    assert not legacy_exists(legacy, key)


@pytest.mark.parametrize("legacy", ["cache", "signed_cookies"], indirect=True)
def test_command_says_why_it_cannot_list_an_engine(legacy: str) -> None:
    with pytest.raises(CommandError, match="next request"):
        run_command()


def test_command_without_adopt_from_is_an_error(settings: Any) -> None:
    settings.SESSIONKIT = {}
    with pytest.raises(CommandError, match="ADOPT_FROM"):
        run_command()


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENGINES)
def test_adopt_from_accepts_each_django_engine(name: str) -> None:
    conf = parse({"ADOPT_FROM": legacy_path(name)})
    assert conf.problems == ()
    assert conf.adopt_from is import_module(legacy_path(name)).SessionStore


@pytest.mark.parametrize(
    "value",
    ["django.contrib.sessions.backends.nosuch", "sessionkit.backends.db", 42],
)
def test_adopt_from_that_cannot_be_read_is_e024(value: Any) -> None:
    conf = parse({"ADOPT_FROM": value})
    assert [p.id for p in conf.problems] == ["E024"]
    assert conf.adopt_from is None


def test_adopt_from_the_db_engine_needs_django_sessions_installed(settings: Any) -> None:
    settings.INSTALLED_APPS = [
        a for a in settings.INSTALLED_APPS if a != "django.contrib.sessions"
    ]
    conf = parse({"ADOPT_FROM": legacy_path("db")})
    assert [p.id for p in conf.problems] == ["E024"]
    assert "django.contrib.sessions" in conf.problems[0].msg
    assert parse({"ADOPT_FROM": legacy_path("signed_cookies")}).problems == ()


@pytest.mark.parametrize("legacy", ["db"], indirect=True)
def test_adoption_costs_four_statements_once_then_none_extra(legacy: str) -> None:
    """Is it moved already? the legacy row; its claim (DELETE); the insert. Then the view's
    read, and on the next request only that read."""
    key = make_legacy(legacy, {"x": 1})
    client = Client()
    client.cookies["sessionid"] = key
    with CaptureQueriesContext(connection) as adopting:
        client.get("/read/")
    with CaptureQueriesContext(connection) as after:
        client.get("/read/")
    statements = [q["sql"] for q in adopting.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 5, statements
    assert len(after.captured_queries) == 1


@pytest.mark.parametrize("legacy", ["db>django.contrib.sessions.backends.cache"], indirect=True)
def test_adopting_into_a_django_engine_under_sessionkits_middleware(legacy: str) -> None:
    key = make_legacy("db", {"x": "into Django's cache engine"})
    client = Client()
    client.cookies["sessionid"] = key
    response = client.get("/read/")
    assert json.loads(response.content)["value"] == "into Django's cache engine"
    assert kit_cookie(response) == adopt.adopted_key(key, get_settings().keys[0])
    assert not legacy_exists("db", key)
    # a second mover of the same id finds it taken
    legacy_data = adopt.Legacy({"x": 2}, time.time() + 60)
    assert not adopt.put(adopt_store(), kit_cookie(response) or "", legacy_data, adopt.NO_CLIENT)


def adopt_store() -> Any:
    from sessionkit.engines import tracked

    return tracked(import_module(_engine()).SessionStore)


@pytest.mark.parametrize("legacy", ["db"], indirect=True)
def test_a_session_stored_between_the_check_and_the_claim_is_not_written_twice(
    legacy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the derived id settles: another mover stored the new id after this one
    looked (``stored`` is made to miss it, as it would have a moment earlier)."""
    key = make_legacy(legacy, {"x": "first"})
    new = adopt.adopted_key(key, get_settings().keys[0])
    store = kit_store(new)
    store._session_cache = {"x": "first"}
    store.save(must_create=True)
    monkeypatch.setattr(adopt, "stored", lambda store_class, key: False)
    outcome = adopt.move(adopt.ENGINES[1], adopt_store(), key, get_settings().keys)
    assert outcome == adopt.Outcome("already", new)
    assert KitRow.objects.count() == 1
    assert not legacy_exists(legacy, key)


@pytest.mark.parametrize("legacy", ["db"], indirect=True)
def test_command_deletes_undecodable_legacy_rows_as_skipped(legacy: str) -> None:
    LegacyRow.objects.create(
        session_key="k" * 32,
        session_data="not what Django writes",
        expire_date=timezone.now() + timedelta(days=1),
    )
    out, _ = run_command()
    assert "Moved 0 session(s), skipped 1" in out
    assert not LegacyRow.objects.exists()
    assert KitRow.objects.count() == 0


@pytest.mark.parametrize("legacy", ["cache"], indirect=True)
def test_legacy_expiry_is_kept_from_a_django_redis_ttl(
    legacy: str, settings: Any, redis_client: Any
) -> None:
    settings.SESSION_CACHE_ALIAS = "redis"
    key = make_legacy(legacy, {"x": "on redis"})
    cache_key = legacy_store(legacy, key).cache_key
    caches["redis"].expire(cache_key, 1000)
    client = Client()
    client.cookies["sessionid"] = key
    response = client.get("/read/")
    assert json.loads(response.content)["value"] == "on redis"
    assert 990 <= int(response.cookies["sessionid"]["max-age"]) <= 1000
    assert caches["redis"].get(cache_key) is None


@pytest.mark.parametrize("legacy", ["db", "file"], indirect=True)
def test_a_mover_whose_claim_comes_second_writes_nothing(legacy: str) -> None:
    """What the command read (or a racing request loaded) was claimed by another mover
    meanwhile: this one reports it lost and stores nothing."""
    key = make_legacy(legacy, {"x": 1})
    listed = adopt.read(import_module(legacy_path(legacy)).SessionStore, key, time.time())
    assert listed is not None
    assert adopt.claim(import_module(legacy_path(legacy)).SessionStore, key)  # the other mover
    engine = import_module(legacy_path(legacy)).SessionStore
    outcome = adopt.move(engine, adopt_store(), key, get_settings().keys, legacy=listed)
    assert outcome.status == "lost"
    assert KitRow.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("legacy", ["db"], indirect=True)
def test_an_adopted_session_is_created_once_in_sessionkits_store(legacy: str) -> None:
    key = make_legacy(legacy, {"x": "cart", "_auth_user_id": "7"})
    client = Client()
    client.cookies["sessionid"] = key
    with Recorder() as seen:
        new = kit_cookie(client.get("/read/"))
        client.get("/read/")
    assert new is not None
    assert seen.events() == [("created", hash_key(new), None)]
    assert seen.sent[0][2]["user_id"] == "7"
