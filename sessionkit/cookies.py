"""Reading the session cookie from a ``Cookie`` header the way express-session does.

Django's ``request.COOKIES`` keeps the *last* of two same-named cookies and unquotes
differently; express-session (via ``cookie.parse``) keeps the *first*, strips surrounding
double quotes and percent-decodes. We follow express-session so both sides agree.
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import unquote

#: A cookie header larger than this is not parsed at all (browsers send far less).
MAX_HEADER_LENGTH = 65536
#: A session cookie value larger than this is ignored (browsers cap a cookie at 4 KB).
MAX_VALUE_LENGTH = 4096
# A ``%`` not followed by two hex digits makes decodeURIComponent throw.
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# cookie.parse trims only spaces and tabs (HTTP's optional whitespace), nothing else.
_OWS = " \t"


def read_cookie(header: str, name: str) -> str | None:
    """The decoded value of the first cookie called exactly ``name``, or ``None``.

    An oversized value reads as ``""``: present but unusable, so the middleware clears it.
    """
    if not header or len(header) > MAX_HEADER_LENGTH:
        return None
    for pair in header.split(";"):
        key, eq, value = pair.partition("=")
        if not eq or key.strip(_OWS) != name:
            continue
        value = value.strip(_OWS)
        if len(value) > MAX_VALUE_LENGTH:
            return ""
        if value[:1] == value[-1:] == '"':  # as cookie.parse: a lone '"' becomes ''
            value = value[1:-1]
        if "%" in value and not _BAD_ESCAPE.search(value):
            # Not UTF-8: decodeURIComponent throws and cookie.parse keeps the raw value.
            with contextlib.suppress(UnicodeDecodeError):
                value = unquote(value, errors="strict")
        return value
    return None
