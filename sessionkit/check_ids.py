"""Every system check id sessionkit reports, in one table.

Each id names exactly one condition, so ``SILENCED_SYSTEM_CHECKS`` can silence it alone.
The parser in :mod:`sessionkit.conf` and the checks in :mod:`sessionkit.checks` take an id's
level from here; the README's table lists the same ids. An id whose meaning changes gets a
new number: a retired id is never reused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from django.core import checks

#: Prefix of every id, as Django shows it (``sessionkit.E001``).
NAMESPACE: Final = "sessionkit"


@dataclass(frozen=True)
class CheckId:
    """One check: its level, whether only ``check --deploy`` runs it, and what it means."""

    level: int
    meaning: str
    deploy: bool = False


def _error(meaning: str) -> CheckId:
    return CheckId(checks.ERROR, meaning)


def _warning(meaning: str, *, deploy: bool = False) -> CheckId:
    return CheckId(checks.WARNING, meaning, deploy)


CHECK_IDS: Final[Mapping[str, CheckId]] = {
    "E001": _error("SESSIONKIT is not a dict, or has an unknown key"),
    "E003": _error("SECRET is empty, not a string / list of strings, or not UTF-8"),
    "E004": _error("COOKIE['SAMESITE'] is not one of Django's spellings"),
    "E005": _error("SAMESITE='None' without a Secure cookie"),
    "E006": _error(
        "the cookie name is not an RFC 6265 token, or its path or domain contains "
        "; , = spaces, control or non-ASCII chars"
    ),
    "E007": _error("GENID cannot be imported, is not callable or cannot take the request"),
    "E008": _error(
        "MAX_AGE, ABSOLUTE_TIMEOUT or SESSION_COOKIE_AGE is not a positive int up to 50 years"
    ),
    "E009": _error("COOKIE is not a dict, or has an unknown key"),
    "E010": _error("SESSIONKIT_REDIS is malformed (Redis store)"),
    "E011": _error("the Redis store without django-redis / redis-py installed"),
    "E012": _error("RESAVE, SAVE_UNINITIALIZED or ROLLING is not a bool"),
    "E013": _error("PROXY is not True, False or None"),
    "E014": _error("COOKIE['SECURE'] is not a bool or 'auto', or COOKIE['HTTPONLY'] not a bool"),
    "E015": _error("the cache store on a cache it cannot read without unpickling"),
    "E016": _error("a __Host- cookie name without SECURE=True, PATH='/' and no DOMAIN"),
    "E017": _error("a __Secure- cookie name without SECURE=True"),
    "E018": _error("both Django's and sessionkit's SessionMiddleware in MIDDLEWARE"),
    "E019": _error("sessionkit's middleware after a middleware that reads request.session"),
    "E020": _error("Django's SessionMiddleware alone over a sessionkit engine (unsigned cookies)"),
    "E021": _error("SESSION_ENGINE cannot be imported or has no SessionStore"),
    "E022": _error(
        "a django.contrib.sessions db engine without django.contrib.sessions installed"
    ),
    "E023": _error("the Redis store on a SESSION_CACHE_ALIAS that is not a django-redis cache"),
    "E024": _error(
        "ADOPT_FROM cannot be imported, is not one of Django's engines (db, cached_db, "
        "cache, file, signed_cookies) nor connect_redis, or is db / cached_db without "
        "django.contrib.sessions"
    ),
    "E025": _error("TRACK_CLIENT or END_OTHERS_ON_PASSWORD_CHANGE is not a bool"),
    "E026": _error("NUM_PROXIES is not None or an int >= 0"),
    "E027": _error("SECRET_KEY_FALLBACKS is not a list or tuple"),
    "E030": _error(
        "the app of AUTH_USER_MODEL is not installed (sessionkit's table refers to the user)"
    ),
    "E031": _error("the db store's sessions and AUTH_USER_MODEL routed to different databases"),
    "E040": _error(
        "ExpressLoginMiddleware without ExpressUserBackend in AUTHENTICATION_BACKENDS, or "
        "before AuthenticationMiddleware"
    ),
    "E050": _error("sessionkit.urls is included but SESSION_ENGINE keeps no per-user index"),
    "E051": _error("sessionkit.urls is included but no template engine finds its templates"),
    "W001": _warning("ABSOLUTE_TIMEOUT with a Django engine, which ignores it"),
    # Narrowed, not changed: the case where Django's middleware serves a sessionkit engine
    # is reported as the error E020 instead (W003 alone would under-state it).
    "W003": _warning("sessionkit is installed without its middleware"),
    "W040": _warning(
        "the connect_redis store without an explicit SECRET: the Express app cannot verify "
        "the cookie"
    ),
    "W041": _warning("ABSOLUTE_TIMEOUT with the connect_redis store, which ignores it"),
    "W010": _warning("the cookie is not Secure", deploy=True),
    "W011": _warning("the cookie is not HttpOnly", deploy=True),
    "W012": _warning("the cookie has no SameSite attribute", deploy=True),
    "W013": _warning("a SECRET shorter than 32 characters", deploy=True),
    "W014": _warning("PROXY trusts X-Forwarded-Proto but the cookie is never Secure", deploy=True),
    "W015": _warning(
        "a Secure (or 'auto') cookie with nothing telling Django that a proxy's request was "
        "HTTPS: no PROXY=True, SECURE_PROXY_SSL_HEADER or SECURE_SSL_REDIRECT",
        deploy=True,
    ),
    "W025": _warning("NUM_PROXIES without PROXY=True, which ignores it"),
}

#: Ids used before the first release and never to be reused with another meaning.
RETIRED: Final[Mapping[str, str]] = {
    "E002": "any wrong type; split per setting family into E012, E013 and E014",
    "W002": "a short SECRET on every check; reported by check --deploy only, as W013",
}

_CLASSES: Final[Mapping[int, type[checks.Error] | type[checks.Warning]]] = {
    checks.ERROR: checks.Error,
    checks.WARNING: checks.Warning,
}


def message(id: str, msg: str, hint: str) -> checks.CheckMessage:
    """The system check message ``sessionkit.<id>``, at the level the table gives it."""
    return _CLASSES[CHECK_IDS[id].level](msg, hint=hint, id=f"{NAMESPACE}.{id}")
