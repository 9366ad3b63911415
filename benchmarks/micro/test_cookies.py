"""Parsing the session cookie out of a ``Cookie`` header (sessionkit.cookies)."""

from __future__ import annotations

from typing import Any

from sessionkit import signing
from sessionkit.backends.base import default_session_key
from sessionkit.cookies import read_cookie

KEY = signing.derive_key("sessionkit-benchmark-not-a-secret")
VALUE = signing.encode_cookie_value(default_session_key(), KEY)


def test_parse_alone(benchmark: Any) -> None:
    header = f"sessionid={VALUE}"
    assert benchmark(read_cookie, header, "sessionid") is not None


def test_parse_among_others(benchmark: Any) -> None:
    """A browser's usual header: analytics and CSRF cookies before the session's."""
    header = (
        "_ga=GA1.1.1234567890.1700000000; csrftoken=abcdefghijklmnopqrstuvwxyz012345; "
        f"theme=dark; _gid=GA1.1.987654321.1700000000; sessionid={VALUE}; lang=en"
    )
    assert benchmark(read_cookie, header, "sessionid") is not None
