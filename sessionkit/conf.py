"""The ``SESSIONKIT`` and ``SESSIONKIT_REDIS`` settings, each read once into a typed,
immutable object.

Parsing never raises: a bad value is replaced by its safe default and recorded as a
:class:`Problem`, which :mod:`sessionkit.checks` reports as a system check (ids and levels
from :mod:`sessionkit.check_ids`). So a broken settings file shows up in ``manage.py check``
and never as a traceback at request time.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from http.cookies import Morsel
from typing import Any, Literal, TypeGuard

from django.apps import apps
from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from sessionkit.check_ids import CHECK_IDS
from sessionkit.lifetime import MAX_LIFETIME
from sessionkit.signing import derive_key

SecureFlag = bool | Literal["auto"]
SameSite = Literal["Lax", "Strict", "None", False] | None

TOP_LEVEL_KEYS = frozenset(
    {
        "SECRET",
        "NAME",
        "RESAVE",
        "SAVE_UNINITIALIZED",
        "ROLLING",
        "PROXY",
        "GENID",
        "ABSOLUTE_TIMEOUT",
        "ADOPT_FROM",
        "NUM_PROXIES",
        "TRACK_CLIENT",
        "END_OTHERS_ON_PASSWORD_CHANGE",
        "COOKIE",
    }
)
COOKIE_KEYS = frozenset({"MAX_AGE", "SECURE", "HTTPONLY", "SAMESITE", "DOMAIN", "PATH"})
SAMESITE_VALUES: tuple[object, ...] = ("Lax", "Strict", "None", False, None)
# Characters that would split or break a Set-Cookie header (CONTRACT section 2).
_BAD_TOKEN = re.compile(r"[;,=\s\x00-\x1f\x7f]")
# A cookie name is an RFC 6265 token: visible ASCII but the separators ()<>@,;:\"/[]?={}.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class Problem:
    """One invalid setting: becomes ``sessionkit.<id>`` in the system checks."""

    id: str
    msg: str
    hint: str

    def __post_init__(self) -> None:
        if self.id not in CHECK_IDS:
            raise ValueError(f"{self.id!r} is not in sessionkit.check_ids.CHECK_IDS")

    @property
    def level(self) -> int:
        """Django's check level for this id (``checks.ERROR``, ``checks.WARNING``)."""
        return CHECK_IDS[self.id].level


@dataclass(frozen=True)
class CookieSettings:
    """The session cookie's attributes (express-session's ``cookie`` option)."""

    max_age: int | None
    secure: SecureFlag
    httponly: bool
    samesite: SameSite
    domain: str | None
    path: str


@dataclass(frozen=True)
class SessionKitSettings:
    """Every ``SESSIONKIT`` key with Django's own settings as defaults."""

    keys: tuple[bytes, ...]
    secret_is_explicit: bool
    name: str
    resave: bool
    save_uninitialized: bool
    rolling: bool
    proxy: bool | None
    genid: Callable[[Any], str] | None
    absolute_timeout: int | None
    cookie: CookieSettings
    #: How long the store keeps a session after its last request when ``MAX_AGE`` is
    #: ``None`` (a browser-session cookie): ``SESSION_COOKIE_AGE``.
    idle_timeout: int
    #: ``ADOPT_FROM``: the legacy Django engine's ``SessionStore`` (:mod:`sessionkit.adopt`).
    adopt_from: type[Any] | None = None
    #: ``NUM_PROXIES``: with ``PROXY=True``, how many proxies append to ``X-Forwarded-For``
    #: (``None``: its first address is the client's), :mod:`sessionkit.client_ip`.
    num_proxies: int | None = None
    #: ``TRACK_CLIENT``: store the user agent and IP address with each session.
    track_client: bool = True
    #: ``END_OTHERS_ON_PASSWORD_CHANGE``: ``update_session_auth_hash()`` ends the user's
    #: other sessions (:mod:`sessionkit.user_events`).
    end_others_on_password_change: bool = True
    problems: tuple[Problem, ...] = field(default=(), compare=False)


class _Parser:
    """Collects problems while turning raw settings into typed values."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, id: str, msg: str, hint: str) -> None:
        self.problems.append(Problem(id, msg, hint))

    def mapping(self, raw: Any, where: str, keys: frozenset[str], id: str) -> Mapping[Any, Any]:
        """``raw`` as a dict of known keys; anything else is reported under ``id``."""
        valid = ", ".join(sorted(keys))
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            self.error(
                id,
                f"{where} must be a dict, not {type(raw).__name__}.",
                f"Give a dict with keys among {valid}.",
            )
            return {}
        for key in sorted(set(raw) - keys, key=str):
            self.error(id, f"{where} has an unknown key {key!r}.", f"Valid keys: {valid}.")
        return raw

    def boolean(self, raw: Mapping[str, Any], key: str, default: bool, id: str = "E012") -> bool:
        """A top-level flag; anything else is ``id`` (E012: RESAVE, SAVE_UNINITIALIZED,
        ROLLING; E025: TRACK_CLIENT, END_OTHERS_ON_PASSWORD_CHANGE)."""
        value = raw.get(key, default)
        if isinstance(value, bool):
            return value
        self.error(
            id,
            f"SESSIONKIT[{key!r}] must be True or False, not {value!r}.",
            f"Set SESSIONKIT[{key!r}] to a bool.",
        )
        return default

    def seconds(self, value: Any, where: str, default: int | None) -> int | None:
        if value is None or _lifetime(value):
            return value
        self.error(
            "E008",
            f"{where} must be a positive number of seconds up to 50 years or None, not {value!r}.",
            f"Set {where} to an int from 1 to {MAX_LIFETIME}, or None.",
        )
        return default

    def token(self, value: Any, where: str, default: Any, *, allow_none: bool) -> Any:
        if value is None and allow_none:
            return None
        if isinstance(value, str) and value.isascii() and value and not _BAD_TOKEN.search(value):
            return value
        self.error(
            "E006",
            f"{where} is {value!r}: it must be a non-empty ASCII string without "
            "spaces, control characters or any of ; , =",
            f"Choose a plain value for {where}.",
        )
        return default


def _lifetime(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a number of seconds from 1 to :data:`MAX_LIFETIME`."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_LIFETIME


def _encodable(secret: str) -> bool:
    try:
        secret.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _derived_keys(p: _Parser) -> tuple[bytes, ...]:
    """Keys derived from ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS`` (ignored unless a list)."""
    fallbacks = getattr(settings, "SECRET_KEY_FALLBACKS", [])
    if not isinstance(fallbacks, list | tuple):
        p.error(
            "E027",
            f"SECRET_KEY_FALLBACKS must be a list or tuple of strings, not {fallbacks!r}: "
            "sessionkit ignores it, so cookies signed with an older SECRET_KEY are refused.",
            "Set SECRET_KEY_FALLBACKS = [] or list the former SECRET_KEYs (Django's own "
            "signing needs a list too).",
        )
        fallbacks = []
    return tuple(derive_key(key) for key in [settings.SECRET_KEY, *fallbacks] if key)


def _secrets(p: _Parser, raw: Mapping[str, Any]) -> tuple[tuple[bytes, ...], bool]:
    if "SECRET" not in raw:
        return _derived_keys(p), False
    value = raw["SECRET"]
    values = [value] if isinstance(value, str) else value
    if (
        not isinstance(values, list | tuple)
        or not values
        or not all(isinstance(v, str) for v in values)
    ):
        p.error(
            "E003",
            f"SESSIONKIT['SECRET'] must be a string or a non-empty list of "
            f"strings, not {value!r}.",
            "Remove SECRET to derive the key from SECRET_KEY, or give a string.",
        )
        return _derived_keys(p), False
    if any(not v for v in values):
        p.error(
            "E003",
            "SESSIONKIT['SECRET'] contains an empty secret.",
            "Use a long random string, e.g. from secrets.token_urlsafe(48).",
        )
        values = [v for v in values if v]
        if not values:
            return _derived_keys(p), False
    if any(not _encodable(v) for v in values):
        # e.g. os.environ's surrogate escapes for bytes that are not UTF-8
        p.error(
            "E003",
            "SESSIONKIT['SECRET'] contains a secret that cannot be encoded as UTF-8.",
            "Use a long random string, e.g. from secrets.token_urlsafe(48).",
        )
        values = [v for v in values if _encodable(v)]
        if not values:
            return _derived_keys(p), False
    # A short secret still works (express-session accepts one too); ``check --deploy``
    # warns about it (sessionkit.W013).
    return tuple(v.encode() for v in values), True


def _cookie(p: _Parser, raw: Any, idle: int) -> CookieSettings:
    raw = p.mapping(raw, "SESSIONKIT['COOKIE']", COOKIE_KEYS, "E009")

    # ``idle`` is SESSION_COOKIE_AGE already validated, so a bad value never leaks in here.
    default_age = None if settings.SESSION_EXPIRE_AT_BROWSER_CLOSE else idle
    max_age = p.seconds(
        raw.get("MAX_AGE", default_age), "SESSIONKIT['COOKIE']['MAX_AGE']", default_age
    )
    secure: Any = raw.get("SECURE", bool(settings.SESSION_COOKIE_SECURE))
    if not (isinstance(secure, bool) or secure == "auto"):
        p.error(
            "E014",
            f"SESSIONKIT['COOKIE']['SECURE'] must be True, False or 'auto', not {secure!r}.",
            "Use 'auto' to mark the cookie secure on HTTPS requests.",
        )
        secure = bool(settings.SESSION_COOKIE_SECURE)
    httponly: Any = raw.get("HTTPONLY", bool(settings.SESSION_COOKIE_HTTPONLY))
    if not isinstance(httponly, bool):
        p.error(
            "E014",
            f"SESSIONKIT['COOKIE']['HTTPONLY'] must be a bool, not {httponly!r}.",
            "Set it to True (recommended) or False.",
        )
        httponly = True
    samesite: Any = raw.get("SAMESITE", settings.SESSION_COOKIE_SAMESITE)
    if samesite not in SAMESITE_VALUES or (isinstance(samesite, int) and samesite is not False):
        p.error(
            "E004",
            f"SESSIONKIT['COOKIE']['SAMESITE'] is {samesite!r}.",
            "Use 'Lax', 'Strict', 'None' or False, spelled as Django spells them.",
        )
        samesite = "Lax"
    if samesite == "None" and secure is False:
        p.error(
            "E005",
            "SESSIONKIT['COOKIE']['SAMESITE'] is 'None' but the cookie is not "
            "Secure: browsers reject such a cookie.",
            "Set SESSIONKIT['COOKIE']['SECURE'] to True or 'auto'.",
        )
    domain = p.token(
        raw.get("DOMAIN", settings.SESSION_COOKIE_DOMAIN),
        "SESSIONKIT['COOKIE']['DOMAIN']",
        None,
        allow_none=True,
    )
    path = p.token(
        raw.get("PATH", settings.SESSION_COOKIE_PATH),
        "SESSIONKIT['COOKIE']['PATH']",
        "/",
        allow_none=False,
    )
    return CookieSettings(max_age, secure, httponly, samesite, domain, path)


def _cookie_name(p: _Parser, raw: Mapping[str, Any]) -> str:
    """``NAME`` (or ``SESSION_COOKIE_NAME``) if it is an RFC 6265 token: any other name makes
    ``http.cookies`` raise on every response that sets it."""
    where = "SESSIONKIT['NAME']" if "NAME" in raw else "SESSION_COOKIE_NAME"
    value = raw.get("NAME", settings.SESSION_COOKIE_NAME)
    if (
        isinstance(value, str)
        and _COOKIE_NAME.fullmatch(value)
        and value.lower() not in Morsel._reserved  # type: ignore[attr-defined]
    ):
        return value
    p.error(
        "E006",
        f"{where} is {value!r}: a cookie name must be a non-empty RFC 6265 token (ASCII "
        "letters, digits and ! # $ % & ' * + - . ^ _ ` | ~ only), and not a cookie "
        "attribute's name (expires, path, domain, max-age, ...).",
        f"Choose a plain name for {where}, e.g. 'sessionid' ('__Host-sessionid' with "
        "SECURE=True).",
    )
    return "sessionid"


def _check_name_prefix(p: _Parser, name: str, cookie: CookieSettings) -> None:
    """Browsers drop a ``__Host-`` / ``__Secure-`` cookie (prefixes matched ignoring case)
    set without the attributes its prefix promises, so the session would never stick.
    ``SECURE='auto'`` is not enough: a plain-HTTP request would get it without Secure."""
    lowered = name.lower()
    if lowered.startswith("__host-"):
        wrong = [
            *([f"SECURE is {cookie.secure!r}"] if cookie.secure is not True else []),
            *([f"PATH is {cookie.path!r}"] if cookie.path != "/" else []),
            *([f"DOMAIN is {cookie.domain!r}"] if cookie.domain is not None else []),
        ]
        if wrong:
            p.error(
                "E016",
                f"The cookie name {name!r} has the __Host- prefix, which browsers accept only "
                f"with Secure, Path=/ and no Domain, but {', '.join(wrong)}.",
                "Set SESSIONKIT['COOKIE'] = {'SECURE': True, 'PATH': '/', 'DOMAIN': None} "
                "(or the SESSION_COOKIE_* settings), or drop the prefix.",
            )
    elif lowered.startswith("__secure-") and cookie.secure is not True:
        p.error(
            "E017",
            f"The cookie name {name!r} has the __Secure- prefix, which browsers accept only "
            f"with the Secure attribute, but SECURE is {cookie.secure!r}.",
            "Set SESSIONKIT['COOKIE']['SECURE'] = True (with 'auto' a request over plain "
            "HTTP gets the cookie without Secure, and the browser drops it), or drop the "
            "prefix.",
        )


def _adopt_from(p: _Parser, raw: Mapping[str, Any]) -> type[Any] | None:
    """``ADOPT_FROM``: a dotted engine path whose ``SessionStore`` is (a subclass of) one of
    Django's engines, which :mod:`sessionkit.adopt` can read and claim from."""
    path = raw.get("ADOPT_FROM")
    if path is None:
        return None
    from sessionkit.adopt import ENGINES  # imports Django's engines: only when asked for

    hint = (
        "Set it to the SESSION_ENGINE the site used before sessionkit, one of "
        "django.contrib.sessions.backends.db, .cached_db, .cache, .file or "
        ".signed_cookies, or sessionkit.backends.connect_redis (or None)."
    )
    try:
        engine = import_string(f"{path}.SessionStore") if isinstance(path, str) else None
    except Exception as exc:  # any import failure is a settings problem
        p.error("E024", f"SESSIONKIT['ADOPT_FROM'] = {path!r} cannot be imported: {exc}.", hint)
        return None
    if isinstance(engine, type) and getattr(engine, "adopts_by_id", False):
        return engine  # connect_redis: an Express app's sessions, moved to the same ids
    if not (isinstance(engine, type) and issubclass(engine, ENGINES)):
        p.error(
            "E024",
            f"SESSIONKIT['ADOPT_FROM'] = {path!r} is not a Django session engine sessionkit "
            "can adopt sessions from.",
            hint,
        )
        return None
    needs_table = issubclass(engine, ENGINES[:2])  # db, cached_db: Django's model
    if needs_table and apps.ready and not apps.is_installed("django.contrib.sessions"):
        p.error(
            "E024",
            f"SESSIONKIT['ADOPT_FROM'] = {path!r} reads Django's django_session table, "
            "but django.contrib.sessions is not in INSTALLED_APPS.",
            "Keep django.contrib.sessions installed until every session has moved "
            "(manage.py sessionkit_adopt, then SESSION_COOKIE_AGE), then remove both.",
        )
        return None
    return engine


def _num_proxies(p: _Parser, raw: Mapping[str, Any], proxy: bool | None) -> int | None:
    """``NUM_PROXIES``: ``None`` or an int >= 0 (E026); used only with ``PROXY=True`` (W025)."""
    value = raw.get("NUM_PROXIES")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        p.error(
            "E026",
            f"SESSIONKIT['NUM_PROXIES'] must be None or an int >= 0, not {value!r}.",
            "Give how many proxies in front of the app append to X-Forwarded-For (as "
            "Django REST framework's NUM_PROXIES), or None.",
        )
        return None
    if proxy is not True:
        p.error(
            "W025",
            f"SESSIONKIT['NUM_PROXIES'] is {value!r} but PROXY is {proxy!r}: the client's "
            "IP address is REMOTE_ADDR, and NUM_PROXIES is ignored.",
            "Set SESSIONKIT['PROXY'] = True if the app is behind that many proxies, or "
            "remove NUM_PROXIES.",
        )
    return value


def _takes_request(genid: Callable[..., Any]) -> bool:
    """Whether ``genid(request)`` binds; ``True`` when its signature cannot be inspected."""
    try:
        signature = inspect.signature(genid)
    except (TypeError, ValueError):  # no signature to inspect (some builtins): accept it
        return True
    try:
        signature.bind(None)
    except TypeError:
        return False
    return True


def parse(raw: Any) -> SessionKitSettings:
    """Build the settings object from a raw ``SESSIONKIT`` value; never raises."""
    p = _Parser()
    raw = p.mapping(raw, "SESSIONKIT", TOP_LEVEL_KEYS, "E001")

    keys, explicit = _secrets(p, raw)
    name = _cookie_name(p, raw)
    proxy = raw.get("PROXY")
    if proxy is not None and not isinstance(proxy, bool):
        p.error(
            "E013",
            f"SESSIONKIT['PROXY'] must be True, False or None, not {proxy!r}.",
            "None lets request.is_secure() decide (SECURE_PROXY_SSL_HEADER).",
        )
        proxy = None
    genid = None
    if raw.get("GENID") is not None:
        try:
            genid = import_string(raw["GENID"])
            if not callable(genid):
                raise TypeError("not callable")
            if not _takes_request(genid):
                raise TypeError("it cannot be called with one argument, the request")
        except Exception as exc:  # any import failure is a settings problem
            p.error(
                "E007",
                f"SESSIONKIT['GENID'] = {raw['GENID']!r} cannot be used: {exc}.",
                "Give the dotted path of a callable(request) -> str.",
            )
            genid = None
    absolute = p.seconds(raw.get("ABSOLUTE_TIMEOUT"), "SESSIONKIT['ABSOLUTE_TIMEOUT']", None)
    idle = settings.SESSION_COOKIE_AGE
    if not _lifetime(idle):
        p.error(
            "E008",
            f"SESSION_COOKIE_AGE must be a positive int up to 50 years, not {idle!r}.",
            f"Set SESSION_COOKIE_AGE to a number of seconds from 1 to {MAX_LIFETIME}.",
        )
        idle = 1209600
    cookie = _cookie(p, raw.get("COOKIE"), idle)
    _check_name_prefix(p, name, cookie)
    return SessionKitSettings(
        keys=keys,
        secret_is_explicit=explicit,
        name=name,
        resave=p.boolean(raw, "RESAVE", False),
        save_uninitialized=p.boolean(raw, "SAVE_UNINITIALIZED", False),
        rolling=p.boolean(raw, "ROLLING", bool(settings.SESSION_SAVE_EVERY_REQUEST)),
        proxy=proxy,
        genid=genid,
        absolute_timeout=absolute,
        cookie=cookie,
        idle_timeout=idle,
        adopt_from=_adopt_from(p, raw),
        num_proxies=_num_proxies(p, raw, proxy),
        track_client=p.boolean(raw, "TRACK_CLIENT", True, "E025"),
        end_others_on_password_change=p.boolean(
            raw, "END_OTHERS_ON_PASSWORD_CHANGE", True, "E025"
        ),
        problems=tuple(p.problems),
    )


@cache
def get_settings() -> SessionKitSettings:
    """The current settings, parsed once and cached until a relevant setting changes."""
    return parse(getattr(settings, "SESSIONKIT", None))


# -- SESSIONKIT_REDIS ---------------------------------------------------------------------

REDIS_KEYS = frozenset(
    {
        "PREFIX",
        "CLIENT_FACTORY",
        "ASYNC_CLIENT_FACTORY",
        "CLIENT_CACHE",
        "CLIENT_CACHE_SIZE",
        "CONNECT_PREFIX",
        "CONNECT_TTL",
    }
)


@dataclass(frozen=True)
class RedisSettings:
    """The ``SESSIONKIT_REDIS`` setting of the Redis store (every key optional).

    Read without importing redis, so the checks and the reload signal work without it."""

    #: Prepended to every key; never contains ``{`` or ``}`` (hash tags are the store's).
    prefix: str = "sessionkit:"
    #: ``CLIENT_FACTORY``, imported: returns a redis-py client (``redis.Redis`` or
    #: ``redis.cluster.RedisCluster``); ``None``: django-redis's ``SESSION_CACHE_ALIAS``.
    client_factory: Callable[[], Any] | None = None
    #: ``ASYNC_CLIENT_FACTORY``, imported: returns a ``redis.asyncio`` client; ``None``:
    #: one is derived from the sync client's connection settings when it can be.
    async_client_factory: Callable[[], Any] | None = None
    #: ``CLIENT_CACHE``: keep sessions read in a process-local cache that Redis invalidates
    #: (``CLIENT TRACKING`` over RESP3, :mod:`sessionkit.backends.redis_cache`).
    client_cache: bool = False
    #: ``CLIENT_CACHE_SIZE``: most sessions that cache holds (least recently used dropped).
    client_cache_size: int = 10_000
    #: ``CONNECT_PREFIX``: connect-redis's ``prefix`` (the ``connect_redis`` store).
    connect_prefix: str = "sess:"
    #: ``CONNECT_TTL``: connect-redis's ``ttl``, seconds a session without a cookie expiry
    #: (a browser-session cookie) lives in Redis after its last request.
    connect_ttl: int = 86400
    problems: tuple[Problem, ...] = field(default=(), compare=False)


def _factory(p: _Parser, raw: Mapping[str, Any], key: str) -> Callable[[], Any] | None:
    """``SESSIONKIT_REDIS[key]`` imported, or ``None`` (its default) when unusable."""
    path = raw.get(key)
    if path is None:
        return None
    where = f"SESSIONKIT_REDIS[{key!r}]"
    hint = "Give the dotted path of a callable that takes no argument and returns a client."
    if not isinstance(path, str):
        p.error("E010", f"{where} must be a dotted path (a string), not {path!r}.", hint)
        return None
    try:
        factory = import_string(path)
    except Exception as exc:  # any import failure is a settings problem
        p.error("E010", f"{where} = {path!r} cannot be imported: {exc}.", hint)
        return None
    if not callable(factory):
        p.error("E010", f"{where} = {path!r} is not callable.", hint)
        return None
    return factory  # type: ignore[no-any-return]


def parse_redis(raw: Any) -> RedisSettings:
    """Build the Redis store's settings from a raw ``SESSIONKIT_REDIS``; never raises."""
    p = _Parser()
    raw = p.mapping(raw, "SESSIONKIT_REDIS", REDIS_KEYS, "E010")
    prefix = raw.get("PREFIX", RedisSettings.prefix)
    if not isinstance(prefix, str) or "{" in prefix or "}" in prefix:
        p.error(
            "E010",
            f"SESSIONKIT_REDIS['PREFIX'] must be a string without braces, not {prefix!r}.",
            "Braces make a Redis Cluster hash tag, and the store chooses its own; "
            "use e.g. 'myapp:sessions:'.",
        )
        prefix = RedisSettings.prefix
    client_cache = raw.get("CLIENT_CACHE", RedisSettings.client_cache)
    if not isinstance(client_cache, bool):
        p.error(
            "E010",
            f"SESSIONKIT_REDIS['CLIENT_CACHE'] must be True or False, not {client_cache!r}.",
            "Set it to True to keep sessions in a process-local cache Redis invalidates.",
        )
        client_cache = RedisSettings.client_cache
    size = raw.get("CLIENT_CACHE_SIZE", RedisSettings.client_cache_size)
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        p.error(
            "E010",
            f"SESSIONKIT_REDIS['CLIENT_CACHE_SIZE'] must be a positive int, not {size!r}.",
            "Give the most sessions the process-local cache may hold, e.g. 10000.",
        )
        size = RedisSettings.client_cache_size
    connect_prefix = raw.get("CONNECT_PREFIX", RedisSettings.connect_prefix)
    if not isinstance(connect_prefix, str):
        p.error(
            "E010",
            f"SESSIONKIT_REDIS['CONNECT_PREFIX'] must be a string, not {connect_prefix!r}.",
            "Give the Express app's connect-redis prefix (its default is 'sess:').",
        )
        connect_prefix = RedisSettings.connect_prefix
    connect_ttl = raw.get("CONNECT_TTL", RedisSettings.connect_ttl)
    if not isinstance(connect_ttl, int) or isinstance(connect_ttl, bool) or connect_ttl <= 0:
        p.error(
            "E010",
            f"SESSIONKIT_REDIS['CONNECT_TTL'] must be a positive int, not {connect_ttl!r}.",
            "Give the Express app's connect-redis ttl in seconds (its default is 86400).",
        )
        connect_ttl = RedisSettings.connect_ttl
    return RedisSettings(
        prefix=prefix,
        client_factory=_factory(p, raw, "CLIENT_FACTORY"),
        async_client_factory=_factory(p, raw, "ASYNC_CLIENT_FACTORY"),
        client_cache=client_cache,
        client_cache_size=size,
        connect_prefix=connect_prefix,
        connect_ttl=connect_ttl,
        problems=tuple(p.problems),
    )


@cache
def get_redis_settings() -> RedisSettings:
    """The Redis store's settings, parsed once and cached until ``SESSIONKIT_REDIS`` changes."""
    return parse_redis(getattr(settings, "SESSIONKIT_REDIS", None))


# -- reloading ------------------------------------------------------------------------------

_WATCHED = {"SESSIONKIT", "SECRET_KEY", "SECRET_KEY_FALLBACKS", "SESSION_ENGINE"}


#: Values other modules derive from settings (e.g. the Redis store's client), each with the
#: settings it depends on and how to forget it; see :func:`forget_on_change`.
_derived: list[tuple[frozenset[str], Callable[[], None]]] = []


def forget_on_change(setting_names: frozenset[str], clear: Callable[[], None]) -> None:
    """Call ``clear`` whenever one of ``setting_names`` changes (``override_settings``)."""
    _derived.append((setting_names, clear))


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in _WATCHED or setting.startswith("SESSION_"):
        get_settings.cache_clear()
    if setting == "SESSIONKIT_REDIS":
        get_redis_settings.cache_clear()
    for names, clear in _derived:
        if setting in names:
            clear()


def connect_signals() -> None:
    """Re-read the settings whenever ``override_settings`` changes one we depend on."""
    setting_changed.connect(_reload, dispatch_uid="sessionkit.conf.reload")
