"""The client's IP address as sessions record it: ``PROXY`` and ``NUM_PROXIES`` decide
whether ``X-Forwarded-For`` is believed, and only an IP address is ever stored."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

import sessionkit
import sessionkit.test
from sessionkit.backends.base import hash_key
from sessionkit.client_ip import client_ip
from sessionkit.conf import parse
from sessionkit.models import Session

CHAIN = "203.0.113.7, 198.51.100.2, 192.0.2.1"  # client, proxy 1, proxy 2


def ip(remote: str = "10.0.0.1", forwarded: str | None = CHAIN, **sessionkit: Any) -> str:
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(meta, parse(sessionkit))


@pytest.mark.parametrize("proxy", [None, False])
def test_without_proxy_true_the_address_is_remote_addr(proxy: bool | None) -> None:
    assert ip(PROXY=proxy) == "10.0.0.1"
    assert ip(PROXY=proxy, NUM_PROXIES=2) == "10.0.0.1"


def test_proxy_true_takes_the_first_forwarded_address() -> None:
    assert ip(PROXY=True) == "203.0.113.7"
    assert ip(PROXY=True, forwarded="  2001:DB8::1 ,10.0.0.9") == "2001:db8::1"


@pytest.mark.parametrize(
    ("num_proxies", "expected"),
    [
        (0, "10.0.0.1"),
        (1, "192.0.2.1"),
        (2, "198.51.100.2"),
        (3, "203.0.113.7"),
        (9, "203.0.113.7"),
    ],
)
def test_num_proxies_counts_from_the_end_as_django_rest_framework(
    num_proxies: int, expected: str
) -> None:
    assert ip(PROXY=True, NUM_PROXIES=num_proxies) == expected


def test_proxy_true_without_a_forwarded_header_is_remote_addr() -> None:
    assert ip(PROXY=True, forwarded=None) == "10.0.0.1"
    assert ip(PROXY=True, forwarded=" ") == "10.0.0.1"


@pytest.mark.parametrize(
    "garbage",
    ["unknown", "<script>", "203.0.113.7:443", "1.2.3.4.5", "x" * 100, "", "2001:db8::1]"],
)
def test_anything_but_an_ip_address_is_recorded_as_empty(garbage: str) -> None:
    assert ip(remote=garbage, forwarded=None) == ""
    assert ip(PROXY=True, forwarded=f"{garbage}, 10.0.0.9") == ""


def test_a_bracketed_ipv6_address_is_accepted() -> None:
    assert ip(remote="[::1]", forwarded=None) == "::1"


def test_an_address_too_long_for_the_column_is_recorded_as_empty() -> None:
    assert ip(remote="fe80::1%eth0", forwarded=None) == "fe80::1%eth0"
    assert ip(remote="fe80::1%" + "z" * 40, forwarded=None) == ""


# -- through the middleware, into the store --------------------------------------------------


@pytest.mark.db
@pytest.mark.django_db
def test_the_recorded_ip_follows_proxy_and_garbage_is_stored_empty(settings) -> None:
    user = User.objects.create_user("lin", password="pw-123456")
    settings.SESSIONKIT = {"PROXY": True, "NUM_PROXIES": 1}
    behind = sessionkit.test.Client(HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    behind.force_login(user)
    behind.get("/write/?n=1")
    settings.SESSIONKIT = {}
    forged = sessionkit.test.Client(REMOTE_ADDR="not-an-ip'); DROP TABLE")
    forged.force_login(user)
    forged.get("/write/?n=1")
    ips = {hash_key(c.session.session_key): None for c in (behind, forged)}
    for listed in sessionkit.user_sessions(user):
        ips[listed.handle] = listed.ip
    assert list(ips.values()) == ["203.0.113.7", ""]


@pytest.mark.db
@pytest.mark.django_db
def test_track_client_false_stores_neither_ip_nor_user_agent(settings) -> None:
    settings.SESSIONKIT = {"TRACK_CLIENT": False}
    browser = sessionkit.test.Client(HTTP_USER_AGENT="Phone/1.0")
    browser.get("/write/?n=1")
    row = Session.objects.get(pk=hash_key(browser.session.session_key))
    assert (row.user_agent, row.ip) == ("", "")
    settings.SESSIONKIT = {}
    browser.get("/write/?n=2")
    row.refresh_from_db()
    assert (row.user_agent, row.ip) == ("Phone/1.0", "127.0.0.1")
    settings.SESSIONKIT = {"TRACK_CLIENT": False}
    browser.get("/write/?n=3")  # turned off: what was stored goes on the next write
    row.refresh_from_db()
    assert (row.user_agent, row.ip) == ("", "")
