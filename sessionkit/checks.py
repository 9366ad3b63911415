"""System checks: every bad ``SESSIONKIT`` value becomes ``sessionkit.E0xx`` / ``W0xx``.

The ids, their levels and meanings are the table in :mod:`sessionkit.check_ids`. The two
check functions are registered by :meth:`sessionkit.apps.SessionKitConfig.ready`, not at
import.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Sequence
from importlib import import_module
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import reverse
from django.utils.module_loading import import_string

from sessionkit.check_ids import message
from sessionkit.conf import SessionKitSettings, get_settings, parse, parse_redis

logger = logging.getLogger("sessionkit")

SESSIONKIT_MIDDLEWARE = "sessionkit.middleware.SessionMiddleware"
DJANGO_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
#: Engines a misspelt ``SESSION_ENGINE`` is compared with (sessionkit.E021's hint).
KNOWN_ENGINES = (
    "sessionkit.backends.db",
    "sessionkit.backends.redis",
    "sessionkit.backends.connect_redis",
    "sessionkit.backends.cache",
    "sessionkit.backends.memory",
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cache",
    "django.contrib.sessions.backends.cached_db",
    "django.contrib.sessions.backends.file",
    "django.contrib.sessions.backends.signed_cookies",
)
#: sessionkit's engines on a Redis connection (django-redis, or ``CLIENT_FACTORY``).
REDIS_ENGINES = ("sessionkit.backends.redis", "sessionkit.backends.connect_redis")
CONNECT_REDIS = "sessionkit.backends.connect_redis"
EXPRESS_LOGIN = "sessionkit.express_auth.ExpressLoginMiddleware"
EXPRESS_BACKEND = "sessionkit.express_auth.ExpressUserBackend"
#: Django's engines that keep sessions in ``django.contrib.sessions``' model.
DJANGO_MODEL_ENGINES = (
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
)

#: Shortest explicit secret that ``check --deploy`` accepts (sessionkit.W013).
MIN_SECRET_LENGTH = 32


def check_settings(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Report every problem the settings parser found."""
    conf = parse(getattr(settings, "SESSIONKIT", None))
    messages = [message(p.id, p.msg, p.hint) for p in conf.problems]
    engine = settings.SESSION_ENGINE
    if conf.absolute_timeout and not engine.startswith("sessionkit."):
        messages.append(
            message(
                "W001",
                f"SESSIONKIT['ABSOLUTE_TIMEOUT'] is ignored by SESSION_ENGINE {engine!r}.",
                "Use a sessionkit engine (sessionkit.backends.db, .redis, .cache, .memory).",
            )
        )
    if engine in REDIS_ENGINES:
        messages += _redis_store_messages(engine)
    if engine == CONNECT_REDIS:
        messages += _connect_redis_messages(conf)
    if engine == "sessionkit.backends.cache":
        messages += _cache_store_messages()
    messages += _engine_messages(engine)
    messages += _middleware_messages(engine)
    messages += _user_model_messages(engine)
    messages += _page_messages(engine)
    messages += _express_login_messages()
    return messages


def _user_model_messages(engine: str) -> list[checks.CheckMessage]:
    """E030: the session table's ``user`` is a foreign key to ``AUTH_USER_MODEL``, so its
    app must be installed, whatever ``SESSION_ENGINE`` (the migration creates the table).
    E031: the db store's rows and the users must be in one database (the foreign key, the
    user lookup in each write, the cascade when a user is deleted)."""
    try:
        user_model = apps.get_model(settings.AUTH_USER_MODEL, require_ready=False)
    except (LookupError, ValueError):
        return [
            message(
                "E030",
                f"sessionkit's session table refers to AUTH_USER_MODEL "
                f"{settings.AUTH_USER_MODEL!r}, whose app is not installed: its migration "
                "cannot run.",
                "Add 'django.contrib.auth' and 'django.contrib.contenttypes' (or the app of "
                "your AUTH_USER_MODEL) to INSTALLED_APPS, even if the site logs nobody in.",
            )
        ]
    from django.db import router

    from sessionkit.models import Session

    if engine != "sessionkit.backends.db":
        return []
    sessions, users = router.db_for_write(Session), router.db_for_write(user_model)
    if sessions == users:
        return []
    return [
        message(
            "E031",
            f"DATABASE_ROUTERS put sessionkit's sessions in database {sessions!r} and "
            f"AUTH_USER_MODEL in {users!r}: the session table's user is a foreign key, so "
            "saving a logged-in session and deleting a user fail.",
            "Route sessionkit.models.Session to the users' database, or use another "
            "SESSION_ENGINE (sessionkit.backends.redis, .cache).",
        )
    ]


def _connect_redis_messages(conf: SessionKitSettings) -> list[checks.CheckMessage]:
    """What the Express side sharing the store needs: the same secret (W040); and what
    express-session's format cannot carry (W041)."""
    messages = []
    if not conf.secret_is_explicit:
        messages.append(
            message(
                "W040",
                "SESSION_ENGINE is sessionkit.backends.connect_redis but SESSIONKIT['SECRET'] "
                "is not set: the cookie is signed with a key derived from SECRET_KEY, which "
                "express-session cannot verify, so the two apps never share a session.",
                "Set SESSIONKIT['SECRET'] to the Express app's secret (a list, in the same "
                "order, when it rotates secrets).",
            )
        )
    if conf.absolute_timeout:
        messages.append(
            message(
                "W041",
                "SESSIONKIT['ABSOLUTE_TIMEOUT'] is ignored by sessionkit.backends.connect_redis: "
                "express-session's stored session has no creation time to count it from.",
                "Remove ABSOLUTE_TIMEOUT, or end sessions on the Express side too.",
            )
        )
    return messages


def _express_login_messages() -> list[checks.CheckMessage]:
    """``ExpressLoginMiddleware`` logs users in with ``ExpressUserBackend``, which Django
    then needs to find each request, and reads ``request.user``."""
    middleware = list(settings.MIDDLEWARE)
    ours = [i for i, path in enumerate(middleware) if _is(path, EXPRESS_LOGIN)]
    if not ours:
        return []
    problems = []
    if not any(_is(path, EXPRESS_BACKEND) for path in settings.AUTHENTICATION_BACKENDS):
        problems.append(f"{EXPRESS_BACKEND!r} is not in AUTHENTICATION_BACKENDS")
    if not any(_is(path, AUTH_MIDDLEWARE) for path in middleware[: ours[0]]):
        problems.append(f"it does not come after {AUTH_MIDDLEWARE!r}")
    if not problems:
        return []
    return [
        message(
            "E040",
            f"{middleware[ours[0]]!r} is in MIDDLEWARE but {' and '.join(problems)}: the "
            "login it shares with the Express app does not last.",
            f"Add {EXPRESS_BACKEND!r} to AUTHENTICATION_BACKENDS and list the middleware "
            f"after {AUTH_MIDDLEWARE!r}.",
        )
    ]


# -- the engine ---------------------------------------------------------------------------


def _engine_messages(engine: str) -> list[checks.CheckMessage]:
    """An engine that cannot be imported (E021), or Django's db engine without its app (E022).
    The Redis stores' missing packages are E011's, not E021's."""
    if engine in REDIS_ENGINES:
        return []
    if engine in DJANGO_MODEL_ENGINES and not apps.is_installed("django.contrib.sessions"):
        return [
            message(
                "E022",
                f"SESSION_ENGINE is {engine!r}, which stores sessions in "
                "django.contrib.sessions' model, but django.contrib.sessions is not in "
                "INSTALLED_APPS: every request that uses the session fails.",
                "Set SESSION_ENGINE = 'sessionkit.backends.db' (sessionkit's own table), or "
                "add 'django.contrib.sessions' to INSTALLED_APPS.",
            )
        ]
    try:
        import_module(engine).SessionStore  # noqa: B018  # what Django loads
    except Exception as exc:
        close = difflib.get_close_matches(engine, KNOWN_ENGINES, n=1, cutoff=0.8)
        suggestion = close[0] if close else "sessionkit.backends.db"
        return [
            message(
                "E021",
                f"SESSION_ENGINE {engine!r} cannot be used: {type(exc).__name__}: {exc}.",
                f"Set SESSION_ENGINE = {suggestion!r}"
                + ("." if close else " (or .redis, .cache, .memory)."),
            )
        ]
    return []


# -- the "Your devices" page ------------------------------------------------------------------


def _page_included() -> bool:
    """Whether the URLconf includes ``sessionkit.urls`` (a broken URLconf is Django's own
    check's to report)."""
    try:
        reverse("sessionkit:user_sessions")
    except Exception:
        return False
    return True


def _page_messages(engine: str) -> list[checks.CheckMessage]:
    """The page on an engine that cannot list sessions (E050) or without its templates
    (E051): each would otherwise be found by the first user who opens it."""
    if not _page_included():
        return []
    from sessionkit.users import _store

    messages = []
    try:
        _store()
    except ImproperlyConfigured:
        messages.append(
            message(
                "E050",
                f"The URLconf includes sessionkit.urls but SESSION_ENGINE {engine!r} keeps "
                'no per-user index: the "Your devices" page can list and end nothing.',
                "Use SESSION_ENGINE 'sessionkit.backends.db', '.redis' or '.memory', or "
                "remove include('sessionkit.urls').",
            )
        )
    except Exception:  # an engine that cannot be imported: E021 / E011 say so
        pass
    try:
        get_template("sessionkit/user_sessions.html")
    except TemplateDoesNotExist:
        messages.append(
            message(
                "E051",
                "The URLconf includes sessionkit.urls but no template engine finds "
                "sessionkit/user_sessions.html: the page fails with a 500.",
                "Set 'APP_DIRS': True on the DjangoTemplates engine in TEMPLATES (or add "
                "'django.template.loaders.app_directories.Loader' to its loaders).",
            )
        )
    return messages


# -- the middleware list ---------------------------------------------------------------------


def _resolve(path: str) -> type | None:
    """The class a ``MIDDLEWARE`` entry names, or ``None`` if it cannot be imported (Django
    reports that itself when the server starts)."""
    try:
        found = import_string(path)
    except Exception:
        return None
    return found if isinstance(found, type) else None


def _is(path: str, base: str) -> bool:
    """Whether the entry ``path`` is the class ``base`` or a subclass of it."""
    if path == base:
        return True
    cls, parent = _resolve(path), _resolve(base)
    return cls is not None and parent is not None and issubclass(cls, parent)


def is_sessionkit_middleware(path: str) -> bool:
    return _is(path, SESSIONKIT_MIDDLEWARE)


def uses_sessionkit_middleware() -> bool:
    """Whether ``MIDDLEWARE`` has sessionkit's middleware (or a subclass of it)."""
    return any(is_sessionkit_middleware(path) for path in settings.MIDDLEWARE)


def _session_readers() -> list[str]:
    """Middleware that reads ``request.session`` before the view, so a session middleware
    must come before it: ``AuthenticationMiddleware`` and ``RemoteUserMiddleware``
    (``request.user``, ``login()``), ``MessageMiddleware`` unless ``MESSAGE_STORAGE`` is
    the cookie storage, ``CsrfViewMiddleware`` with ``CSRF_USE_SESSIONS``. Not
    ``LocaleMiddleware``: since Django 4.0 it does not read the session."""
    readers = [AUTH_MIDDLEWARE, "django.contrib.auth.middleware.RemoteUserMiddleware"]
    storage = _resolve(settings.MESSAGE_STORAGE)
    cookie_storage = _resolve("django.contrib.messages.storage.cookie.CookieStorage")
    if storage is None or cookie_storage is None or not issubclass(storage, cookie_storage):
        readers.append("django.contrib.messages.middleware.MessageMiddleware")
    if settings.CSRF_USE_SESSIONS:
        readers.append("django.middleware.csrf.CsrfViewMiddleware")
    return readers


def _middleware_messages(engine: str) -> list[checks.CheckMessage]:
    middleware = list(settings.MIDDLEWARE)
    ours = [i for i, path in enumerate(middleware) if is_sessionkit_middleware(path)]
    djangos = [
        i for i, path in enumerate(middleware) if i not in ours and _is(path, DJANGO_MIDDLEWARE)
    ]
    if ours and djangos:
        return [
            message(
                "E018",
                f"MIDDLEWARE has both {middleware[djangos[0]]!r} and {middleware[ours[0]]!r}: "
                "the later one replaces request.session and the two write conflicting "
                "cookies, so a login does not last to the next request.",
                f"Remove {middleware[djangos[0]]!r} from MIDDLEWARE: sessionkit's "
                "middleware replaces it.",
            )
        ]
    if ours:
        readers = _session_readers()
        before = [
            path for path in middleware[: ours[0]] if any(_is(path, reader) for reader in readers)
        ]
        if before:
            return [
                message(
                    "E019",
                    f"{middleware[ours[0]]!r} comes after {before[0]!r}, which reads "
                    "request.session before the session exists (Django's error then asks "
                    "for django.contrib.sessions' middleware, which is not the fix).",
                    f"Move {middleware[ours[0]]!r} above {before[0]!r} in MIDDLEWARE, where "
                    "Django's SessionMiddleware would be.",
                )
            ]
        return []
    if djangos and engine.startswith("sessionkit."):
        return [
            message(
                "E020",
                f"{middleware[djangos[0]]!r} serves SESSION_ENGINE {engine!r}: it writes "
                "the bare session id into an unsigned cookie and applies none of "
                "sessionkit's cookie rules.",
                f"Replace {middleware[djangos[0]]!r} with {SESSIONKIT_MIDDLEWARE!r} in "
                "MIDDLEWARE.",
            )
        ]
    return [
        message(
            "W003",
            "sessionkit is installed but its middleware is not in MIDDLEWARE.",
            f"Replace {DJANGO_MIDDLEWARE} with {SESSIONKIT_MIDDLEWARE}.",
        )
    ]


def _redis_store_messages(engine: str) -> list[checks.CheckMessage]:
    conf = parse_redis(getattr(settings, "SESSIONKIT_REDIS", None))
    messages = [message(p.id, p.msg, p.hint) for p in conf.problems]
    try:
        import_module(engine)
    except ImportError as exc:
        messages.append(
            message(
                "E011",
                f"SESSION_ENGINE is {engine} but {exc.name} is not installed.",
                'pip install "django-sessionkit[redis]"',
            )
        )
    else:
        if conf.client_factory is None:
            messages += _redis_alias_messages(engine)
    return messages


def _redis_alias_messages(engine: str) -> list[checks.CheckMessage]:
    """The Redis store takes its connection from django-redis's ``SESSION_CACHE_ALIAS``."""
    alias = settings.SESSION_CACHE_ALIAS
    hint = (
        "Point SESSION_CACHE_ALIAS at a cache with BACKEND 'django_redis.cache.RedisCache' "
        "(e.g. CACHES['sessions'] = {'BACKEND': 'django_redis.cache.RedisCache', "
        "'LOCATION': 'redis://127.0.0.1:6379/1'} and SESSION_CACHE_ALIAS = 'sessions'), "
        "or name a client in SESSIONKIT_REDIS['CLIENT_FACTORY']."
    )
    backend = settings.CACHES.get(alias, {}).get("BACKEND")
    if backend is None:
        problem = f"SESSION_CACHE_ALIAS {alias!r} is not in CACHES"
    elif not _is(backend, "django_redis.cache.RedisCache"):
        problem = (
            f"SESSION_CACHE_ALIAS {alias!r} is {backend!r}, not django-redis's "
            "'django_redis.cache.RedisCache' (the only cache that lends its Redis connection)"
        )
    else:
        return []
    return [
        message(
            "E023",
            f"SESSION_ENGINE is {engine} but {problem}: every request that "
            "uses the session fails.",
            hint,
        )
    ]


def _cache_store_messages() -> list[checks.CheckMessage]:
    from django.core.cache import caches

    from sessionkit.backends.raw_cache import raw_cache

    alias = settings.SESSION_CACHE_ALIAS
    try:
        raw_cache(caches[alias])
    except Exception as exc:  # UnsafeCache, or a cache that cannot even be built
        return [
            message(
                "E015",
                f"SESSION_CACHE_ALIAS {alias!r} cannot hold sessions: {exc}.",
                "Point SESSION_CACHE_ALIAS at a django-redis cache, Django's RedisCache, a "
                "PyMemcacheCache with OPTIONS {'serde': "
                "sessionkit.backends.memcached_serde.BytesSerde()}, or (one process) "
                "LocMemCache; or use SESSION_ENGINE 'sessionkit.backends.db' or '.redis'.",
            )
        ]
    return []


def check_deploy(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """``check --deploy``: values that are fine in development but unsafe in production."""
    conf = get_settings()
    messages: list[checks.CheckMessage] = []
    if conf.cookie.secure is False:
        messages.append(
            message(
                "W010",
                "The session cookie is not Secure: it is sent over plain HTTP and can be stolen.",
                "Set SESSIONKIT['COOKIE']['SECURE'] = True (or 'auto' behind a proxy).",
            )
        )
    if not conf.cookie.httponly:
        messages.append(
            message(
                "W011",
                "The session cookie is not HttpOnly: any script on the page can read it.",
                "Set SESSIONKIT['COOKIE']['HTTPONLY'] = True.",
            )
        )
    if conf.cookie.samesite in (False, None):
        messages.append(
            message(
                "W012",
                "The session cookie has no SameSite attribute.",
                "Set SESSIONKIT['COOKIE']['SAMESITE'] = 'Lax'.",
            )
        )
    # Counted in characters: explicit keys are the secrets encoded as UTF-8.
    if conf.secret_is_explicit and any(
        len(k.decode("utf-8", "replace")) < MIN_SECRET_LENGTH for k in conf.keys
    ):
        messages.append(
            message(
                "W013",
                f"SESSIONKIT['SECRET'] has a secret shorter than {MIN_SECRET_LENGTH} "
                "characters, which can be guessed.",
                "Use a long random string, e.g. from secrets.token_urlsafe(48).",
            )
        )
    if conf.proxy is True and not conf.cookie.secure:
        messages.append(
            message(
                "W014",
                "SESSIONKIT['PROXY'] trusts X-Forwarded-Proto but the cookie is never Secure.",
                "Set SESSIONKIT['COOKIE']['SECURE'] = 'auto'.",
            )
        )
    if conf.cookie.secure in (True, "auto") and not _https_is_recognised(conf):
        if conf.cookie.secure is True:
            effect = "the Secure session cookie is never sent and no one stays logged in"
        else:
            effect = "the 'auto' session cookie is sent without the Secure attribute"
        messages.append(
            message(
                "W015",
                f"The session cookie's SECURE is {conf.cookie.secure!r}, but neither "
                "SESSIONKIT['PROXY'] = True, SECURE_PROXY_SSL_HEADER nor SECURE_SSL_REDIRECT "
                "is set. Behind a TLS-terminating proxy (nginx, a load balancer) every "
                f"request then looks like plain HTTP, and {effect}.",
                PROXY_HINT + " If the app itself serves HTTPS, set SECURE_SSL_REDIRECT = True.",
            )
        )
    return messages


PROXY_HINT = (
    "Behind a TLS-terminating proxy that sets X-Forwarded-Proto, set "
    "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https') or "
    "SESSIONKIT['PROXY'] = True."
)


def _https_is_recognised(conf: SessionKitSettings) -> bool:
    return bool(conf.proxy or settings.SECURE_PROXY_SSL_HEADER or settings.SECURE_SSL_REDIRECT)


# -- at request time ---------------------------------------------------------------------------

_withheld_lock = threading.Lock()
_withheld_logged = threading.Event()


def warn_secure_cookie_withheld(request: HttpRequest, conf: SessionKitSettings) -> None:
    """Log, once per process, that a Secure session cookie was not sent on a plain-HTTP
    request (express-session's rule), why, and what to set: the runtime twin of W015.

    The middleware calls it each time it withholds the cookie; only the first call logs.
    """
    if _withheld_logged.is_set():
        return
    with _withheld_lock:
        if _withheld_logged.is_set():
            return
        _withheld_logged.set()
    forwarded = str(request.META.get("HTTP_X_FORWARDED_PROTO", ""))
    if forwarded:
        seen = f"X-Forwarded-Proto: {forwarded!r} was sent but is not trusted"
    else:
        seen = "no X-Forwarded-Proto header"
    logger.warning(
        "sessionkit did not send the session cookie: it is Secure (SESSIONKIT['COOKIE']"
        "['SECURE'] or SESSION_COOKIE_SECURE is True) and this request to %s is plain HTTP "
        "(%s; PROXY=%r, SECURE_PROXY_SSL_HEADER=%r). The session was saved, but the browser "
        "will not come back with it, so logins will not last. %s For development over "
        "plain HTTP, set SESSIONKIT['COOKIE']['SECURE'] = 'auto'. (Logged once per process.)",
        request.META.get("HTTP_HOST") or request.META.get("SERVER_NAME", "?"),
        seen,
        conf.proxy,
        settings.SECURE_PROXY_SSL_HEADER,
        PROXY_HINT,
    )
