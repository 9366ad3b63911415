"""A pymemcache serde for a memcached cache that holds sessionkit's sessions.

Django's ``PyMemcacheCache`` uses pymemcache's ``pickle_serde``, which unpickles every item
whose flags say "pickled": whoever can write to memcached chooses the flags, so reading a
planted item runs their code. Give the sessions' cache alias this serde instead::

    from sessionkit.backends.memcached_serde import BytesSerde

    CACHES["sessions"] = {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": "127.0.0.1:11211",
        "OPTIONS": {"serde": BytesSerde()},
    }

It stores bytes as they are and returns what the server holds as bytes, whatever its
flags, so that alias can hold nothing but bytes (sessions). Imports nothing, so a settings
module can import it.
"""

from __future__ import annotations

from typing import Any


class BytesSerde:
    """Bytes in, bytes out: never a pickle, in either direction."""

    def serialize(self, key: Any, value: Any) -> tuple[bytes, int]:
        if not isinstance(value, bytes):
            raise TypeError(
                f"this memcached cache holds bytes only (BytesSerde), not {type(value).__name__}"
            )
        return value, 0

    def deserialize(self, key: Any, value: bytes, flags: int) -> bytes:
        return value
