"""Reading the session cookie from a ``Cookie`` header, as express-session does.

CONTRACT section 3: the name matches byte for byte, the first occurrence wins, the value is
percent-decoded and surrounding double quotes are removed. Where Node is available the
results are compared with express-session's own parser (``cookie`` 0.7).
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from django.http.cookie import parse_cookie
from hypothesis import example, given
from hypothesis import strategies as st

from sessionkit.cookies import MAX_HEADER_LENGTH, MAX_VALUE_LENGTH, read_cookie
from tests.npm import npm_package

# --- the name ---------------------------------------------------------------------------------

LOOKALIKES = "SESSIONID=upper; session=short; xsessionid=prefixed; sessionidx=suffixed"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sessionid", "exact"),
        ("SESSIONID", "upper"),
        ("session", "short"),
        ("xsessionid", "prefixed"),
        ("sessionidx", "suffixed"),
        ("Sessionid", None),
        ("id", None),
    ],
)
def test_name_matches_exactly(name: str, expected: str | None) -> None:
    assert read_cookie(f"{LOOKALIKES}; sessionid=exact", name) == expected


def test_lookalike_names_do_not_match() -> None:
    assert read_cookie(LOOKALIKES, "sessionid") is None


def test_name_is_not_percent_decoded() -> None:
    header = "session%69d=encoded-name"
    assert read_cookie(header, "sessionid") is None
    assert read_cookie(header, "session%69d") == "encoded-name"


def test_name_is_not_unquoted() -> None:
    assert read_cookie('"sessionid"=quoted-name', "sessionid") is None


def test_spaces_and_tabs_around_name_and_value_are_ignored() -> None:
    assert read_cookie("a=1;  sessionid = abc ;b=2", "sessionid") == "abc"
    assert read_cookie("a=1;\tsessionid\t=\tabc\t", "sessionid") == "abc"


def test_other_unicode_whitespace_is_part_of_the_name() -> None:
    # cookie.parse trims only spaces and tabs: a no-break space makes a different name.
    assert read_cookie("\u00a0sessionid=abc", "sessionid") is None
    assert read_cookie("sessionid\u2003=abc", "sessionid") is None


# --- which occurrence ---------------------------------------------------------------------


def test_first_occurrence_wins() -> None:
    header = "sessionid=first; other=x; sessionid=second"
    assert read_cookie(header, "sessionid") == "first"
    # Django's own parser keeps the last one; sessionkit deliberately follows express-session.
    assert parse_cookie(header)["sessionid"] == "second"


def test_first_occurrence_wins_even_when_empty() -> None:
    assert read_cookie("sessionid=; sessionid=second", "sessionid") == ""


def test_pairs_without_equals_sign_are_skipped() -> None:
    assert read_cookie("sessionid; flag; sessionid=abc", "sessionid") == "abc"


def test_value_may_contain_equals_signs() -> None:
    assert read_cookie("sessionid=a=b==", "sessionid") == "a=b=="


def test_missing_cookie_and_empty_header_give_none() -> None:
    assert read_cookie("", "sessionid") is None
    assert read_cookie("csrftoken=abc", "sessionid") is None
    assert read_cookie(";;;", "sessionid") is None


# --- the value ------------------------------------------------------------------------------


def test_surrounding_double_quotes_are_removed() -> None:
    assert read_cookie('sessionid="s%3Aabc.sig"', "sessionid") == "s:abc.sig"
    assert read_cookie('sessionid=""', "sessionid") == ""


def test_unbalanced_or_inner_quotes_are_kept() -> None:
    assert read_cookie('sessionid="abc', "sessionid") == '"abc'
    assert read_cookie('sessionid=abc"', "sessionid") == 'abc"'
    assert read_cookie('sessionid=a"b', "sessionid") == 'a"b'
    # cookie.parse reads a lone quote as an opening and a closing one.
    assert read_cookie('sessionid="', "sessionid") == ""


def test_value_is_percent_decoded() -> None:
    header = "sessionid=s%3Aabc.Bpx%2Fwk%2Bm%2BVQ"
    assert read_cookie(header, "sessionid") == "s:abc.Bpx/wk+m+VQ"


def test_percent_decoding_handles_utf8_and_lowercase_hex() -> None:
    assert read_cookie("sessionid=%c3%a9%E2%82%AC", "sessionid") == "\u00e9\u20ac"


def test_plus_is_not_a_space() -> None:
    # decodeURIComponent, not form decoding: a literal '+' in a signature must survive.
    assert read_cookie("sessionid=s:abc.a+b", "sessionid") == "s:abc.a+b"


@pytest.mark.parametrize(
    "raw",
    [
        "s%3Aabc%zz",  # not hex
        "s%3Aabc%2",  # truncated escape
        "s%3Aabc%",  # lone percent
        "100%",
        "%FF",  # not UTF-8
        "%C3",  # truncated UTF-8
        "%E0%A4%A",
        "%ED%A0%80",  # an encoded surrogate
    ],
)
def test_invalid_percent_sequences_keep_the_whole_value_raw(raw: str) -> None:
    # decodeURIComponent throws on these and cookie.parse then keeps the value as sent.
    assert read_cookie(f"sessionid={raw}", "sessionid") == raw


def test_oversized_header_is_ignored() -> None:
    padding = "; pad=" + "x" * MAX_HEADER_LENGTH
    assert read_cookie("sessionid=abc" + padding, "sessionid") is None


def test_header_at_the_size_limit_is_read() -> None:
    header = "sessionid=abc; pad="
    header += "x" * (MAX_HEADER_LENGTH - len(header))
    assert len(header) == MAX_HEADER_LENGTH
    assert read_cookie(header, "sessionid") == "abc"


def test_oversized_value_reads_as_present_but_empty() -> None:
    # "" (not None): the middleware then clears the cookie instead of ignoring it.
    assert read_cookie("sessionid=" + "x" * (MAX_VALUE_LENGTH + 1), "sessionid") == ""
    at_limit = "x" * MAX_VALUE_LENGTH
    assert read_cookie("sessionid=" + at_limit, "sessionid") == at_limit


# --- arbitrary input ---------------------------------------------------------------------

header_text = st.lists(
    st.sampled_from([*'sessionid=;," %\t\\\x00\u00e9\udc80', "%3A", "%zz", "%C3", "%"]),
    max_size=100,
).map("".join)


@given(header=st.one_of(st.text(max_size=500), header_text), name=st.text(max_size=20))
@example(header="sessionid=%", name="sessionid")
@example(header="sessionid=%\udc80", name="sessionid")
@example(header="=", name="")
def test_arbitrary_headers_never_raise(header: str, name: str) -> None:
    value = read_cookie(header, name)
    assert value is None or isinstance(value, str)
    value = read_cookie(header, "sessionid")
    assert value is None or isinstance(value, str)


cookie_names = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=';=,"'),
    min_size=1,
    max_size=12,
)


@given(
    value=st.text(max_size=60),
    before=st.dictionaries(cookie_names, st.text(max_size=10), max_size=4),
)
def test_any_percent_encoded_value_reads_back(value: str, before: dict[str, str]) -> None:
    value = value.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
    others = "; ".join(f"{k}={quote(v, safe='')}" for k, v in before.items() if k != "sid")
    header = f"{others}; sid={quote(value, safe='')}; sid=second"
    # Whitespace is trimmed before decoding, so an encoded tab or space survives.
    assert read_cookie(header, "sid") == value


# --- express-session's own parser (cookie 0.7, real Node package) -------------------------


@pytest.fixture(scope="module")
def cookie_parse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where ``require('cookie')`` gives the version express-session uses."""
    return npm_package(tmp_path_factory, "cookie@~0.7.2")


FRAGMENTS = [
    "sessionid",
    "SESSIONID",
    "xsessionid",
    "session",
    "=",
    "; ",
    ";",
    " ",
    "\t",
    '"',
    "%",
    "%3A",
    "%2F",
    "%2B",
    "%zz",
    "%C3",
    "%C3%A9",
    "+",
    "s:",
    "abc",
    ".",
    "\u00a0",
    "\u00e9",
]


def _headers() -> list[str]:
    rng = random.Random(1907)
    headers = [
        "sessionid=first; sessionid=second",
        'sessionid="s%3Aabc.sig"',
        "sessionid=s%3Aabc%zz",
        "session%69d=x; sessionid=y",
        "  sessionid  =  v  ; a=b",
    ]

    def noise(most: int) -> str:
        return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, most)))

    for _ in range(300):
        headers.append(noise(16))
    for _ in range(300):  # a session cookie somewhere, with a value made of tricky parts
        headers.append(noise(4) + rng.choice(["", "; ", ";"]) + "sessionid=" + noise(8))
    return headers


def test_reads_the_same_value_as_express_sessions_cookie_parser(cookie_parse: Path) -> None:
    headers = _headers()
    script = (
        "const cookie = require('cookie');"
        "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(input.map((h) => {"
        "  const v = cookie.parse(h)['sessionid'];"
        "  return v === undefined ? null : v;"
        "})));"
    )
    done = subprocess.run(
        ["node", "-e", script],
        cwd=cookie_parse,
        input=json.dumps(headers),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    theirs = json.loads(done.stdout)
    ours = [read_cookie(header, "sessionid") for header in headers]
    mismatches = [(h, o, t) for h, o, t in zip(headers, ours, theirs, strict=True) if o != t]
    assert not mismatches
