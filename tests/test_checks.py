"""System checks: a bad ``SESSIONKIT`` value is a ``sessionkit.E0xx``/``W0xx`` message.

CONTRACT section 2. Run through Django's own ``run_checks()`` (what ``manage.py check``
does) and ``call_command("check", "--deploy")``, never by poking at the parser. The ids
come from one table (``sessionkit.check_ids``): every id in it is triggered here and can be
silenced alone, and no id outside it is used anywhere.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
from http.cookies import CookieError
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core import checks
from django.core.checks import run_checks
from django.core.checks.registry import registry
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from hypothesis import example, given
from hypothesis import strategies as st

import sessionkit.checks
from sessionkit.backends.db import SessionStore
from sessionkit.backends.memcached_serde import BytesSerde
from sessionkit.check_ids import CHECK_IDS, RETIRED
from sessionkit.checks import check_deploy, check_settings, warn_secure_cookie_withheld
from sessionkit.conf import Problem, parse
from sessionkit.lifetime import MAX_LIFETIME
from sessionkit.middleware import SessionMiddleware as SessionKitMiddleware
from tests.test_conf import sessionkit_dicts

GOOD_SECRET = "a-long-explicit-secret-for-the-tests-0123456789"
BAD_TOKEN_CHARS = [";", ",", "=", "\r", "\n", " ", "\t"]

# Settings a careful production deployment would use: no message at all, deploy included.
SECURE_SESSIONKIT = {
    "SECRET": [GOOD_SECRET, "an-older-secret-still-verifying-0123456789"],
    "NAME": "connect.sid",
    "RESAVE": False,
    "SAVE_UNINITIALIZED": False,
    "ROLLING": True,
    "PROXY": True,
    "GENID": "tests.test_conf.custom_genid",
    "ABSOLUTE_TIMEOUT": 86400,
    "COOKIE": {
        "MAX_AGE": 3600,
        "SECURE": "auto",
        "HTTPONLY": True,
        "SAMESITE": "Strict",
        "DOMAIN": "example.com",
        "PATH": "/",
    },
}


def sessionkit_messages(*, deploy: bool = False, **overrides: Any) -> list[checks.CheckMessage]:
    """sessionkit's messages from a full ``manage.py check`` under ``overrides``, without
    those ``SILENCED_SYSTEM_CHECKS`` hides (as the ``check`` command leaves them out)."""
    with override_settings(**overrides):
        messages = run_checks(include_deployment_checks=deploy)
        visible = [m for m in messages if not m.is_silenced()]
    return [m for m in visible if (m.id or "").startswith("sessionkit.")]


def ids(messages: list[checks.CheckMessage]) -> list[str]:
    return sorted(m.id or "" for m in messages)


def assert_reported(messages: list[checks.CheckMessage], check_id: str) -> None:
    """Exactly one message, with this id, the right level and a hint."""
    assert ids(messages) == [check_id], [m.msg for m in messages]
    (message,) = messages
    expected_level = checks.ERROR if check_id.split(".")[1].startswith("E") else checks.WARNING
    assert message.level == expected_level
    assert message.hint
    assert message.msg


# --- valid settings ---------------------------------------------------------------------------


def test_test_settings_give_no_sessionkit_messages() -> None:
    assert sessionkit_messages() == []


def test_valid_explicit_settings_give_no_sessionkit_messages() -> None:
    assert sessionkit_messages(SESSIONKIT=SECURE_SESSIONKIT) == []


def test_secure_settings_give_no_sessionkit_deploy_warnings() -> None:
    assert sessionkit_messages(deploy=True, SESSIONKIT=SECURE_SESSIONKIT) == []


@pytest.mark.parametrize(
    "sessionkit",
    [
        {},
        None,
        {"SECRET": GOOD_SECRET},
        {"COOKIE": {}},
        {"COOKIE": None},
        {"COOKIE": {"MAX_AGE": None}},
        {"COOKIE": {"SAMESITE": False}},
        {"COOKIE": {"SAMESITE": "None", "SECURE": True}},
        {"COOKIE": {"SAMESITE": "None", "SECURE": "auto"}},
        {"PROXY": False},
        {"PROXY": None},
        {"GENID": None},
        {"ABSOLUTE_TIMEOUT": None},
        {"ABSOLUTE_TIMEOUT": 1},
    ],
)
def test_valid_values_give_no_sessionkit_messages(sessionkit: object) -> None:
    assert sessionkit_messages(SESSIONKIT=sessionkit) == []


# --- each bad value and its id ---------------------------------------------------------------


@pytest.mark.parametrize("sessionkit", ["SECRET=abc", ["SECRET"], 42, True])
def test_sessionkit_not_a_dict_is_e001(sessionkit: object) -> None:
    assert_reported(sessionkit_messages(SESSIONKIT=sessionkit), "sessionkit.E001")


@pytest.mark.parametrize("key", ["SECERT", "secret", "MAX_AGE", "COOKIE_SECURE", 7])
def test_unknown_key_is_e001_naming_the_key(key: object) -> None:
    messages = sessionkit_messages(SESSIONKIT={key: True})
    assert_reported(messages, "sessionkit.E001")
    assert repr(key) in messages[0].msg


@pytest.mark.parametrize(
    "sessionkit",
    [
        {"RESAVE": "yes"},
        {"RESAVE": 1},
        {"SAVE_UNINITIALIZED": "False"},
        {"SAVE_UNINITIALIZED": None},
        {"ROLLING": "true"},
    ],
)
def test_top_level_flag_that_is_not_a_bool_is_e012(sessionkit: dict[str, Any]) -> None:
    assert_reported(sessionkit_messages(SESSIONKIT=sessionkit), "sessionkit.E012")


@pytest.mark.parametrize("proxy", ["yes", 1, 0, "True"])
def test_proxy_that_is_not_a_bool_or_none_is_e013(proxy: object) -> None:
    assert_reported(sessionkit_messages(SESSIONKIT={"PROXY": proxy}), "sessionkit.E013")


@pytest.mark.parametrize(
    "cookie",
    [
        {"SECURE": "yes"},
        {"SECURE": "Auto"},
        {"SECURE": None},
        {"HTTPONLY": "true"},
        {"HTTPONLY": None},
    ],
)
def test_cookie_secure_or_httponly_of_the_wrong_type_is_e014(cookie: dict[str, Any]) -> None:
    assert_reported(sessionkit_messages(SESSIONKIT={"COOKIE": cookie}), "sessionkit.E014")


def test_each_wrong_type_family_can_be_silenced_alone() -> None:
    bad = {"RESAVE": "yes", "PROXY": "yes", "COOKIE": {"HTTPONLY": "no"}}
    family = ["sessionkit.E012", "sessionkit.E013", "sessionkit.E014"]
    assert ids(sessionkit_messages(SESSIONKIT=bad)) == family
    for silenced in family:
        messages = sessionkit_messages(SESSIONKIT=bad, SILENCED_SYSTEM_CHECKS=[silenced])
        assert ids(messages) == [i for i in family if i != silenced]


@pytest.mark.parametrize(
    "secret",
    ["", [], [""], ["", ""], [GOOD_SECRET, ""], 42, None, {"key": GOOD_SECRET}, [GOOD_SECRET, 3]],
)
def test_empty_or_malformed_secret_is_e003(secret: object) -> None:
    assert_reported(sessionkit_messages(SESSIONKIT={"SECRET": secret}), "sessionkit.E003")


@pytest.mark.parametrize("fallbacks", [None, 42, "a-single-old-secret-key-0123456789"])
def test_secret_key_fallbacks_not_a_list_is_e027(fallbacks: object) -> None:
    messages = sessionkit_messages(SECRET_KEY_FALLBACKS=fallbacks)
    assert_reported(messages, "sessionkit.E027")


@pytest.mark.parametrize("secret", ["keyboard cat", "x", [GOOD_SECRET, "short-old-secret"]])
def test_short_secret_is_reported_by_check_deploy_only(secret: object) -> None:
    # Like Django's own security.W009 for SECRET_KEY: a development secret is fine.
    assert sessionkit_messages(SESSIONKIT={"SECRET": secret}) == []
    assert_reported(deploy_only(SECRET=secret), "sessionkit.W013")


@pytest.mark.parametrize("samesite", ["lax", "strict", "none", "Nonee", "", True, 0, 1, ["Lax"]])
def test_unknown_samesite_is_e004(samesite: object) -> None:
    messages = sessionkit_messages(SESSIONKIT={"COOKIE": {"SAMESITE": samesite}})
    assert_reported(messages, "sessionkit.E004")


def test_samesite_none_without_secure_is_e005() -> None:
    messages = sessionkit_messages(SESSIONKIT={"COOKIE": {"SAMESITE": "None"}})
    assert_reported(messages, "sessionkit.E005")
    messages = sessionkit_messages(SESSIONKIT={"COOKIE": {"SAMESITE": "None", "SECURE": False}})
    assert_reported(messages, "sessionkit.E005")


def test_samesite_none_from_django_settings_without_secure_is_e005() -> None:
    messages = sessionkit_messages(SESSION_COOKIE_SAMESITE="None", SESSION_COOKIE_SECURE=False)
    assert_reported(messages, "sessionkit.E005")


@pytest.mark.parametrize("char", BAD_TOKEN_CHARS)
def test_cookie_name_with_a_separator_or_space_is_e006(char: str) -> None:
    messages = sessionkit_messages(SESSIONKIT={"NAME": f"sess{char}id"})
    assert_reported(messages, "sessionkit.E006")


@pytest.mark.parametrize("char", [*'()<>@:\\"/[]?{}', "\x7f", "ö", "\u2028"])
def test_cookie_name_outside_rfc_6265_tokens_is_e006(char: str) -> None:
    messages = sessionkit_messages(SESSIONKIT={"NAME": f"sess{char}id"})
    assert_reported(messages, "sessionkit.E006")


@pytest.mark.parametrize(
    "sessionkit",
    [
        {"NAME": "__Host-sid"},
        {"NAME": "__Host-sid", "COOKIE": {"SECURE": "auto"}},
        {"NAME": "__Host-sid", "COOKIE": {"SECURE": True, "PATH": "/app"}},
        {"NAME": "__host-sid", "COOKIE": {"SECURE": True, "DOMAIN": "example.com"}},
    ],
)
def test_host_prefixed_name_without_secure_root_path_and_no_domain_is_e016(
    sessionkit: dict[str, Any],
) -> None:
    assert_reported(sessionkit_messages(SESSIONKIT=sessionkit), "sessionkit.E016")


def test_host_prefixed_name_from_django_settings_is_checked_too() -> None:
    messages = sessionkit_messages(SESSION_COOKIE_NAME="__Host-sessionid")
    assert_reported(messages, "sessionkit.E016")
    fine = sessionkit_messages(SESSION_COOKIE_NAME="__Host-sessionid", SESSION_COOKIE_SECURE=True)
    assert fine == []


@pytest.mark.parametrize("secure", [False, "auto"])
def test_secure_prefixed_name_without_secure_true_is_e017(secure: object) -> None:
    sessionkit = {"NAME": "__Secure-sid", "COOKIE": {"SECURE": secure}}
    assert_reported(sessionkit_messages(SESSIONKIT=sessionkit), "sessionkit.E017")


@pytest.mark.parametrize("char", BAD_TOKEN_CHARS)
def test_cookie_path_with_a_separator_or_space_is_e006(char: str) -> None:
    messages = sessionkit_messages(SESSIONKIT={"COOKIE": {"PATH": f"/app{char}x"}})
    assert_reported(messages, "sessionkit.E006")


@pytest.mark.parametrize("char", BAD_TOKEN_CHARS)
def test_cookie_domain_with_a_separator_or_space_is_e006(char: str) -> None:
    messages = sessionkit_messages(SESSIONKIT={"COOKIE": {"DOMAIN": f"example{char}.com"}})
    assert_reported(messages, "sessionkit.E006")


@pytest.mark.parametrize(
    "cookie", [{"PATH": "/caf\u00e9"}, {"PATH": "/\u2028"}, {"DOMAIN": "ex\u00e4mple.com"}]
)
def test_cookie_path_or_domain_with_non_ascii_characters_is_e006(cookie: dict[str, str]) -> None:
    messages = sessionkit_messages(SESSIONKIT={"COOKIE": cookie})
    assert_reported(messages, "sessionkit.E006")


@pytest.mark.parametrize(
    "sessionkit",
    [{"NAME": ""}, {"NAME": 5}, {"COOKIE": {"PATH": ""}}, {"COOKIE": {"DOMAIN": 5}}],
)
def test_empty_or_non_string_name_path_or_domain_is_e006(sessionkit: dict[str, Any]) -> None:
    assert_reported(sessionkit_messages(SESSIONKIT=sessionkit), "sessionkit.E006")


def test_bad_django_session_cookie_name_is_reported_too() -> None:
    messages = sessionkit_messages(SESSION_COOKIE_NAME="session id")
    assert_reported(messages, "sessionkit.E006")


@pytest.mark.parametrize(
    "genid",
    [
        "no.such.module.genid",
        "tests.test_conf.no_such_function",
        "tests.test_conf.NOT_CALLABLE",
        "genid",  # not a dotted path
        "",
        42,
        "uuid.uuid4",  # takes no argument: cannot be called with the request
        "tests.test_conf.two_argument_genid",
    ],
)
def test_bad_genid_is_e007(genid: object) -> None:
    assert_reported(sessionkit_messages(SESSIONKIT={"GENID": genid}), "sessionkit.E007")


@pytest.mark.parametrize(
    "genid",
    ["tests.test_conf.custom_genid", "secrets.token_urlsafe", "tests.test_conf.UNINSPECTABLE"],
)
def test_genid_that_can_take_the_request_or_cannot_be_inspected_is_accepted(
    genid: str,
) -> None:
    assert sessionkit_messages(SESSIONKIT={"GENID": genid}) == []


@pytest.mark.parametrize("seconds", [0, -1, 1.5, "3600", True, [3600], 10**12, MAX_LIFETIME + 1])
def test_bad_max_age_is_e008(seconds: object) -> None:
    messages = sessionkit_messages(SESSIONKIT={"COOKIE": {"MAX_AGE": seconds}})
    assert_reported(messages, "sessionkit.E008")


@pytest.mark.parametrize("seconds", [0, -1, 1.5, "3600", False, 10**12, MAX_LIFETIME + 1])
def test_bad_absolute_timeout_is_e008(seconds: object) -> None:
    messages = sessionkit_messages(SESSIONKIT={"ABSOLUTE_TIMEOUT": seconds})
    assert_reported(messages, "sessionkit.E008")


@pytest.mark.parametrize("age", [0, -1, "1209600", 10**12, MAX_LIFETIME + 1])
def test_bad_session_cookie_age_is_reported_once_as_e008(age: object) -> None:
    assert_reported(sessionkit_messages(SESSION_COOKIE_AGE=age), "sessionkit.E008")


def test_lifetimes_of_50_years_are_accepted() -> None:
    sessionkit = {"ABSOLUTE_TIMEOUT": MAX_LIFETIME, "COOKIE": {"MAX_AGE": MAX_LIFETIME}}
    assert sessionkit_messages(SESSIONKIT=sessionkit, SESSION_COOKIE_AGE=MAX_LIFETIME) == []


@pytest.mark.parametrize("cookie", ["Secure; HttpOnly", ["MAX_AGE"], 3600, True])
def test_cookie_not_a_dict_is_e009(cookie: object) -> None:
    assert_reported(sessionkit_messages(SESSIONKIT={"COOKIE": cookie}), "sessionkit.E009")


@pytest.mark.parametrize("key", ["MAXAGE", "max_age", "EXPIRES", "NAME", 1])
def test_unknown_cookie_key_is_e009_naming_the_key(key: object) -> None:
    messages = sessionkit_messages(SESSIONKIT={"COOKIE": {key: 1}})
    assert_reported(messages, "sessionkit.E009")
    assert repr(key) in messages[0].msg


def test_every_bad_value_is_reported_at_once() -> None:
    messages = sessionkit_messages(
        SESSIONKIT={
            "TYPO": 1,
            "RESAVE": "no",
            "SECRET": "",
            "GENID": "nope",
            "ABSOLUTE_TIMEOUT": -5,
            "COOKIE": {"SAMESITE": "lax", "PATH": "/a b", "EXTRA": 1},
        }
    )
    assert ids(messages) == [
        "sessionkit.E001",
        "sessionkit.E003",
        "sessionkit.E004",
        "sessionkit.E006",
        "sessionkit.E007",
        "sessionkit.E008",
        "sessionkit.E009",
        "sessionkit.E012",
    ]
    assert all(m.hint for m in messages)


# --- engine and middleware ------------------------------------------------------------------


def test_absolute_timeout_with_a_django_engine_is_w001() -> None:
    messages = sessionkit_messages(
        SESSION_ENGINE="django.contrib.sessions.backends.db",
        SESSIONKIT={"ABSOLUTE_TIMEOUT": 3600},
    )
    assert_reported(messages, "sessionkit.W001")


@pytest.mark.parametrize(
    "engine",
    [
        "sessionkit.backends.db",
        "sessionkit.backends.cache",
        "sessionkit.backends.memory",
    ],
)
def test_absolute_timeout_with_a_sessionkit_engine_is_fine(engine: str) -> None:
    assert sessionkit_messages(SESSION_ENGINE=engine, SESSIONKIT={"ABSOLUTE_TIMEOUT": 3600}) == []


def test_django_engine_without_absolute_timeout_is_fine() -> None:
    assert sessionkit_messages(SESSION_ENGINE="django.contrib.sessions.backends.db") == []


def test_missing_middleware_is_w003() -> None:
    middleware = [m for m in settings.MIDDLEWARE if m != SESSIONKIT_MW]
    assert_reported(sessionkit_messages(MIDDLEWARE=middleware), "sessionkit.W003")


# --- the middleware list ----------------------------------------------------------------------

SESSIONKIT_MW = "sessionkit.middleware.SessionMiddleware"
DJANGO_MW = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH_MW = "django.contrib.auth.middleware.AuthenticationMiddleware"
MESSAGES_MW = "django.contrib.messages.middleware.MessageMiddleware"
CSRF_MW = "django.middleware.csrf.CsrfViewMiddleware"
REMOTE_USER_MW = "django.contrib.auth.middleware.RemoteUserMiddleware"
SESSION_STORAGE = "django.contrib.messages.storage.session.SessionStorage"


class ProjectSessionMiddleware(DjangoSessionMiddleware):
    """A project's own subclass of Django's middleware (what the admin's E410 accepts)."""


class ProjectKitMiddleware(SessionKitMiddleware):
    """A project's own subclass of sessionkit's middleware."""


def with_django_middleware(*, keep_ours: bool) -> list[str]:
    """The test settings' MIDDLEWARE with Django's SessionMiddleware first."""
    rest = [m for m in settings.MIDDLEWARE if keep_ours or m != SESSIONKIT_MW]
    return [DJANGO_MW, *rest]


@pytest.mark.parametrize(
    "middleware",
    [
        [DJANGO_MW, SESSIONKIT_MW, AUTH_MW],
        [SESSIONKIT_MW, DJANGO_MW, AUTH_MW],
        ["tests.test_checks.ProjectSessionMiddleware", SESSIONKIT_MW, AUTH_MW],
        [DJANGO_MW, "tests.test_checks.ProjectKitMiddleware", AUTH_MW],
    ],
)
def test_both_session_middlewares_is_e018(middleware: list[str]) -> None:
    messages = sessionkit_messages(MIDDLEWARE=middleware)
    assert_reported(messages, "sessionkit.E018")
    djangos = next(m for m in middleware if "Project" in m or m == DJANGO_MW)
    if "ProjectKit" not in " ".join(middleware):
        assert f"Remove {djangos!r}" in (messages[0].hint or "")


def test_the_test_settings_with_djangos_middleware_added_are_e018() -> None:
    middleware = with_django_middleware(keep_ours=True)
    assert_reported(sessionkit_messages(MIDDLEWARE=middleware), "sessionkit.E018")


@pytest.mark.parametrize(
    ("reader", "extra"),
    [
        (AUTH_MW, {}),
        (REMOTE_USER_MW, {}),
        ("tests.test_checks.ProjectAuthMiddleware", {}),
        (MESSAGES_MW, {}),
        (
            MESSAGES_MW,
            {"MESSAGE_STORAGE": "django.contrib.messages.storage.session.SessionStorage"},
        ),
        (CSRF_MW, {"CSRF_USE_SESSIONS": True}),
    ],
)
def test_sessionkit_middleware_after_one_that_reads_the_session_is_e019(
    reader: str, extra: dict[str, Any]
) -> None:
    middleware = ["django.middleware.common.CommonMiddleware", reader, SESSIONKIT_MW]
    messages = sessionkit_messages(MIDDLEWARE=middleware, **extra)
    assert_reported(messages, "sessionkit.E019")
    assert reader in messages[0].msg
    assert f"Move {SESSIONKIT_MW!r} above {reader!r}" in (messages[0].hint or "")


class ProjectAuthMiddleware(AuthenticationMiddleware):
    """A project's subclass of Django's authentication middleware."""


def test_e019_names_the_first_reader_before_sessionkits_middleware() -> None:
    middleware = [MESSAGES_MW, AUTH_MW, SESSIONKIT_MW]
    (message,) = sessionkit_messages(MIDDLEWARE=middleware)
    assert message.id == "sessionkit.E019"
    assert "Move 'sessionkit.middleware.SessionMiddleware' above " + repr(MESSAGES_MW) in (
        message.hint or ""
    )


@pytest.mark.parametrize(
    ("before", "extra"),
    [
        ("django.middleware.security.SecurityMiddleware", {}),
        ("django.middleware.locale.LocaleMiddleware", {}),  # no longer reads the session
        ("django.middleware.common.CommonMiddleware", {}),
        (CSRF_MW, {}),  # the CSRF secret in a cookie, not the session
        (MESSAGES_MW, {"MESSAGE_STORAGE": "django.contrib.messages.storage.cookie.CookieStorage"}),
        ("no.such.module.Middleware", {}),  # Django itself reports that one at start-up
    ],
)
def test_middleware_that_does_not_read_the_session_may_come_first(
    before: str, extra: dict[str, Any]
) -> None:
    middleware = [before, SESSIONKIT_MW, AUTH_MW, MESSAGES_MW]
    assert sessionkit_messages(MIDDLEWARE=middleware, **extra) == []


def test_djangos_middleware_alone_over_a_sessionkit_engine_is_an_error_e020() -> None:
    middleware = with_django_middleware(keep_ours=False)
    messages = sessionkit_messages(MIDDLEWARE=middleware)
    assert_reported(messages, "sessionkit.E020")
    assert "unsigned" in messages[0].msg
    assert messages[0].hint == (f"Replace {DJANGO_MW!r} with {SESSIONKIT_MW!r} in MIDDLEWARE.")


def test_djangos_middleware_over_a_django_engine_is_only_w003() -> None:
    middleware = with_django_middleware(keep_ours=False)
    messages = sessionkit_messages(
        MIDDLEWARE=middleware, SESSION_ENGINE="django.contrib.sessions.backends.db"
    )
    assert_reported(messages, "sessionkit.W003")


def test_a_subclass_of_sessionkits_middleware_counts_as_sessionkits() -> None:
    middleware = [
        "tests.test_checks.ProjectKitMiddleware" if m == SESSIONKIT_MW else m
        for m in settings.MIDDLEWARE
    ]
    assert sessionkit_messages(MIDDLEWARE=middleware) == []


@pytest.mark.db
@pytest.mark.django_db
def test_e020_is_real_djangos_middleware_writes_the_bare_id() -> None:
    """What E020 prevents: with Django's middleware the cookie is the store's raw id."""
    with override_settings(MIDDLEWARE=with_django_middleware(keep_ours=False)):
        response = Client().get("/write/?x=1")
    value = response.cookies["sessionid"].value
    assert not value.startswith("s%3A")
    assert SessionStore().exists(value)


# --- the engine -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("engine", "suggestion"),
    [
        ("sessionkit.backends.reddis", "sessionkit.backends.redis"),
        ("sessionkit.backend.db", "sessionkit.backends.db"),
        ("django.contrib.session.backends.cache", "django.contrib.sessions.backends.cache"),
        ("myproject.sessions", "sessionkit.backends.db"),
        ("tests.views", "sessionkit.backends.db"),  # importable, but has no SessionStore
    ],
)
def test_engine_that_cannot_be_used_is_e021_naming_an_engine_to_set(
    engine: str, suggestion: str
) -> None:
    messages = sessionkit_messages(SESSION_ENGINE=engine)
    assert_reported(messages, "sessionkit.E021")
    assert repr(engine) in messages[0].msg
    assert (messages[0].hint or "").startswith(f"Set SESSION_ENGINE = {suggestion!r}")


WITHOUT_DJANGO_SESSIONS = [a for a in settings.INSTALLED_APPS if a != "django.contrib.sessions"]
#: The test settings' template engine, finding no app's templates.
WITHOUT_APP_TEMPLATES = [{**settings.TEMPLATES[0], "APP_DIRS": False}]
#: A site that logs nobody in (the admin needs auth, so it goes too).
WITHOUT_AUTH = [
    a for a in settings.INSTALLED_APPS if a not in ("django.contrib.auth", "django.contrib.admin")
]


def without_auth_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave out django.contrib.auth's checks, as on a site without the app (its ready()
    registers them, and this process already ran it)."""
    kept = {c for c in registry.registered_checks if c.__module__ != "django.contrib.auth.checks"}
    monkeypatch.setattr(registry, "registered_checks", kept)


class SessionsElsewhere:
    """A router sending sessionkit's table to a database of its own."""

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return "sessions" if model._meta.app_label == "sessionkit" else None


def test_sessions_routed_away_from_the_users_are_e031_on_the_db_store_only() -> None:
    messages = sessionkit_messages(DATABASE_ROUTERS=[f"{__name__}.SessionsElsewhere"])
    assert_reported(messages, "sessionkit.E031")
    assert "'sessions'" in messages[0].msg and "'default'" in messages[0].msg
    memory = {"SESSION_ENGINE": "sessionkit.backends.memory"}
    assert sessionkit_messages(DATABASE_ROUTERS=[f"{__name__}.SessionsElsewhere"], **memory) == []


def test_a_site_without_the_user_models_app_is_e030(monkeypatch: pytest.MonkeyPatch) -> None:
    without_auth_checks(monkeypatch)
    messages = sessionkit_messages(INSTALLED_APPS=WITHOUT_AUTH)
    assert_reported(messages, "sessionkit.E030")
    assert "'auth.User'" in messages[0].msg
    assert "'django.contrib.auth'" in (messages[0].hint or "")


@pytest.mark.parametrize(
    "engine", ["django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db"]
)
def test_djangos_db_engine_without_its_app_is_e022(engine: str) -> None:
    messages = sessionkit_messages(SESSION_ENGINE=engine, INSTALLED_APPS=WITHOUT_DJANGO_SESSIONS)
    assert_reported(messages, "sessionkit.E022")
    assert "SESSION_ENGINE = 'sessionkit.backends.db'" in (messages[0].hint or "")


@pytest.mark.parametrize(
    "engine",
    [
        "sessionkit.backends.db",
        "django.contrib.sessions.backends.cache",
        "django.contrib.sessions.backends.signed_cookies",
    ],
)
def test_engines_that_need_no_django_sessions_app_are_fine_without_it(engine: str) -> None:
    messages = sessionkit_messages(SESSION_ENGINE=engine, INSTALLED_APPS=WITHOUT_DJANGO_SESSIONS)
    assert messages == []


def redis_client_factory() -> redis.Redis:
    """A ``CLIENT_FACTORY`` for the check (never called by it)."""
    return redis.Redis()


@pytest.mark.parametrize(
    ("alias", "caches"),
    [
        ("default", None),  # the test settings' locmem cache
        ("sessions", {"BACKEND": "django.core.cache.backends.redis.RedisCache"}),
        ("sessions", {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}),
        ("missing", None),
    ],
)
def test_redis_engine_on_a_cache_that_is_not_django_redis_is_e023(
    alias: str, caches: dict[str, Any] | None
) -> None:
    extra = {} if caches is None else {"CACHES": {**settings.CACHES, alias: caches}}
    messages = sessionkit_messages(
        SESSION_ENGINE="sessionkit.backends.redis", SESSION_CACHE_ALIAS=alias, **extra
    )
    assert_reported(messages, "sessionkit.E023")
    assert repr(alias) in messages[0].msg
    assert "django_redis.cache.RedisCache" in (messages[0].hint or "")


@pytest.mark.parametrize(
    "extra",
    [
        {"SESSION_CACHE_ALIAS": "redis"},
        {"SESSIONKIT_REDIS": {"CLIENT_FACTORY": "tests.test_checks.redis_client_factory"}},
    ],
)
def test_redis_engine_on_django_redis_or_a_client_factory_is_fine(extra: dict[str, Any]) -> None:
    assert sessionkit_messages(SESSION_ENGINE="sessionkit.backends.redis", **extra) == []


@pytest.mark.redis
def test_e023_is_real_the_redis_store_on_locmem_cannot_serve_a_request() -> None:
    """What E023 prevents: the store cannot get a connection from a non-django-redis cache."""
    with (
        override_settings(SESSION_ENGINE="sessionkit.backends.redis"),
        pytest.raises(NotImplementedError),
    ):
        Client(raise_request_exception=True).get("/write/?x=1")


# --- deploy checks ------------------------------------------------------------------------


def deploy_only(**sessionkit: Any) -> list[checks.CheckMessage]:
    """Deploy-time sessionkit messages for otherwise secure settings changed by ``sessionkit``."""
    merged = {**SECURE_SESSIONKIT, **sessionkit}
    merged["COOKIE"] = {**SECURE_SESSIONKIT["COOKIE"], **sessionkit.get("COOKIE", {})}
    return sessionkit_messages(deploy=True, SESSIONKIT=merged)


def test_insecure_cookie_is_w010_on_deploy_only() -> None:
    assert_reported(deploy_only(PROXY=None, COOKIE={"SECURE": False}), "sessionkit.W010")
    assert sessionkit_messages(SESSIONKIT={"COOKIE": {"SECURE": False}}) == []


def test_insecure_cookie_from_django_settings_is_w010() -> None:
    messages = sessionkit_messages(deploy=True, SESSION_COOKIE_SECURE=False)
    assert "sessionkit.W010" in ids(messages)
    messages = sessionkit_messages(deploy=True, SESSION_COOKIE_SECURE=True)
    assert "sessionkit.W010" not in ids(messages)


def test_auto_secure_cookie_is_fine_on_deploy() -> None:
    assert deploy_only(COOKIE={"SECURE": "auto"}) == []


def test_cookie_without_httponly_is_w011() -> None:
    assert_reported(deploy_only(COOKIE={"HTTPONLY": False}), "sessionkit.W011")


def test_cookie_without_samesite_is_w012() -> None:
    assert_reported(deploy_only(COOKIE={"SAMESITE": False}), "sessionkit.W012")


def test_samesite_lax_is_fine_on_deploy() -> None:
    assert deploy_only(COOKIE={"SAMESITE": "Lax"}) == []


def test_short_explicit_secret_is_w013_on_deploy() -> None:
    assert_reported(deploy_only(SECRET="keyboard cat"), "sessionkit.W013")


def test_secret_of_32_characters_is_long_enough() -> None:
    assert deploy_only(SECRET="s" * 32) == []
    assert_reported(deploy_only(SECRET="s" * 31), "sessionkit.W013")


def test_derived_secret_is_not_w013() -> None:
    messages = sessionkit_messages(deploy=True, SECRET_KEY="short")
    assert "sessionkit.W013" not in ids(messages)


def test_non_ascii_secret_is_judged_by_characters() -> None:
    # 16 characters, 48 bytes in UTF-8: short; 32 characters: long enough.
    assert_reported(deploy_only(SECRET="\u20ac" * 16), "sessionkit.W013")
    assert deploy_only(SECRET="\u20ac" * 32) == []


def test_trusted_proxy_with_never_secure_cookie_is_w014() -> None:
    messages = deploy_only(PROXY=True, COOKIE={"SECURE": False})
    assert ids(messages) == ["sessionkit.W010", "sessionkit.W014"]
    assert all(m.hint for m in messages)


@pytest.mark.parametrize("secure", [True, "auto"])
def test_secure_cookie_with_nothing_recognising_a_proxys_https_is_w015(secure: object) -> None:
    messages = deploy_only(PROXY=None, COOKIE={"SECURE": secure})
    assert_reported(messages, "sessionkit.W015")
    effect = "is never sent" if secure is True else "sent without the Secure attribute"
    assert effect in messages[0].msg
    assert "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')" in (
        messages[0].hint or ""
    )
    assert sessionkit_messages(SESSIONKIT=secure_with(PROXY=None, COOKIE={"SECURE": secure})) == []


def test_djangos_session_cookie_secure_without_proxy_settings_is_w015() -> None:
    """No SESSIONKIT at all: Django's SESSION_COOKIE_SECURE = True is the cookie's SECURE."""
    messages = sessionkit_messages(deploy=True, SESSION_COOKIE_SECURE=True)
    assert "sessionkit.W015" in ids(messages)


@pytest.mark.parametrize(
    "recognised",
    [
        {"SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")},
        {"SECURE_SSL_REDIRECT": True},
    ],
)
def test_w015_is_quiet_when_django_recognises_https(recognised: dict[str, Any]) -> None:
    messages = sessionkit_messages(
        deploy=True, SESSIONKIT=secure_with(PROXY=None, COOKIE={"SECURE": True}), **recognised
    )
    assert messages == []


def test_w015_is_quiet_with_proxy_true_or_a_cookie_that_is_not_secure() -> None:
    assert deploy_only(PROXY=True, COOKIE={"SECURE": True}) == []
    assert ids(deploy_only(PROXY=None, COOKIE={"SECURE": False})) == ["sessionkit.W010"]


# --- at request time: a Secure cookie withheld on plain HTTP ------------------------------


@pytest.fixture
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a new process: the once-per-process warning not yet logged."""
    monkeypatch.setattr(sessionkit.checks, "_withheld_logged", threading.Event())


def withheld_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "sessionkit" and "did not send the session cookie" in r.getMessage()
    ]


def test_withheld_secure_cookie_is_logged_once_per_process(
    fresh_process: None, caplog: pytest.LogCaptureFixture
) -> None:
    factory = RequestFactory()
    conf = parse({"COOKIE": {"SECURE": True}})
    with caplog.at_level(logging.WARNING, logger="sessionkit"):
        for _ in range(3):
            warn_secure_cookie_withheld(factory.get("/", HTTP_X_FORWARDED_PROTO="https"), conf)
    (record,) = withheld_warnings(caplog)
    assert record.levelno == logging.WARNING
    text = record.getMessage()
    assert "X-Forwarded-Proto: 'https' was sent but is not trusted" in text
    assert "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')" in text
    assert "SESSIONKIT['PROXY'] = True" in text
    assert "SESSIONKIT['COOKIE']['SECURE'] = 'auto'" in text


@pytest.mark.django_db
def test_withheld_secure_cookie_over_http_is_logged_once_through_the_middleware(
    fresh_process: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()
    with (
        override_settings(SESSIONKIT={"COOKIE": {"SECURE": True}}),
        caplog.at_level(logging.WARNING, logger="sessionkit"),
    ):
        first = client.get("/write/?x=1", HTTP_X_FORWARDED_PROTO="https")
        second = client.get("/write/?x=2")
    assert "sessionid" not in first.cookies and "sessionid" not in second.cookies
    (record,) = withheld_warnings(caplog)
    assert "was sent but is not trusted" in record.getMessage()


@pytest.mark.django_db
def test_a_secure_cookie_sent_over_https_logs_nothing(
    fresh_process: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()
    with (
        override_settings(SESSIONKIT={"COOKIE": {"SECURE": True}}),
        caplog.at_level(logging.WARNING, logger="sessionkit"),
    ):
        response = client.get("/write/?x=1", secure=True)
    assert "sessionid" in response.cookies
    assert withheld_warnings(caplog) == []


def test_check_deploy_command_fails_on_insecure_session_cookie() -> None:
    with (
        override_settings(SESSIONKIT={"COOKIE": {"SECURE": False, "HTTPONLY": False}}),
        pytest.raises(SystemCheckError) as excinfo,
    ):
        call_command("check", "--deploy", "--fail-level", "WARNING", stdout=StringIO())
    assert "sessionkit.W010" in str(excinfo.value)
    assert "sessionkit.W011" in str(excinfo.value)


def test_check_command_fails_on_a_bad_value() -> None:
    with (
        override_settings(SESSIONKIT={"COOKIE": {"SAMESITE": "None"}}),
        pytest.raises(SystemCheckError, match=r"sessionkit\.E005"),
    ):
        call_command("check", stdout=StringIO(), stderr=StringIO())


def test_check_command_passes_with_secure_settings() -> None:
    out, err = StringIO(), StringIO()
    with override_settings(SESSIONKIT=SECURE_SESSIONKIT):
        call_command("check", "--deploy", stdout=out, stderr=err)
    assert "sessionkit." not in out.getvalue() + err.getvalue()


# --- direct calls --------------------------------------------------------------------------


def test_check_functions_follow_the_current_settings() -> None:
    with override_settings(SESSIONKIT={"RESAVE": "yes", "COOKIE": {"HTTPONLY": False}}):
        assert ids(check_settings()) == ["sessionkit.E012"]
        assert "sessionkit.W011" in ids(check_deploy())
    assert check_settings() == []
    assert "sessionkit.W011" not in ids(check_deploy())


@given(raw=sessionkit_dicts)
def test_arbitrary_settings_never_make_the_checks_raise(raw: dict[Any, Any]) -> None:
    with override_settings(SESSIONKIT=raw):
        messages = [*check_settings(), *check_deploy()]
    for message in messages:
        assert (message.id or "").startswith("sessionkit.")
        assert message.hint


#: Cookie attributes' names (any case): ``http.cookies`` refuses a cookie called so.
ATTRIBUTE_NAMES = ["Expires", "Path", "Domain", "Max-Age", "Secure", "HttpOnly", "SameSite"]


def django_can_set(name: str) -> bool:
    try:
        HttpResponse().set_cookie(name, "v")
    except CookieError:
        return False
    return True


@given(name=st.text(min_size=1, max_size=10) | st.sampled_from(ATTRIBUTE_NAMES))
@example(name="max-age")
def test_a_cookie_name_is_accepted_only_if_it_is_an_rfc_6265_token(name: str) -> None:
    with override_settings(SESSIONKIT={"NAME": name}):
        reported = "sessionkit.E006" in ids(check_settings())
    token = all(33 <= ord(c) <= 126 and c not in '()<>@,;:\\"/[]?={}' for c in name)
    assert reported == (not token or not django_can_set(name))


@pytest.mark.parametrize(
    "value",
    [{"PREFIX": "bad{tag}"}, {"UNKNOWN": 1}, {"CLIENT_FACTORY": 42}, "not a dict"],
)
def test_bad_redis_store_setting_is_e010(value: Any) -> None:
    with override_settings(SESSION_ENGINE="sessionkit.backends.redis", SESSIONKIT_REDIS=value):
        ids = [m.id for m in check_settings()]
    assert "sessionkit.E010" in ids


def test_good_redis_store_setting_gives_no_message() -> None:
    with override_settings(
        SESSION_ENGINE="sessionkit.backends.redis",
        SESSION_CACHE_ALIAS="redis",
        SESSIONKIT_REDIS={"PREFIX": "app:"},
    ):
        assert [m.id for m in check_settings()] == []


def cache_store_on(backend: str, **options: Any) -> dict[str, Any]:
    """Settings for the cache store on a ``sessions`` cache of ``backend``."""
    cache = {"BACKEND": backend, "LOCATION": "127.0.0.1:1", **options}
    return {
        "SESSION_ENGINE": "sessionkit.backends.cache",
        "SESSION_CACHE_ALIAS": "sessions",
        "CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    } | {"CACHES": {"sessions": cache}}


@pytest.mark.parametrize(
    ("backend", "options"),
    [
        ("django.core.cache.backends.locmem.LocMemCache", {}),
        ("django.core.cache.backends.redis.RedisCache", {}),
        ("django_redis.cache.RedisCache", {}),
        (
            "django_redis.cache.RedisCache",
            {"OPTIONS": {"SERIALIZER": "django_redis.serializers.json.JSONSerializer"}},
        ),
        (
            "django.core.cache.backends.memcached.PyMemcacheCache",
            {"OPTIONS": {"serde": BytesSerde()}},
        ),
    ],
)
def test_cache_store_on_a_cache_it_reads_as_bytes_gives_no_message(
    backend: str, options: dict[str, Any]
) -> None:
    assert sessionkit_messages(**cache_store_on(backend, **options)) == []


@pytest.mark.parametrize(
    ("backend", "options"),
    [
        ("django.core.cache.backends.filebased.FileBasedCache", {}),
        ("django.core.cache.backends.db.DatabaseCache", {}),
        ("django.core.cache.backends.dummy.DummyCache", {}),
        ("django.core.cache.backends.memcached.PyMemcacheCache", {}),
        (
            "django_redis.cache.RedisCache",
            {"OPTIONS": {"CLIENT_CLASS": "django_redis.client.ShardClient"}},
        ),
    ],
)
def test_cache_store_on_a_cache_that_would_unpickle_is_e015(
    backend: str, options: dict[str, Any]
) -> None:
    messages = sessionkit_messages(**cache_store_on(backend, **options))
    assert_reported(messages, "sessionkit.E015")
    assert "'sessions'" in messages[0].msg


def test_the_e015_check_is_only_for_the_cache_store() -> None:
    settings = cache_store_on("django.core.cache.backends.db.DatabaseCache")
    assert sessionkit_messages(**{**settings, "SESSION_ENGINE": "sessionkit.backends.db"}) == []


# --- the id table -----------------------------------------------------------------------------


def secure_with(**changes: Any) -> dict[str, Any]:
    """``SECURE_SESSIONKIT`` with ``changes`` (``COOKIE`` merged key by key)."""
    merged = {**SECURE_SESSIONKIT, **changes}
    merged["COOKIE"] = {**SECURE_SESSIONKIT["COOKIE"], **changes.get("COOKIE", {})}
    return merged


CONNECT_REDIS = "sessionkit.backends.connect_redis"
EXPRESS_LOGIN_MW = "sessionkit.express_auth.ExpressLoginMiddleware"
EXPRESS_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "sessionkit.express_auth.ExpressUserBackend",
]


@pytest.mark.parametrize(
    ("middleware", "backends", "reported"),
    [
        ([SESSIONKIT_MW, AUTH_MW, EXPRESS_LOGIN_MW], EXPRESS_BACKENDS, []),
        ([SESSIONKIT_MW, EXPRESS_LOGIN_MW, AUTH_MW], EXPRESS_BACKENDS, ["sessionkit.E040"]),
        ([SESSIONKIT_MW, AUTH_MW], EXPRESS_BACKENDS[:1], []),
    ],
)
def test_the_express_login_middleware_needs_its_backend_after_authentication(
    middleware: list[str], backends: list[str], reported: list[str]
) -> None:
    messages = sessionkit_messages(MIDDLEWARE=middleware, AUTHENTICATION_BACKENDS=backends)
    assert ids(messages) == reported


def test_connect_redis_checks_its_connection_as_the_redis_store() -> None:
    messages = sessionkit_messages(SESSION_ENGINE=CONNECT_REDIS, SESSIONKIT={"SECRET": "s" * 40})
    assert ids(messages) == ["sessionkit.E023"]
    assert "sessionkit.backends.connect_redis" in messages[0].msg


#: Settings that make ``manage.py check`` (``--deploy`` for deploy ids) report exactly one id.
TRIGGERS: dict[str, dict[str, Any]] = {
    "E001": {"SESSIONKIT": {"TYPO": 1}},
    "E003": {"SESSIONKIT": {"SECRET": ""}},
    "E004": {"SESSIONKIT": {"COOKIE": {"SAMESITE": "lax"}}},
    "E005": {"SESSIONKIT": {"COOKIE": {"SAMESITE": "None"}}},
    "E006": {"SESSIONKIT": {"NAME": "session id"}},
    "E007": {"SESSIONKIT": {"GENID": "no.such.module.genid"}},
    "E008": {"SESSIONKIT": {"ABSOLUTE_TIMEOUT": -5}},
    "E009": {"SESSIONKIT": {"COOKIE": {"EXTRA": 1}}},
    "E010": {
        "SESSION_ENGINE": "sessionkit.backends.redis",
        "SESSION_CACHE_ALIAS": "redis",
        "SESSIONKIT_REDIS": {"UNKNOWN": 1},
    },
    # ...with redis-py and django-redis made unimportable (see hide_redis_packages).
    "E011": {"SESSION_ENGINE": "sessionkit.backends.redis"},
    "E012": {"SESSIONKIT": {"ROLLING": "true"}},
    "E013": {"SESSIONKIT": {"PROXY": "yes"}},
    "E014": {"SESSIONKIT": {"COOKIE": {"SECURE": "yes"}}},
    "E015": {
        "SESSION_ENGINE": "sessionkit.backends.cache",
        "CACHES": {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache"}},
    },
    "E016": {"SESSIONKIT": {"NAME": "__Host-sid"}},
    "E017": {"SESSIONKIT": {"NAME": "__Secure-sid"}},
    "E018": {"MIDDLEWARE": [DJANGO_MW, SESSIONKIT_MW]},
    "E019": {"MIDDLEWARE": [AUTH_MW, SESSIONKIT_MW]},
    "E020": {"MIDDLEWARE": [DJANGO_MW]},
    "E021": {"SESSION_ENGINE": "sessionkit.backends.dbb"},
    "E022": {
        "SESSION_ENGINE": "django.contrib.sessions.backends.db",
        "INSTALLED_APPS": WITHOUT_DJANGO_SESSIONS,
    },
    # The test settings' SESSION_CACHE_ALIAS is a locmem cache.
    "E023": {"SESSION_ENGINE": "sessionkit.backends.redis"},
    "E024": {"SESSIONKIT": {"ADOPT_FROM": "django.contrib.sessions.backends.nosuch"}},
    "E025": {"SESSIONKIT": {"TRACK_CLIENT": "no"}},
    "E026": {"SESSIONKIT": {"PROXY": True, "NUM_PROXIES": -1}},
    "E027": {"SECRET_KEY_FALLBACKS": None},
    "E040": {"MIDDLEWARE": [SESSIONKIT_MW, AUTH_MW, EXPRESS_LOGIN_MW]},
    "E050": {"ROOT_URLCONF": "tests.devices_urls", "SESSION_ENGINE": "sessionkit.backends.cache"},
    "E051": {"ROOT_URLCONF": "tests.devices_urls", "TEMPLATES": WITHOUT_APP_TEMPLATES},
    "E030": {"INSTALLED_APPS": WITHOUT_AUTH},
    "E031": {"DATABASE_ROUTERS": [f"{__name__}.SessionsElsewhere"]},
    "W001": {
        "SESSION_ENGINE": "django.contrib.sessions.backends.db",
        "SESSIONKIT": {"ABSOLUTE_TIMEOUT": 3600},
    },
    "W003": {"MIDDLEWARE": ["django.middleware.common.CommonMiddleware"]},
    "W010": {"SESSIONKIT": secure_with(PROXY=None, COOKIE={"SECURE": False})},
    "W011": {"SESSIONKIT": secure_with(COOKIE={"HTTPONLY": False})},
    "W012": {"SESSIONKIT": secure_with(COOKIE={"SAMESITE": False})},
    "W013": {"SESSIONKIT": secure_with(SECRET="keyboard cat")},
    "W014": {"SESSIONKIT": secure_with(PROXY=True, COOKIE={"SECURE": False})},
    "W015": {"SESSIONKIT": secure_with(PROXY=None)},
    "W025": {"SESSIONKIT": {"NUM_PROXIES": 2}},
    "W040": {"SESSION_ENGINE": CONNECT_REDIS, "SESSION_CACHE_ALIAS": "redis"},
    "W041": {
        "SESSION_ENGINE": CONNECT_REDIS,
        "SESSION_CACHE_ALIAS": "redis",
        "SESSIONKIT": {"SECRET": "s" * 40, "ABSOLUTE_TIMEOUT": 3600},
    },
}
#: Ids a trigger cannot avoid reporting too: a cookie that is never Secure is W010 as well.
COMPANIONS: dict[str, list[str]] = {"W014": ["sessionkit.W010"]}


@pytest.mark.parametrize(
    "engine", ["sessionkit.backends.db", "sessionkit.backends.memory", "sessionkit.backends.cache"]
)
def test_the_devices_page_is_checked_only_where_it_is_included(engine: str) -> None:
    included = ids(sessionkit_messages(ROOT_URLCONF="tests.devices_urls", SESSION_ENGINE=engine))
    assert included == ([] if engine != "sessionkit.backends.cache" else ["sessionkit.E050"])
    assert sessionkit_messages(SESSION_ENGINE=engine, TEMPLATES=WITHOUT_APP_TEMPLATES) == []


def test_the_devices_page_check_leaves_an_unimportable_engine_to_e021() -> None:
    messages = sessionkit_messages(
        ROOT_URLCONF="tests.devices_urls", SESSION_ENGINE="sessionkit.backends.dbb"
    )
    assert ids(messages) == ["sessionkit.E021"]


def hide_redis_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import redis`` / ``import django_redis`` fail as if they were not installed,
    and forget the Redis store's modules so the next import of them runs again."""
    for name in list(sys.modules):
        if name == "sessionkit.backends.redis" or name.startswith("sessionkit.backends.redis."):
            monkeypatch.delitem(sys.modules, name)
    for name in ("redis", "django_redis"):
        monkeypatch.setitem(sys.modules, name, None)


def test_every_id_in_the_table_has_a_trigger() -> None:
    assert sorted(TRIGGERS) == sorted(CHECK_IDS)
    assert not set(CHECK_IDS) & set(RETIRED)


@pytest.mark.parametrize("check_id", sorted(CHECK_IDS))
def test_each_id_is_reported_at_its_level_and_can_be_silenced_alone(
    check_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if check_id == "E011":
        hide_redis_packages(monkeypatch)
    if check_id == "E030":
        without_auth_checks(monkeypatch)
    full_id = f"sessionkit.{check_id}"
    entry = CHECK_IDS[check_id]
    companions = COMPANIONS.get(check_id, [])
    messages = sessionkit_messages(deploy=entry.deploy, **TRIGGERS[check_id])
    assert ids(messages) == sorted([full_id, *companions]), [m.msg for m in messages]
    (message,) = [m for m in messages if m.id == full_id]
    assert message.level == entry.level
    assert message.msg
    assert message.hint
    if entry.deploy:
        assert sessionkit_messages(**TRIGGERS[check_id]) == []
    silenced = {**TRIGGERS[check_id], "SILENCED_SYSTEM_CHECKS": [full_id]}
    assert ids(sessionkit_messages(deploy=entry.deploy, **silenced)) == companions


def test_e011_names_the_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_redis_packages(monkeypatch)
    (message,) = sessionkit_messages(**TRIGGERS["E011"])
    assert "redis is not installed" in message.msg
    assert message.hint == 'pip install "django-sessionkit[redis]"'


def test_a_problem_with_an_id_outside_the_table_is_refused() -> None:
    with pytest.raises(ValueError, match="X001"):
        Problem("X001", "msg", "hint")


ROOT = Path(__file__).resolve().parent.parent
_FULL_ID = re.compile(r"\bsessionkit\.([EW]\d{3})\b")
_QUOTED_ID = re.compile(r"""["'`]([EW]\d{3})["'`]""")


def ids_mentioned(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return set(_FULL_ID.findall(text)) | set(_QUOTED_ID.findall(text))


def test_code_and_tests_use_only_ids_from_the_table() -> None:
    files = [*(ROOT / "sessionkit").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    files = [f for f in files if f.name != "check_ids.py"]
    used = {(f.relative_to(ROOT).as_posix(), i) for f in files for i in ids_mentioned(f)}
    assert {(f, i) for f, i in used if i not in CHECK_IDS} == set()
    assert {i for _, i in used} >= set(CHECK_IDS)


def test_docs_name_only_ids_from_the_table_or_retired_ones() -> None:
    docs = [ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").rglob("*.md")]
    for doc in docs:
        unknown = ids_mentioned(doc) - set(CHECK_IDS) - set(RETIRED)
        assert not unknown, (doc.name, unknown)


def test_readme_check_table_lists_exactly_the_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `sessionkit\.([EW]\d{3})` \|", readme, flags=re.MULTILINE)
    assert rows == sorted(CHECK_IDS)


# --- registration -----------------------------------------------------------------------------

# Imports every sessionkit module with the app installed but before its ready() runs, then
# runs ready(): prints which sessionkit checks and setting_changed receivers exist after each.
_PROBE = """
import importlib, json, pkgutil, weakref
import django
from django.conf import settings
from django.core.checks.registry import registry
from django.core.signals import setting_changed

settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "sessionkit"],
    SECRET_KEY="probe-secret-key-not-used-for-anything-0123456789",
)
from sessionkit.apps import SessionKitConfig

real_ready = SessionKitConfig.ready
SessionKitConfig.ready = lambda self: None
django.setup()

def ours(obj):
    return (getattr(obj, "__module__", None) or "").startswith("sessionkit")

def state():
    receivers = []
    for entry in setting_changed.receivers:
        for part in entry:
            target = part() if isinstance(part, weakref.ReferenceType) else part
            if callable(target) and ours(target):
                receivers.append(f"{target.__module__}.{target.__qualname__}")
    checks = [*registry.registered_checks, *registry.deployment_checks]
    return {
        "checks": sorted(f"{c.__module__}.{c.__qualname__}" for c in checks if ours(c)),
        "receivers": sorted(receivers),
    }

import sessionkit
for info in pkgutil.walk_packages(sessionkit.__path__, "sessionkit."):
    importlib.import_module(info.name)
after_import = state()
real_ready(django.apps.apps.get_app_config("sessionkit"))
print(json.dumps({"after_import": after_import, "after_ready": state()}))
"""


@pytest.fixture(scope="module")
def registration() -> dict[str, dict[str, list[str]]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, dict[str, list[str]]] = json.loads(done.stdout)
    return result


def test_importing_sessionkit_registers_no_check(
    registration: dict[str, dict[str, list[str]]],
) -> None:
    assert registration["after_import"]["checks"] == []


def test_ready_registers_each_check_once(registration: dict[str, dict[str, list[str]]]) -> None:
    assert registration["after_ready"]["checks"] == [
        "sessionkit.checks.check_deploy",
        "sessionkit.checks.check_settings",
    ]
    assert check_settings in registry.get_checks()
    assert check_deploy in registry.get_checks(include_deployment_checks=True)
    assert check_deploy not in registry.get_checks()


def test_importing_sessionkit_connects_no_setting_changed_receiver(
    registration: dict[str, dict[str, list[str]]],
) -> None:
    assert registration["after_import"]["receivers"] == []


def test_ready_connects_the_settings_reload(
    registration: dict[str, dict[str, list[str]]],
) -> None:
    added = set(registration["after_ready"]["receivers"]) - set(
        registration["after_import"]["receivers"]
    )
    assert added == {"sessionkit.conf._reload"}
