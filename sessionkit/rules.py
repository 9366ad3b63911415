"""express-session's per-request rules, as a pure function of what the request did.

After the view, the middleware takes one frozen :class:`Snapshot` of the session and asks
:func:`plan` what to do: write the store, send the cookie (with which ``Max-Age``), clear
it. ``plan`` reads nothing else, so reading it cannot load the store or mark the session
accessed, and it is tested row by row against the README's table without any HTTP.

Each clause is a named predicate mirroring express-session's ``shouldSave`` /
``shouldTouch`` / ``shouldSetCookie`` / ``shouldDestroy``, plus sessionkit's documented
improvements (clearing a cookie that led nowhere, re-signing, ``set_expiry()`` taking
effect at once, no save on a server error).
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionkit import lifetime
from sessionkit.conf import SessionKitSettings
from sessionkit.session_fields import Fields, decode_value

EXPIRY = "_session_expiry"


@dataclass(frozen=True, slots=True, kw_only=True)
class CookieState:
    """What the request's cookie said, decided before the view runs."""

    present: bool
    #: The verified session id, or ``None`` (no cookie, unsigned, forged, malformed).
    key: str | None
    #: Verified by an older secret: re-sign it with the current one.
    stale_signature: bool


@dataclass(slots=True, kw_only=True)
class Snapshot:
    """The session as the view left it, read once (never loading it). Treated as read-only
    (not ``frozen``: a frozen dataclass costs a microsecond more to build, per request)."""

    #: The session id now (``None``: no id yet, or dropped by ``flush()``).
    key: str | None
    #: Whether the view (or the touch step) read or wrote the session.
    accessed: bool
    #: The session's fields as loaded from the store; ``None`` if it did not come from it.
    loaded: Fields | None
    #: The session's fields now.
    current: Fields
    #: ``flush()`` ended the session during this request.
    destroyed: bool
    #: The session dict differs from what the store holds.
    unsaved: bool
    #: Loading the session already pushed its stored expiry back (sessionkit's stores).
    touched_on_load: bool
    #: The stored expiry as loaded, before any touch (``None``: unknown).
    loaded_expires: float | None
    #: The stored expiry when loading left it where it was instead of renewing it (the db
    #: store's touch slack); ``None``: renewed, or unknown.
    stored_expires: float | None
    #: The absolute deadline the session has, or gets when saved now (``None``: none).
    deadline: float | None
    #: When the snapshot was taken.
    now: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What to do with the store and the cookie once the view has run."""

    write: bool
    set_cookie: bool
    clear_cookie: bool
    #: The cookie's ``Max-Age`` when it is set (``None``: a browser-session cookie).
    max_age: int | None = None


NOTHING = Plan(write=False, set_cookie=False, clear_cookie=False)


# -- what happened ---------------------------------------------------------------------


def untouched(s: Snapshot, cookie: CookieState) -> bool:
    """The request carried a valid cookie and never used its session: leave it be."""
    return cookie.key is not None and s.key == cookie.key and not s.accessed


def continued(s: Snapshot, cookie: CookieState) -> bool:
    """The session was loaded from the store under the cookie's id and keeps it."""
    return s.loaded is not None and s.key is not None and s.key == cookie.key


def led_nowhere(s: Snapshot, cookie: CookieState) -> bool:
    """The request carried a cookie that gave no session: unsigned, forged, or naming an
    id the store does not hold."""
    return cookie.present and (cookie.key is None or (s.accessed and not continued(s, cookie)))


def destroyed(s: Snapshot) -> bool:
    """``flush()`` ended the session and nothing new was put in it (express-session's
    ``shouldDestroy``)."""
    return s.key is None and not s.current and (s.loaded is not None or s.destroyed)


def modified(s: Snapshot, cookie: CookieState) -> bool:
    """The content differs from what was loaded, by value. A new session counts as
    modified once it holds data or was given an id."""
    if continued(s, cookie):
        return s.current != s.loaded
    return bool(s.current) or s.key is not None


def expiry_changed(s: Snapshot) -> bool:
    """``set_expiry()`` was called with a new value."""
    return (s.loaded or {}).get(EXPIRY) != s.current.get(EXPIRY)


def has_expiry(s: Snapshot, conf: SessionKitSettings) -> bool:
    """The cookie has an expiry (express-session's ``cookie.expires != null``)."""
    return not lifetime.expires_at_browser_close(_custom_expiry(s), conf)


# -- express-session's should* ---------------------------------------------------------


def should_save(s: Snapshot, cookie: CookieState, conf: SessionKitSettings) -> bool:
    """``shouldSave``: a new session once it is wanted and not yet stored as it is; a
    loaded one when modified, or always with ``RESAVE``."""
    if continued(s, cookie):
        return modified(s, cookie) or conf.resave
    return should_set_cookie(s, cookie, conf) and (s.key is None or s.unsaved)


def should_touch(s: Snapshot, cookie: CookieState, conf: SessionKitSettings) -> bool:
    """``shouldTouch`` for a store whose reads cannot push the expiry back (Django's
    engines): with ``ROLLING`` the cookie's new lifetime is written by saving."""
    return (
        continued(s, cookie)
        and conf.rolling
        and not s.touched_on_load
        and not should_save(s, cookie, conf)
    )


def should_set_cookie(s: Snapshot, cookie: CookieState, conf: SessionKitSettings) -> bool:
    """``shouldSetCookie``, with ``set_expiry()`` taking effect at once and a cookie
    signed by an older secret re-signed."""
    if not continued(s, cookie):
        return conf.save_uninitialized or modified(s, cookie)
    return (
        conf.rolling
        or expiry_changed(s)
        or (modified(s, cookie) and has_expiry(s, conf))
        or cookie.stale_signature
    )


def only_resigning(s: Snapshot, cookie: CookieState, conf: SessionKitSettings) -> bool:
    """The cookie is re-sent only to re-sign it: it keeps the expiry it had."""
    return continued(s, cookie) and not (conf.rolling or modified(s, cookie))


# -- the plan --------------------------------------------------------------------------


def plan(conf: SessionKitSettings, cookie: CookieState, s: Snapshot, status: int) -> Plan:
    """What to do after the view: express-session's rules and sessionkit's improvements."""
    if untouched(s, cookie):
        return NOTHING
    if status >= 500:  # as Django: never save on a server error
        return Plan(
            write=False,
            set_cookie=False,
            clear_cookie=led_nowhere(s, cookie) and s.key is None,
        )
    if destroyed(s):
        return Plan(write=False, set_cookie=False, clear_cookie=cookie.present)
    set_cookie = should_set_cookie(s, cookie, conf)
    return Plan(
        write=should_save(s, cookie, conf) or should_touch(s, cookie, conf),
        set_cookie=set_cookie,
        clear_cookie=not set_cookie and led_nowhere(s, cookie),
        max_age=_max_age(s, cookie, conf) if set_cookie else None,
    )


def _custom_expiry(s: Snapshot) -> object:
    """The ``set_expiry()`` value, decoded from its field (``None`` when unset)."""
    text = s.current.get(EXPIRY)
    try:
        return None if text is None else decode_value(text)
    except ValueError:
        return None


def _max_age(s: Snapshot, cookie: CookieState, conf: SessionKitSettings) -> int | None:
    kept = s.loaded_expires if only_resigning(s, cookie, conf) else None
    # A loaded session this response does not write keeps the expiry its read left.
    unwritten = continued(s, cookie) and not should_save(s, cookie, conf)
    return lifetime.cookie_max_age(
        _custom_expiry(s),
        s.now,
        conf,
        limit=s.deadline,
        kept_expiry=kept,
        stored_expires=s.stored_expires if unwritten else None,
    )
