"""The client's IP address, as the per-user session list records it.

express-session's ``proxy`` decides whether ``X-Forwarded-*`` headers are believed, and
sessionkit's ``PROXY`` follows it here too: with ``PROXY=True`` the address is the first of
``X-Forwarded-For`` (express's ``trust proxy: true``), or, with ``NUM_PROXIES = n``, the one
``n`` from its end (Django REST framework's rule: each of ``n`` proxies appended the address
it got the request from, so addresses before that one are whatever the client sent).
Otherwise it is ``REMOTE_ADDR``. Whatever is not an IP address is recorded as ``""``:
a header is never stored as text.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from typing import Any

from sessionkit.conf import SessionKitSettings

#: The longest address text stored (an IPv4-mapped IPv6 address; the db store's column).
MAX_IP_LENGTH = 45


@functools.lru_cache(maxsize=1024)
def _canonical(text: str) -> str:
    try:
        address = str(ipaddress.ip_address(text))
    except ValueError:
        return ""
    return address if len(address) <= MAX_IP_LENGTH else ""  # a long IPv6 zone id


def valid_ip(text: str) -> str:
    """``text`` as a canonical IP address (``[v6]`` brackets removed), or ``""``.
    Remembered (a client sends the same address on every request): only texts short
    enough to be an address are, so a flood of long headers only evicts entries."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return _canonical(text) if len(text) <= MAX_IP_LENGTH else ""


def client_ip(meta: Mapping[str, Any], conf: SessionKitSettings) -> str:
    """The client's address from a request's ``META`` under ``PROXY`` / ``NUM_PROXIES``."""
    remote = str(meta.get("REMOTE_ADDR") or "")
    forwarded = str(meta.get("HTTP_X_FORWARDED_FOR") or "")
    if conf.proxy is not True or not forwarded.strip() or conf.num_proxies == 0:
        return valid_ip(remote)
    hops = forwarded.split(",")
    if conf.num_proxies is None:
        return valid_ip(hops[0])
    return valid_ip(hops[-min(conf.num_proxies, len(hops))])
