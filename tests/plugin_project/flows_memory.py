"""The memory store starts every test empty: one test's sessions never reach the next.

Each test finds the store empty, then leaves a logged-in session in it; whichever runs
second would find the first one's session without the plugin's reset. The clients are
built here, not taken from the ``client`` fixture, so this file tests the reset alone.
"""

from __future__ import annotations

import pytest

from sessionkit.backends.memory import SessionStore
from sessionkit.test import Client

pytestmark = pytest.mark.django_db


def test_first_leaves_a_session_behind(django_user_model):
    client = Client()
    assert SessionStore.records() == {}
    client.force_login(django_user_model.objects.create_user("first"))
    assert client.get("/whoami/").json() == {"user": "first"}
    assert len(SessionStore.records()) == 1


def test_second_leaves_a_session_behind(django_user_model):
    client = Client()
    assert SessionStore.records() == {}
    client.force_login(django_user_model.objects.create_user("second"))
    assert client.get("/count/").json() == {"count": 1}
    assert len(SessionStore.records()) == 1
