"""Fuzz target: the cookie parser and the signature check, from a raw ``Cookie`` header to
the session id a request is given (``make fuzz``).

Not part of the normal run (``-m fuzz``, deselected by default): it runs under the
``fuzz`` Hypothesis profile (``HYPOTHESIS_PROFILE=fuzz``), many more examples from
generators that tests/test_cookies.py and tests/test_signing.py do not use: headers made of
raw bytes as WSGI hands them over (Latin-1), many same-named cookies, mutations of genuine
signed values, whole secret lists with duplicates, sizes around the limits, and the
middleware itself behind it all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import string
from urllib.parse import quote

import pytest
from django.test import Client, override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionkit.backends.memory import SessionStore as MemoryStore
from sessionkit.conf import get_settings
from sessionkit.cookies import MAX_HEADER_LENGTH, MAX_VALUE_LENGTH, read_cookie
from sessionkit.signing import (
    MAX_SIGNED_LENGTH,
    PREFIX,
    Unsigned,
    decode_cookie_value,
    encode_cookie_value,
)

pytestmark = pytest.mark.fuzz

NAME = "sessionid"
# Session ids as sessionkit and express-session make them (base64url), dots allowed.
ids = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=80)
# Keys as conf.py makes them: UTF-8 of a SECRET, or a 32-byte derived key.
keys_ = st.one_of(
    st.binary(min_size=1, max_size=64),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40).map(str.encode),
)
key_lists = st.lists(keys_, min_size=1, max_size=5)
# Text that can be percent-encoded (no lone surrogates).
encodable = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
# RFC 6265 cookie-octet: what a Set-Cookie value may hold without quoting.
COOKIE_OCTETS = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
# What a WSGI server gives Django: the header's bytes decoded as Latin-1.
wsgi_headers = st.binary(max_size=1500).map(lambda raw: raw.decode("latin-1"))
# The pieces cookie headers are made of, in any order and amount.
PIECES = [
    NAME, "sessionid2", "SESSIONID", "=", ";", "; ", " ", "\t", '"', "%", "%3A", "%3a", "%25",
    "%zz", "%C3", "%C3%A9", "%00", "s:", "s%3A", ".", "+", "/", "\x00", "\u00e9", "\udc80",
    "\U0001f600", "\r\n", ",",
]  # fmt: skip
piece_headers = st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=200).map("".join)


def on_the_wire(header: str) -> str:
    """``header`` as a WSGI server hands it over: its UTF-8 bytes read as Latin-1."""
    return header.encode("utf-8", "surrogatepass").decode("latin-1")


def by_hand(value: str, key: bytes) -> str:
    """cookie-signature's signature, written out apart from sessionkit."""
    mac = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode().rstrip("=")


def hmac_equivalent(a: bytes, b: bytes) -> bool:
    """Whether HMAC treats two keys as one: it hashes keys longer than its block and pads
    shorter ones with zero bytes (so ``k`` and ``k + b"\\0"`` sign alike). Not a flaw of
    sessionkit's; such pairs are left out of the forgery properties."""

    def normal(key: bytes) -> bytes:
        return (hashlib.sha256(key).digest() if len(key) > 64 else key).rstrip(b"\0")

    return normal(a) == normal(b)


# -- the parser alone ------------------------------------------------------------------------


@given(header=st.one_of(wsgi_headers, piece_headers, st.text(max_size=1500)), name=st.text())
def test_any_header_reads_as_none_or_a_string_within_the_limits(header: str, name: str) -> None:
    for wanted in (name, NAME):
        value = read_cookie(header, wanted)
        assert value is None or isinstance(value, str)
        if value is not None:
            assert len(value) <= MAX_VALUE_LENGTH
            assert len(header) <= MAX_HEADER_LENGTH


pairs = st.lists(
    st.tuples(
        st.sampled_from([NAME, f" {NAME}", f"{NAME}\t", "other", "SESSIONID", f"x{NAME}"]),
        encodable,
        st.sampled_from(["; ", ";", ";  ", "; junk; "]),
    ),
    min_size=1,
    max_size=12,
)


@given(pairs=pairs, quoted=st.booleans())
def test_the_first_cookie_of_that_name_wins_among_many(
    pairs: list[tuple[str, str, str]], quoted: bool
) -> None:
    header = ""
    for name, value, separator in pairs:
        encoded = quote(value, safe="")
        if quoted:
            encoded = f'"{encoded}"'
        header += f"{name}={encoded}{separator}"
    first = next((value for name, value, _ in pairs if name.strip(" \t") == NAME), None)
    assert read_cookie(header, NAME) == first


@given(
    unit=st.text(alphabet=string.ascii_letters + "%:.", min_size=1, max_size=4),
    size=st.integers(min_value=0, max_value=MAX_VALUE_LENGTH + 8),
    before=st.integers(min_value=0, max_value=MAX_HEADER_LENGTH + 64),
    after=st.integers(min_value=0, max_value=64),
)
def test_oversized_headers_and_values_are_never_read(
    unit: str, size: int, before: int, after: int
) -> None:
    value = (unit * size)[:size]
    header = f"pad={'x' * before}; {NAME}={value}; tail={'y' * after}"
    got = read_cookie(header, NAME)
    if len(header) > MAX_HEADER_LENGTH:
        assert got is None
    elif len(value) > MAX_VALUE_LENGTH:
        assert got == ""
    else:
        assert got is not None and len(got) <= len(value)


# -- the signature check ---------------------------------------------------------------------


@given(text=st.one_of(wsgi_headers, piece_headers, st.text(max_size=1500)), keys=st.lists(keys_))
def test_any_value_with_any_keys_is_none_or_a_genuine_signature(
    text: str, keys: list[bytes]
) -> None:
    result = decode_cookie_value(text, keys)
    if result is not None:
        assert text == f"{PREFIX}{result.value}.{by_hand(result.value, keys[result.key_index])}"
        assert len(text) - len(PREFIX) <= MAX_SIGNED_LENGTH


@given(session_id=ids, keys=key_lists, signer=st.integers(min_value=0, max_value=4))
def test_round_trip_through_the_header_with_any_secret_list(
    session_id: str, keys: list[bytes], signer: int
) -> None:
    signer %= len(keys)
    value = encode_cookie_value(session_id, keys[signer])
    assert COOKIE_OCTETS.fullmatch(value)  # Set-Cookie sends it as is, never quoted
    raw = read_cookie(f"a=1; {NAME}={value}; {NAME}=second", NAME)
    assert raw is not None
    # The first key that signs alike verifies it (a list may repeat a secret).
    first = next(i for i, key in enumerate(keys) if hmac_equivalent(key, keys[signer]))
    assert decode_cookie_value(raw, keys) == Unsigned(session_id, first)


MUTATIONS = ["flip", "insert", "delete", "swap_case", "encode", "truncate", "duplicate"]
# One edit: its kind, where (taken modulo the length), and the text it may put there.
edits = st.tuples(
    st.sampled_from(MUTATIONS),
    st.integers(min_value=0, max_value=1 << 16),
    st.text(st.characters(exclude_categories=["Cs"], max_codepoint=0x2FF), max_size=3),
)


def mutate(genuine: str, recipe: list[tuple[str, int, str]]) -> str:
    """``genuine`` after the edits an attacker or a proxy makes. The recipe is drawn apart
    from the text, so the same draws edit any text (the session ids are random)."""
    text = genuine
    for kind, where, chars in recipe:
        at = where % (len(text) + 1)
        if kind == "flip":
            text = text[:at] + (chars or "x") + text[at + 1 :]
        elif kind == "insert":
            text = text[:at] + chars + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + 1 :]
        elif kind == "swap_case":
            text = text[:at] + text[at:].swapcase()
        elif kind == "encode":
            text = text[:at] + quote(text[at:], safe="")
        elif kind == "truncate":
            text = text[:at]
        else:
            text = text[:at] + text[at:] * 2
    return text


recipes = st.lists(edits, min_size=1, max_size=4)


@given(session_id=ids, keys=key_lists, recipe=recipes)
def test_a_mutated_cookie_verifies_only_if_it_reads_as_the_genuine_one(
    session_id: str, keys: list[bytes], recipe: list[tuple[str, int, str]]
) -> None:
    genuine = encode_cookie_value(session_id, keys[0])
    cookie = mutate(genuine, recipe)
    raw = read_cookie(f"{NAME}={cookie}", NAME)
    result = None if raw is None else decode_cookie_value(raw, keys)
    if result is not None:
        assert raw == PREFIX + session_id + "." + by_hand(session_id, keys[0])
        assert result.value == session_id


@given(
    session_id=ids,
    other_id=ids,
    key=keys_,
    other_key=keys_,
    mac=st.binary(min_size=32, max_size=32),
)
def test_forged_signatures_never_verify(
    session_id: str, other_id: str, key: bytes, other_key: bytes, mac: bytes
) -> None:
    if other_id == session_id:
        other_id += "x"
    if hmac_equivalent(key, other_key):
        other_key = key + b"!"
    forged = [
        by_hand(session_id, other_key),  # the right id, another secret
        by_hand(other_id, key),  # the right secret, another id
        base64.b64encode(mac).decode().rstrip("="),  # any 32 bytes
        base64.urlsafe_b64encode(hmac.new(key, session_id.encode(), "sha256").digest())
        .decode()
        .rstrip("="),  # the right MAC in the other base64 alphabet
    ]
    for signature in forged:
        if signature == by_hand(session_id, key):
            continue  # the urlsafe form of a MAC with neither '+' nor '/': the genuine one
        assert decode_cookie_value(f"{PREFIX}{session_id}.{signature}", [key]) is None


# -- the middleware behind it ----------------------------------------------------------------


# A request through the whole middleware stack costs more than a call: fewer of them.
@settings(max_examples=max(settings.default.max_examples // 3, 10))
@given(
    header=st.one_of(wsgi_headers, piece_headers.map(on_the_wire)),
    where=st.sampled_from(["absent", "mutated", "genuine"]),
    recipe=recipes,
)
def test_no_cookie_header_errors_or_reaches_a_session_it_does_not_sign_for(
    header: str, where: str, recipe: list[tuple[str, int, str]]
) -> None:
    with override_settings(SESSION_ENGINE="sessionkit.backends.memory"):
        store = MemoryStore()
        store["x"] = "private"
        store.save()
        key = store.session_key
        assert key is not None
        genuine = encode_cookie_value(key, get_settings().keys[0])
        cookie = {"absent": None, "mutated": mutate(genuine, recipe), "genuine": genuine}
        prefix = header
        if cookie[where] is not None:
            header = on_the_wire(f"{header}; {NAME}={cookie[where]}")
        response = Client().get("/read/", HTTP_COOKIE=header)
        assert response.status_code == 200
        raw = read_cookie(header, NAME)
        verified = None if raw is None else decode_cookie_value(raw, get_settings().keys)
        reaches = verified is not None and verified.value == key
        assert (response.json()["value"] == "private") == reaches
        if where == "genuine" and read_cookie(prefix, NAME) is None:
            assert reaches  # the genuine cookie is the first of its name
