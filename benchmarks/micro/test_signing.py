"""Signing and verifying the ``s:<id>.<sig>`` cookie value (sessionkit.signing)."""

from __future__ import annotations

from typing import Any

from sessionkit import signing
from sessionkit.backends.base import default_session_key

KEY = signing.derive_key("sessionkit-benchmark-not-a-secret")
OLD_KEY = signing.derive_key("an-older-secret")


def test_sign(benchmark: Any) -> None:
    session_id = default_session_key()
    value = benchmark(signing.encode_cookie_value, session_id, KEY)
    assert value.startswith("s%3A")


def test_verify(benchmark: Any) -> None:
    raw = signing.PREFIX + signing.sign(default_session_key(), KEY)
    assert benchmark(signing.decode_cookie_value, raw, [KEY]) is not None


def test_verify_with_an_older_secret(benchmark: Any) -> None:
    """A cookie signed by a fallback key costs one HMAC per key tried."""
    raw = signing.PREFIX + signing.sign(default_session_key(), KEY)
    assert benchmark(signing.decode_cookie_value, raw, [OLD_KEY, KEY]) is not None


def test_reject_forged(benchmark: Any) -> None:
    raw = signing.PREFIX + signing.sign(default_session_key(), OLD_KEY)
    assert benchmark(signing.decode_cookie_value, raw, [KEY]) is None
