"""End to end: the demo project in a real server process (tests/e2e/conftest.py's ``demo``),
driven over HTTP with httpx, once per session engine: the database store (SQLite) and the
Redis store."""

from __future__ import annotations

import re
from urllib.parse import unquote

import httpx
import pytest

from sessionkit.backends.base import hash_key
from sessionkit.backends.redis_wire import session_key_name
from tests.e2e.conftest import PASSWORD, USERNAME, Demo

pytestmark = pytest.mark.e2e

COOKIE_NAME = "sessionid"
REMEMBER_ME_SECONDS = 30 * 24 * 3600
REDIS_PREFIX = "sessionkit:"


def _redis_key(client: httpx.Client) -> str:
    """The Redis hash of the session the client's cookie names (``s:<id>.<signature>``)."""
    raw = unquote(client.cookies[COOKIE_NAME])
    assert raw.startswith("s:"), raw
    session_id = raw[2:].rpartition(".")[0]
    assert session_id, raw
    return session_key_name(REDIS_PREFIX, hash_key(session_id))


def _csrf(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def _session_set_cookie(response: httpx.Response) -> str | None:
    """The response's Set-Cookie header for the session cookie, if any."""
    headers = response.headers.get_list("set-cookie")
    return next((h for h in headers if h.startswith(f"{COOKIE_NAME}=")), None)


def _attrs(set_cookie: str) -> dict[str, str]:
    parts = [part.strip() for part in set_cookie.split(";")[1:]]
    return {k.lower(): v for k, _, v in (part.partition("=") for part in parts)}


def _visits(html: str) -> int:
    match = re.search(r'id="visits">(\d+)<', html)
    assert match, "no visit counter on the dashboard"
    return int(match.group(1))


def _log_in(client: httpx.Client, *, remember: bool) -> httpx.Response:
    page = client.get("/login/")
    assert page.status_code == 200
    data = {"csrfmiddlewaretoken": _csrf(page.text), "username": USERNAME, "password": PASSWORD}
    if remember:
        data["remember"] = "1"
    return client.post("/login/", data=data)


def test_login_dashboard_logout(demo: Demo) -> None:
    with httpx.Client(base_url=demo.url, timeout=10) as client:
        response = _log_in(client, remember=False)
        assert response.status_code == 302, response.text
        assert response.headers["location"].endswith("/dashboard/")
        set_cookie = _session_set_cookie(response)
        assert set_cookie, f"no session cookie set on login: {response.headers}"
        assert set_cookie.startswith(f"{COOKIE_NAME}=s%3A"), set_cookie
        assert client.cookies[COOKIE_NAME].startswith("s%3A")
        stored = _redis_key(client)
        if demo.redis is not None:
            assert demo.redis.exists(stored), f"{stored} not in Redis after login"
            assert demo.redis.hget(stored, "_auth_user_id"), "no user in the stored session"
            assert demo.redis.pttl(stored) > 0, "the session hash has no TTL"

        first = client.get("/dashboard/")
        assert first.status_code == 200
        assert 'id="username">demo<' in first.text
        assert "Welcome back" in first.text
        second = client.get("/dashboard/")
        assert second.status_code == 200
        assert _visits(second.text) == _visits(first.text) + 1

        response = client.post("/logout/", data={"csrfmiddlewaretoken": _csrf(second.text)})
        assert response.status_code == 302
        assert response.headers["location"].endswith("/login/")
        cleared = _session_set_cookie(response)
        assert cleared, f"logout did not clear the session cookie: {response.headers}"
        attrs = _attrs(cleared)
        assert attrs.get("max-age") == "0" or "1970" in attrs.get("expires", ""), cleared
        if demo.redis is not None:
            assert not demo.redis.exists(stored), f"{stored} still in Redis after logout"

        response = client.get("/dashboard/")
        assert response.status_code == 302
        assert response.headers["location"].startswith("/login/")


@pytest.mark.parametrize("remember", [True, False])
def test_remember_me_sets_cookie_lifetime(demo: Demo, remember: bool) -> None:
    with httpx.Client(base_url=demo.url, timeout=10) as client:
        response = _log_in(client, remember=remember)
        assert response.status_code == 302, response.text
        set_cookie = _session_set_cookie(response)
        assert set_cookie, f"no session cookie set on login: {response.headers}"
        attrs = _attrs(set_cookie)
        if remember:
            assert abs(int(attrs["max-age"]) - REMEMBER_ME_SECONDS) <= 5, set_cookie
        else:
            assert "max-age" not in attrs, set_cookie
            assert "expires" not in attrs, set_cookie
        if demo.redis is not None:
            ttl = demo.redis.pttl(_redis_key(client)) / 1000
            assert ttl > 0, "the session hash has no TTL"
            if remember:  # the server-side lifetime follows set_expiry()
                assert abs(ttl - REMEMBER_ME_SECONDS) <= 60, ttl

        # Rolling keeps the same lifetime on the next response.
        dashboard = client.get("/dashboard/")
        assert dashboard.status_code == 200
        rolled = _session_set_cookie(dashboard)
        assert rolled, "ROLLING is on: the dashboard response should re-send the cookie"
        assert ("max-age" in _attrs(rolled)) is remember, rolled
