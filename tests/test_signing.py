"""The signed cookie value: ``s:<id>.<sig>``, byte-compatible with express-session.

CONTRACT section 3. Expected signatures are computed here by hand (hmac + base64), and,
where Node is available, by the real ``cookie-signature`` package express-session uses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import string
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from hypothesis import assume, example, given
from hypothesis import strategies as st

from sessionkit.conf import get_settings
from sessionkit.cookies import read_cookie
from sessionkit.signing import (
    KEY_SALT,
    MAX_SIGNED_LENGTH,
    Unsigned,
    decode_cookie_value,
    derive_key,
    encode_cookie_value,
    sign,
    unsign,
)
from tests.npm import npm_package

# The example CONTRACT section 3 publishes (and cookie-signature's own README uses).
VECTOR_SECRET = "keyboard cat"
VECTOR_ID = "abc"
VECTOR_SIGNED = "abc.BpxCrWRpvZMh/wk/djl34N+m+VQEU7K/5WenLwJCgFU"
VECTOR_SET_COOKIE = "s%3Aabc.BpxCrWRpvZMh%2Fwk%2Fdjl34N%2Bm%2BVQEU7K%2F5WenLwJCgFU"

# Session ids as express-session (uid-safe) and sessionkit make them: base64url, plus dots
# (cookie-signature splits on the *last* dot, so an id may contain dots).
ID_ALPHABET = string.ascii_letters + string.digits + "-_."
ids = st.text(alphabet=ID_ALPHABET, min_size=1, max_size=64)
# Any text a settings file can hold (lone surrogates cannot be encoded as UTF-8).
secrets_ = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=64)


def by_hand(value: str, secret: str | bytes) -> str:
    """cookie-signature's ``sign``, written out independently of sessionkit."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    mac = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()
    return value + "." + base64.standard_b64encode(mac).decode("ascii").replace("=", "")


def encode_uri_component(text: str) -> str:
    """JavaScript's ``encodeURIComponent``, written out by hand."""
    unreserved = set(string.ascii_letters + string.digits + "-_.!~*'()")
    return "".join(
        ch if ch in unreserved else "".join(f"%{b:02X}" for b in ch.encode("utf-8")) for ch in text
    )


# --- the published vector -------------------------------------------------------------------


def test_published_vector_signs_to_the_documented_value() -> None:
    assert sign(VECTOR_ID, VECTOR_SECRET.encode()) == VECTOR_SIGNED
    assert by_hand(VECTOR_ID, VECTOR_SECRET) == VECTOR_SIGNED


def test_published_vector_verifies() -> None:
    assert unsign(VECTOR_SIGNED, [VECTOR_SECRET.encode()]) == Unsigned(VECTOR_ID, 0)


def test_published_vector_set_cookie_value_is_percent_encoded_like_express_session() -> None:
    encoded = encode_cookie_value(VECTOR_ID, VECTOR_SECRET.encode())
    assert encoded == VECTOR_SET_COOKIE
    assert encoded.startswith("s%3A")
    assert "/" not in encoded
    assert "+" not in encoded


def test_explicit_secret_signs_with_that_string_as_utf8() -> None:
    with override_settings(SESSIONKIT={"SECRET": VECTOR_SECRET}):
        conf = get_settings()
        assert conf.keys == (VECTOR_SECRET.encode("utf-8"),)
        assert encode_cookie_value(VECTOR_ID, conf.keys[0]) == VECTOR_SET_COOKIE


# --- independently computed values ----------------------------------------------------------


@given(value=ids, secret=secrets_)
def test_signature_equals_hand_computed_hmac_sha256_base64(value: str, secret: str) -> None:
    assert sign(value, secret.encode("utf-8")) == by_hand(value, secret)


@given(value=ids, secret=secrets_)
def test_signature_uses_standard_base64_without_padding(value: str, secret: str) -> None:
    sig = sign(value, secret.encode()).rpartition(".")[2]
    assert len(sig) == 43  # 32 bytes of HMAC-SHA256, '=' stripped
    assert set(sig) <= set(string.ascii_letters + string.digits + "+/")


@given(value=ids, secret=secrets_)
def test_signed_value_round_trips(value: str, secret: str) -> None:
    key = secret.encode()
    assert unsign(sign(value, key), [key]) == Unsigned(value, 0)


@given(value=ids, secret=secrets_)
def test_set_cookie_value_is_encode_uri_component_of_s_colon_signed(
    value: str, secret: str
) -> None:
    encoded = encode_cookie_value(value, secret.encode())
    assert encoded == encode_uri_component("s:" + by_hand(value, secret))
    assert not set(encoded) & set(':/+=;, "\\')


@given(value=ids, secret=secrets_)
def test_set_cookie_value_read_back_from_a_cookie_header_verifies(value: str, secret: str) -> None:
    key = secret.encode()
    header = f"other=1; sessionid={encode_cookie_value(value, key)}; last=2"
    raw = read_cookie(header, "sessionid")
    assert raw == "s:" + by_hand(value, secret)
    assert decode_cookie_value(raw, [key]) == Unsigned(value, 0)


# --- secret rotation ------------------------------------------------------------------------


def test_first_key_signs_and_every_key_verifies_with_its_index() -> None:
    keys = [b"current-secret-" * 3, b"previous-secret-" * 3, b"oldest-secret-" * 3]
    assert encode_cookie_value("abc", keys[0]) == encode_uri_component(
        "s:" + by_hand("abc", keys[0])
    )
    for index, key in enumerate(keys):
        assert unsign(sign("abc", key), keys) == Unsigned("abc", index)
        assert decode_cookie_value("s:" + sign("abc", key), keys) == Unsigned("abc", index)


def test_value_signed_by_a_retired_key_no_longer_verifies() -> None:
    retired, current = b"retired-secret-" * 3, b"current-secret-" * 3
    assert unsign(sign("abc", retired), [current]) is None


def test_rotation_through_settings_secret_list() -> None:
    old, new = "old-secret-" * 4, "new-secret-" * 4
    with override_settings(SESSIONKIT={"SECRET": old}):
        old_cookie = "s:" + sign("abc", get_settings().keys[0])
    with override_settings(SESSIONKIT={"SECRET": [new, old]}):
        keys = get_settings().keys
        assert decode_cookie_value(old_cookie, keys) == Unsigned("abc", 1)
        assert sign("abc", keys[0]) == by_hand("abc", new)


# --- key derivation without SECRET ----------------------------------------------------------


def test_derived_key_is_not_secret_key_itself() -> None:
    conf = get_settings()
    assert not conf.secret_is_explicit
    assert conf.keys[0] != settings.SECRET_KEY.encode()
    assert sign("abc", conf.keys[0]) != by_hand("abc", settings.SECRET_KEY)


def test_derived_key_depends_on_secret_key() -> None:
    with override_settings(SECRET_KEY="a" * 50, SECRET_KEY_FALLBACKS=[]):
        first = get_settings().keys
    with override_settings(SECRET_KEY="b" * 50, SECRET_KEY_FALLBACKS=[]):
        second = get_settings().keys
    with override_settings(SECRET_KEY="a" * 50, SECRET_KEY_FALLBACKS=[]):
        again = get_settings().keys
    assert len(first) == len(second) == 1
    assert first != second
    assert first == again  # stable: cookies survive a restart


def test_secret_key_fallbacks_verify_cookies_signed_before_rotation() -> None:
    old_key, new_key = "old-django-secret-" * 3, "new-django-secret-" * 3
    with override_settings(SECRET_KEY=old_key, SECRET_KEY_FALLBACKS=[]):
        cookie = "s:" + sign("abc", get_settings().keys[0])
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[old_key]):
        keys = get_settings().keys
        assert decode_cookie_value(cookie, keys) == Unsigned("abc", 1)
        assert decode_cookie_value("s:" + sign("abc", keys[0]), keys) == Unsigned("abc", 0)
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[]):
        assert decode_cookie_value(cookie, get_settings().keys) is None


def derived_by_hand(secret_key: str) -> bytes:
    """The derivation written out: HMAC-SHA256 keyed by SHA-256(salt + SECRET_KEY) of "v1"."""
    key = hashlib.sha256((KEY_SALT + secret_key).encode("utf-8")).digest()
    return hmac.new(key, b"v1", hashlib.sha256).digest()


def test_derived_key_is_pinned() -> None:
    # Changing the salt or the derivation would sign every existing derived-key cookie out.
    assert KEY_SALT == "sessionkit.signing.cookie-key"
    secret_key = "django-insecure-example-0123456789"
    assert derive_key(secret_key) == derived_by_hand(secret_key)
    assert derive_key(secret_key.encode()) == derived_by_hand(secret_key)


def test_settings_keys_are_the_derived_keys_of_secret_key_and_its_fallbacks() -> None:
    new, old = "new-django-secret-" * 3, "old-django-secret-" * 3
    with override_settings(SECRET_KEY=new, SECRET_KEY_FALLBACKS=[old]):
        assert get_settings().keys == (derived_by_hand(new), derived_by_hand(old))


def test_explicit_secret_ignores_secret_key() -> None:
    with override_settings(SECRET_KEY="a" * 50, SESSIONKIT={"SECRET": VECTOR_SECRET}):
        first = get_settings().keys
    with override_settings(SECRET_KEY="b" * 50, SESSIONKIT={"SECRET": VECTOR_SECRET}):
        second = get_settings().keys
    assert first == second == (VECTOR_SECRET.encode(),)


# --- hostile input ---------------------------------------------------------------------------

KEY = b"a-test-secret-that-is-long-enough-000"
OTHER_KEY = b"another-test-secret-long-enough-0000"


@given(text=st.text(max_size=2 * MAX_SIGNED_LENGTH))
@example(text=VECTOR_SIGNED)
@example(text="s:" + VECTOR_SIGNED)
@example(text=".")
@example(text="\udc80.abc")
def test_arbitrary_text_never_raises_and_verifies_only_if_correctly_signed(text: str) -> None:
    for keys in ([KEY], [VECTOR_SECRET.encode(), KEY], []):
        result = unsign(text, keys)
        assert result is None or by_hand(result.value, keys[result.key_index]) == text
        cookie = decode_cookie_value(text, keys)
        assert cookie is None or "s:" + by_hand(cookie.value, keys[cookie.key_index]) == text


@given(value=ids, cut=st.integers(min_value=1, max_value=43))
def test_truncated_signature_is_rejected(value: str, cut: int) -> None:
    signed = sign(value, KEY)
    assert unsign(signed[:-cut], [KEY]) is None


@given(value=ids, extra=st.text(min_size=1, max_size=8))
def test_extended_signature_is_rejected(value: str, extra: str) -> None:
    assert unsign(sign(value, KEY) + extra, [KEY]) is None


def test_padded_signature_is_rejected() -> None:
    assert unsign(VECTOR_SIGNED + "=", [VECTOR_SECRET.encode()]) is None


@given(value=ids, position=st.integers(min_value=0, max_value=42), data=st.data())
def test_tampered_signature_is_rejected(value: str, position: int, data: Any) -> None:
    signed = sign(value, KEY)
    sig_start = len(value) + 1
    old = signed[sig_start + position]
    new = data.draw(st.sampled_from(string.ascii_letters + string.digits + "+/"))
    assume(new != old)
    tampered = signed[: sig_start + position] + new + signed[sig_start + position + 1 :]
    assert unsign(tampered, [KEY]) is None


@given(value=ids, other=ids)
def test_signature_of_one_id_does_not_verify_another(value: str, other: str) -> None:
    assume(value != other)
    sig = sign(value, KEY).rpartition(".")[2]
    assert unsign(f"{other}.{sig}", [KEY]) is None


@given(value=ids)
def test_wrong_secret_is_rejected(value: str) -> None:
    assert unsign(sign(value, OTHER_KEY), [KEY]) is None
    assert decode_cookie_value("s:" + sign(value, OTHER_KEY), [KEY]) is None


def test_value_without_a_dot_is_rejected() -> None:
    sig = VECTOR_SIGNED.rpartition(".")[2]
    assert unsign(VECTOR_ID + sig, [VECTOR_SECRET.encode()]) is None
    assert unsign(VECTOR_ID, [VECTOR_SECRET.encode()]) is None
    assert unsign("", [VECTOR_SECRET.encode()]) is None


def test_empty_id_is_rejected_even_when_signed() -> None:
    assert unsign(sign("", KEY), [KEY]) is None


def test_unsigned_cookie_without_s_prefix_is_rejected() -> None:
    keys = [VECTOR_SECRET.encode()]
    assert decode_cookie_value(VECTOR_SIGNED, keys) is None
    assert decode_cookie_value("j:" + VECTOR_SIGNED, keys) is None
    assert decode_cookie_value("S:" + VECTOR_SIGNED, keys) is None
    assert decode_cookie_value("s:" + VECTOR_SIGNED, keys) == Unsigned(VECTOR_ID, 0)


def test_percent_encoded_value_must_be_decoded_before_verifying() -> None:
    # The Set-Cookie form is not itself a verifiable value: reading must decode it first.
    assert decode_cookie_value(VECTOR_SET_COOKIE, [VECTOR_SECRET.encode()]) is None


@pytest.mark.parametrize(
    "text",
    [
        "ab\u00e9." + sign("ab\u00e9", KEY).rpartition(".")[2],  # non-ASCII id
        sign("abc", KEY) + "\u00e9",  # non-ASCII after the signature
        sign("abc", KEY).replace("a", "\uff41", 1),  # fullwidth look-alike
        sign("abc", KEY) + "\x00",
    ],
)
def test_non_ascii_or_control_characters_are_rejected(text: str) -> None:
    assert unsign(text, [KEY]) is None


def test_oversized_value_is_rejected_even_when_correctly_signed() -> None:
    longest_id = "x" * (MAX_SIGNED_LENGTH - 44)  # id + "." + 43-character signature
    assert len(sign(longest_id, KEY)) == MAX_SIGNED_LENGTH
    assert unsign(sign(longest_id, KEY), [KEY]) == Unsigned(longest_id, 0)
    too_long = longest_id + "x"
    assert len(sign(too_long, KEY)) == MAX_SIGNED_LENGTH + 1
    assert unsign(sign(too_long, KEY), [KEY]) is None
    assert decode_cookie_value("s:" + sign(too_long, KEY), [KEY]) is None


# --- interoperability with express-session's cookie-signature (real Node package) ----------

NodeRunner = Callable[[str, Any], Any]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> NodeRunner:
    """Run a Node script with express-session's ``cookie-signature`` on the require path."""
    # The version range express-session 1.18/1.19 depends on.
    workdir = npm_package(tmp_path_factory, "cookie-signature@~1.0.7")

    def run(script: str, payload: Any) -> Any:
        done = subprocess.run(
            ["node", "-e", script],
            cwd=workdir,
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(done.stdout)

    return run


_READ_STDIN = "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"


def _vectors() -> list[tuple[str, str]]:
    """A fixed spread of ids and secrets, including non-ASCII secrets and dotted ids."""
    rng = random.Random(20240611)
    alphabet = string.printable + "\u00e9\u00df\u20ac\u4e2d\U0001f600"
    out = [(VECTOR_ID, VECTOR_SECRET), ("a.b.c", VECTOR_SECRET), ("x", "s")]
    for _ in range(150):
        value = "".join(rng.choice(ID_ALPHABET) for _ in range(rng.randint(1, 60)))
        secret = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80)))
        out.append((value, secret))
    return out


def test_cookie_signature_package_signs_exactly_as_sessionkit(node: NodeRunner) -> None:
    vectors = _vectors()
    theirs = node(
        _READ_STDIN
        + "const s = require('cookie-signature');"
        + "process.stdout.write(JSON.stringify(input.map(([v, k]) => ["
        + "  s.sign(v, k), encodeURIComponent('s:' + s.sign(v, k))])));",
        vectors,
    )
    assert theirs[0][0] == VECTOR_SIGNED
    for (value, secret), (signed, set_cookie) in zip(vectors, theirs, strict=True):
        key = secret.encode("utf-8")
        assert sign(value, key) == signed
        assert encode_cookie_value(value, key) == set_cookie
        # ours verifies theirs, through the same path a request takes
        raw = read_cookie(f"sessionid={set_cookie}", "sessionid")
        assert raw is not None
        assert decode_cookie_value(raw, [key]) == Unsigned(value, 0)


def test_cookie_signature_package_verifies_sessionkit_cookies(node: NodeRunner) -> None:
    vectors = _vectors()
    ours = [
        [encode_cookie_value(value, secret.encode("utf-8")), secret] for value, secret in vectors
    ]
    # express-session: decodeURIComponent (cookie.parse), strip "s:", then unsign.
    verdicts = node(
        _READ_STDIN
        + "const s = require('cookie-signature');"
        + "process.stdout.write(JSON.stringify(input.map(([c, k]) => {"
        + "  const raw = decodeURIComponent(c);"
        + "  return raw.slice(0, 2) === 's:' ? s.unsign(raw.slice(2), k) : false;"
        + "})));",
        ours,
    )
    assert verdicts == [value for value, _ in vectors]


def test_cookie_signature_package_rejects_what_sessionkit_rejects(node: NodeRunner) -> None:
    key = VECTOR_SECRET
    forged = [
        VECTOR_SIGNED[:-1],
        VECTOR_SIGNED + "A",
        VECTOR_SIGNED + "=",
        "abd" + VECTOR_SIGNED[3:],
        sign("abc", b"keyboard dog"),
        VECTOR_ID,
    ]
    theirs = node(
        _READ_STDIN
        + "const s = require('cookie-signature');"
        + "process.stdout.write(JSON.stringify(input.map((v) => s.unsign(v, "
        + json.dumps(key)
        + "))));",
        forged,
    )
    assert theirs == [False] * len(forged)
    assert [unsign(text, [key.encode()]) for text in forged] == [None] * len(forged)
