"""pytest-django's stock fixtures on a sessionkit project: logins last, sessions are seen."""

from __future__ import annotations

import django.test
import pytest
from asgiref.sync import sync_to_async

import sessionkit.test

pytestmark = pytest.mark.django_db


def test_the_stock_fixtures_are_sessionkits_clients(client, async_client, admin_client):
    assert type(client) is sessionkit.test.Client
    assert type(async_client) is sessionkit.test.AsyncClient
    assert type(admin_client) is sessionkit.test.Client
    assert isinstance(client, django.test.Client)


def test_login_then_the_next_request_is_authenticated(client, django_user_model):
    django_user_model.objects.create_user("ada", password="pw-123456")
    assert client.login(username="ada", password="pw-123456")
    assert client.get("/whoami/").json() == {"user": "ada"}


def test_force_login_then_views_and_the_test_see_one_session(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("lin"))
    assert client.get("/count/").json() == {"count": 1}
    assert client.get("/count/").json() == {"count": 2}
    assert client.session["count"] == 2
    assert client.get("/whoami/").json() == {"user": "lin"}


def test_session_written_by_the_test_is_seen_by_the_view(client):
    session = client.session
    session["count"] = 41
    session.save()
    assert client.get("/count/").json() == {"count": 42}


def test_logout_ends_the_session(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("mo"))
    client.logout()
    assert client.get("/whoami/").json() == {"user": None}


def test_admin_client_reaches_the_admin(admin_client, admin_user):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert admin_user.username in response.content.decode()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_async_client_logs_in_and_is_authenticated(async_client, django_user_model):
    await sync_to_async(django_user_model.objects.create_user)("grace", password="pw-123456")
    assert await async_client.alogin(username="grace", password="pw-123456")
    response = await async_client.get("/awhoami/")
    assert response.json() == {"user": "grace"}
