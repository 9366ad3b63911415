"""End to end over real HTTP (a WSGI server thread per deployment, driven with httpx): a
project on Django's own sessions with a logged-in user is switched to sessionkit by
settings alone, with ``ADOPT_FROM``; the user's next request is still logged in with the
same data, and no legacy record remains.

Each "deployment" is a server started under its settings (a handler builds its middleware
chain once, as a restarted process would)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session as LegacyRow
from django.core.handlers.wsgi import WSGIHandler
from django.db import connections
from django.test import override_settings

from sessionkit.backends.base import hash_key
from sessionkit.conf import get_settings
from sessionkit.models import Session as KitRow
from sessionkit.signing import decode_cookie_value
from tests.helpers import close_thread_connections

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DJANGO_STACK = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
USERNAME, PASSWORD = "staff", "staff-password-123"


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(server: Any) -> None:
    """Serve until shut down, then close the thread's database connections."""
    try:
        server.serve_forever()
    finally:
        close_thread_connections()


@contextmanager
def deployed(browser: httpx.Client, **settings: Any) -> Iterator[None]:
    """A server process of the site under ``settings``, which ``browser`` talks to."""
    with override_settings(**settings):
        server = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=QuietHandler)
        thread = threading.Thread(target=serve, args=(server,), daemon=True)
        thread.start()
        browser.base_url = f"http://127.0.0.1:{server.server_port}"
        try:
            yield
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    get_user_model().objects.create_user(USERNAME, password=PASSWORD, is_staff=True)
    try:
        with httpx.Client(follow_redirects=False, timeout=30) as client:
            yield client
    finally:
        connections.close_all()


def log_in(browser: httpx.Client) -> None:
    form = browser.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None
    response = browser.post(
        "/accounts/login/",
        data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token[1]},
        headers={"Referer": str(browser.base_url)},
    )
    assert response.status_code == 302, response.text[:500]


def logged_in(browser: httpx.Client) -> bool:
    """The admin index answers a logged-in staff user; anyone else is sent to log in."""
    return browser.get("/admin/").status_code == 200


def cart(browser: httpx.Client) -> Any:
    return browser.get("/read/").json()["value"]


@pytest.mark.parametrize(
    "legacy_engine",
    ["django.contrib.sessions.backends.db", "django.contrib.sessions.backends.signed_cookies"],
)
def test_switching_to_sessionkit_keeps_users_logged_in(
    browser: httpx.Client, legacy_engine: str
) -> None:
    # Before: Django's middleware and engine, a logged-in user with a cart.
    with deployed(browser, MIDDLEWARE=DJANGO_STACK, SESSION_ENGINE=legacy_engine):
        log_in(browser)
        browser.get("/write/", params={"x": '["apple", "pear"]'})
        assert logged_in(browser) and cart(browser) == ["apple", "pear"]
        legacy_cookie = browser.cookies["sessionid"]
    assert not legacy_cookie.startswith("s%3A")  # Django's bare key / signed value
    if legacy_engine.endswith(".db"):
        assert LegacyRow.objects.filter(session_key=legacy_cookie).exists()

    # After: the settings switched to sessionkit, nothing else.
    with deployed(
        browser, SESSION_ENGINE="sessionkit.backends.db", SESSIONKIT={"ADOPT_FROM": legacy_engine}
    ):
        assert logged_in(browser)
        new_cookie = browser.cookies["sessionid"]
        verified = decode_cookie_value(unquote(new_cookie), get_settings().keys)
        assert verified is not None  # a signed sessionkit cookie replaced the legacy one
        assert cart(browser) == ["apple", "pear"]
        assert KitRow.objects.filter(key_hash=hash_key(verified.value)).exists()
        assert not LegacyRow.objects.exists()  # no legacy record remains
        # and the session is sessionkit's: logging out ends it
        browser.get("/flush/")
        assert not logged_in(browser)
        assert not KitRow.objects.filter(key_hash=hash_key(verified.value)).exists()
