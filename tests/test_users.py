"""Per-user sessions: listing, "log out other devices", their async twins on every indexed
store, and the sessions a password change, a deactivation or a deletion ends."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import aupdate_session_auth_hash
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.test import RequestFactory

import sessionkit
import sessionkit.test
from sessionkit.backends.base import hash_key
from tests.backends.conformance import Recorder

pytestmark = [pytest.mark.db, pytest.mark.django_db]


@pytest.fixture
def user():
    return User.objects.create_user("lin", password="pw-123456")


def device(user, agent):
    client = sessionkit.test.Client(HTTP_USER_AGENT=agent)
    assert client.login(username="lin", password="pw-123456")
    client.get("/write/?seen=1")  # a real request records user agent and IP
    return client


def test_user_sessions_lists_each_device_and_marks_current(user):
    phone, laptop = device(user, "Phone/1.0"), device(user, "Laptop/2.0")
    listed = sessionkit.user_sessions(user, current=laptop.session)
    assert sorted(s.user_agent for s in listed) == ["Laptop/2.0", "Phone/1.0"]
    assert [s.user_agent for s in listed if s.current] == ["Laptop/2.0"]
    assert all(s.ip == "127.0.0.1" and s.expires > s.created for s in listed)
    assert phone.session.session_key not in {s.handle for s in listed}  # hashed, not raw ids


def test_end_user_sessions_keeps_only_the_current_device(user):
    phone, laptop = device(user, "Phone/1.0"), device(user, "Laptop/2.0")
    assert sessionkit.end_user_sessions(user, keep=laptop.session) == 1
    assert phone.get("/read/").json()["key"] is None
    assert laptop.get("/read/").json()["key"] is not None


def test_end_session_never_ends_another_users_session(user):
    other = User.objects.create_user("mo", password="pw-123456")
    client = sessionkit.test.Client()
    client.force_login(other)
    client.get("/write/?seen=1")
    victim = sessionkit.user_sessions(other)[0]
    assert sessionkit.end_session(user, victim.handle) is False
    assert sessionkit.user_sessions(other)
    assert sessionkit.end_session(other, victim.handle) is True
    assert sessionkit.user_sessions(other) == []


def test_engines_without_an_index_say_so(user, settings):
    settings.SESSION_ENGINE = "sessionkit.backends.cache"
    with pytest.raises(ImproperlyConfigured):
        sessionkit.user_sessions(user)


FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def test_each_session_is_labelled_from_a_trimmed_user_agent(user):
    device(user, FIREFOX_LINUX)
    device(user, "x" * 1000 + "\x00")
    labels = {s.label: s.user_agent for s in sessionkit.user_sessions(user)}
    assert labels["Firefox on Linux"] == FIREFOX_LINUX
    assert labels["Unknown device"] == "x" * 256


def test_expires_is_the_absolute_deadline_when_it_comes_first(user, settings):
    settings.SESSIONKIT = {"ABSOLUTE_TIMEOUT": 60}
    device(user, FIREFOX_LINUX)
    (listed,) = sessionkit.user_sessions(user)
    assert (listed.expires - listed.created).total_seconds() == pytest.approx(60, abs=2)


# -- on every indexed store, sync and async ------------------------------------------------

STORES = ["db", "memory", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(params=STORES)
def engine(request, settings):
    """Each store with a per-user index as ``SESSION_ENGINE`` (Redis flushed first)."""
    if request.param == "redis":
        request.getfixturevalue("redis_client")
        settings.SESSION_CACHE_ALIAS = "redis"
    settings.SESSION_ENGINE = f"sessionkit.backends.{request.param}"
    return request.param


def test_listing_is_the_same_sync_and_async_on_every_indexed_store(user, engine):
    phone, laptop = device(user, FIREFOX_LINUX), device(user, "Laptop/2.0")
    listed = sessionkit.user_sessions(user, current=laptop.session)
    assert async_to_sync(sessionkit.auser_sessions)(user, current=laptop.session) == listed
    assert {(s.label, s.ip, s.current) for s in listed} == {
        ("Firefox on Linux", "127.0.0.1", False),
        ("Unknown device", "127.0.0.1", True),
    }
    assert hash_key(phone.session.session_key) in {s.handle for s in listed}


def test_async_ending_sends_one_revoked_signal_per_session(user, engine):
    phone, laptop = device(user, "Phone/1.0"), device(user, "Laptop/2.0")
    handle = hash_key(phone.session.session_key)
    with Recorder() as seen:
        assert async_to_sync(sessionkit.aend_session)(user, handle) is True
        assert async_to_sync(sessionkit.aend_session)(user, handle) is False
        assert async_to_sync(sessionkit.aend_user_sessions)(user) == 1
    assert seen.events() == [
        ("ended", handle, "revoked"),
        ("ended", hash_key(laptop.session.session_key), "revoked"),
    ]
    assert {kw["user_id"] for _, _, kw in seen.sent} == {str(user.pk)}
    assert phone.get("/whoami/").json()["user"] is None


def test_deactivating_a_user_ends_all_their_sessions(user, engine):
    device(user, "Phone/1.0"), device(user, "Laptop/2.0")
    other = User.objects.create_user("mo", password="pw-123456")
    bystander = sessionkit.test.Client()
    bystander.force_login(other)
    with Recorder() as seen:
        user.is_active = False
        user.save()
    assert [(e[0], e[2]) for e in seen.events()] == [("ended", "user_deactivated")] * 2
    assert sessionkit.user_sessions(user) == []
    assert len(sessionkit.user_sessions(other)) == 1


def test_deleting_a_user_ends_all_their_sessions(user, engine):
    phone = device(user, "Phone/1.0")
    user_id = user.pk
    with Recorder() as seen:
        user.delete()
    assert seen.events() == [("ended", hash_key(phone.session.session_key), "user_deactivated")]
    assert sessionkit.user_sessions(user_id) == []


# -- a password change ---------------------------------------------------------------------


def change_password(client, password="new-pw-123456"):
    response = client.post("/change-password/", {"password": password})
    assert response.status_code == 200


def test_a_password_change_keeps_this_session_and_ends_the_others(user):
    phone, tablet, laptop = device(user, "Phone"), device(user, "Tablet"), device(user, "PC")
    others = {hash_key(c.session.session_key) for c in (phone, tablet)}
    with Recorder() as seen:
        change_password(laptop)
    ended = [(h, why) for name, h, why in seen.events() if why == "password_change"]
    assert sorted(ended) == sorted((h, "password_change") for h in others)
    (listed,) = sessionkit.user_sessions(user)
    assert listed.handle == hash_key(laptop.session.session_key)
    assert laptop.get("/whoami/").json()["user"] == "lin"
    assert phone.get("/whoami/").json()["user"] is None


def test_end_others_on_password_change_off_leaves_them_to_djangos_check(user, settings):
    settings.SESSIONKIT = {"END_OTHERS_ON_PASSWORD_CHANGE": False}
    phone, laptop = device(user, "Phone"), device(user, "PC")
    with Recorder() as seen:
        change_password(laptop)
    assert "password_change" not in {why for _, _, why in seen.events()}
    assert len(sessionkit.user_sessions(user)) == 2
    assert phone.get("/whoami/").json()["user"] is None  # Django's session hash check


def test_a_rotated_secret_key_rehashes_sessions_without_ending_any(user, settings):
    phone, laptop = device(user, "Phone"), device(user, "PC")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    # Each session's auth hash was made with the old key: Django re-hashes it on the next
    # request (cycle_key(), then the new hash), as update_session_auth_hash() does.
    with Recorder() as seen:
        assert laptop.get("/whoami/").json()["user"] == "lin"
        assert phone.get("/whoami/").json()["user"] == "lin"
    ended = [why for name, _, why in seen.events() if name == "ended"]
    assert ended == ["rotated", "rotated"]  # each re-hashed under a new id, none ended
    assert len(sessionkit.user_sessions(user)) == 2
    change_password(laptop)  # a real change now: the phone's session ends
    (listed,) = sessionkit.user_sessions(user)
    assert listed.handle == hash_key(laptop.session.session_key)


def request_of(user: User, session: Any) -> HttpRequest:
    """A request as AuthenticationMiddleware leaves it: ``user`` for Django 5.2's
    aupdate_session_auth_hash, ``auser()`` for Django 6's."""
    request = RequestFactory().get("/")
    request.user = user
    request.session = session

    async def auser() -> User:
        return user

    request.auser = auser  # type: ignore[attr-defined]
    return request


def test_async_password_change_keeps_this_session_and_ends_the_others(user):
    phone, laptop = device(user, "Phone"), device(user, "PC")
    request = request_of(user, laptop.session)
    user.set_password("new-pw-123456")
    user.save()
    with Recorder() as seen:
        async_to_sync(aupdate_session_auth_hash)(request, user)
        async_to_sync(request.session.asave)()  # what the middleware does after the view
    phone_handle = hash_key(phone.session.session_key)
    assert ("ended", phone_handle, "password_change") in seen.events()
    (listed,) = sessionkit.user_sessions(user)
    assert listed.handle == hash_key(request.session.session_key)


def test_async_password_change_with_end_others_off_ends_none(user, settings):
    settings.SESSIONKIT = {"END_OTHERS_ON_PASSWORD_CHANGE": False}
    device(user, "Phone"), device(user, "PC")
    request = request_of(user, device(user, "Tablet").session)
    user.set_password("new-pw-123456")
    user.save()
    async_to_sync(aupdate_session_auth_hash)(request, user)
    async_to_sync(request.session.asave)()
    assert len(sessionkit.user_sessions(user)) == 3
