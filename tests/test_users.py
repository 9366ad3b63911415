"""Per-user sessions on the db store: listing and "log out other devices"."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured

import sessionkit
import sessionkit.test

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
