"""Test client support: Django's ``Client`` with signed sessionkit cookies.

Django's test client writes the raw session id into the cookie, which sessionkit (rightly)
rejects as unsigned. Use these clients instead; in a ``TestCase`` it is one line::

    class MyTests(TestCase):
        client_class = sessionkit.test.Client

``client.login()``, ``force_login()``, ``logout()`` and ``client.session`` then work as
documented by Django.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest
from django.test import AsyncClient as DjangoAsyncClient
from django.test import Client as DjangoClient

from sessionkit.conf import get_settings
from sessionkit.cookies import read_cookie
from sessionkit.signing import decode_cookie_value, encode_cookie_value


class SessionKitClientMixin:
    """Reads and writes the session cookie the way sessionkit's middleware does."""

    cookies: Any

    def _cookie_session_key(self) -> str | None:
        conf = get_settings()
        morsel = self.cookies.get(conf.name)
        if morsel is None or not morsel.value:
            return None
        raw = read_cookie(f"{conf.name}={morsel.value}", conf.name)
        verified = None if raw is None else decode_cookie_value(raw, conf.keys)
        return verified.value if verified else None

    def _set_session_cookie(self, session: SessionBase) -> None:
        conf = get_settings()
        assert session.session_key is not None
        self.cookies[conf.name] = encode_cookie_value(session.session_key, conf.keys[0])
        self.cookies[conf.name].update(
            {
                "max-age": None,
                "path": conf.cookie.path,
                "domain": conf.cookie.domain or "",
                "secure": conf.cookie.secure is True or None,
                "expires": None,
            }
        )

    def _new_session(self, key: str | None) -> SessionBase:
        store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(key)
        return store

    @property
    def session(self) -> SessionBase:
        """The session of the client's cookie; a new, saved one if there is none."""
        key = self._cookie_session_key()
        if key is not None:
            return self._new_session(key)
        session = self._new_session(None)
        session.save()
        self._set_session_cookie(session)
        return session

    async def asession(self) -> SessionBase:
        key = self._cookie_session_key()
        if key is not None:
            return self._new_session(key)
        session = self._new_session(None)
        await session.asave()
        self._set_session_cookie(session)
        return session

    def _set_login_cookies(self, request: HttpRequest) -> None:
        self._set_session_cookie(request.session)


class Client(SessionKitClientMixin, DjangoClient):
    """``django.test.Client`` for projects on sessionkit."""


class AsyncClient(SessionKitClientMixin, DjangoAsyncClient):
    """``django.test.AsyncClient`` for projects on sessionkit."""
