"""``s:<id>.<signature>`` cookie values, byte-compatible with express-session.

The signature is cookie-signature's: base64 (standard alphabet, ``=`` stripped) of
HMAC-SHA256(key, id). Several keys may verify; the first one signs (secret rotation).
A key is an explicit ``SESSIONKIT["SECRET"]`` as UTF-8, or :func:`derive_key` of Django's
``SECRET_KEY`` (and of each fallback).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import quote

from django.utils.crypto import salted_hmac

PREFIX = "s:"
#: Longest signed value we try to verify; anything longer is rejected unread.
MAX_SIGNED_LENGTH = 1024
# encodeURIComponent leaves these unescaped.
_URI_COMPONENT_SAFE = "-_.!~*'()"
#: Salt for deriving the signing key from ``SECRET_KEY`` (never used as the key itself).
#: Changing it (or the derivation) invalidates every cookie signed with a derived key.
KEY_SALT = "sessionkit.signing.cookie-key"


class Unsigned(NamedTuple):
    """A verified value and the index of the key that verified it (0 = current key)."""

    value: str
    key_index: int


def derive_key(secret_key: str | bytes) -> bytes:
    """Signing key for a Django ``SECRET_KEY``: HMAC-SHA256 derived with :data:`KEY_SALT`."""
    return salted_hmac(KEY_SALT, "v1", secret=secret_key, algorithm="sha256").digest()


def signature(value: str, key: bytes) -> str:
    """cookie-signature's signature of ``value``."""
    digest = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii").rstrip("=")


def sign(value: str, key: bytes) -> str:
    """``value.signature``, as cookie-signature's ``sign``."""
    return f"{value}.{signature(value, key)}"


def unsign(signed: str, keys: Sequence[bytes]) -> Unsigned | None:
    """The value if any key verifies ``signed``, else ``None``. Compares in constant time."""
    if len(signed) > MAX_SIGNED_LENGTH or not signed.isascii():
        return None
    value, dot, sig = signed.rpartition(".")
    if not dot or not value:
        return None
    given = sig.encode("ascii")
    for index, key in enumerate(keys):
        if hmac.compare_digest(given, signature(value, key).encode("ascii")):
            return Unsigned(value, index)
    return None


def encode_cookie_value(session_id: str, key: bytes) -> str:
    """The Set-Cookie value express-session writes: ``s%3A<id>.<sig>``, URI-component encoded."""
    return quote(PREFIX + sign(session_id, key), safe=_URI_COMPONENT_SAFE)


def decode_cookie_value(raw: str, keys: Sequence[bytes]) -> Unsigned | None:
    """Verify an already percent-decoded cookie value; ``None`` if unsigned or forged."""
    if not raw.startswith(PREFIX):
        return None
    return unsign(raw[len(PREFIX) :], keys)
