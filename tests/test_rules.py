"""The pure rules (``sessionkit.rules.plan``), row for row against the README's table.

Each row of ``README.md``'s "Behaviour per request" table is one entry of ``ROWS``: a
situation (a snapshot of the session after the view, and the request's cookie) and the
row's answer as a function of the settings. Every row is checked under all 32 combinations
of ``RESAVE``, ``SAVE_UNINITIALIZED``, ``ROLLING``, a ``MAX_AGE`` or a browser-session
cookie, and a store that touches on read (sessionkit's) or not (Django's engines). No HTTP,
no store: ``plan`` sees only the snapshot. ``test_middleware_matrix.py`` checks the same
table end to end over HTTP.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from django.test import override_settings

from sessionkit.conf import SessionKitSettings, parse
from sessionkit.rules import CookieState, Plan, Snapshot, plan

NOW = 1_800_000_000.0
#: The stored expiry a loaded session had before this request (100 s left).
LOADED_EXPIRES = NOW + 100
MAX_AGE = 3600
README = Path(__file__).resolve().parent.parent / "README.md"


@dataclass(frozen=True)
class Case:
    """One combination of the settings the table's answers depend on."""

    resave: bool
    save_uninitialized: bool
    rolling: bool
    max_age: int | None
    #: sessionkit's stores push the expiry back when they load; Django's engines cannot.
    touches: bool

    def conf(self) -> SessionKitSettings:
        raw = {
            "RESAVE": self.resave,
            "SAVE_UNINITIALIZED": self.save_uninitialized,
            "ROLLING": self.rolling,
            "COOKIE": {"MAX_AGE": self.max_age},
        }
        with override_settings(SESSION_COOKIE_AGE=1209600):
            return parse(raw)


FLAGS = [False, True]
CASES = [Case(*c) for c in itertools.product(FLAGS, FLAGS, FLAGS, [None, MAX_AGE], FLAGS)]

NO_COOKIE = CookieState(present=False, key=None, stale_signature=False)
VALID = CookieState(present=True, key="k" * 24, stale_signature=False)
OLD_SECRET = CookieState(present=True, key="k" * 24, stale_signature=True)
LED_NOWHERE = CookieState(present=True, key=None, stale_signature=False)

NEW = Snapshot(
    key=None,
    accessed=True,
    loaded=None,
    current={},
    destroyed=False,
    unsaved=True,
    touched_on_load=True,
    loaded_expires=None,
    stored_expires=None,
    deadline=None,
    now=NOW,
)
LOADED = replace(NEW, key=VALID.key, loaded={"x": "1"}, current={"x": "1"}, unsaved=False,
                 loaded_expires=LOADED_EXPIRES)  # fmt: skip


def loaded(case: Case, **changes: object) -> Snapshot:
    """A session loaded under the cookie's id, as the store kind of ``case`` loads it."""
    snap = replace(LOADED, touched_on_load=case.touches, **changes)  # type: ignore[arg-type]
    if not case.touches:  # Django's engines know no stored expiry
        snap = replace(snap, loaded_expires=None)
    return snap


Expect = tuple[bool, bool, bool, int | None]  # write, set_cookie, clear_cookie, max_age
Row = Callable[[Case], tuple[CookieState, Snapshot, int, Expect]]


def new_unchanged(c: Case) -> tuple[CookieState, Snapshot, int, Expect]:
    # Set-Cookie: only if SAVE_UNINITIALIZED; store: created only if SAVE_UNINITIALIZED
    u = c.save_uninitialized
    return NO_COOKIE, replace(NEW, touched_on_load=c.touches), 200, (u, u, False, c.max_age)


def new_modified(c: Case) -> tuple[CookieState, Snapshot, int, Expect]:
    # Set-Cookie: yes; store: created
    return NO_COOKIE, replace(NEW, current={"x": "1"}), 200, (True, True, False, c.max_age)


def loaded_unchanged(c: Case) -> tuple[CookieState, Snapshot, int, Expect]:
    # Set-Cookie: only if ROLLING; store: written if RESAVE (or ROLLING on Django's
    # engines, which cannot touch), else touched (by the load itself)
    write = c.resave or (c.rolling and not c.touches)
    return VALID, loaded(c), 200, (write, c.rolling, False, c.max_age)


def loaded_equal_value(c: Case) -> tuple[CookieState, Snapshot, int, Expect]:
    # an equal value re-assigned: the same as unchanged
    return loaded_unchanged(c)


def loaded_modified(c: Case) -> tuple[CookieState, Snapshot, int, Expect]:
    # Set-Cookie: if ROLLING, or if the cookie has an expiry; store: written
    send = c.rolling or c.max_age is not None
    return VALID, loaded(c, current={"x": "2"}), 200, (True, send, False, c.max_age)


def loaded_set_expiry(c: Case) -> tuple[CookieState, Snapshot, int, Expect]:
    # Set-Cookie: yes, with the new expiry; store: written
    snap = loaded(c, current={"x": "1", "_session_expiry": "60"})
    return VALID, snap, 200, (True, True, False, 60)


def loaded_old_secret(c: Case) -> tuple[CookieState, Snapshot, int, Expect]:
    # Set-Cookie: yes, re-signed, keeping the expiry it had (unless ROLLING renews it);
    # store: as for a loaded, unchanged session
    write = c.resave or (c.rolling and not c.touches)
    kept = c.max_age if c.rolling or not c.touches else int(LOADED_EXPIRES - NOW)
    return OLD_SECRET, loaded(c), 200, (write, True, False, None if c.max_age is None else kept)


def not_used(c: Case) -> tuple[CookieState, Snapshot, int, Expect]:
    # Set-Cookie: no; store: untouched (ROLLING, RESAVE and re-signing load it first: then
    # it is "loaded, unchanged")
    snap = replace(NEW, key=VALID.key, accessed=False)
    return VALID, snap, 200, (False, False, False, None)


def destroyed(c: Case) -> tuple[CookieState, Snapshot, int, Expect]:
    # Set-Cookie: cleared; store: deleted by flush() itself, nothing written
    snap = replace(LOADED, key=None, current={}, destroyed=True)
    return VALID, snap, 200, (False, False, True, None)


def led_nowhere(c: Case) -> tuple[CookieState, Snapshot, int, Expect]:
    # Set-Cookie: cleared, unless SAVE_UNINITIALIZED replaces it with a new session's;
    # store: as for a new session
    u = c.save_uninitialized
    return LED_NOWHERE, NEW, 200, (u, u, not u, c.max_age)


def server_error(c: Case) -> tuple[CookieState, Snapshot, int, Expect]:
    # any row with a 5xx response: nothing saved or sent; a cookie that led nowhere is
    # still cleared
    return LED_NOWHERE, replace(NEW, current={"x": "1"}), 500, (False, False, True, None)


#: README's rows, in its order, by the situation column's text.
ROWS: dict[str, Row] = {
    "new, unchanged": new_unchanged,
    "new, modified": new_modified,
    "loaded, unchanged": loaded_unchanged,
    "loaded, an equal value re-assigned": loaded_equal_value,
    "loaded, modified": loaded_modified,
    "loaded, `set_expiry()` called": loaded_set_expiry,
    "loaded, cookie signed by an older secret": loaded_old_secret,
    "valid cookie, session not used by the view": not_used,
    "destroyed (`flush()`, `logout()`)": destroyed,
    "cookie led nowhere (bad signature, unknown or expired id)": led_nowhere,
    "any of these, with a 5xx response": server_error,
}


def readme_situations() -> list[str]:
    """The first column of README's behaviour table."""
    text = README.read_text()
    table = text.split("## Behaviour per request", 1)[1].split("\n\n| situation", 1)[1]
    rows = table.split("\n\n", 1)[0].splitlines()[2:]
    return [re.split(r"\s*\|\s*", row.strip())[1] for row in rows]


def test_readme_table_and_these_rows_are_the_same_rows() -> None:
    assert readme_situations() == list(ROWS)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("row", ROWS, ids=list(ROWS))
def test_plan_follows_the_readme_row(row: str, case: Case) -> None:
    cookie, snapshot, status, (write, set_cookie, clear, max_age) = ROWS[row](case)
    got = plan(case.conf(), cookie, snapshot, status)
    assert got == Plan(
        write=write,
        set_cookie=set_cookie,
        clear_cookie=clear,
        max_age=max_age if set_cookie else None,
    )


def test_max_age_never_passes_the_absolute_deadline() -> None:
    case = Case(False, False, False, MAX_AGE, True)
    snap = replace(NEW, current={"x": "1"}, deadline=NOW + 30)
    assert plan(case.conf(), NO_COOKIE, snap, 200).max_age == 30


def test_plan_is_built_with_keywords_only() -> None:
    with pytest.raises(TypeError):
        Plan(True, True, False)  # type: ignore[misc]


def test_an_unreadable_expiry_field_counts_as_no_expiry() -> None:
    case = Case(False, False, False, MAX_AGE, True)
    snap = replace(NEW, current={"x": "1", "_session_expiry": "{not json"})
    assert plan(case.conf(), NO_COOKIE, snap, 200).max_age == MAX_AGE


def test_a_rolled_cookie_never_outlives_the_expiry_the_read_left_in_the_store() -> None:
    # The db store leaves a just-touched session's expiry where it was (its touch slack):
    # the cookie re-sent by ROLLING then counts down from it.
    case = Case(False, False, True, MAX_AGE, True)
    snap = replace(LOADED, stored_expires=NOW + MAX_AGE - 20)
    assert plan(case.conf(), VALID, snap, 200).max_age == MAX_AGE - 20
    written = replace(snap, current={"x": "2"})  # a write gives the session a new lifetime
    assert plan(case.conf(), VALID, written, 200).max_age == MAX_AGE
