"""express-session's request/response rules on Django's session object.

Per request: read the signed cookie (``process_request``), let the view use
``request.session`` lazily, then decide (``_plan``) whether to write the store and whether
to send, keep or clear the cookie. The decision is a handful of named predicates that
follow express-session's ``shouldSave`` / ``shouldTouch`` / ``shouldSetCookie``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from django.contrib.sessions.backends.base import SessionBase, UpdateError
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import patch_cache_control, patch_vary_headers

from sessionkit import adapters
from sessionkit.backends.base import ClientInfo
from sessionkit.conf import SessionKitSettings, get_settings
from sessionkit.cookies import read_cookie
from sessionkit.errors import StoreUnavailable
from sessionkit.signing import decode_cookie_value, encode_cookie_value
from sessionkit.tracking import Fields

UNAVAILABLE_MESSAGE = "The session store is unavailable. Please try again in a moment."


@dataclass(frozen=True, slots=True)
class CookieState:
    """What the request's cookie said, decided before the view runs."""

    present: bool
    #: The verified session id, or ``None`` (no cookie, unsigned, forged, malformed).
    key: str | None
    #: Verified by an older secret: re-sign it with the current one.
    stale_signature: bool


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with the store and the cookie once the view has run."""

    write: bool
    set_cookie: bool
    clear_cookie: bool
    #: Re-issue the cookie with its stored expiry (only re-signing, nothing else changed).
    keep_expiry: bool = False


def _client(request: HttpRequest) -> ClientInfo:
    return ClientInfo(
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:256],
        ip=request.META.get("REMOTE_ADDR", "")[:45],
    )


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


def _fields_now(session: SessionBase, original: Fields | None) -> Fields:
    if not hasattr(session, "_session_cache"):  # never touched: what was loaded
        return original or {}
    return adapters.fields_of(session._session_cache)


def plan(conf: SessionKitSettings, cookie: CookieState, session: SessionBase, status: int) -> Plan:
    """express-session's rules, with sessionkit's documented improvements."""
    key = session.session_key
    if cookie.key is not None and key == cookie.key and not session.accessed:
        return Plan(False, False, False)  # a session this request never used: leave it be
    original = adapters.original_fields(session)
    current = _fields_now(session, original)
    continued = original is not None and key is not None and key == cookie.key
    led_nowhere = cookie.present and (cookie.key is None or (session.accessed and not continued))
    if status >= 500:  # as Django: never save on a server error
        return Plan(False, False, clear_cookie=led_nowhere and key is None)
    if key is None and not current and (original is not None or adapters.destroyed(session)):
        return Plan(False, False, clear_cookie=cookie.present)  # flush(): no new session
    if continued and original is not None:  # (the second test only informs the type checker)
        modified = current != original
        expiry_changed = original.get("_session_expiry") != current.get("_session_expiry")
        set_cookie = (
            conf.rolling
            or expiry_changed
            or (modified and cookie_max_age(session, conf, False) is not None)
            or cookie.stale_signature
        )
        keep_expiry = set_cookie and not (conf.rolling or modified)
        # Stores that cannot touch on read are re-saved to roll their expiry forward.
        write = modified or conf.resave or (conf.rolling and not adapters.touches(session))
        return Plan(write, set_cookie, False, keep_expiry)
    # A new session: no cookie, a cookie that led nowhere, flushed, or given a new id.
    modified = bool(current) or key is not None
    wanted = conf.save_uninitialized or modified
    write = wanted and (key is None or adapters.has_unsaved_changes(session))
    return Plan(write, wanted, clear_cookie=led_nowhere and not wanted)


class SessionMiddleware(DjangoSessionMiddleware):
    """Drop-in replacement for ``django.contrib.sessions.middleware.SessionMiddleware``."""

    sync_capable = True
    async_capable = True

    # -- request ----------------------------------------------------------------------

    def process_request(self, request: HttpRequest) -> None:
        conf = get_settings()
        raw = read_cookie(request.META.get("HTTP_COOKIE", ""), conf.name)
        verified = None if raw is None else decode_cookie_value(raw, conf.keys)
        key = verified.value if verified else None
        session = self.SessionStore(key)
        if session.session_key is None:  # the store rejected the id's shape
            key = None
        adapters.prepare(session, request, conf, _client(request))
        request.session = session
        request._sessionkit_cookie = CookieState(  # type: ignore[attr-defined]
            present=raw is not None,
            key=key,
            stale_signature=bool(verified and verified.key_index > 0),
        )

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, StoreUnavailable):
            return unavailable_response()
        return None

    # -- response ---------------------------------------------------------------------

    def _must_load(self, conf: SessionKitSettings, cookie: CookieState, session: Any) -> bool:
        """Rolling, resave and re-signing need to know whether the cookie's session lives."""
        return (
            cookie.key is not None
            and not session.accessed
            and (conf.rolling or conf.resave or cookie.stale_signature)
        )

    def process_response(  # type: ignore[override]
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        context = self._context(request)
        if context is None:
            return response
        conf, cookie, session = context
        try:
            if self._must_load(conf, cookie, session):
                session._get_session()
            if adapters.failure(session):
                return unavailable_response()
            todo = plan(conf, cookie, session, response.status_code)
            if todo.write:
                self._save(session)
        except StoreUnavailable:
            return unavailable_response()
        return self._finish(request, response, conf, session, todo)

    async def aprocess_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        context = self._context(request)
        if context is None:
            return response
        conf, cookie, session = context
        try:
            if self._must_load(conf, cookie, session):
                await session._aget_session()
            if adapters.failure(session):
                return unavailable_response()
            todo = plan(conf, cookie, session, response.status_code)
            if todo.write:
                await self._asave(session)
        except StoreUnavailable:
            return unavailable_response()
        return self._finish(request, response, conf, session, todo)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """Native async path: the store's async API, no thread hops."""
        self.process_request(request)
        get_response = cast(
            Callable[[HttpRequest], Awaitable[HttpResponseBase]], self.get_response
        )
        response = await get_response(request)
        return await self.aprocess_response(request, response)

    @staticmethod
    def _context(request: HttpRequest) -> tuple[SessionKitSettings, CookieState, Any] | None:
        cookie = getattr(request, "_sessionkit_cookie", None)
        session = getattr(request, "session", None)
        if cookie is None or not isinstance(session, SessionBase):
            return None
        return get_settings(), cookie, session

    @staticmethod
    def _save(session: Any) -> None:
        try:
            adapters.save(session)
        except UpdateError as exc:
            raise SessionInterrupted(INTERRUPTED_MESSAGE) from exc

    @staticmethod
    async def _asave(session: Any) -> None:
        try:
            await adapters.asave(session)
        except UpdateError as exc:
            raise SessionInterrupted(INTERRUPTED_MESSAGE) from exc

    def _finish(
        self,
        request: HttpRequest,
        response: HttpResponseBase,
        conf: SessionKitSettings,
        session: Any,
        todo: Plan,
    ) -> HttpResponseBase:
        cookie_conf = conf.cookie
        vary = session.accessed
        if todo.set_cookie and session.session_key is not None:
            request_secure = is_secure(request, conf)
            secure = cookie_conf.secure is True or (
                cookie_conf.secure == "auto" and request_secure
            )
            # A Secure cookie is never sent over plain HTTP (the session is still saved).
            if request_secure or cookie_conf.secure is not True:
                response.set_cookie(
                    conf.name,
                    encode_cookie_value(session.session_key, conf.keys[0]),
                    max_age=cookie_max_age(session, conf, todo.keep_expiry),
                    path=cookie_conf.path,
                    domain=cookie_conf.domain,
                    secure=secure,
                    httponly=cookie_conf.httponly,
                    samesite=cookie_conf.samesite or None,
                )
                patch_cache_control(response, private=True)
                vary = True
        elif todo.clear_cookie:
            response.delete_cookie(
                conf.name,
                path=cookie_conf.path,
                domain=cookie_conf.domain,
                samesite=cookie_conf.samesite or None,
            )
            vary = True
        if vary:
            patch_vary_headers(response, ("Cookie",))
        return response


INTERRUPTED_MESSAGE = (
    "The request's session was deleted before the request completed. "
    "The user may have logged out in a concurrent request, for example."
)


def cookie_max_age(session: Any, conf: SessionKitSettings, keep_expiry: bool) -> int | None:
    """Seconds the cookie lives, or ``None`` for a browser-session cookie."""
    custom = session.get("_session_expiry")
    if custom == 0 or (custom is None and conf.cookie.max_age is None):
        return None
    now = time.time()
    loaded = getattr(session, "loaded_expires", None)
    if keep_expiry and loaded is not None:
        age = int(loaded - now)
    elif custom is None:
        age = conf.cookie.max_age  # type: ignore[assignment]
    else:
        age = session.get_expiry_age()
    deadline = getattr(session, "deadline", None)
    if deadline is not None:
        age = min(age, int(deadline - now))
    return max(age, 0)


def unavailable_response() -> HttpResponse:
    response = HttpResponse(UNAVAILABLE_MESSAGE, status=503, content_type="text/plain")
    response["Retry-After"] = "5"
    patch_cache_control(response, no_store=True)
    return response
