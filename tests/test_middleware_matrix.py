"""express-session's resave / saveUninitialized / rolling / cookie-expiry matrix.

For each of the 16 settings combinations and each situation, the test observes the real
database store (the SQL it receives) and the real response, and compares them with
express-session's table:

| situation                       | Set-Cookie                 | store                         |
|---------------------------------|----------------------------|-------------------------------|
| new, untouched                  | only if SAVE_UNINITIALIZED | create if SAVE_UNINITIALIZED  |
| new, modified                   | yes                        | create                        |
| loaded, unchanged / equal value | only if ROLLING            | write if RESAVE, else touch   |
| loaded, modified                | if ROLLING or MAX_AGE set  | write                         |
"""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.helpers import cookie_header, set_cookie, stored_session

pytestmark = [pytest.mark.db, pytest.mark.django_db]

SITUATIONS = (
    "new_untouched",
    "new_modified",
    "loaded_unchanged",
    "loaded_modified",
    "loaded_equal",
)
COMBOS = list(itertools.product([False, True], repeat=4))


def expected(
    situation: str, resave: bool, save_uninit: bool, rolling: bool, max_age_set: bool
) -> tuple[bool, str]:
    """express-session's answer: (Set-Cookie sent?, what happens to the store)."""
    if situation == "new_untouched":
        return save_uninit, "create" if save_uninit else "none"
    if situation == "new_modified":
        return True, "create"
    if situation in ("loaded_unchanged", "loaded_equal"):
        return rolling, "write" if resave else "touch"
    return rolling or max_age_set, "write"


def store_effect(queries: list[str]) -> str:
    table = '"sessionkit_session"'
    writes = [q for q in queries if table in q and not q.startswith("SELECT")]
    if any(q.startswith("INSERT") for q in writes):
        return "create"
    if any(q.startswith("UPDATE") and '"data"' in q for q in writes):
        return "write"
    if any(q.startswith("UPDATE") and '"expires"' in q for q in writes):
        return "touch"
    return "none" if not writes else "other: " + "; ".join(writes)


@pytest.mark.parametrize("situation", SITUATIONS)
@pytest.mark.parametrize(("resave", "save_uninit", "rolling", "max_age_set"), COMBOS)
def test_express_session_matrix(
    client, settings, situation, resave, save_uninit, rolling, max_age_set
):
    settings.SESSIONKIT = {
        "RESAVE": resave,
        "SAVE_UNINITIALIZED": save_uninit,
        "ROLLING": rolling,
        "COOKIE": {"MAX_AGE": 3600 if max_age_set else None},
    }
    headers = {}
    if situation.startswith("loaded"):
        headers["HTTP_COOKIE"] = cookie_header(stored_session({"x": 1}, aged=600))
    url = {
        "new_untouched": "/read/",
        "new_modified": "/write/?x=2",
        "loaded_unchanged": "/read/",
        "loaded_modified": "/write/?x=2",
        "loaded_equal": "/write/?x=1",
    }[situation]

    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)

    assert response.status_code == 200
    want_cookie, want_store = expected(situation, resave, save_uninit, rolling, max_age_set)
    got_cookie = set_cookie(response) is not None
    got_store = store_effect([q["sql"] for q in captured.captured_queries])
    assert (got_cookie, got_store) == (want_cookie, want_store)
    if got_cookie:
        morsel = set_cookie(response)
        assert morsel.value.startswith("s%3A")
        assert (morsel["max-age"] != "") == max_age_set
