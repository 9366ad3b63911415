"""sessionkit.test: Django's test client helpers work with signed cookies."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import TestCase

import sessionkit.test

pytestmark = pytest.mark.db


class ClientTests(TestCase):
    client_class = sessionkit.test.Client  # the one-line change a test suite needs

    @classmethod
    def setUpTestData(cls):
        cls.user = User.objects.create_user("ada", password="pw-123456")

    def test_login_gives_a_signed_cookie_the_middleware_accepts(self):
        assert self.client.login(username="ada", password="pw-123456")
        assert self.client.cookies["sessionid"].value.startswith("s%3A")
        assert self.client.session["_auth_user_id"] == str(self.user.pk)

    def test_force_login_then_views_see_the_user_session(self):
        self.client.force_login(self.user)
        response = self.client.get("/write/?x=7")
        assert response.status_code == 200
        assert self.client.session["x"] == 7
        assert self.client.session["_auth_user_id"] == str(self.user.pk)

    def test_session_property_edits_are_seen_by_views(self):
        session = self.client.session
        session["x"] = "from the test"
        session.save()
        assert json.loads(self.client.get("/read/").content)["value"] == "from the test"

    def test_logout_ends_the_session(self):
        self.client.force_login(self.user)
        key = self.client.session.session_key
        self.client.logout()
        assert not self.client.session.exists(key)


class AsyncClientTests(TestCase):
    async_client_class = sessionkit.test.AsyncClient

    async def test_async_force_login_and_session(self):
        user = await User.objects.acreate(username="grace")
        await self.async_client.aforce_login(user)
        session = await self.async_client.asession()
        assert await session.aget("_auth_user_id") == str(user.pk)
        response = await self.async_client.get("/aread/")
        assert response.status_code == 200
