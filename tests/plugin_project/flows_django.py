"""The same fixtures on a project on Django's own session middleware: pytest-django's."""

from __future__ import annotations

import django.test
import pytest
from asgiref.sync import sync_to_async

pytestmark = pytest.mark.django_db


def test_the_stock_fixtures_are_djangos_clients(client, async_client, admin_client):
    assert type(client) is django.test.Client
    assert type(async_client) is django.test.AsyncClient
    assert type(admin_client) is django.test.Client


def test_login_then_the_next_request_is_authenticated(client, django_user_model):
    django_user_model.objects.create_user("ada", password="pw-123456")
    assert client.login(username="ada", password="pw-123456")
    assert client.get("/whoami/").json() == {"user": "ada"}
    assert client.cookies["sessionid"].value == client.session.session_key  # Django's cookie


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
