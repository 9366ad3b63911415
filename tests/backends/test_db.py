"""The database store: Django's session test suite, hashed keys, JSON rows, purging."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import UpdateError
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from sessionkit import users as sessionkit_users
from sessionkit.backends import db_sql
from sessionkit.backends.base import hash_key
from sessionkit.backends.db import SessionStore
from sessionkit.models import Session
from tests.backends.conformance import SessionTestsMixin, SignalTestsMixin
from tests.helpers import epoch, user_id
from tests.servers.asgi import serve_asgi
from tests.servers.process import wait_until

pytestmark = pytest.mark.db


class DatabaseStoreConformanceTests(SessionTestsMixin, TestCase):
    backend = SessionStore


class DatabaseStoreSignalTests(SignalTestsMixin, TestCase):
    backend = SessionStore

    def setUp(self) -> None:
        # The user column is a foreign key: the mixin's sessions belong to user 7.
        User.objects.create(pk=7, username="seven")

    def age(self, session_key: str, seconds: int) -> None:
        Session.objects.filter(pk=hash_key(session_key)).update(
            created=F("created") - timedelta(seconds=seconds)
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_different_keys_all_survive():
    """Improvement 5 on the db store: each writer's one UPDATE merges its delta into the
    row as it is when the UPDATE runs."""
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent connections: runs in the PostgreSQL pass")
    store = SessionStore()
    store["base"] = 0
    store.save()
    key = store.session_key
    writers = 20
    loaded = threading.Barrier(writers)

    def write(i: int) -> None:
        try:
            session = SessionStore(key)
            assert session["base"] == 0  # loads the session
            loaded.wait(timeout=30)  # everyone read the same state before anyone writes
            session[f"k{i}"] = i
            session.save()
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = SessionStore(key).load()
    assert final == {"base": 0, **{f"k{i}": i for i in range(writers)}}


@pytest.mark.django_db(transaction=True)
def test_log_out_other_devices_ends_a_session_cycled_while_it_runs():
    """A password change on device B (cycle_key) holds B's row locked when "log out other
    devices" runs on device A: the DELETE waits, then skips the old row, and B's new row,
    committed after the DELETE's snapshot, must still be ended."""
    import threading

    from django.db import connection, connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks and READ COMMITTED snapshots: runs in the PostgreSQL pass")

    user = user_id()

    def logged_in() -> SessionStore:
        session = SessionStore()
        session.update({"_auth_user_id": user, "x": "device data"})
        session.save()
        return session

    device_a, device_b = logged_in(), SessionStore(logged_in().session_key)
    device_b.load()
    ending_waits, cycled, ended = threading.Event(), threading.Event(), []

    def change_password() -> None:
        try:
            with transaction.atomic():  # commits once the DELETE waits on B's row
                device_b.cycle_key()
                cycled.set()
                assert ending_waits.wait(timeout=10)
        finally:
            connections.close_all()

    def log_out_others() -> None:
        try:
            assert cycled.wait(timeout=10)
            ended.append(SessionStore._end_user_records(user, hash_key(device_a.session_key)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=change_password), threading.Thread(target=log_out_others)]
    for thread in threads:
        thread.start()
    with connection.cursor() as cursor:
        for _ in range(1000):  # bounded: until the DELETE waits on the row lock
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'DELETE%%'"
            )
            if cursor.fetchone()[0]:
                break
            threading.Event().wait(0.01)
    ending_waits.set()
    for thread in threads:
        thread.join(timeout=10)
    assert ended == [[hash_key(device_b.session_key)]]  # the cycled session, by its handle
    assert SessionStore(device_b.session_key).load() == {}
    assert SessionStore(device_a.session_key).load()["x"] == "device data"


# -- one statement per read and per write (issue 9) -------------------------------------

COUNTED = pytest.mark.django_db(transaction=True)  # autocommit, as a request runs


@pytest.fixture(params=["sync", "async"])
def via(request: pytest.FixtureRequest) -> Callable[[SessionStore, str], Any]:
    """Call a method or its async twin (``save`` / ``asave``) on a session; ``load``
    loads it as a request does, on first use (``keys`` / ``akeys``)."""

    def call(session: SessionStore, name: str) -> Any:
        name = "keys" if name == "load" else name
        if request.param == "sync":
            return getattr(session, name)()
        return async_to_sync(getattr(session, "a" + name))()

    return call


def saved(**data: Any) -> str:
    session = SessionStore()
    session.update(data)
    session.save()
    assert session.session_key is not None
    return session.session_key


def statements(fn: Callable[[], Any]) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return [query["sql"] for query in captured.captured_queries]


def stored(session_key: str) -> Session:
    return Session.objects.get(pk=hash_key(session_key))


def age_by(session_key: str, seconds: float) -> None:
    """Pretend the session was last touched ``seconds`` ago."""
    Session.objects.filter(pk=hash_key(session_key)).update(
        expires=F("expires") - timedelta(seconds=seconds),
        last_seen=F("last_seen") - timedelta(seconds=seconds),
    )


@COUNTED
def test_a_read_is_one_statement(via):
    key = saved(x=1, y=[1, 2])
    session = SessionStore(key)
    sql = statements(lambda: via(session, "load"))
    assert len(sql) == 1 and sql[0].startswith("SELECT")
    assert dict(session.items()) == {"x": 1, "y": [1, 2]}


@COUNTED
def test_a_rolling_read_within_the_slack_is_one_statement_past_it_one_write_per_window(via):
    key = saved(x=1)
    age_by(key, 30)  # within the slack (60 s for a two-week session): nothing to write
    before = stored(key).expires
    assert len(statements(lambda: via(SessionStore(key), "load"))) == 1
    assert stored(key).expires == before
    age_by(key, 120)  # past it: the read pushes the expiry back, once
    sql = statements(lambda: via(SessionStore(key), "load"))
    assert [q.split()[0] for q in sql] == ["SELECT", "UPDATE"]
    assert epoch(stored(key).expires) == pytest.approx(time.time() + stored(key).age, abs=5)
    assert len(statements(lambda: via(SessionStore(key), "load"))) == 1  # the next read


@COUNTED
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: s.__setitem__("x", 2), id="set a key"),
        pytest.param(lambda s: s.__delitem__("y"), id="remove a key"),
        pytest.param(lambda s: s.set_expiry(600), id="set_expiry"),
        pytest.param(lambda s: s.update({"z": None, "x": 3}) or s.pop("y"), id="several"),
        pytest.param(lambda s: s.__setitem__("_auth_user_id", "7"), id="log in"),
    ],
)
def test_a_write_of_a_loaded_session_is_one_statement(via, change):
    key = saved(x=1, y="why")
    session = SessionStore(key)
    via(session, "load")
    change(session)
    expected = dict(session.items())
    sql = statements(lambda: via(session, "save"))
    assert len(sql) == 1 and sql[0].startswith("UPDATE"), sql
    assert SessionStore(key).load() == expected


@COUNTED
def test_creating_a_session_is_one_insert(via):
    session = SessionStore()
    session["x"] = 1
    sql = statements(lambda: via(session, "save"))
    assert len(sql) == 1 and sql[0].startswith("INSERT"), sql
    assert session.session_key is not None
    assert SessionStore(session.session_key).load() == {"x": 1}


# -- the merged UPDATE keeps what the locked read-merge-write kept ---------------------


def loaded_twice(**data: Any) -> tuple[SessionStore, SessionStore]:
    """Two requests, A and B, that loaded the same session."""
    key = saved(**data)
    a, b = SessionStore(key), SessionStore(key)
    assert a.load() == b.load() == data
    return a, b


ODD_KEYS = [
    'quo"te',
    "back\\slash",
    "new\nline",
    "uni\u00e9\u4e2d\U0001f600",
    "a.b",
    "$",
    "$.x[0]",
    "[0]",
    "",
    "*",
    "'",
    "\u2028",
]
#: Values whose JSON text a database might rewrite: kept exactly, types included.
ODD_VALUES = [None, 1e16, 1.5e-7, 0.1, 2**80, -0.0, "nul\u0000byte", "\\u0000", {"": [None]}, True]


@COUNTED
@pytest.mark.parametrize("key", ODD_KEYS)
def test_any_key_merges_and_round_trips(via, key):
    """SQLite's JSON paths cannot name a key with a quote, a backslash or a control
    character: those writes take the locked read-merge-write path, and merge as well."""
    a, b = loaded_twice(base=0, **{key: "old", f"gone {key}": 1})
    a[key] = ["new", key]
    del a[f"gone {key}"]
    sql = statements(lambda: via(a, "save"))
    if connection.vendor == "postgresql" or db_sql.sqlite_path_safe(key):
        assert len(sql) == 1, sql
    else:  # the locked path: in a transaction, SELECT ... FOR UPDATE, then UPDATE
        assert len(sql) > 2 and any(q.startswith("UPDATE") for q in sql), sql
    b["b"] = None  # B, loaded before A's write, changes another key
    via(b, "save")
    assert SessionStore(a.session_key).load() == {"base": 0, key: ["new", key], "b": None}


@COUNTED
def test_keys_that_are_not_str_are_saved_as_djangos_json_serializer_writes_them(via):
    """``json.dumps`` writes ``7`` as ``"7"``: never a row that is not JSON (a new session)
    nor a 500 (a loaded one); a key JSON cannot hold is refused, named, at save time."""
    session = SessionStore()
    session.update({"cart": ["book"], 7: "seven"})
    via(session, "save")
    loaded = SessionStore(session.session_key)
    assert loaded.load() == {"cart": ["book"], "7": "seven"}
    loaded.update({None: 1, True: 2, 1.5: 3})
    via(loaded, "save")
    expected = {"cart": ["book"], "7": "seven", "null": 1, "true": 2, "1.5": 3}
    assert SessionStore(session.session_key).load() == expected
    loaded[(1, 2)] = "x"
    with pytest.raises(TypeError, match=r"session key \(1, 2\)"):
        via(loaded, "save")
    assert SessionStore(session.session_key).load() == expected


@COUNTED
def test_values_round_trip_exactly_through_concurrent_merges(via):
    a, b = loaded_twice(**{f"v{i}": value for i, value in enumerate(ODD_VALUES)})
    a["a"] = ODD_VALUES
    via(a, "save")
    b["b"] = list(reversed(ODD_VALUES))
    via(b, "save")
    data = SessionStore(a.session_key).load()
    expected = {f"v{i}": value for i, value in enumerate(ODD_VALUES)}
    expected.update(a=ODD_VALUES, b=list(reversed(ODD_VALUES)))
    assert data == expected
    assert json.dumps(data, sort_keys=True) == json.dumps(expected, sort_keys=True)  # types


@COUNTED
def test_a_lone_surrogate_in_a_value_is_stored_and_read_back(via):
    """A str may hold one, UTF-8 cannot: stored escaped, as ``json.dumps`` writes it."""
    session = SessionStore()
    session["name"] = "bad\udcff"
    via(session, "save")
    loaded = SessionStore(session.session_key)
    assert loaded.load() == {"name": "bad\udcff"}
    loaded["other"] = ["\ud800"]
    via(loaded, "save")
    assert SessionStore(session.session_key).load() == {"name": "bad\udcff", "other": ["\ud800"]}


@COUNTED
def test_a_concurrent_write_keeps_none_values_and_removed_keys_stay_removed(via):
    """Not RFC 7396's merge patch, which drops keys set to null."""
    a, b = loaded_twice(x=1, y=2, n=None)
    a["z"] = None
    del a["x"]
    via(a, "save")
    b["y"] = None
    via(b, "save")
    assert SessionStore(a.session_key).load() == {"y": None, "n": None, "z": None}


@COUNTED
def test_a_concurrent_write_keeps_a_fixed_expiry_date(via):
    a, b = loaded_twice(x=0)
    fixed = datetime.now(UTC) + timedelta(hours=1)
    a.set_expiry(fixed)
    via(a, "save")
    b["b"] = 1
    via(b, "save")
    row = stored(a.session_key)
    assert row.age is None
    assert epoch(row.expires) == pytest.approx(fixed.timestamp(), abs=1)


@COUNTED
def test_removing_the_user_clears_it_and_other_writes_keep_it(via):
    user = user_id()
    a, b = loaded_twice(_auth_user_id=user, x=0)
    b["b"] = 1
    via(b, "save")
    assert str(stored(a.session_key).user_id) == user
    del a["_auth_user_id"]
    via(a, "save")
    assert stored(a.session_key).user_id is None


@COUNTED
@pytest.mark.parametrize("changed", [1, 2000])
@pytest.mark.parametrize("end", ["deleted", "expired"])
def test_a_write_never_brings_back_a_session_that_ended_meanwhile(via, end, changed):
    key = saved(x=1)
    session = SessionStore(key)
    via(session, "load")
    if end == "deleted":
        SessionStore(key).delete()
    else:
        age_by(key, 2 * 3600 * 24 * 14)
    session.update({"x": 2, **{f"k{i}": i for i in range(changed - 1)}})
    with pytest.raises(UpdateError):
        via(session, "save")
    if end == "deleted":
        assert not Session.objects.filter(pk=hash_key(key)).exists()
    else:
        assert epoch(stored(key).expires) < time.time()
        assert json.loads(stored(key).data) == {"x": 1}


@COUNTED
def test_a_write_over_a_row_that_is_not_json_takes_the_locked_path(via):
    a, _ = loaded_twice(x=1)
    Session.objects.filter(pk=hash_key(a.session_key)).update(data="not json")
    a["y"] = 2
    via(a, "save")
    assert SessionStore(a.session_key).load() == {"y": 2}


@COUNTED
def test_a_locked_write_over_a_row_that_is_json_but_no_object_writes_the_session(via):
    a, _ = loaded_twice(x=1)
    Session.objects.filter(pk=hash_key(a.session_key)).update(data="[]")
    a['quo"te'] = 2  # SQLite: the locked path (PostgreSQL's json_each refuses the array)
    via(a, "save")
    assert SessionStore(a.session_key).load() == {'quo"te': 2}


@COUNTED
def test_a_string_postgresql_json_refuses_is_written_inside_a_transaction(via):
    """PostgreSQL's ``json`` functions refuse ``\\u0000`` (a NUL in a string): the merged
    UPDATE fails, and the locked path writes it, inside a transaction too."""
    a, b = loaded_twice(x=1)
    a["nul"] = "a\u0000b"
    via(a, "save")
    b["b"] = 1
    with transaction.atomic():
        via(b, "save")
        assert SessionStore(a.session_key).load() == {"x": 1, "nul": "a\u0000b", "b": 1}
    assert SessionStore(a.session_key).load() == {"x": 1, "nul": "a\u0000b", "b": 1}


@COUNTED
def test_a_delta_of_hundreds_of_keys_is_one_statement(via):
    """SQLite caps a function's arguments (127 by default): the paths go in chunks."""
    a, b = loaded_twice(**{f"old{i}": i for i in range(150)}, kept=0)
    for i in range(150):
        del a[f"old{i}"]
    a.update({f"new{i}": [i] for i in range(130)})
    sql = statements(lambda: via(a, "save"))
    assert len(sql) == 1, sql
    b["b"] = 1
    via(b, "save")
    assert SessionStore(a.session_key).load() == {
        "kept": 0,
        "b": 1,
        **{f"new{i}": [i] for i in range(130)},
    }


@COUNTED
def test_a_delta_too_large_for_one_statement_is_written_whole(via):
    """SQLite's parser overflows on about 28 nested calls (about 1,700 changed keys): the
    delta goes in several statements, in one transaction, and still merges."""
    a, b = loaded_twice(**{f"old{i}": i for i in range(3000)}, kept=0)
    for i in range(3000):
        del a[f"old{i}"]
    a.update({f"new{i}": [i] for i in range(2000)})
    via(a, "save")
    b["b"] = 1
    via(b, "save")
    assert SessionStore(a.session_key).load() == {
        "kept": 0,
        "b": 1,
        **{f"new{i}": [i] for i in range(2000)},
    }


@COUNTED
def test_the_locked_path_never_brings_back_a_session_deleted_meanwhile(via):
    key = saved(x=1)
    session = SessionStore(key)
    via(session, "load")
    SessionStore(key).delete()
    session['quo"te'] = 1  # a key SQLite's paths cannot name: the locked path
    with pytest.raises(UpdateError):
        via(session, "save")
    assert not Session.objects.filter(pk=hash_key(key)).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_logouts_of_one_session_send_one_session_ended():
    """Logout in several requests at once, and "log out other devices" beside them: each
    DELETE ... RETURNING on PostgreSQL answers the row in one statement only."""
    import threading

    from django.db import connection

    from sessionkit.users import end_user_sessions
    from tests.backends.conformance import Recorder
    from tests.helpers import close_thread_connections

    if connection.vendor != "postgresql":
        pytest.skip("concurrent connections: runs in the PostgreSQL pass")
    # A real user: the column is a foreign key, and "log out other devices" must find
    # the session to race the logouts (a user id naming nobody is stored as no user).
    user = user_id()
    store = SessionStore()
    store["_auth_user_id"] = user
    store.save()
    key, n = store.session_key, 8
    start = threading.Barrier(n)

    def log_out(i: int) -> None:
        try:
            session = SessionStore(key)
            session.load()
            start.wait(timeout=10)
            if i % 2:
                session.flush()
            else:
                end_user_sessions(user)
        finally:
            close_thread_connections()

    threads = [threading.Thread(target=log_out, args=(i,)) for i in range(n)]
    with Recorder() as seen:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert [(name, handle) for name, handle, _ in seen.events()] == [("ended", hash_key(key))]
    assert not Session.objects.filter(pk=hash_key(key)).exists()


# -- the user column: a foreign key to AUTH_USER_MODEL (issue 11) --------------------------


@pytest.mark.django_db
def test_deleting_a_user_ends_their_sessions():
    from django.contrib.auth.models import User

    import sessionkit.test

    lin = User.objects.create_user("lin", password="pw-123456")
    phone, other = sessionkit.test.Client(), sessionkit.test.Client()
    assert phone.login(username="lin", password="pw-123456")
    other.force_login(User.objects.create_user("mo"))
    assert stored(phone.session.session_key).user == lin
    lin.delete()
    assert not Session.objects.filter(user_id=lin.pk).exists()
    assert phone.get("/read/").json()["key"] is None
    assert other.get("/read/").json()["key"] is not None


def missing_user() -> str:
    """A user id as a deleted user leaves it in a session: it names nobody now."""
    from django.contrib.auth.models import User

    user = User.objects.create_user("gone")
    pk = str(user.pk)
    user.delete()
    return pk


#: Ids naming no user: a deleted one, one that is no key, a number beyond any key column.
NO_USER: dict[str, Callable[[], str]] = {
    "deleted": missing_user,
    "no valid key": lambda: "not-a-pk",
    "beyond any key": lambda: "9" * 20,
}

WRITES: dict[str, Callable[[SessionStore, Callable[..., Any], str], None]] = {
    "create": lambda session, via, user: (
        session.update({"_auth_user_id": user}),
        via(session, "save"),
    ),
    "update": lambda session, via, user: (
        via(session, "load"),
        session.update({"_auth_user_id": user}),
        via(session, "save"),
    ),
    "locked update": lambda session, via, user: (
        via(session, "load"),
        session.update({"_auth_user_id": user, 'quo"te': 1}),
        via(session, "save"),
    ),
    "cycle_key": lambda session, via, user: (
        via(session, "load"),
        session.update({"_auth_user_id": user}),
        via(session, "cycle_key"),
    ),
}


@COUNTED
@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize("user", list(NO_USER))
def test_a_session_naming_no_existing_user_is_saved_with_no_user(via, write, user):
    """A session saved for a user deleted meanwhile (or an id that is no key of the user
    model, or a number no integer column holds) keeps its data and stores no user: never
    a foreign-key violation at commit (PostgreSQL defers the check) nor a type error."""
    user_id = NO_USER[user]()
    session = SessionStore(None if write == "create" else saved(x=1))
    with transaction.atomic():  # committed for real: deferred constraints are checked
        WRITES[write](session, via, user_id)
    row = stored(session.session_key)
    assert row.user_id is None
    assert SessionStore(session.session_key).load()["_auth_user_id"] == user_id


@pytest.mark.django_db(transaction=True)
def test_a_request_logging_in_a_deleted_user_is_not_a_500(client):
    response = client.get("/write/", {"_auth_user_id": json.dumps(missing_user()), "x": "1"})
    assert response.status_code == 200
    assert Session.objects.get().user_id is None


@pytest.mark.django_db
@pytest.mark.parametrize("user", ["not-a-pk", "9" * 20, "-" + "9" * 20])
def test_a_user_id_that_is_no_key_has_no_sessions_to_list_or_end(user):
    saved(_auth_user_id=user_id(), x=1)
    assert sessionkit_users.user_sessions(user) == []
    assert sessionkit_users.end_user_sessions(user) == 0
    assert Session.objects.count() == 1


@pytest.mark.django_db
def test_a_row_whose_time_is_not_a_date_starts_a_fresh_session(caplog):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's timestamptz holds only dates")
    key = saved(x=1)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sessionkit_session SET created = 'not a date' WHERE key_hash = %s",
            [hash_key(key)],
        )
    assert SessionStore(key).load() == {}
    assert "undecodable session row" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("data", ["[]", "null", "1", '"text"'])
def test_a_row_whose_data_is_json_but_no_object_starts_a_fresh_session(caplog, data):
    key = saved(_auth_user_id=user_id(), x=1)
    Session.objects.filter(pk=hash_key(key)).update(data=data)
    assert SessionStore(key).load() == {}
    assert "undecodable session row" in caplog.text
    assert sessionkit_users.user_sessions(user_id()) == []


@COUNTED
def test_without_use_tz_the_times_are_naive_in_time_zone(via, settings):
    """As Django writes any DateTimeField: the admin and SQL read local wall-clock times."""
    from zoneinfo import ZoneInfo

    settings.USE_TZ, settings.TIME_ZONE = False, "America/New_York"
    key = saved(x=1)
    row = stored(key)
    assert row.created.tzinfo is None
    wall = datetime.now(ZoneInfo("America/New_York")).replace(tzinfo=None)
    assert abs(row.created - wall) < timedelta(seconds=5)
    session = SessionStore(key)
    via(session, "load")
    age_by(key, 3600)  # used an hour ago, as far as the row says
    session["x"] = 2
    via(session, "save")  # the merged UPDATE carries the expiry to now + age, in SQL
    assert epoch(stored(key).expires) == pytest.approx(time.time() + stored(key).age, abs=5)
    assert SessionStore(key).load() == {"x": 2}


@pytest.mark.django_db
@given(st.floats(min_value=0, max_value=2**33, allow_nan=False))
def test_a_time_the_raw_statements_write_is_the_text_django_writes(epoch_seconds):
    """SQLite compares the times as text: the store's shortcut must write Django's text."""
    from sessionkit.backends import db_time

    written = db_time.to_db(connection, epoch_seconds)
    django = connection.ops.adapt_datetimefield_value(db_time.to_datetime(epoch_seconds))
    assert written == django


# psycopg warns when a connection is closed by its finaliser (as each request thread's is):
# pytest's -W error would turn that into an unraisable error whose traceback keeps it open.
@pytest.mark.filterwarnings("ignore:.*was deleted while still open:ResourceWarning")
@pytest.mark.django_db(transaction=True)
def test_asgi_requests_leave_no_database_connection_open_behind_them(settings):
    """Under ASGI each request runs its sync code on a thread of its own, with a database
    connection of its own that is dropped (and closed) when the request ends. With
    persistent connections (``CONN_MAX_AGE=None``) nothing else closes them: if the store
    kept a reference to each (a cache keyed by the connection), a busy server would soon
    hit PostgreSQL's ``max_connections`` and answer 503 to every session request."""
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL's backends: runs in the PostgreSQL pass")
    settings.SESSION_ENGINE = "sessionkit.backends.db"
    configured = connections.settings[DEFAULT_DB_ALIAS]
    max_age = configured["CONN_MAX_AGE"]
    configured["CONN_MAX_AGE"] = None  # what new threads' connections are opened with

    def open_connections() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            )
            return int(cursor.fetchone()[0])

    try:
        before = open_connections()
        with serve_asgi() as url, httpx.Client(base_url=url) as http:
            assert http.get("/write/", params={"x": "1"}).status_code == 200
            for _ in range(30):
                assert http.get("/read/").json()["value"] == 1

        def settled() -> bool:
            gc.collect()
            return open_connections() <= before

        wait_until(settled, "every request's connection closed", timeout=10)
    finally:
        configured["CONN_MAX_AGE"] = max_age
