"""The middleware's request/response rules beyond the matrix: bad cookies, expiry, security."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connections
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.urls import path
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from sessionkit.backends.base import hash_key
from sessionkit.lifetime import MAX_LIFETIME
from sessionkit.models import Session
from sessionkit.signing import derive_key, encode_cookie_value
from tests.helpers import (
    at,
    close_thread_connections,
    cookie_header,
    epoch,
    row,
    set_cookie,
    signed,
    stored_session,
)
from tests.views import alogout_view

pytestmark = [pytest.mark.db, pytest.mark.django_db]

NAME = "sessionid"


def body(response) -> dict:
    return json.loads(response.content)


# -- cookies that lead nowhere ---------------------------------------------------------


def test_tampered_cookie_starts_fresh_session_and_is_cleared(client):
    key = stored_session({"x": "secret of another user"})
    value = encode_cookie_value(key, b"not the secret")
    response = client.get("/read/", HTTP_COOKIE=f"{NAME}={value}")
    assert body(response)["value"] is None
    assert set_cookie(response)["max-age"] == 0
    assert Session.objects.count() == 1  # no record created for the forger


def test_unsigned_cookie_with_a_real_id_never_reaches_the_store(client):
    key = stored_session({"x": "private"})
    response = client.get("/read/", HTTP_COOKIE=f"{NAME}={key}")
    assert body(response) == {"value": None, "key": None}


def test_signed_unknown_id_gets_a_fresh_id_never_the_clients(client):
    response = client.get("/write/?x=1", HTTP_COOKIE=cookie_header("attacker-chosen-id-123"))
    morsel = set_cookie(response)
    assert morsel is not None and "attacker-chosen-id-123" not in morsel.value
    assert row("attacker-chosen-id-123") is None
    assert Session.objects.count() == 1


def test_expired_session_starts_fresh(client):
    key = stored_session({"x": 1})
    Session.objects.filter(pk=hash_key(key)).update(expires=at(time.time() - 1))
    response = client.get("/read/", HTTP_COOKIE=cookie_header(key))
    assert body(response)["value"] is None
    assert set_cookie(response)["max-age"] == 0


@pytest.mark.parametrize(
    "value",
    [
        "s%3A" + "a" * 5000,  # oversized
        "s:ünïcødé.sig",  # non-ASCII
        "s%3A%FF%FE.bad",  # invalid percent-encoding
        '"s:quoted.but-forged"',
        "s:" + "." * 300,
        "",
    ],
)
def test_hostile_cookie_values_give_a_fresh_session_not_an_error(client, value):
    response = client.get("/write/?x=1", HTTP_COOKIE=f"{NAME}={value}")
    assert response.status_code == 200
    assert set_cookie(response).value.startswith("s%3A")
    assert Session.objects.count() == 1


def test_duplicate_cookie_first_occurrence_wins(client):
    first = stored_session({"x": "first"})
    second = stored_session({"x": "second"})
    header = f"{cookie_header(first)}; {cookie_header(second)}"
    assert body(client.get("/read/", HTTP_COOKIE=header))["value"] == "first"


def test_no_cookie_and_no_session_use_sends_nothing(client):
    response = client.get("/noop/")
    assert set_cookie(response) is None
    assert "Vary" not in response


# -- change detection --------------------------------------------------------------------


def test_in_place_change_of_a_nested_list_is_saved(client):
    key = stored_session({"items": []})
    client.get("/append/?item=a", HTTP_COOKIE=cookie_header(key))
    client.get("/append/?item=b", HTTP_COOKIE=cookie_header(key))
    assert json.loads(row(key).data)["items"] == ["a", "b"]


TWENTY_KEYS = {f"k{i}": [i, {"n": i}] for i in range(19)}


def test_one_value_read_of_twenty_and_changed_in_place_is_saved(client):
    key = stored_session({**TWENTY_KEYS, "items": ["a"]})
    client.get("/append/?item=b", HTTP_COOKIE=cookie_header(key))
    assert json.loads(row(key).data) == {**TWENTY_KEYS, "items": ["a", "b"]}


def test_one_nested_value_read_of_twenty_and_left_alone_writes_no_data(client, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.SESSIONKIT = {"COOKIE": {"MAX_AGE": 3600}}
    key = stored_session({**TWENTY_KEYS, "x": {"nested": [1, 2]}}, aged=60)
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/read/", HTTP_COOKIE=cookie_header(key))
    assert body(response)["value"] == {"nested": [1, 2]}
    assert set_cookie(response) is None
    writes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    assert not [sql for sql in writes if '"data"' in sql]


def test_equal_value_reassigned_is_not_a_change(client, settings):
    settings.SESSIONKIT = {"COOKIE": {"MAX_AGE": 3600}}
    key = stored_session({"x": 1}, aged=60)
    response = client.get("/write/?x=1", HTTP_COOKIE=cookie_header(key))
    assert set_cookie(response) is None


# -- expiry ------------------------------------------------------------------------------


def test_set_expiry_takes_effect_on_the_same_response(client, settings):
    settings.SESSIONKIT = {"ROLLING": False, "COOKIE": {"MAX_AGE": None}}
    key = stored_session({"x": 1})
    response = client.get("/expiry/?seconds=120", HTTP_COOKIE=cookie_header(key))
    assert set_cookie(response)["max-age"] == 120
    assert epoch(row(key).expires) == pytest.approx(time.time() + 120, abs=5)


def test_set_expiry_beyond_50_years_is_cut_to_50_years_not_an_error(client, settings):
    settings.SESSIONKIT = {"ROLLING": False}
    response = client.get("/expiry/?seconds=1000000000000")  # "remember me", forever
    assert response.status_code == 200
    assert set_cookie(response)["max-age"] == MAX_LIFETIME
    assert epoch(Session.objects.get().expires) == pytest.approx(time.time() + MAX_LIFETIME, abs=5)
    response = client.get("/write/?x=2")  # the next write of that session
    assert response.status_code == 200
    assert set_cookie(response)["max-age"] == MAX_LIFETIME
    assert body(client.get("/read/"))["value"] == 2


def test_set_expiry_zero_makes_a_browser_session_cookie(client, settings):
    settings.SESSIONKIT = {"COOKIE": {"MAX_AGE": 3600}}
    key = stored_session({"x": 1})
    response = client.get("/expiry/?seconds=0", HTTP_COOKIE=cookie_header(key))
    morsel = set_cookie(response)
    assert morsel is not None and morsel["max-age"] == "" and morsel["expires"] == ""


def test_browser_session_cookie_is_kept_idle_timeout_in_store(client, settings):
    settings.SESSIONKIT = {"COOKIE": {"MAX_AGE": None}}
    settings.SESSION_COOKIE_AGE = 900
    response = client.get("/write/?x=1")
    morsel = set_cookie(response)
    assert morsel["max-age"] == ""
    stored = Session.objects.get()
    assert epoch(stored.expires) == pytest.approx(time.time() + 900, abs=5)


def test_rolling_pushes_cookie_and_store_expiry(client, settings):
    settings.SESSIONKIT = {"ROLLING": True, "COOKIE": {"MAX_AGE": 3600}}
    key = stored_session({"x": 1}, aged=1800)
    before = row(key).expires
    response = client.get("/noop/", HTTP_COOKIE=cookie_header(key))
    assert set_cookie(response)["max-age"] == 3600
    assert row(key).expires > before + timedelta(seconds=1700)


def test_rolling_within_the_touch_slack_sends_no_more_than_the_store_holds(client, settings):
    settings.SESSIONKIT = {"ROLLING": True, "COOKIE": {"MAX_AGE": 3600}}
    key = stored_session({"x": 1}, aged=20)  # 20 s ago: within the db store's 36 s slack
    before = row(key).expires
    response = client.get("/noop/", HTTP_COOKIE=cookie_header(key))
    assert row(key).expires == before  # no UPDATE for this read
    max_age = set_cookie(response)["max-age"]
    assert 3570 <= max_age <= 3580
    assert time.time() + max_age <= epoch(before)


def test_absolute_timeout_ends_a_rolling_session(client, settings):
    settings.SESSIONKIT = {"ROLLING": True, "ABSOLUTE_TIMEOUT": 60}
    response = client.get("/write/?x=1")
    key = Session.objects.get()
    assert epoch(key.deadline) == pytest.approx(epoch(key.created) + 60)
    assert set_cookie(response)["max-age"] <= 60
    Session.objects.update(deadline=at(time.time() - 1))
    response = client.get("/read/")
    assert body(response)["value"] is None


@pytest.mark.parametrize(
    ("lowered", "created", "seen"),
    [
        ({"ABSOLUTE_TIMEOUT": 300}, 600, 10),  # older than the new cap
        ({"COOKIE": {"MAX_AGE": 300}}, 600, 400),  # idle longer than the new MAX_AGE
    ],
)
def test_lowered_settings_end_existing_sessions_on_their_next_request(
    client, settings, lowered, created, seen
):
    key = stored_session({"x": 1}, aged=seen)
    Session.objects.update(created=F("created") - timedelta(seconds=created))
    settings.SESSIONKIT = lowered  # incident response: "cap every session, now"
    response = client.get("/read/", HTTP_COOKIE=cookie_header(key))
    assert body(response)["value"] is None
    assert set_cookie(response)["max-age"] == 0  # cleared as for an expired id
    assert row(key) is None


def test_absolute_timeout_survives_cycle_key(client, settings):
    settings.SESSIONKIT = {"ABSOLUTE_TIMEOUT": 600}
    client.get("/write/?x=1")
    before = Session.objects.get()
    client.get("/cycle/")
    after = Session.objects.get()
    assert after.pk != before.pk
    assert (after.created, after.deadline) == (before.created, before.deadline)


# -- destroy, cycle, secrets -------------------------------------------------------------


def test_flush_deletes_store_and_clears_cookie(client):
    key = stored_session({"x": 1})
    response = client.get("/flush/", HTTP_COOKIE=cookie_header(key))
    assert row(key) is None
    assert set_cookie(response)["max-age"] == 0


def test_cycle_key_moves_data_to_a_new_id_and_deletes_the_old(client):
    key = stored_session({"x": "kept"})
    response = client.get("/cycle/", HTTP_COOKIE=cookie_header(key))
    assert row(key) is None
    client.cookies[NAME] = set_cookie(response).value
    assert body(client.get("/read/"))["value"] == "kept"


def test_a_cookie_header_seen_before_is_judged_by_the_secrets_in_force(client, settings):
    """The middleware remembers what a Cookie header said; a secret retired since (no
    longer a fallback) makes the very same header lead nowhere."""
    settings.SESSIONKIT = {"SECRET": ["first-secret-" + "f" * 40]}
    key = stored_session({"x": "private"})
    header = cookie_header(key)
    assert body(client.get("/read/", HTTP_COOKIE=header))["value"] == "private"
    settings.SESSIONKIT = {"SECRET": ["second-secret-" + "s" * 40]}
    response = client.get("/read/", HTTP_COOKIE=header)
    assert body(response) == {"value": None, "key": None}
    assert set_cookie(response)["max-age"] == 0


def test_cookie_signed_with_an_old_secret_is_resigned_keeping_its_expiry(client, settings):
    settings.SECRET_KEY = "new-secret-key-" + "n" * 40
    settings.SECRET_KEY_FALLBACKS = ["o" * 50]
    settings.SESSIONKIT = {"ROLLING": False, "COOKIE": {"MAX_AGE": 3600}}
    key = stored_session({"x": 1}, aged=600)
    old = encode_cookie_value(key, derive_key("o" * 50))
    response = client.get("/read/", HTTP_COOKIE=f"{NAME}={old}")
    assert body(response)["value"] == 1
    morsel = set_cookie(response)
    assert morsel.value == encode_cookie_value(key, derive_key(settings.SECRET_KEY))
    assert 2900 <= morsel["max-age"] <= 3000  # the cookie's remaining life, not a fresh hour


def test_a_rolling_cookie_is_signed_with_the_secret_in_force_on_each_response(client, settings):
    settings.SESSIONKIT = {"ROLLING": True}
    key = stored_session({"x": 1})
    cookie = encode_cookie_value(key, derive_key(settings.SECRET_KEY))
    first = set_cookie(client.get("/read/", HTTP_COOKIE=f"{NAME}={cookie}"))
    assert first.value == cookie
    old_secret, settings.SECRET_KEY = settings.SECRET_KEY, "rotated-secret-" + "r" * 40
    settings.SECRET_KEY_FALLBACKS = [old_secret]
    again = set_cookie(client.get("/read/", HTTP_COOKIE=f"{NAME}={cookie}"))
    assert again.value == encode_cookie_value(key, derive_key(settings.SECRET_KEY))
    assert again.value != cookie


def test_explicit_secret_list_signs_with_first_and_verifies_all(client, settings):
    settings.SESSIONKIT = {"SECRET": ["current-secret-" + "c" * 30, "previous-" + "p" * 30]}
    key = stored_session({"x": "hello"})
    old = encode_cookie_value(key, ("previous-" + "p" * 30).encode())
    assert body(client.get("/read/", HTTP_COOKIE=f"{NAME}={old}"))["value"] == "hello"


# -- cookie flags, proxy, headers --------------------------------------------------------


def test_secure_cookie_is_not_sent_over_http_but_session_is_saved(client, settings):
    settings.SESSIONKIT = {"COOKIE": {"SECURE": True}}
    response = client.get("/write/?x=1")
    assert set_cookie(response) is None
    assert Session.objects.count() == 1


def test_secure_cookie_is_sent_over_https(client, settings):
    settings.SESSIONKIT = {"COOKIE": {"SECURE": True}}
    morsel = set_cookie(client.get("/write/?x=1", secure=True))
    assert morsel["secure"] is True


@pytest.mark.parametrize(
    ("proxy", "forwarded", "secure"),
    [(True, "HTTPS, http", True), (True, "http", False), (False, "https", False)],
)
def test_proxy_setting_decides_whether_auto_cookie_is_secure(
    client, settings, proxy, forwarded, secure
):
    settings.SESSIONKIT = {"PROXY": proxy, "COOKIE": {"SECURE": "auto"}}
    response = client.get("/write/?x=1", HTTP_X_FORWARDED_PROTO=forwarded)
    assert bool(set_cookie(response)["secure"]) is secure


def test_cookie_attributes_follow_settings(client, settings):
    settings.SESSIONKIT = {
        "NAME": "app.sid",
        "COOKIE": {
            "PATH": "/app",
            "DOMAIN": "example.com",
            "SAMESITE": "Strict",
            "HTTPONLY": True,
            "MAX_AGE": 77,
        },
    }
    response = client.get("/write/?x=1")
    morsel = response.cookies["app.sid"]
    assert (
        morsel["path"],
        morsel["domain"],
        morsel["samesite"],
        morsel["httponly"],
        morsel["max-age"],
    ) == ("/app", "example.com", "Strict", True, 77)


def test_vary_and_cache_control_when_cookie_is_set(client):
    response = client.get("/write/?x=1")
    assert "Cookie" in response["Vary"]
    assert "private" in response["Cache-Control"]


def test_logout_response_is_private_so_no_shared_cache_replays_it(client):
    key = stored_session({"x": 1})
    response = client.get("/flush/", HTTP_COOKIE=cookie_header(key))
    assert set_cookie(response)["max-age"] == 0
    assert "private" in response["Cache-Control"]
    assert "Cookie" in response["Vary"]


@pytest.mark.django_db(transaction=True)
async def test_async_logout_response_is_private(async_client):
    key = await sync_to_async(stored_session)({"x": 1})
    async_client.cookies[NAME] = signed(key)
    response = await async_client.get("/alogout/")
    assert set_cookie(response)["max-age"] == 0
    assert "private" in response["Cache-Control"]
    assert "Cookie" in response["Vary"]
    await sync_to_async(connections.close_all)()  # the worker thread's connection


def test_clearing_a_cookie_that_led_nowhere_is_private(client):
    response = client.get("/read/", HTTP_COOKIE=cookie_header("an-id-the-store-never-held"))
    assert set_cookie(response)["max-age"] == 0
    assert "private" in response["Cache-Control"]
    assert "Cookie" in response["Vary"]


def test_vary_cookie_when_the_view_only_read_the_session(client):
    response = client.get("/read/")
    assert set_cookie(response) is None
    assert "Cookie" in response["Vary"]


def test_server_error_saves_nothing(client):
    response = client.get("/fail/")
    assert response.status_code == 500
    assert set_cookie(response) is None
    assert Session.objects.count() == 0


def test_session_destroyed_concurrently_is_not_brought_back(client):
    key = stored_session({"x": 1})
    from sessionkit.backends.db import SessionStore

    # Another request logs out between this request's load and its save.
    original = SessionStore._update

    def update_after_logout(self, key_hash, record, delta):
        Session.objects.filter(pk=key_hash).delete()
        return original(self, key_hash, record, delta)

    SessionStore._update = update_after_logout
    try:
        response = client.get("/write/?x=2", HTTP_COOKIE=cookie_header(key))
    finally:
        SessionStore._update = original
    assert response.status_code == 400
    assert row(key) is None


def test_unreachable_store_answers_503_with_a_log_line(client, settings, caplog):
    settings.SESSION_ENGINE = "sessionkit.backends.cache"
    settings.CACHES = {
        **settings.CACHES,
        "down": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        },
    }
    settings.SESSION_CACHE_ALIAS = "down"
    with caplog.at_level(logging.ERROR, logger="sessionkit"):
        response = client.get("/read/", HTTP_COOKIE=cookie_header("some-session-id-1"))
    assert response.status_code == 503
    assert b"Traceback" not in response.content
    assert any("sessionkit.backends.cache" in r.getMessage() for r in caplog.records)


# -- async ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_async_views_use_the_same_rules(async_client):
    response = await async_client.get("/awrite/?x=41")
    morsel = set_cookie(response)
    assert morsel.value.startswith("s%3A")
    async_client.cookies[NAME] = morsel.value
    response = await async_client.get("/aread/")
    assert json.loads(response.content)["value"] == 41
    await sync_to_async(connections.close_all)()  # the worker thread's connection


@pytest.mark.django_db(transaction=True)
async def test_async_rolling_touches_a_session_the_view_never_used(async_client, settings):
    settings.SESSIONKIT = {"ROLLING": True, "COOKIE": {"MAX_AGE": 3600}}
    key = await sync_to_async(stored_session)({"x": 1}, aged=600)
    before = (await sync_to_async(row)(key)).expires
    async_client.cookies[NAME] = signed(key)
    response = await async_client.get("/noop/")
    assert set_cookie(response)["max-age"] == 3600
    assert (await sync_to_async(row)(key)).expires >= before + timedelta(seconds=590)
    await sync_to_async(connections.close_all)()


def test_signed_id_the_store_rejects_is_cleared_not_used(client):
    response = client.get("/read/", HTTP_COOKIE=cookie_header("short"))  # under 8 characters
    assert body(response)["key"] is None
    assert set_cookie(response)["max-age"] == 0


def test_an_exception_in_the_view_is_left_to_django(settings):
    from django.test import Client

    response = Client(raise_request_exception=False).get("/raise/")
    assert response.status_code == 500


def test_a_response_for_a_request_it_never_saw_is_passed_through():
    from django.http import HttpRequest, HttpResponse

    from sessionkit.middleware import SessionMiddleware

    response = HttpResponse("untouched")
    middleware = SessionMiddleware(lambda request: response)
    assert middleware.process_response(HttpRequest(), response) is response
    assert "Set-Cookie" not in str(response.serialize_headers())
    assert async_to_sync(middleware.aprocess_response)(HttpRequest(), response) is response


# -- GENID -------------------------------------------------------------------------------


def test_genid_callable_makes_the_ids_and_gets_the_request(client, settings):
    settings.SESSIONKIT = {"GENID": "tests.views.genid"}
    response = client.get("/write/?x=1")
    client.cookies[NAME] = set_cookie(response).value
    assert body(client.get("/read/"))["key"].startswith("gen-write-")


def test_genid_returning_an_unusable_id_falls_back_to_a_random_one(client, settings, caplog):
    settings.SESSIONKIT = {"GENID": "tests.views.bad_genid"}
    with caplog.at_level(logging.ERROR, logger="sessionkit"):
        response = client.get("/write/?x=1")
    client.cookies[NAME] = set_cookie(response).value
    key = body(client.get("/read/"))["key"]
    assert key != "short" and len(key) >= 32
    assert "GENID" in caplog.text


def test_genid_that_cannot_take_the_request_falls_back_to_a_random_id(client, settings, caplog):
    settings.SESSIONKIT = {"GENID": "secrets.token_urlsafe"}  # token_urlsafe(request): TypeError
    with caplog.at_level(logging.ERROR, logger="sessionkit"):
        response = client.get("/write/?x=1")
    assert response.status_code == 200
    client.cookies[NAME] = set_cookie(response).value
    assert body(client.get("/read/"))["value"] == 1
    assert "GENID" in caplog.text


def test_valid_cookie_on_a_view_that_never_uses_the_session_costs_no_query(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    key = stored_session({"x": 1})
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/noop/", HTTP_COOKIE=cookie_header(key))
    assert set_cookie(response) is None
    assert captured.captured_queries == []


def test_flush_with_save_uninitialized_clears_cookie_and_creates_nothing(client, settings):
    settings.SESSIONKIT = {"SAVE_UNINITIALIZED": True}
    key = stored_session({"x": 1})
    response = client.get("/flush/", HTTP_COOKIE=cookie_header(key))
    assert set_cookie(response)["max-age"] == 0
    assert Session.objects.count() == 0


def test_oversized_cookie_is_cleared(client):
    response = client.get("/read/", HTTP_COOKIE=f"{NAME}=s%3A{'a' * 5000}")
    assert body(response)["value"] is None
    assert set_cookie(response)["max-age"] == 0


def test_remember_me_cookie_is_resent_when_the_session_changes(client, settings):
    settings.SESSIONKIT = {"COOKIE": {"MAX_AGE": None}}  # browser-session cookies by default
    key = stored_session({"x": 1, "_session_expiry": 3600}, aged=60)
    response = client.get("/write/?x=2", HTTP_COOKIE=cookie_header(key))
    assert set_cookie(response)["max-age"] == 3600


def test_save_on_an_id_the_store_does_not_hold_starts_a_new_session(db):
    from sessionkit.backends.db import SessionStore

    session = SessionStore("no-such-session-id-123")
    session.clear()
    session["x"] = 1
    session.save()
    assert session.session_key != "no-such-session-id-123"
    assert SessionStore(session.session_key)["x"] == 1


# -- hostile input, generated -------------------------------------------------------------

cookie_soup = st.lists(
    st.sampled_from(
        [
            "sessionid",
            "=",
            ";",
            " ",
            '"',
            "s:",
            "s%3A",
            ".",
            "%",
            "%zz",
            "%FF",
            "é",
            "\t",
            "a" * 40,
            "SESSIONID",
            ",",
            "\\",
            "VICTIM",
        ]
    ),
    max_size=40,
).map("".join)


@hypothesis_settings(max_examples=150)
@given(header=cookie_soup)
def test_any_cookie_header_gives_a_fresh_session_never_an_error_or_a_leak(client, header):
    victim = stored_session({"x": "victim's data"})
    header = header.replace("VICTIM", victim)  # the real id, unsigned: must lead nowhere
    response = client.get("/read/", HTTP_COOKIE=header)
    assert response.status_code == 200
    assert body(response) == {"value": None, "key": None}


# -- a password change racing a logout -----------------------------------------------------
# Two real requests on one session: the view of the first loaded it (logged in), waits while
# the second logs out, then changes the password: ``update_session_auth_hash()`` cycles the
# key (as ``login()`` does for an anonymous session). They route to the views below.


class Race:
    """The two requests' meeting points (bounded waits: a hang fails, never blocks)."""

    def __init__(self, make_event: type) -> None:
        self.loaded = make_event()
        self.logged_out = make_event()


RACE: dict[str, Any] = {}


def change_password(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import update_session_auth_hash

    user = request.user
    assert user.is_authenticated  # the session is loaded, logged in
    RACE["sync"].loaded.set()
    assert RACE["sync"].logged_out.wait(timeout=30)
    user.set_password("changed")
    user.save()
    update_session_auth_hash(request, user)
    return HttpResponse("password changed")


def logout_view(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import logout

    logout(request)
    return HttpResponse("logged out")


async def achange_password(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import aupdate_session_auth_hash

    user = request.user = await request.auser()  # type: ignore[attr-defined]
    assert user.is_authenticated
    RACE["async"].loaded.set()
    await asyncio.wait_for(RACE["async"].logged_out.wait(), timeout=30)
    user.set_password("changed")
    await user.asave()
    await aupdate_session_auth_hash(request, user)
    return HttpResponse("password changed")


urlpatterns = [
    path("change-password/", change_password),
    path("achange-password/", achange_password),
    path("logout/", logout_view),
    path("alogout/", alogout_view),
]


def logged_in_clients(client_class: type[Any]) -> tuple[Any, Any]:
    """Two clients (two tabs, or a thief and the victim) holding one logged-in session."""
    from django.contrib.auth.models import User

    first, second = client_class(), client_class()
    first.force_login(User.objects.create_user("racer", password="pw"))
    second.cookies = SimpleCookie(first.cookies)
    return first, second


def assert_nothing_revived(response: Any) -> None:
    assert response.status_code == 400  # SessionInterrupted
    morsel = set_cookie(response)
    assert morsel is None or (morsel.value == "" and morsel["max-age"] == 0)
    assert Session.objects.count() == 0  # no session of the user under any id


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
def test_password_change_after_a_concurrent_logout_answers_400_and_revives_nothing():
    from sessionkit.test import Client

    client, other = logged_in_clients(Client)
    RACE["sync"] = Race(threading.Event)
    answers: list[Any] = []

    def first() -> None:
        try:
            answers.append(client.get("/change-password/"))
        finally:
            close_thread_connections()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert RACE["sync"].loaded.wait(timeout=30)
        assert other.get("/logout/").status_code == 200  # the second request logs out
    finally:
        RACE["sync"].logged_out.set()
        thread.join(timeout=30)
    assert_nothing_revived(answers[0])


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
async def test_async_password_change_after_a_concurrent_logout_answers_400_revives_nothing():
    from sessionkit.test import AsyncClient

    async_client, other = await sync_to_async(logged_in_clients)(AsyncClient)
    RACE["async"] = Race(asyncio.Event)

    async def second() -> Any:
        await asyncio.wait_for(RACE["async"].loaded.wait(), timeout=30)
        response = await other.get("/alogout/")
        RACE["async"].logged_out.set()
        return response

    first, logout = await asyncio.gather(async_client.get("/achange-password/"), second())
    assert logout.status_code == 200
    await sync_to_async(assert_nothing_revived)(first)
    await sync_to_async(connections.close_all)()
