"""System checks: every bad ``SESSIONKIT`` value becomes ``sessionkit.E0xx`` / ``W0xx``.

The ids, their levels and meanings are the table in :mod:`sessionkit.check_ids`. The two
check functions are registered by :meth:`sessionkit.apps.SessionKitConfig.ready`, not at
import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core import checks

from sessionkit.check_ids import message
from sessionkit.conf import get_settings, parse, parse_redis

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
    if engine == "sessionkit.backends.redis":
        messages += _redis_store_messages()
    if engine == "sessionkit.backends.cache":
        messages += _cache_store_messages()
    if "sessionkit.middleware.SessionMiddleware" not in settings.MIDDLEWARE:
        messages.append(
            message(
                "W003",
                "sessionkit is installed but its middleware is not in MIDDLEWARE.",
                "Replace django.contrib.sessions.middleware.SessionMiddleware with "
                "sessionkit.middleware.SessionMiddleware.",
            )
        )
    return messages


def _redis_store_messages() -> list[checks.CheckMessage]:
    conf = parse_redis(getattr(settings, "SESSIONKIT_REDIS", None))
    messages = [message(p.id, p.msg, p.hint) for p in conf.problems]
    try:
        import sessionkit.backends.redis  # noqa: F401
    except ImportError as exc:
        messages.append(
            message(
                "E011",
                f"SESSION_ENGINE is sessionkit.backends.redis but {exc.name} is not installed.",
                'pip install "django-sessionkit[redis]"',
            )
        )
    return messages


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
    return messages
