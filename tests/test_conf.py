"""The ``SESSIONKIT`` setting (CONTRACT section 2), read through ``get_settings()``.

Every key defaults to the matching Django setting, explicit values win, the object is
immutable and re-read when ``override_settings`` changes something it depends on, and a
bad value never raises: it falls back to a safe default (``test_checks`` covers the report).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, override_settings
from hypothesis import example, given
from hypothesis import strategies as st

from sessionkit import lifetime
from sessionkit.check_ids import CHECK_IDS
from sessionkit.conf import (
    COOKIE_KEYS,
    REDIS_KEYS,
    SAMESITE_VALUES,
    TOP_LEVEL_KEYS,
    RedisSettings,
    SessionKitSettings,
    get_redis_settings,
    get_settings,
    parse,
    parse_redis,
)


def custom_genid(request: Any) -> str:
    """A GENID target for these tests."""
    return "custom-id"


def two_argument_genid(request: Any, prefix: str) -> str:
    """Cannot be called with the request alone (sessionkit.E007)."""
    return prefix + "-id"


class _Uninspectable:
    """A GENID whose signature cannot be read, as for some builtins: accepted."""

    @property
    def __signature__(self) -> Any:
        raise ValueError("no signature found")

    def __call__(self, request: Any) -> str:
        return "uninspectable-id"


UNINSPECTABLE = _Uninspectable()
NOT_CALLABLE = "not a function"

GOOD_SECRET = "a-long-explicit-secret-for-the-tests-0123456789"


# --- defaults ------------------------------------------------------------------------------


def test_defaults_without_sessionkit_setting() -> None:
    assert not hasattr(settings, "SESSIONKIT")
    conf = get_settings()
    assert conf.name == "sessionid"
    assert conf.resave is False
    assert conf.save_uninitialized is False
    assert conf.rolling is False
    assert conf.proxy is None
    assert conf.genid is None
    assert conf.absolute_timeout is None
    assert conf.secret_is_explicit is False
    assert len(conf.keys) == 1 + len(settings.SECRET_KEY_FALLBACKS)
    assert conf.cookie.max_age == settings.SESSION_COOKIE_AGE == 1209600
    assert conf.cookie.secure is False
    assert conf.cookie.httponly is True
    assert conf.cookie.samesite == "Lax"
    assert conf.cookie.domain is None
    assert conf.cookie.path == "/"
    assert conf.problems == ()


def test_empty_sessionkit_dict_is_the_same_as_none() -> None:
    with override_settings(SESSIONKIT={}):
        empty = get_settings()
    with override_settings(SESSIONKIT=None):
        none = get_settings()
    assert empty == none == get_settings()


def test_name_defaults_to_session_cookie_name() -> None:
    with override_settings(SESSION_COOKIE_NAME="my_sid"):
        assert get_settings().name == "my_sid"


def test_rolling_defaults_to_session_save_every_request() -> None:
    with override_settings(SESSION_SAVE_EVERY_REQUEST=True):
        assert get_settings().rolling is True
    with override_settings(SESSION_SAVE_EVERY_REQUEST=False):
        assert get_settings().rolling is False


def test_max_age_defaults_to_session_cookie_age() -> None:
    with override_settings(SESSION_COOKIE_AGE=600):
        conf = get_settings()
        assert conf.cookie.max_age == 600
        assert lifetime.store_age(conf) == 600


def test_expire_at_browser_close_gives_a_browser_session_cookie() -> None:
    with override_settings(SESSION_EXPIRE_AT_BROWSER_CLOSE=True, SESSION_COOKIE_AGE=900):
        conf = get_settings()
        assert conf.cookie.max_age is None
        # the store still forgets the session after SESSION_COOKIE_AGE idle seconds
        assert lifetime.store_age(conf) == 900


@pytest.mark.parametrize(
    ("django_setting", "value", "attribute"),
    [
        ("SESSION_COOKIE_SECURE", True, "secure"),
        ("SESSION_COOKIE_HTTPONLY", False, "httponly"),
        ("SESSION_COOKIE_SAMESITE", "Strict", "samesite"),
        ("SESSION_COOKIE_SAMESITE", False, "samesite"),
        ("SESSION_COOKIE_DOMAIN", ".example.com", "domain"),
        ("SESSION_COOKIE_PATH", "/app/", "path"),
    ],
)
def test_cookie_attributes_default_to_django_settings(
    django_setting: str, value: object, attribute: str
) -> None:
    with override_settings(**{django_setting: value}):
        assert getattr(get_settings().cookie, attribute) == value


# --- explicit values -------------------------------------------------------------------------

EXPLICIT = {
    "SECRET": [GOOD_SECRET, "an-older-secret-still-verifying-0123456789"],
    "NAME": "connect.sid",
    "RESAVE": True,
    "SAVE_UNINITIALIZED": True,
    "ROLLING": True,
    "PROXY": True,
    "GENID": "tests.test_conf.custom_genid",
    "ABSOLUTE_TIMEOUT": 86400,
    "COOKIE": {
        "MAX_AGE": 3600,
        "SECURE": "auto",
        "HTTPONLY": False,
        "SAMESITE": "Strict",
        "DOMAIN": "example.com",
        "PATH": "/app",
    },
}


@override_settings(
    SESSION_COOKIE_NAME="django_name",
    SESSION_SAVE_EVERY_REQUEST=False,
    SESSION_COOKIE_AGE=60,
    SESSION_COOKIE_SECURE=False,
    SESSION_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SAMESITE="Lax",
    SESSION_COOKIE_DOMAIN="django.example",
    SESSION_COOKIE_PATH="/django",
    SESSIONKIT=EXPLICIT,
)
def test_explicit_values_override_django_settings() -> None:
    conf = get_settings()
    assert conf.problems == ()
    assert conf.keys == tuple(s.encode() for s in EXPLICIT["SECRET"])
    assert conf.secret_is_explicit is True
    assert conf.name == "connect.sid"
    assert conf.resave is True
    assert conf.save_uninitialized is True
    assert conf.rolling is True
    assert conf.proxy is True
    assert conf.genid is custom_genid
    assert conf.absolute_timeout == 86400
    assert conf.cookie.max_age == 3600
    assert conf.cookie.secure == "auto"
    assert conf.cookie.httponly is False
    assert conf.cookie.samesite == "Strict"
    assert conf.cookie.domain == "example.com"
    assert conf.cookie.path == "/app"


def test_explicit_false_overrides_a_true_django_setting() -> None:
    with override_settings(
        SESSION_SAVE_EVERY_REQUEST=True,
        SESSION_COOKIE_SECURE=True,
        SESSIONKIT={"ROLLING": False, "COOKIE": {"SECURE": False}},
    ):
        conf = get_settings()
        assert conf.rolling is False
        assert conf.cookie.secure is False


def test_explicit_none_max_age_overrides_session_cookie_age() -> None:
    with override_settings(SESSION_COOKIE_AGE=60, SESSIONKIT={"COOKIE": {"MAX_AGE": None}}):
        conf = get_settings()
        assert conf.cookie.max_age is None
        assert lifetime.store_age(conf) == 60


def test_explicit_max_age_overrides_expire_at_browser_close() -> None:
    with override_settings(
        SESSION_EXPIRE_AT_BROWSER_CLOSE=True, SESSIONKIT={"COOKIE": {"MAX_AGE": 120}}
    ):
        assert get_settings().cookie.max_age == 120


def test_single_secret_string_is_one_key() -> None:
    with override_settings(SESSIONKIT={"SECRET": GOOD_SECRET}):
        assert get_settings().keys == (GOOD_SECRET.encode(),)


def test_proxy_false_is_kept() -> None:
    with override_settings(SESSIONKIT={"PROXY": False}):
        assert get_settings().proxy is False


@pytest.mark.parametrize("samesite", ["Lax", "Strict", "None", False])
def test_every_documented_samesite_value_is_accepted(samesite: object) -> None:
    with override_settings(SESSIONKIT={"COOKIE": {"SAMESITE": samesite, "SECURE": True}}):
        conf = get_settings()
        assert conf.cookie.samesite == samesite
        assert conf.problems == ()


def test_genid_dotted_path_is_imported_to_the_callable() -> None:
    with override_settings(SESSIONKIT={"GENID": "tests.test_conf.custom_genid"}):
        genid = get_settings().genid
        assert genid is custom_genid
        assert genid(None) == "custom-id"


# --- caching and reloading ------------------------------------------------------------------


def test_settings_object_is_cached() -> None:
    assert get_settings() is get_settings()


def test_override_settings_reloads_the_cached_object() -> None:
    before = get_settings()
    with override_settings(SESSIONKIT={"NAME": "inside"}):
        inside = get_settings()
        assert inside.name == "inside"
    after = get_settings()
    assert after.name == before.name == "sessionid"
    assert after == before


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("SECRET_KEY", "another-secret-key-" * 3),
        ("SECRET_KEY_FALLBACKS", ["a-fallback-secret-key-" * 3]),
        ("SESSION_COOKIE_AGE", 42),
        ("SESSION_COOKIE_NAME", "renamed"),
    ],
)
def test_changing_a_django_setting_it_depends_on_reloads(setting: str, value: object) -> None:
    before = get_settings()
    with override_settings(**{setting: value}):
        assert get_settings() != before
    assert get_settings() == before


# --- immutability ---------------------------------------------------------------------------


def test_settings_object_is_immutable() -> None:
    conf = get_settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        conf.name = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        conf.cookie.secure = True  # type: ignore[misc]
    assert isinstance(conf.keys, tuple)
    assert isinstance(conf.problems, tuple)
    assert get_settings().name == "sessionid"


# --- invalid values fall back to safe defaults --------------------------------------------


@pytest.mark.parametrize(
    ("sessionkit", "attribute", "expected"),
    [
        ({"RESAVE": "yes"}, "resave", False),
        ({"SAVE_UNINITIALIZED": 1}, "save_uninitialized", False),
        ({"ROLLING": "true"}, "rolling", False),
        ({"PROXY": "yes"}, "proxy", None),
        ({"GENID": "no.such.module.genid"}, "genid", None),
        ({"GENID": "tests.test_conf.NOT_CALLABLE"}, "genid", None),
        ({"GENID": 12}, "genid", None),
        ({"GENID": "uuid.uuid4"}, "genid", None),
        ({"GENID": "tests.test_conf.two_argument_genid"}, "genid", None),
        ({"ABSOLUTE_TIMEOUT": 0}, "absolute_timeout", None),
        ({"ABSOLUTE_TIMEOUT": -1}, "absolute_timeout", None),
        ({"ABSOLUTE_TIMEOUT": "3600"}, "absolute_timeout", None),
        ({"ABSOLUTE_TIMEOUT": True}, "absolute_timeout", None),
        ({"ABSOLUTE_TIMEOUT": 10**12}, "absolute_timeout", None),
        ({"ABSOLUTE_TIMEOUT": lifetime.MAX_LIFETIME + 1}, "absolute_timeout", None),
        ({"NAME": "a b"}, "name", "sessionid"),
        ({"NAME": "sid;admin=1"}, "name", "sessionid"),
        ({"NAME": ""}, "name", "sessionid"),
        ({"NAME": 5}, "name", "sessionid"),
        ({"NAME": "sess(id)"}, "name", "sessionid"),
        ({"NAME": "app/session"}, "name", "sessionid"),
        ({"NAME": "sid:1"}, "name", "sessionid"),
        ({"NAME": "séance"}, "name", "sessionid"),
        ({"NAME": "sid\x7f"}, "name", "sessionid"),
    ],
)
def test_invalid_top_level_value_falls_back_without_raising(
    sessionkit: dict[str, Any], attribute: str, expected: object
) -> None:
    with override_settings(SESSIONKIT=sessionkit):
        conf = get_settings()
        assert getattr(conf, attribute) == expected
        assert conf.problems


@given(name=st.text(min_size=1, max_size=12))
@example(name="sess(id")
@example(name="Expires")
@example(name="sessiön")
@example(name="a/b")
def test_every_accepted_cookie_name_can_be_set_by_django(name: str) -> None:
    """The name in force is one ``http.cookies`` accepts: no response that sets it is a 500."""
    with override_settings(SESSIONKIT={"NAME": name}):
        conf = get_settings()
    response = HttpResponse()
    response.set_cookie(conf.name, "s%3Avalue")
    assert response.cookies[conf.name].output()
    assert (conf.name == name) or conf.problems


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["sess(id)", "session/id", "sessiön"])
def test_a_cookie_name_outside_rfc_6265_falls_back_instead_of_failing_every_response(
    client: Client, name: str
) -> None:
    with override_settings(SESSIONKIT={"NAME": name}):
        response = client.get("/write/?x=1")
    assert response.status_code == 200
    assert list(response.cookies) == ["sessionid"]


@given(key=st.sampled_from(["PATH", "DOMAIN"]), value=st.text(min_size=1, max_size=12))
@example(key="PATH", value="/caf\u00e9")
@example(key="DOMAIN", value="ex\u00e4mple.com")
def test_every_accepted_cookie_path_and_domain_can_be_sent_by_asgi(key: str, value: str) -> None:
    """Django's ASGI handler encodes Set-Cookie as ASCII: any other path or domain in force
    would make every response that sets the cookie fail."""
    with override_settings(SESSIONKIT={"COOKIE": {key: value}}):
        conf = get_settings()
    response = HttpResponse()
    response.set_cookie("sessionid", "v", path=conf.cookie.path, domain=conf.cookie.domain)
    response.cookies["sessionid"].output(header="").encode("ascii")
    assert value in (conf.cookie.path, conf.cookie.domain) or conf.problems


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides",
    [
        {"SESSIONKIT": {"COOKIE": {"MAX_AGE": 10**12}}},
        {"SESSIONKIT": {"ABSOLUTE_TIMEOUT": 10**12}},
        {"SESSION_COOKIE_AGE": 10**12},
    ],
)
def test_a_lifetime_over_50_years_falls_back_instead_of_failing_every_response(
    client: Client, overrides: dict[str, Any]
) -> None:
    with override_settings(**overrides):
        response = client.get("/write/?x=1")
    assert response.status_code == 200
    assert int(response.cookies["sessionid"]["max-age"]) <= lifetime.MAX_LIFETIME


@pytest.mark.django_db
@pytest.mark.parametrize("fallbacks", [None, 42, "a-single-old-secret-key-0123456789"])
def test_secret_key_fallbacks_not_a_list_are_ignored_instead_of_failing_every_request(
    client: Client, fallbacks: object
) -> None:
    derived = get_settings().keys
    # Without MessageMiddleware: Django's cookie signer fails on such a value by itself.
    middleware = ["sessionkit.middleware.SessionMiddleware"]
    with override_settings(SECRET_KEY_FALLBACKS=fallbacks, MIDDLEWARE=middleware):
        conf = get_settings()
        assert conf.keys == derived  # SECRET_KEY's key alone
        assert [p.id for p in conf.problems] == ["E027"]
        client.cookies["sessionid"] = client.get("/write/?x=1").cookies["sessionid"].value
        assert client.get("/read/").json()["value"] == 1


@pytest.mark.parametrize(
    "sessionkit",
    [
        {"NAME": "__Host-sid", "COOKIE": {"SECURE": True}},
        {"NAME": "__host-sid", "COOKIE": {"SECURE": True, "PATH": "/", "DOMAIN": None}},
        {"NAME": "__Secure-sid", "COOKIE": {"SECURE": True, "DOMAIN": "example.com"}},
        {"NAME": "__Secure-sid", "COOKIE": {"SECURE": True, "PATH": "/app"}},
    ],
)
def test_prefixed_cookie_names_with_their_attributes_are_accepted(
    sessionkit: dict[str, Any],
) -> None:
    with override_settings(SESSIONKIT=sessionkit):
        conf = get_settings()
    assert (conf.name, conf.problems) == (sessionkit["NAME"], ())


@pytest.mark.parametrize(
    ("sessionkit", "words"),
    [
        ({"NAME": "__Host-sid"}, "SECURE is False"),
        ({"NAME": "__Host-sid", "COOKIE": {"SECURE": "auto"}}, "SECURE is 'auto'"),
        ({"NAME": "__HOST-sid", "COOKIE": {"SECURE": True, "PATH": "/app"}}, "PATH is '/app'"),
        ({"NAME": "__Host-sid", "COOKIE": {"SECURE": True, "DOMAIN": "a.com"}}, "DOMAIN is"),
        ({"NAME": "__Secure-sid"}, "SECURE is False"),
        ({"NAME": "__secure-sid", "COOKIE": {"SECURE": "auto"}}, "SECURE is 'auto'"),
    ],
)
def test_a_prefixed_name_without_its_attributes_is_reported_but_kept(
    sessionkit: dict[str, Any], words: str
) -> None:
    """Browsers would drop such a cookie; the settings stay as given (the check says why)."""
    with override_settings(SESSIONKIT=sessionkit):
        conf = get_settings()
    assert conf.name == sessionkit["NAME"]
    (problem,) = conf.problems
    assert words in problem.msg


@pytest.mark.parametrize(
    ("cookie", "attribute", "expected"),
    [
        ({"MAX_AGE": 0}, "max_age", 1209600),
        ({"MAX_AGE": -60}, "max_age", 1209600),
        ({"MAX_AGE": "3600"}, "max_age", 1209600),
        ({"MAX_AGE": 1.5}, "max_age", 1209600),
        ({"MAX_AGE": True}, "max_age", 1209600),
        ({"SECURE": "yes"}, "secure", False),
        ({"SECURE": 1}, "secure", False),
        ({"HTTPONLY": "no"}, "httponly", True),
        ({"HTTPONLY": 0}, "httponly", True),
        ({"SAMESITE": "lax"}, "samesite", "Lax"),
        ({"SAMESITE": True}, "samesite", "Lax"),
        ({"SAMESITE": 0}, "samesite", "Lax"),
        ({"SAMESITE": ["Lax"]}, "samesite", "Lax"),
        ({"DOMAIN": "a b.com"}, "domain", None),
        ({"DOMAIN": "example.com;secure"}, "domain", None),
        ({"DOMAIN": 7}, "domain", None),
        ({"PATH": "/a\r\nSet-Cookie: x=y"}, "path", "/"),
        ({"PATH": ""}, "path", "/"),
        ({"PATH": None}, "path", "/"),
        ({"PATH": "/caf\u00e9"}, "path", "/"),
        ({"DOMAIN": "ex\u00e4mple.com"}, "domain", None),
        ({"MAX_AGE": 10**12}, "max_age", 1209600),
    ],
)
def test_invalid_cookie_value_falls_back_without_raising(
    cookie: dict[str, Any], attribute: str, expected: object
) -> None:
    with override_settings(SESSIONKIT={"COOKIE": cookie}):
        conf = get_settings()
        assert getattr(conf.cookie, attribute) == expected
        assert conf.problems


@pytest.mark.parametrize("sessionkit", ["SECRET=x", ["NAME"], 42, True])
def test_sessionkit_not_a_dict_gives_all_defaults(sessionkit: object) -> None:
    with override_settings(SESSIONKIT=sessionkit):
        conf = get_settings()
        assert conf.problems
    assert dataclasses.replace(conf, problems=()) == get_settings()


@pytest.mark.parametrize("cookie", ["Secure", ["MAX_AGE"], 3600])
def test_cookie_not_a_dict_gives_cookie_defaults(cookie: object) -> None:
    with override_settings(SESSIONKIT={"COOKIE": cookie}):
        conf = get_settings()
        assert conf.problems
    assert conf.cookie == get_settings().cookie


def test_unknown_keys_are_ignored_without_raising() -> None:
    with override_settings(
        SESSIONKIT={"SECERT": "typo", 3: "int key", "COOKIE": {"MAXAGE": 1, 5: "x"}}
    ):
        conf = get_settings()
        assert len(conf.problems) == 4
    assert dataclasses.replace(conf, problems=()) == get_settings()


@pytest.mark.parametrize("secret", ["", [], [""], [b"bytes-secret-long-enough-000000000"], 42])
def test_unusable_secret_falls_back_to_the_derived_key(secret: object) -> None:
    derived = get_settings().keys
    with override_settings(SESSIONKIT={"SECRET": secret}):
        conf = get_settings()
        assert conf.keys == derived
        assert conf.secret_is_explicit is False
        assert conf.problems


def test_empty_secret_in_a_list_is_dropped_and_the_rest_kept() -> None:
    with override_settings(SESSIONKIT={"SECRET": ["", GOOD_SECRET]}):
        conf = get_settings()
        assert conf.keys == (GOOD_SECRET.encode(),)
        assert conf.secret_is_explicit is True


def test_short_secret_is_still_used() -> None:
    # A short secret works (express-session accepts it too); only check --deploy warns.
    with override_settings(SESSIONKIT={"SECRET": "keyboard cat"}):
        assert get_settings().keys == (b"keyboard cat",)
        assert get_settings().problems == ()


@pytest.mark.parametrize("age", [0, -1, "1209600", None, 10**12])
def test_invalid_session_cookie_age_falls_back_without_raising(age: object) -> None:
    with override_settings(SESSION_COOKIE_AGE=age):
        conf = get_settings()
        assert conf.cookie.max_age == 1209600
        assert lifetime.store_age(conf) == 1209600
        assert conf.problems


def test_samesite_none_without_secure_is_reported_but_kept() -> None:
    # The value is valid on its own; only the combination is wrong (sessionkit.E005).
    with override_settings(SESSIONKIT={"COOKIE": {"SAMESITE": "None"}}):
        conf = get_settings()
        assert conf.cookie.samesite == "None"
        assert [p.id for p in conf.problems] == ["E005"]


@pytest.mark.parametrize(
    ("sessionkit", "expected"),
    [
        ({"RESAVE": "yes", "SAVE_UNINITIALIZED": 1, "ROLLING": None}, ["E012", "E012", "E012"]),
        ({"PROXY": "yes"}, ["E013"]),
        ({"COOKIE": {"SECURE": "yes", "HTTPONLY": "no"}}, ["E014", "E014"]),
        ({"TRACK_CLIENT": "no", "END_OTHERS_ON_PASSWORD_CHANGE": 0}, ["E025", "E025"]),
        ({"PROXY": True, "NUM_PROXIES": True}, ["E026"]),
        ({"PROXY": True, "NUM_PROXIES": "2"}, ["E026"]),
    ],
)
def test_each_wrong_type_family_has_its_own_id(
    sessionkit: dict[str, Any], expected: list[str]
) -> None:
    with override_settings(SESSIONKIT=sessionkit):
        assert [p.id for p in get_settings().problems] == expected


@given(raw=st.dictionaries(st.sampled_from(sorted(TOP_LEVEL_KEYS)), st.none() | st.text()))
def test_every_problem_takes_its_level_from_the_id_table(raw: dict[str, Any]) -> None:
    for problem in parse(raw).problems:
        assert problem.level == CHECK_IDS[problem.id].level
        assert not CHECK_IDS[problem.id].deploy


# --- arbitrary settings never raise -----------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["Lax", "Strict", "None", "auto", "tests.test_conf.custom_genid"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), children, max_size=3),
    ),
    max_leaves=8,
)
cookie_dicts = st.dictionaries(st.sampled_from(sorted(COOKIE_KEYS)), values, max_size=6)
sessionkit_dicts = st.dictionaries(
    st.one_of(st.sampled_from(sorted(TOP_LEVEL_KEYS)), st.text(max_size=8)),
    st.one_of(values, cookie_dicts),
    max_size=9,
)


@given(raw=st.one_of(sessionkit_dicts, values))
@example(raw={"COOKIE": {1: 2, "x": 3}})
@example(raw={"SECRET": ["\udc80"]})
@example(raw={"GENID": "os"})
def test_arbitrary_settings_never_raise_and_give_usable_values(raw: Any) -> None:
    conf = parse(raw)
    assert isinstance(conf, SessionKitSettings)
    assert conf.keys
    assert all(isinstance(key, bytes) and key for key in conf.keys)
    assert isinstance(conf.name, str) and conf.name
    assert isinstance(conf.resave, bool)
    assert isinstance(conf.save_uninitialized, bool)
    assert isinstance(conf.rolling, bool)
    assert conf.proxy in (None, True, False)
    assert conf.genid is None or callable(conf.genid)
    for seconds in (conf.absolute_timeout, conf.cookie.max_age):
        assert seconds is None or (type(seconds) is int and seconds > 0)
    assert type(lifetime.store_age(conf)) is int and lifetime.store_age(conf) > 0
    assert conf.cookie.secure in (True, False, "auto")
    assert type(conf.cookie.httponly) is bool
    assert conf.cookie.samesite in SAMESITE_VALUES
    assert type(conf.cookie.samesite) in (str, bool, type(None))
    assert conf.cookie.domain is None or isinstance(conf.cookie.domain, str)
    assert isinstance(conf.cookie.path, str) and conf.cookie.path


# --- SESSIONKIT_REDIS ----------------------------------------------------------------------


def sessions_client() -> str:
    """A CLIENT_FACTORY target for these tests (never called here)."""
    return "a client"


def test_redis_settings_default_without_the_setting() -> None:
    conf = get_redis_settings()
    assert conf == RedisSettings(prefix="sessionkit:")
    assert conf.client_factory is None and conf.async_client_factory is None
    assert conf.problems == ()


def test_redis_settings_import_the_factories_and_follow_override_settings() -> None:
    raw = {
        "PREFIX": "app:",
        "CLIENT_FACTORY": "tests.test_conf.sessions_client",
        "ASYNC_CLIENT_FACTORY": "tests.test_conf.sessions_client",
    }
    with override_settings(SESSIONKIT_REDIS=raw):
        conf = get_redis_settings()
        assert conf.prefix == "app:"
        assert conf.client_factory is sessions_client
        assert conf.async_client_factory is sessions_client
        assert conf.problems == ()
        with pytest.raises(dataclasses.FrozenInstanceError):
            conf.prefix = "other:"  # type: ignore[misc]
    assert get_redis_settings().prefix == "sessionkit:"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("not a dict", "must be a dict"),
        ({"NOPE": 1}, "unknown key 'NOPE'"),
        ({"PREFIX": "a{b}"}, "without braces"),
        ({"PREFIX": 3}, "without braces"),
        ({"CLIENT_FACTORY": 1}, "dotted path"),
        ({"CLIENT_FACTORY": "tests.test_conf.no_such_factory"}, "cannot be imported"),
        ({"ASYNC_CLIENT_FACTORY": "tests.test_conf.NOT_CALLABLE"}, "not callable"),
    ],
)
def test_a_bad_redis_value_falls_back_to_its_default_and_is_reported(raw: Any, words: str) -> None:
    with override_settings(SESSIONKIT_REDIS=raw):
        conf = get_redis_settings()
    assert conf == RedisSettings()
    ((problem,),) = [conf.problems]
    assert problem.id == "E010"
    assert words in problem.msg
    assert problem.hint


@given(
    raw=st.one_of(
        values,
        st.dictionaries(
            st.one_of(st.sampled_from(sorted(REDIS_KEYS)), st.text(max_size=8)), values
        ),
    )
)
def test_arbitrary_redis_settings_never_raise_and_give_usable_values(raw: Any) -> None:
    conf = parse_redis(raw)
    assert isinstance(conf.prefix, str) and "{" not in conf.prefix and "}" not in conf.prefix
    assert conf.client_factory is None or callable(conf.client_factory)
    assert conf.async_client_factory is None or callable(conf.async_client_factory)
    assert all(p.id == "E010" for p in conf.problems)


def test_redis_settings_are_read_without_importing_redis_or_a_receiver_of_their_own() -> None:
    """The checks and the reload signal need no redis; the store connects no receiver."""
    script = """
import sys
import django
from django.conf import settings
settings.configure(SESSIONKIT_REDIS={"PREFIX": "p:"})
django.setup()
from django.core.signals import setting_changed
from sessionkit import conf
conf.connect_signals()
assert conf.get_redis_settings().prefix == "p:"
assert not any(name.split(".")[0] == "redis" for name in sys.modules), "redis imported"
before = list(setting_changed.receivers)
import sessionkit.backends.redis
assert setting_changed.receivers == before, "the Redis store connected a receiver"
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_client_tracking_settings_default_to_on_and_are_read() -> None:
    conf = parse({})
    assert (conf.track_client, conf.end_others_on_password_change, conf.num_proxies) == (
        True,
        True,
        None,
    )
    conf = parse(
        {
            "PROXY": True,
            "NUM_PROXIES": 2,
            "TRACK_CLIENT": False,
            "END_OTHERS_ON_PASSWORD_CHANGE": False,
        }
    )
    assert (conf.track_client, conf.end_others_on_password_change, conf.num_proxies) == (
        False,
        False,
        2,
    )
    assert conf.problems == ()


def test_a_bad_num_proxies_falls_back_to_the_first_forwarded_address() -> None:
    conf = parse({"PROXY": True, "NUM_PROXIES": -1})
    assert conf.num_proxies is None
    assert [p.id for p in conf.problems] == ["E026"]
