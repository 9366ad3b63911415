"""Django's contrib apps on every sessionkit engine: auth, messages, admin, CSRF in session."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

import sessionkit.test

pytestmark = [pytest.mark.db, pytest.mark.django_db]

ENGINES = [
    "sessionkit.backends.db",
    "sessionkit.backends.cache",
    "sessionkit.backends.memory",
]


@pytest.fixture(params=ENGINES)
def engine(request, settings):
    settings.SESSION_ENGINE = request.param
    settings.CSRF_USE_SESSIONS = True
    settings.MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
    return request.param


@pytest.fixture
def browser():
    return sessionkit.test.Client(enforce_csrf_checks=True)


def csrf_token(html: bytes) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1).decode()


def test_admin_login_with_csrf_in_session_then_logout(engine, browser):
    User.objects.create_superuser("root", "root@example.com", "pw-123456")
    page = browser.get("/admin/login/")
    assert page.status_code == 200
    response = browser.post(
        "/admin/login/",
        {
            "username": "root",
            "password": "pw-123456",
            "next": "/admin/",
            "csrfmiddlewaretoken": csrf_token(page.content),
        },
    )
    assert response.status_code == 302, response.content[:500]
    before = browser.cookies["sessionid"].value
    assert browser.get("/admin/").status_code == 200
    index = browser.get("/admin/")
    logout = browser.post("/admin/logout/", {"csrfmiddlewaretoken": csrf_token(index.content)})
    assert logout.status_code == 200
    assert browser.cookies["sessionid"].value != before
    assert browser.get("/admin/").status_code == 302  # back to the login page


def test_login_cycles_the_session_id(engine, browser):
    User.objects.create_user("ada", password="pw-123456")
    page = browser.get("/accounts/login/")
    anonymous = browser.cookies["sessionid"].value  # CSRF token lives in the session
    browser.post(
        "/accounts/login/",
        {
            "username": "ada",
            "password": "pw-123456",
            "csrfmiddlewaretoken": csrf_token(page.content),
        },
    )
    assert browser.cookies["sessionid"].value != anonymous
    assert browser.session["_auth_user_id"]


def test_session_message_storage_round_trips(engine, client):
    client.get("/message/")  # a CSRF-free GET just to start
    client.post("/message/", {"text": "saved in the session"})
    assert client.get("/message/").content == b"saved in the session"
    assert client.get("/message/").content == b""


@pytest.mark.django_db(transaction=True)
async def test_alogin_and_alogout_on_every_engine(engine):
    from asgiref.sync import sync_to_async
    from django.db import connections

    async_client = sessionkit.test.AsyncClient()
    await User.objects.acreate(username="async-ada")
    await async_client.get("/awrite/?x=1")
    anonymous = async_client.cookies["sessionid"].value
    await async_client.get("/alogin/?username=async-ada")
    logged_in = async_client.cookies["sessionid"].value
    assert logged_in != anonymous  # alogin cycles the id
    session = await async_client.asession()
    assert await session.aget("_auth_user_id") is not None
    response = await async_client.get("/alogout/")
    assert response.cookies["sessionid"]["max-age"] == 0
    assert not await session.aexists(session.session_key)
    await sync_to_async(connections.close_all)()
