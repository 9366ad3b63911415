"""The middleware over Django's own engines: signing, cookie rules and rolling still apply.

Each engine class is given sessionkit's tracking by a subclass built once
(``sessionkit.engines.tracked``), which must keep the engine's qualified name: Django salts
encoded session data with it.
"""

from __future__ import annotations

import json
import logging

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.cache import SessionStore as DjangoCacheStore
from django.contrib.sessions.backends.db import SessionStore as DjangoDbStore
from django.contrib.sessions.models import Session as DjangoSession
from django.db import connections

from sessionkit.backends.memory import SessionStore as MemoryStore
from sessionkit.engines import TrackedEngine, tracked
from sessionkit.signing import encode_cookie_value
from tests.helpers import cookie_header, set_cookie

pytestmark = [pytest.mark.db, pytest.mark.django_db]

ENGINES = {
    "django.contrib.sessions.backends.db": DjangoDbStore,
    "django.contrib.sessions.backends.cache": DjangoCacheStore,
}


@pytest.fixture(params=sorted(ENGINES))
def engine(request, settings):
    settings.SESSION_ENGINE = request.param
    return ENGINES[request.param]


def existing(store_class, data):
    store = store_class()
    store.update(data)
    store.save()
    return store.session_key


def test_cookie_is_signed_and_round_trips(client, engine):
    response = client.get("/write/?x=5")
    morsel = set_cookie(response)
    assert morsel.value.startswith("s%3A")
    client.cookies["sessionid"] = morsel.value
    assert json.loads(client.get("/read/").content)["value"] == 5


def test_raw_django_session_id_is_rejected(client, engine):
    key = existing(engine, {"x": "private"})
    response = client.get("/read/", HTTP_COOKIE=f"sessionid={key}")
    assert json.loads(response.content)["value"] is None


def test_forged_signature_is_rejected(client, engine):
    key = existing(engine, {"x": "private"})
    forged = encode_cookie_value(key, b"guess")
    response = client.get("/read/", HTTP_COOKIE=f"sessionid={forged}")
    assert json.loads(response.content)["value"] is None
    assert set_cookie(response)["max-age"] == 0


def test_equal_value_is_not_saved_again(client, engine, settings):
    settings.SESSIONKIT = {"COOKIE": {"MAX_AGE": 3600}}
    key = existing(engine, {"x": 1})
    response = client.get("/write/?x=1", HTTP_COOKIE=cookie_header(key))
    assert set_cookie(response) is None


def test_in_place_change_is_saved(client, engine):
    key = existing(engine, {"items": []})
    client.get("/append/?item=z", HTTP_COOKIE=cookie_header(key))
    assert engine(key)["items"] == ["z"]


def test_rolling_resends_cookie_for_loaded_session(client, engine, settings):
    settings.SESSIONKIT = {"ROLLING": True}
    key = existing(engine, {"x": 1})
    response = client.get("/noop/", HTTP_COOKIE=cookie_header(key))
    assert set_cookie(response) is not None


def test_flush_clears_cookie(client, engine):
    key = existing(engine, {"x": 1})
    response = client.get("/flush/", HTTP_COOKIE=cookie_header(key))
    assert set_cookie(response)["max-age"] == 0
    assert not engine().exists(key)


def test_django_db_engine_rows_hold_the_data(client, settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    client.get("/write/?x=3")
    assert DjangoSession.objects.get().get_decoded() == {"x": 3}


# -- the tracked subclass ----------------------------------------------------------------


@pytest.mark.parametrize("engine_class", [DjangoDbStore, DjangoCacheStore])
def test_each_engine_is_wrapped_once_keeping_its_qualified_name(engine_class):
    wrapped = tracked(engine_class)
    assert wrapped is tracked(engine_class)
    assert issubclass(wrapped, engine_class) and issubclass(wrapped, TrackedEngine)
    assert (wrapped.__qualname__, wrapped.__module__) == (
        engine_class.__qualname__,
        engine_class.__module__,
    )


def test_sessionkit_stores_are_not_wrapped():
    assert tracked(MemoryStore) is MemoryStore


def test_a_session_written_by_the_plain_engine_still_loads(client, engine):
    key = existing(engine, {"x": "written before sessionkit"})
    assert tracked(engine)(key)["x"] == "written before sessionkit"
    response = client.get("/read/", HTTP_COOKIE=cookie_header(key))
    assert json.loads(response.content)["value"] == "written before sessionkit"


def test_sessions_are_not_patched_per_request(client, engine):
    key = existing(engine, {"x": 1})
    response = client.get("/read/", HTTP_COOKIE=cookie_header(key))
    session = response.wsgi_request.session
    assert type(session) is tracked(engine)
    assert not {"load", "aload", "_get_new_session_key"} & set(vars(session))


# -- GENID and an unreachable store --------------------------------------------------------


def test_genid_makes_the_ids_of_a_django_engine(client, engine, settings):
    settings.SESSIONKIT = {"GENID": "tests.views.genid"}
    response = client.get("/write/?x=1")
    client.cookies["sessionid"] = set_cookie(response).value
    assert json.loads(client.get("/read/").content)["key"].startswith("gen-write-")


def test_a_genid_id_too_long_for_a_django_engine_is_replaced(client, engine, settings, caplog):
    settings.SESSIONKIT = {"GENID": "tests.views.long_genid"}
    with caplog.at_level(logging.ERROR, logger="sessionkit"):
        response = client.get("/write/?x=1")
    assert response.status_code == 200
    client.cookies["sessionid"] = set_cookie(response).value
    key = json.loads(client.get("/read/").content)["key"]
    assert len(key) <= 40 and not key.startswith("long-")
    assert "GENID returned an unusable id" in caplog.text


@pytest.mark.django_db(transaction=True)
async def test_genid_makes_the_ids_of_a_django_engine_in_async_views(async_client, settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    settings.SESSIONKIT = {"GENID": "tests.views.genid"}
    response = await async_client.get("/awrite/?x=1")
    async_client.cookies["sessionid"] = set_cookie(response).value
    response = await async_client.get("/aread/")
    assert json.loads(response.content)["key"].startswith("gen-awrite-")
    await sync_to_async(connections.close_all)()


@pytest.fixture
def engine_down(settings):
    """Django's cache engine over a Redis nobody listens to."""
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.CACHES = {
        **settings.CACHES,
        "down": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1},
        },
    }
    settings.SESSION_CACHE_ALIAS = "down"


# Django's cache engine treats any error of ``cache.get`` as a miss, so a read over a cache
# that is down gives an empty session (Django's behaviour); its save is what fails.


def test_a_django_engine_that_is_down_answers_503(client, engine_down, caplog):
    with caplog.at_level(logging.ERROR, logger="sessionkit"):
        response = client.get("/write/?x=1")
    assert response.status_code == 503
    assert b"Traceback" not in response.content
    assert "django.contrib.sessions.backends.cache is unavailable" in caplog.text


@pytest.mark.django_db(transaction=True)
async def test_async_views_get_random_ids_from_a_django_engine(async_client, settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    response = await async_client.get("/awrite/?x=1")
    async_client.cookies["sessionid"] = set_cookie(response).value
    response = await async_client.get("/aread/")
    assert json.loads(response.content)["value"] == 1
    assert len(json.loads(response.content)["key"]) == 32  # Django's own ids
    await sync_to_async(connections.close_all)()


async def test_a_django_engine_that_is_down_answers_503_in_async_views(async_client, engine_down):
    response = await async_client.get("/awrite/?x=1")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"


def test_flush_with_save_uninitialized_starts_no_new_session(client, engine, settings):
    settings.SESSIONKIT = {"SAVE_UNINITIALIZED": True}
    key = existing(engine, {"x": 1})
    response = client.get("/flush/", HTTP_COOKIE=cookie_header(key))
    assert set_cookie(response)["max-age"] == 0
    assert not engine().exists(key)
