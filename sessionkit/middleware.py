"""The session middleware: express-session's request/response cycle on Django.

Per request: read the signed cookie and open the session (``process_request``); let the
view use ``request.session`` lazily; then

1. load the session only to touch it, when nothing else would and the rules need to know
   it lives (``ROLLING``, ``RESAVE``, re-signing): a request that never uses the session
   and needs none of these costs no store access;
2. take one snapshot and ask :func:`sessionkit.rules.plan` what to do;
3. write the store if the plan says so, then set, keep or clear the cookie.

The sync and async paths share every step but the two I/O lines (touch, save).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import cast

from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core.handlers.exception import response_for_exception
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import patch_cache_control, patch_vary_headers

from sessionkit import adopt
from sessionkit.backends.base import ClientInfo, TrackedSession
from sessionkit.checks import warn_secure_cookie_withheld
from sessionkit.client_ip import client_ip
from sessionkit.conf import SessionKitSettings, get_settings
from sessionkit.cookies import read_cookie
from sessionkit.engines import tracked
from sessionkit.errors import StoreUnavailable
from sessionkit.rules import CookieState, Plan, plan
from sessionkit.signing import decode_cookie_value, encode_cookie_value
from sessionkit.user_agents import trimmed

UNAVAILABLE_MESSAGE = "The session store is unavailable. Please try again in a moment."
INTERRUPTED_MESSAGE = (
    "The request's session was deleted before the request completed. "
    "The user may have logged out in a concurrent request, for example."
)


@dataclass(frozen=True, slots=True)
class RequestSession:
    """What ``process_request`` opened, kept on the request for the response."""

    conf: SessionKitSettings
    cookie: CookieState
    session: TrackedSession


def is_secure(request: HttpRequest, conf: SessionKitSettings) -> bool:
    """Whether the request is secure, as express-session decides with ``proxy``."""
    if conf.proxy is None:
        return request.is_secure()
    if request._get_scheme() == "https":  # type: ignore[attr-defined]  # the connection
        return True
    if not conf.proxy:
        return False
    header = str(request.META.get("HTTP_X_FORWARDED_PROTO", ""))
    return header.split(",", 1)[0].strip().lower() == "https"


#: ``Cookie`` headers remembered with what they said (a client sends the same header on
#: every request); a header longer than :data:`MEMO_HEADER_LENGTH` is never remembered, so
#: the memo holds at most ``MEMO_SIZE * MEMO_HEADER_LENGTH`` characters.
MEMO_SIZE = 1024
MEMO_HEADER_LENGTH = 4096


def cookie_state(header: str, name: str, keys: tuple[bytes, ...]) -> CookieState:
    """What a ``Cookie`` header says of the session cookie ``name`` under ``keys``:
    present, verified, signed by an older secret."""
    raw = read_cookie(header, name)
    verified = None if raw is None else decode_cookie_value(raw, keys)
    return CookieState(
        present=raw is not None,
        key=verified.value if verified else None,
        stale_signature=bool(verified and verified.key_index > 0),
    )


#: :func:`cookie_state` remembered: parsing, percent-decoding and the HMAC are about half
#: of what a request that never uses its session costs. The answer is a pure function of
#: the whole header, the name and the keys (rotating a secret makes new keys, so a new
#: entry); a forged header is verified in full, in constant time, the first time it is
#: seen, and a flood of distinct headers only evicts entries.
_remembered_cookie_state = lru_cache(maxsize=MEMO_SIZE)(cookie_state)


#: :func:`~sessionkit.signing.encode_cookie_value` remembered: a response that sets the
#: cookie (every write, every rolling response) re-signs the same id with the same key, and
#: the HMAC and percent-encoding are 6 us of it. A pure function of the id and the key (a
#: rotated secret is a new key); it holds at most ``MEMO_SIZE`` ids, as the header memo
#: holds cookies that carry them.
_remembered_cookie_value = lru_cache(maxsize=MEMO_SIZE)(encode_cookie_value)


def read_cookie_state(request: HttpRequest, conf: SessionKitSettings) -> CookieState:
    """The request's session cookie: present, verified, signed by an older secret."""
    header = request.META.get("HTTP_COOKIE", "")
    if len(header) > MEMO_HEADER_LENGTH:
        return cookie_state(header, conf.name, conf.keys)
    return _remembered_cookie_state(header, conf.name, conf.keys)


NO_CLIENT = ClientInfo()


def client_info(request: HttpRequest, conf: SessionKitSettings) -> ClientInfo:
    """Who is making the request, as stored with the session (nothing with
    ``TRACK_CLIENT=False``): the user agent, trimmed, and the IP address."""
    if not conf.track_client:
        return NO_CLIENT
    return ClientInfo(
        user_agent=trimmed(str(request.META.get("HTTP_USER_AGENT", ""))),
        ip=client_ip(request.META, conf),
    )


def must_load_to_touch(state: RequestSession) -> bool:
    """Load a session the view never used, so the store pushes its expiry back, when the
    response depends on it living: rolling, resave and re-signing."""
    conf, cookie = state.conf, state.cookie
    return (
        cookie.key is not None
        and not state.session.accessed
        and (conf.rolling or conf.resave or cookie.stale_signature)
    )


class SessionMiddleware(DjangoSessionMiddleware):
    """Drop-in replacement for ``django.contrib.sessions.middleware.SessionMiddleware``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        super().__init__(get_response)
        #: The engine's store class, with sessionkit's tracking (Django's engines wrapped once).
        self.Store: type[TrackedSession] = tracked(self.SessionStore)

    # -- request ----------------------------------------------------------------------

    def process_request(self, request: HttpRequest) -> None:
        conf = get_settings()
        cookie = read_cookie_state(request, conf)
        if conf.adopt_from is not None:  # ADOPT_FROM hook
            if cookie.key is None:
                client = client_info(request, conf)
                cookie = adopt.adopt(request, conf, self.Store, client) or cookie
            elif adopt.moves_by_id(conf.adopt_from):
                adopt.adopt_by_id(conf, self.Store, cookie.key)
        self.open_session(request, conf, cookie)

    async def aprocess_request(self, request: HttpRequest) -> None:
        conf = get_settings()
        cookie = read_cookie_state(request, conf)
        if conf.adopt_from is not None:  # ADOPT_FROM hook
            if cookie.key is None:
                client = client_info(request, conf)
                cookie = await adopt.aadopt(request, conf, self.Store, client) or cookie
            elif adopt.moves_by_id(conf.adopt_from):
                await adopt.aadopt_by_id(conf, self.Store, cookie.key)
        self.open_session(request, conf, cookie)

    def open_session(
        self, request: HttpRequest, conf: SessionKitSettings, cookie: CookieState
    ) -> None:
        session = self.Store(cookie.key)  # type: ignore[call-arg]
        if session.session_key is None and cookie.key is not None:  # the store rejected it
            cookie = CookieState(present=True, key=None, stale_signature=False)
        secure = conf.cookie.secure
        session.begin(
            partial(conf.genid, request) if conf.genid else None,
            client_info(request, conf),
            request,
            cookie_secure=secure is True or (secure == "auto" and is_secure(request, conf)),
        )
        request.session = session  # type: ignore[assignment]
        request._sessionkit = RequestSession(conf, cookie, session)  # type: ignore[attr-defined]

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponseBase | None:
        """A store that failed in the view: 503. A session another request destroyed while
        the view ran (``login()`` / ``update_session_auth_hash()``: ``cycle_key()`` raised
        ``UpdateError``): Django's 400, as for a save refused for the same reason."""
        if isinstance(exception, StoreUnavailable):
            return unavailable_response()
        if isinstance(exception, UpdateError):
            return response_for_exception(request, SessionInterrupted(INTERRUPTED_MESSAGE))
        return None

    # -- response: two thin entry points over shared steps -----------------------------

    def process_response(  # type: ignore[override]
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        state: RequestSession | None = getattr(request, "_sessionkit", None)
        if state is None:
            return response
        try:
            if must_load_to_touch(state):
                state.session.load_to_touch()
            todo = decide(state, response)
            if todo.write:
                with interrupted_on_update_error():
                    state.session.save()
        except StoreUnavailable:
            return unavailable_response()
        return finish(request, response, state, todo)

    async def aprocess_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        state: RequestSession | None = getattr(request, "_sessionkit", None)
        if state is None:
            return response
        try:
            if must_load_to_touch(state):
                await state.session.aload_to_touch()
            todo = decide(state, response)
            if todo.write:
                with interrupted_on_update_error():
                    await state.session.asave()
        except StoreUnavailable:
            return unavailable_response()
        return finish(request, response, state, todo)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """Native async path: the store's async API, no thread hops."""
        await self.aprocess_request(request)
        get_response = cast(
            Callable[[HttpRequest], Awaitable[HttpResponseBase]], self.get_response
        )
        response = await get_response(request)
        return await self.aprocess_response(request, response)


# -- the shared steps ---------------------------------------------------------------------


def decide(state: RequestSession, response: HttpResponseBase) -> Plan:
    """One snapshot after the view, one plan. A store that failed during the request
    (even if the view caught the error) answers 503."""
    if state.session.failure is not None:
        raise state.session.failure
    snapshot = state.session.snapshot(time.time())
    return plan(state.conf, state.cookie, snapshot, response.status_code)


@contextmanager
def interrupted_on_update_error() -> Iterator[None]:
    """A save refused because another request destroyed the session: Django's 400."""
    try:
        yield
    except UpdateError as exc:
        raise SessionInterrupted(INTERRUPTED_MESSAGE) from exc


def finish(
    request: HttpRequest, response: HttpResponseBase, state: RequestSession, todo: Plan
) -> HttpResponseBase:
    """Set or clear the cookie as planned, with ``Vary`` and ``Cache-Control``. Clearing is
    ``private`` too: a shared cache replaying a logout response would log others out."""
    conf, session = state.conf, state.session
    cookie_conf = conf.cookie
    vary = session.accessed
    key = session.session_key
    if todo.set_cookie and key is not None:
        request_secure = is_secure(request, conf)
        secure = cookie_conf.secure is True or (cookie_conf.secure == "auto" and request_secure)
        # A Secure cookie is never sent over plain HTTP (the session is still saved).
        if request_secure or cookie_conf.secure is not True:
            response.set_cookie(
                conf.name,
                _remembered_cookie_value(key, conf.keys[0]),
                max_age=todo.max_age,
                path=cookie_conf.path,
                domain=cookie_conf.domain,
                secure=secure,
                httponly=cookie_conf.httponly,
                samesite=cookie_conf.samesite or None,
            )
            patch_cache_control(response, private=True)
            vary = True
        else:
            warn_secure_cookie_withheld(request, conf)
    elif todo.clear_cookie:
        response.delete_cookie(
            conf.name,
            path=cookie_conf.path,
            domain=cookie_conf.domain,
            samesite=cookie_conf.samesite or None,
        )
        patch_cache_control(response, private=True)
        vary = True
    if vary:
        patch_vary_headers(response, ("Cookie",))
    if conf.adopt_from is not None:  # ADOPT_FROM hook: a renamed legacy cookie is cleared
        adopt.clear_legacy_cookie(request, response, conf.name)
    return response


def unavailable_response() -> HttpResponse:
    response = HttpResponse(UNAVAILABLE_MESSAGE, status=503, content_type="text/plain")
    response["Retry-After"] = "5"
    patch_cache_control(response, no_store=True)
    return response
