"""``session_created`` / ``session_ended`` through the middleware: sync and async views,
each sent once, with the request that caused it. (Each store's own signal tests are
``SignalTestsMixin`` in ``tests/backends``.)"""

from __future__ import annotations

import logging
import re

import pytest
from django.contrib.auth.models import User

import sessionkit.test
from sessionkit.backends.base import hash_key
from sessionkit.signals import REASONS, session_created, session_ended
from tests.backends.conformance import Recorder
from tests.test_readme import README

pytestmark = [pytest.mark.db, pytest.mark.django_db]


@pytest.fixture
def user():
    return User.objects.create_user("lin", password="pw-123456")


def paths(seen: Recorder) -> list[tuple[str, str | None, str]]:
    """``(signal, reason or previous, request path)`` of each signal sent."""
    return [
        (name, kw.get("reason", kw.get("previous")), kw["request"].path)
        for name, _, kw in seen.sent
    ]


def test_a_new_session_is_created_once_with_its_request():
    browser = sessionkit.test.Client()
    with Recorder() as seen:
        browser.get("/write/?x=1")
        browser.get("/write/?x=2")
    key = browser.session.session_key
    assert paths(seen) == [("created", None, "/write/")]
    assert seen.sent[0][2]["handle"] == hash_key(key)


def test_login_and_logout_in_sync_views_send_their_signals_with_the_request(user):
    browser = sessionkit.test.Client()
    browser.get("/write/?cart=1")  # an anonymous session, stored
    with Recorder() as seen:
        response = browser.post("/accounts/login/", {"username": "lin", "password": "pw-123456"})
        assert response.status_code == 302
        browser.get("/flush/")
    assert paths(seen) == [
        ("ended", "rotated", "/accounts/login/"),
        ("created", seen.sent[0][2]["handle"], "/accounts/login/"),
        ("ended", "logout", "/flush/"),
    ]
    assert seen.sent[2][2]["user_id"] == str(user.pk)


def test_login_and_logout_in_async_views_send_their_signals_with_the_request(user):
    browser = sessionkit.test.Client()
    with Recorder() as seen:
        browser.get("/alogin/?username=lin")
        browser.get("/alogout/")
    assert [(name, why) for name, why, _ in paths(seen)] == [
        ("created", None),
        ("ended", "logout"),
    ]
    assert {path for _, _, path in paths(seen)} == {"/alogin/", "/alogout/"}
    assert seen.sent[1][2]["user_id"] == str(user.pk)


async def test_async_client_requests_send_each_signal_once(settings):
    settings.SESSION_ENGINE = "sessionkit.backends.memory"  # no database in the event loop
    browser = sessionkit.test.AsyncClient()
    with Recorder() as seen:
        await browser.get("/awrite/?x=1")
        await browser.get("/awrite/?x=2")
        await browser.get("/alogout/")
    assert [(name, why) for name, why, _ in paths(seen)] == [
        ("created", None),
        ("ended", "logout"),
    ]


def test_the_reasons_are_the_documented_six():
    assert REASONS == (
        "logout",
        "expired",
        "revoked",
        "rotated",
        "password_change",
        "user_deactivated",
    )


def audit_log_snippet() -> str:
    """The README's audit-log receivers, as printed."""
    section = README.split("### Signals", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    return block.group(1)


def test_the_readme_audit_log_receivers_log_a_login_and_a_logout(user, caplog):
    namespace: dict[str, object] = {}
    exec(compile(audit_log_snippet(), "README.md", "exec"), namespace)
    browser = sessionkit.test.Client()
    try:
        with caplog.at_level(logging.INFO, logger="audit"):
            browser.post("/accounts/login/", {"username": "lin", "password": "pw-123456"})
            browser.get("/flush/")
    finally:
        session_created.disconnect(namespace["log_session_created"])
        session_ended.disconnect(namespace["log_session_ended"])
    lines = [r.getMessage() for r in caplog.records if r.name == "audit"]
    assert len(lines) == 2
    assert lines[0].endswith("created (was None)")
    assert lines[1].endswith(f"of user {user.pk} ended: logout (from 127.0.0.1)")


@pytest.mark.urls("tests.devices_urls")
def test_the_devices_page_ends_sessions_as_revoked_with_its_request(user):
    phone, laptop = sessionkit.test.Client(), sessionkit.test.Client()
    for browser in (phone, laptop, sessionkit.test.Client()):
        browser.force_login(user)
    phone_handle = hash_key(phone.session.session_key)
    with Recorder() as seen:
        laptop.post("/sessions/end/", {"handle": phone_handle})
        laptop.post("/sessions/end-others/")
    assert [(name, why, path) for name, why, path in paths(seen)] == [
        ("ended", "revoked", "/sessions/end/"),
        ("ended", "revoked", "/sessions/end-others/"),
    ]
    assert seen.sent[0][2]["handle"] == phone_handle
