"""How long a session lives, in the store and in the browser: the one place that says so.

A lifetime comes from three inputs: the session's ``_session_expiry`` (what
``set_expiry()`` stored: ``None``, ``0``, a number of seconds or an ISO date), the settings
(``COOKIE["MAX_AGE"]``, ``SESSION_COOKIE_AGE``, ``ABSOLUTE_TIMEOUT``) and the session's
creation time. From them this module derives what every other module asks:

- the store's expiry when a session is saved, its touch window (how far a read pushes the
  expiry back) and its absolute deadline (:func:`store_lifetime`);
- the new expiry after a read (:func:`touched_expiry`; the Redis store's Lua script keeps a
  documented copy of this rule, since it runs inside Redis);
- the lifetime a write stores over a session another request changed meanwhile, computed
  from the merged session (:func:`merged_lifetime`; Redis: the write scripts);
- the expiry of a stored session under the settings in force when it is read, so lowering
  ``ABSOLUTE_TIMEOUT`` or ``MAX_AGE`` reaches existing sessions (:func:`expiry_in_force`);
- the cookie's ``Max-Age`` (:func:`cookie_max_age`) and "expires at browser close".

The invariant, property-tested in ``tests/test_lifetime.py``: a stored session never
expires before the cookie the client holds, and never outlives its absolute deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # sessionkit.conf imports MAX_LIFETIME from here
    from sessionkit.conf import SessionKitSettings

#: The longest a session or its cookie lives: 50 years. Longer settings are refused
#: (sessionkit.E008); a ``set_expiry()`` further from now, ahead or past, is cut to it, so
#: no stored date overflows, and the age fits the db store's ``integer`` column (32 bits
#: on PostgreSQL: 68 years).
MAX_LIFETIME = 50 * 365 * 24 * 3600

#: The db store's read pushes the stored expiry back only when it moves by more than this
#: fraction of the session's age (capped at a minute); a cookie re-sent meanwhile is given
#: no more than the store holds (``cookie_max_age``'s ``stored_expires``).
TOUCH_SLACK = 0.01
TOUCH_SLACK_MAX = 60.0


@dataclass(frozen=True, slots=True)
class StoreLifetime:
    """When a session saved now expires in the store, and how reads extend it."""

    expires: float
    #: Seconds a read extends the session by; ``None`` for a fixed expiry date.
    age: int | None
    #: ``ABSOLUTE_TIMEOUT`` counted from creation, or ``None``.
    deadline: float | None


def store_age(conf: SessionKitSettings) -> int:
    """Seconds a session lives in the store after its last request, without ``set_expiry``:
    the cookie's ``MAX_AGE``, or ``SESSION_COOKIE_AGE`` for a browser-session cookie."""
    return conf.cookie.max_age if conf.cookie.max_age is not None else conf.idle_timeout


def deadline(created: float, conf: SessionKitSettings) -> float | None:
    """The absolute deadline of a session created at ``created``."""
    return created + conf.absolute_timeout if conf.absolute_timeout else None


def _fixed_date(custom: str) -> float | None:
    try:
        return datetime.fromisoformat(custom).timestamp()
    except ValueError:
        return None


def _seconds(custom: Any) -> bool:
    return isinstance(custom, int) and not isinstance(custom, bool) and custom != 0


def _custom_date(custom: Any) -> float | None:
    """The fixed expiry date ``set_expiry(datetime)`` stored, if that is what it is."""
    return _fixed_date(custom) if isinstance(custom, str) else None


def _idle_age(custom: Any, conf: SessionKitSettings) -> int:
    if _seconds(custom):  # set_expiry(n); a negative n has already expired
        return max(min(int(custom), MAX_LIFETIME), -MAX_LIFETIME)
    # None, 0 ("until the browser closes") or unreadable: the idle timeout
    return conf.idle_timeout if custom == 0 else store_age(conf)


def touch_age(custom: Any, conf: SessionKitSettings) -> int | None:
    """The touch window the settings give a session whose ``_session_expiry`` is
    ``custom``: ``set_expiry(n)`` keeps ``n``, a fixed date has none (``None``), anything
    else (``None``, ``0``, unreadable) gets the idle timeout in force."""
    return None if _custom_date(custom) is not None else _idle_age(custom, conf)


def store_lifetime(
    custom: Any, now: float, created: float, conf: SessionKitSettings
) -> StoreLifetime:
    """The store's expiry, touch window and deadline of a session saved at ``now``."""
    age: int | None
    fixed = _custom_date(custom)
    if fixed is not None:
        expires, age = max(min(fixed, now + MAX_LIFETIME), now - MAX_LIFETIME), None
    else:
        age = _idle_age(custom, conf)
        expires = now + age
    limit = deadline(created, conf)
    if limit is not None:
        expires = min(expires, limit)
    return StoreLifetime(expires, age, limit)


def earliest(*ends: float | None) -> float | None:
    """The earliest of some deadlines, ``None`` standing for "no deadline"."""
    known = [end for end in ends if end is not None]
    return min(known) if known else None


def merged_lifetime(
    custom: Any,
    now: float,
    created: float,
    stored_deadline: float | None,
    conf: SessionKitSettings,
) -> StoreLifetime:
    """The lifetime a write at ``now`` stores, computed from the session as merged with
    what the store holds (``custom``: the merged ``_session_expiry``), never from the
    writer's own copy: a concurrent write of another key then keeps a ``set_expiry()``
    another request made. The deadline only ever comes earlier: a writer never pushes back
    the ``stored_deadline`` (one with a longer ``ABSOLUTE_TIMEOUT`` in force, say)."""
    life = store_lifetime(custom, now, created, conf)
    limit = earliest(life.deadline, stored_deadline)
    expires = life.expires if limit is None else min(life.expires, limit)
    return StoreLifetime(expires, life.age, limit)


def expiry_in_force(
    expires: float,
    age: int | None,
    created: float,
    last_seen: float,
    custom: Any,
    conf: SessionKitSettings,
) -> float:
    """A stored session's expiry under the settings in force at read time: the stored
    ``expires``, brought forward to its last activity plus the idle timeout in force
    (:func:`touch_age`) and to ``created`` plus the ``ABSOLUTE_TIMEOUT`` in force. So
    lowering ``MAX_AGE``, ``SESSION_COOKIE_AGE`` or ``ABSOLUTE_TIMEOUT`` reaches every
    existing session on its next request; raising them lengthens nothing.

    The last activity is ``expires - age`` (when the session was last touched or
    written) or ``last_seen``, whichever is later: both are times the session was used,
    so the idle timeout never counts from later than its real last use. Never later than
    ``expires``; equal to it while the settings are the ones it was stored under."""
    ends = [expires]
    idle = touch_age(custom, conf)
    if age is not None and idle is not None and idle < age:
        ends.append(max(expires - (age - idle), last_seen + idle))
    if (limit := deadline(created, conf)) is not None:
        ends.append(limit)
    return min(ends)


def touched_expiry(expires: float, age: int | None, limit: float | None, now: float) -> float:
    """The stored expiry after a read at ``now``: ``now + age`` capped by the deadline,
    never earlier than it was (a concurrent ``set_expiry`` is never shortened here)."""
    if age is None:
        return expires
    touched = now + age
    if limit is not None:
        touched = min(touched, limit)
    return max(touched, expires)


def touch_slack(age: int | None) -> float:
    """How far a read may leave the stored expiry behind ``now + age`` (the db store: a
    busy session then costs no write per read)."""
    return 0.0 if age is None else min(TOUCH_SLACK_MAX, age * TOUCH_SLACK)


def expiry_after_read(
    expires: float, age: int | None, limit: float | None, now: float, slack: float
) -> float:
    """The stored expiry once a read at ``now`` has touched it, or left it where it was
    because the touch would move it by no more than ``slack``."""
    touched = touched_expiry(expires, age, limit, now)
    return touched if touched - expires > slack else expires


def expires_at_browser_close(custom: Any, conf: SessionKitSettings) -> bool:
    """Whether the cookie is a browser-session cookie (no ``Max-Age``)."""
    if custom is None:
        return conf.cookie.max_age is None
    return bool(custom == 0)


def cookie_max_age(
    custom: Any,
    now: float,
    conf: SessionKitSettings,
    *,
    limit: float | None,
    kept_expiry: float | None = None,
    stored_expires: float | None = None,
) -> int | None:
    """The cookie's ``Max-Age`` on a response sent at ``now``, or ``None`` for a
    browser-session cookie. ``kept_expiry``: re-issue the cookie with this stored expiry
    (re-signing only). Never beyond the absolute deadline ``limit``, nor beyond
    ``stored_expires``, the store's expiry when this response writes nothing."""
    if expires_at_browser_close(custom, conf):
        return None
    age: float
    if kept_expiry is not None:
        age = kept_expiry - now
    elif isinstance(custom, str):
        fixed = _fixed_date(custom)
        age = store_age(conf) if fixed is None else fixed - now
    elif _seconds(custom):
        age = custom
    else:
        age = store_age(conf)
    for end in (limit, stored_expires):
        if end is not None:
            age = min(age, end - now)
    return max(int(min(age, MAX_LIFETIME)), 0)
