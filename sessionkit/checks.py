"""System checks: every bad ``SESSIONKIT`` value becomes ``sessionkit.E00x`` / ``W00x``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core import checks

from sessionkit.conf import MIN_SECRET_LENGTH, get_settings, parse, parse_redis

_LEVELS = {"error": checks.Error, "warning": checks.Warning}


@checks.register(checks.Tags.security, "sessions")
def check_settings(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Report every problem the settings parser found."""
    conf = parse(getattr(settings, "SESSIONKIT", None))
    messages: list[checks.CheckMessage] = [
        _LEVELS[p.level](p.msg, hint=p.hint, id=f"sessionkit.{p.id}") for p in conf.problems
    ]
    engine = settings.SESSION_ENGINE
    if conf.absolute_timeout and not engine.startswith("sessionkit."):
        messages.append(
            checks.Warning(
                f"SESSIONKIT['ABSOLUTE_TIMEOUT'] is ignored by SESSION_ENGINE {engine!r}.",
                hint="Use a sessionkit engine (sessionkit.backends.db, .redis, .cache, .memory).",
                id="sessionkit.W001",
            )
        )
    if engine == "sessionkit.backends.redis":
        messages += _redis_store_messages()
    if "sessionkit.middleware.SessionMiddleware" not in settings.MIDDLEWARE:
        messages.append(
            checks.Warning(
                "sessionkit is installed but its middleware is not in MIDDLEWARE.",
                hint="Replace django.contrib.sessions.middleware.SessionMiddleware with "
                "sessionkit.middleware.SessionMiddleware.",
                id="sessionkit.W003",
            )
        )
    return messages


def _redis_store_messages() -> list[checks.CheckMessage]:
    conf = parse_redis(getattr(settings, "SESSIONKIT_REDIS", None))
    messages: list[checks.CheckMessage] = [
        _LEVELS[p.level](p.msg, hint=p.hint, id=f"sessionkit.{p.id}") for p in conf.problems
    ]
    try:
        import sessionkit.backends.redis  # noqa: F401
    except ImportError as exc:
        messages.append(
            checks.Error(
                f"SESSION_ENGINE is sessionkit.backends.redis but {exc.name} is not installed.",
                hint='pip install "sessionkit[redis]"',
                id="sessionkit.E011",
            )
        )
    return messages


@checks.register(checks.Tags.security, deploy=True)
def check_deploy(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """``check --deploy``: values that are fine in development but unsafe in production."""
    conf = get_settings()
    messages: list[checks.CheckMessage] = []
    if conf.cookie.secure is False:
        messages.append(
            checks.Warning(
                "The session cookie is not Secure: it is sent over plain HTTP and can be stolen.",
                hint="Set SESSIONKIT['COOKIE']['SECURE'] = True (or 'auto' behind a proxy).",
                id="sessionkit.W010",
            )
        )
    if not conf.cookie.httponly:
        messages.append(
            checks.Warning(
                "The session cookie is not HttpOnly: any script on the page can read it.",
                hint="Set SESSIONKIT['COOKIE']['HTTPONLY'] = True.",
                id="sessionkit.W011",
            )
        )
    if conf.cookie.samesite in (False, None):
        messages.append(
            checks.Warning(
                "The session cookie has no SameSite attribute.",
                hint="Set SESSIONKIT['COOKIE']['SAMESITE'] = 'Lax'.",
                id="sessionkit.W012",
            )
        )
    # Counted in characters, as W002 counts them (the keys are the secrets as UTF-8).
    if conf.secret_is_explicit and any(
        len(k.decode("utf-8", "replace")) < MIN_SECRET_LENGTH for k in conf.keys
    ):
        messages.append(
            checks.Warning(
                "SESSIONKIT['SECRET'] is too short for production.",
                hint="Use secrets.token_urlsafe(48).",
                id="sessionkit.W013",
            )
        )
    if conf.proxy is True and not conf.cookie.secure:
        messages.append(
            checks.Warning(
                "SESSIONKIT['PROXY'] trusts X-Forwarded-Proto but the cookie is never Secure.",
                hint="Set SESSIONKIT['COOKIE']['SECURE'] = 'auto'.",
                id="sessionkit.W014",
            )
        )
    return messages
