"""express-session's stored session: ``JSON.stringify`` of the session object, its keys
beside a ``cookie`` object (express-session's ``Cookie#toJSON``).

connect-redis stores exactly this text under ``<prefix><id>`` (its default serializer is
``JSON``). Here it is split into what Django sees (every other key, as sessionkit's JSON
fields) and the ``cookie`` object, which stays out of Django's session dict and is rebuilt
on every write from the session's lifetime and the cookie settings, as express-session
rebuilds it from its ``cookie`` option. Pure conversions: no settings, no I/O.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sessionkit.session_fields import Fields, join_fields, to_fields

#: The key express-session keeps its cookie under; never a key of Django's session dict.
COOKIE = "cookie"


@dataclass(frozen=True, slots=True)
class ExpressSession:
    """A stored express-session session, as sessionkit reads it."""

    #: Every key but ``cookie``, each as JSON text.
    fields: Fields
    #: ``cookie.originalMaxAge`` in milliseconds; ``None`` for a browser-session cookie.
    original_max_age: float | None
    #: ``cookie.expires`` as a timestamp; ``None`` for a browser-session cookie.
    expires: float | None


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _date(value: Any) -> float | None:
    """A ``Date#toJSON`` string (``2026-01-02T03:04:05.678Z``) as a timestamp."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def js_date(timestamp: float) -> str:
    """``timestamp`` as JavaScript's ``Date#toJSON`` writes it (millisecond, ``Z``)."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse(text: str | bytes) -> ExpressSession | None:
    """A stored value as express-session would load it, or ``None`` when it is not one (not
    JSON, not an object, no ``cookie`` object: express-session's ``createSession`` would
    fail on it too)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(cookie := obj.pop(COOKIE, None), dict):
        return None
    try:
        fields = to_fields(obj)
    except ValueError:  # a number JSON.parse reads but Python's JSON cannot write (1e999)
        return None
    return ExpressSession(
        fields, _number(cookie.get("originalMaxAge")), _date(cookie.get("expires"))
    )


def cookie_object(
    original_max_age: int | None,
    expires: float | None,
    *,
    secure: bool,
    httponly: bool,
    domain: str | None,
    path: str,
    samesite: str | None,
) -> dict[str, Any]:
    """express-session's ``cookie`` object, its keys in ``Cookie#data``'s order; the ones
    express-session leaves ``undefined`` (so ``JSON.stringify`` omits them) left out."""
    cookie: dict[str, Any] = {
        "originalMaxAge": original_max_age,
        "expires": None if expires is None else js_date(expires),
        "secure": secure,
        "httpOnly": httponly,
    }
    if domain is not None:
        cookie["domain"] = domain
    cookie["path"] = path
    if samesite is not None:
        cookie["sameSite"] = samesite.lower()
    return cookie


def dump(fields: Fields, cookie: dict[str, Any]) -> str:
    """The stored value: the ``cookie`` object first (where express-session puts it), then
    the fields' JSON texts as they are."""
    return join_fields({COOKIE: json.dumps(cookie, separators=(",", ":")), **fields})
