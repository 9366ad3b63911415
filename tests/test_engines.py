"""The middleware over Django's own engines: signing, cookie rules and rolling still apply."""

from __future__ import annotations

import json

import pytest
from django.contrib.sessions.backends.cache import SessionStore as DjangoCacheStore
from django.contrib.sessions.backends.db import SessionStore as DjangoDbStore
from django.contrib.sessions.models import Session as DjangoSession

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
