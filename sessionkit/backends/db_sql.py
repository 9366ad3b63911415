"""The db store's hot path in raw SQL: one statement per read, one per write.

Table and column names come from :class:`sessionkit.models.Session`'s ``_meta``, quoted by
the connection. Statements use Django's ``%s`` placeholders on every backend.

A write of a loaded session is one ``UPDATE`` that merges the delta into the row as it is
when the statement runs (atomic on its own, so concurrent writers of different keys lose
nothing, without ``SELECT ... FOR UPDATE``):

- SQLite: ``json_set(data, '$."key"', json(%s), ...)`` and ``json_remove(...)``; never
  ``json_patch``, whose RFC 7396 merge deletes keys set to ``null``. A path cannot carry a
  key holding ``"``, ``\\`` or a control character: :func:`update` answers ``None`` and the
  store takes the locked read-merge-write path.
  The calls nest, 60 keys set or 120 removed in each, and SQLite's parser overflows past
  about 28 nested calls: a larger delta (over 720 changed keys) goes in several ``UPDATE``
  statements run in one transaction, which holds SQLite's write lock from the first on.
- PostgreSQL: the stored object's members but the delta's keys, then the delta's, through
  ``json_each`` / ``json_object_agg`` on ``json`` (not ``jsonb``: ``jsonb`` rewrites
  ``1e+16`` as an integer and refuses ``\\u0000``; ``json`` keeps each value's text). A
  ``\\u0000`` in a string still fails the statement (``DataError``): the store then takes
  the locked path.

Times are datetime columns (:mod:`sessionkit.backends.db_time` converts the parameters):
SQLite holds them as Django writes them, ``YYYY-MM-DD HH:MM:SS[.ffffff]`` text that sorts
as it compares, so ``MIN``/``MAX`` work on them and a touch adds the age with
``strftime(..., now, '+N seconds')`` (milliseconds: enough for an expiry); PostgreSQL adds
an interval. The user column is set through ``(SELECT pk FROM <user table> WHERE pk = %s)``:
an id naming no user (deleted meanwhile) stores ``NULL`` instead of failing the foreign key
at commit, in the same one statement.

The lifetime is merged in the same statement (issue 8): a delta that does not set or remove
``_session_expiry`` keeps the stored touch window and carries the stored lifetime to this
write's time (``expires + age``, never earlier than stored; a fixed date, ``age`` NULL,
stays); one that does writes the writer's. The deadline only comes earlier. ``expires >
now`` in the ``WHERE`` keeps a destroyed or expired session from coming back.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from django.db.models import Field

from sessionkit.backends import db_time
from sessionkit.models import Session
from sessionkit.session_fields import Delta, Fields, join_fields

#: SQLite's default SQLITE_MAX_FUNCTION_ARG is 127: ``json_set`` takes the document and
#: (path, value) pairs, ``json_remove`` the document and paths.
SQLITE_SET_PAIRS = 60
SQLITE_REMOVE_PATHS = 120
#: Most ``json_set`` / ``json_remove`` calls nested in one statement: SQLite's parser
#: overflows its stack at about 28 (a delta of some 1,700 changed keys).
SQLITE_NESTED_CALLS = 12

#: The keys whose change also changes the stored lifetime or user.
EXPIRY_KEY = "_session_expiry"
USER_KEY = "_auth_user_id"

#: The columns a read returns, in :func:`record_from_row`'s order.
READ_COLUMNS = (
    "data",
    "created",
    "expires",
    "age",
    "deadline",
    "user_id",
    "user_agent",
    "ip",
    "last_seen",
)
INSERT_COLUMNS = ("key_hash", *READ_COLUMNS)


class Statement(NamedTuple):
    sql: str
    params: dict[str, Any]


def _column(name: str) -> str:
    field = Session._meta.get_field(name)
    assert isinstance(field, Field) and field.column is not None
    return field.column


class Names:
    """The quoted table and column names for one database vendor: what the statement
    builders below are cached by. Not the connection's ``ops.quote_name``: a bound method
    is one key per connection object (one per thread: per request under ASGI), and the
    caches would keep every such connection alive, and open, for the process's life."""

    __slots__ = ("_quoted", "vendor")

    def __init__(self, vendor: str, quoted: dict[str, str]) -> None:
        self.vendor = vendor
        self._quoted = quoted

    def __getitem__(self, name: str) -> str:
        return self._quoted[name]


_names: dict[str, Names] = {}


def names(connection: Any) -> Names:
    """The :class:`Names` of ``connection``'s vendor, quoted by its ``ops`` on first use
    (quoting depends on the vendor only)."""
    found = _names.get(connection.vendor)
    if found is None:
        quote = connection.ops.quote_name
        quoted = {name: quote(_column(name)) for name in INSERT_COLUMNS}
        quoted["table"] = quote(Session._meta.db_table)
        target = db_time.user_pk_field()
        assert target.column is not None
        quoted["user_table"] = quote(target.model._meta.db_table)
        quoted["user_pk"] = quote(target.column)
        found = _names.setdefault(connection.vendor, Names(connection.vendor, quoted))
    return found


def _user_sql(names: Names, param: str) -> str:
    """The user's key if that user exists, else NULL (never a foreign-key violation)."""
    pk = names["user_pk"]
    return f"(SELECT {pk} FROM {names['user_table']} WHERE {pk} = {param})"


@functools.cache
def select_sql(n: Names) -> str:
    columns = ", ".join(n[c] for c in READ_COLUMNS)
    return f"SELECT {columns} FROM {n['table']} WHERE {n['key_hash']} = %s AND {n['expires']} > %s"


@functools.cache
def touch_sql(n: Names) -> str:
    """Push the expiry back to ``%s`` (never shortening a concurrent ``set_expiry()``)."""
    return (
        f"UPDATE {n['table']} SET {n['expires']} = %s, {n['last_seen']} = %s "
        f"WHERE {n['key_hash']} = %s AND {n['expires']} < %s"
    )


@functools.cache
def insert_sql(n: Names) -> str:
    """Create a row unless the key is taken (0 rows): no exception, so no savepoint."""
    columns = ", ".join(n[c] for c in INSERT_COLUMNS)
    marks = ", ".join(_user_sql(n, "%s") if c == "user_id" else "%s" for c in INSERT_COLUMNS)
    return (
        f"INSERT INTO {n['table']} ({columns}) VALUES ({marks}) "
        f"ON CONFLICT ({n['key_hash']}) DO NOTHING"
    )


# Deletes answer the rows *this* statement deleted (``RETURNING``: SQLite 3.35+, PostgreSQL),
# so of two requests ending one session only one sends ``session_ended``.


@functools.cache
def remove_sql(n: Names) -> str:
    """Delete one session; answers its user (no row: another request deleted it)."""
    return f"DELETE FROM {n['table']} WHERE {n['key_hash']} = %s RETURNING {n['user_id']}"


@functools.cache
def end_user_sql(n: Names) -> str:
    """Delete a user's sessions but one; answers the key_hashes deleted."""
    return (
        f"DELETE FROM {n['table']} WHERE {n['user_id']} = %s AND {n['key_hash']} <> %s "
        f"RETURNING {n['key_hash']}"
    )


@functools.cache
def purge_sql(n: Names, batch: int) -> str:
    """Delete up to ``batch`` sessions expired at ``%s``; answers their key_hash and user.
    The outer ``expires`` test is checked again on a row a concurrent touch moved."""
    return (
        f"DELETE FROM {n['table']} WHERE {n['key_hash']} IN (SELECT {n['key_hash']} FROM "
        f"{n['table']} WHERE {n['expires']} <= %s LIMIT {int(batch)}) AND {n['expires']} <= %s "
        f"RETURNING {n['key_hash']}, {n['user_id']}"
    )


def sqlite_path_safe(key: str) -> bool:
    """Whether SQLite's ``$."key"`` path names ``key`` exactly (it has no escapes)."""
    return not any(c in '"\\' or c < " " for c in key)


# -- the merged write ----------------------------------------------------------------------


def _earliest(vendor: str, a: str, b: str) -> str:
    """The earlier of two nullable times, NULL standing for "none" (LEAST skips NULLs)."""
    if vendor == "postgresql":
        return f"LEAST({a}, {b})"
    return f"COALESCE(MIN({a}, {b}), {a}, {b})"


def _later(vendor: str, a: str, b: str) -> str:
    return f"GREATEST({a}, {b})" if vendor == "postgresql" else f"MAX({a}, {b})"


def _plus_seconds(vendor: str, when: str, seconds: str) -> str:
    """``when`` plus ``seconds`` (an integer expression), as the column stores times."""
    if vendor == "postgresql":
        return f"{when} + {seconds} * INTERVAL '1 second'"
    return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', {when}, '+' || {seconds} || ' seconds')"


def _param(vendor: str, name: str, kind: str) -> str:
    """A named placeholder, typed where PostgreSQL may need it (a NULL parameter)."""
    return f"%({name})s::{kind}" if vendor == "postgresql" else f"%({name})s"


def _sqlite_merge(data_sql: str, changed: int, removed: int) -> str:
    """``data_sql`` with the keys ``%(r<i>)s`` removed and ``%(p<i>)s`` set to ``%(v<i>)s``:
    ``json_remove`` and ``json_set`` calls nested, each as many as SQLite takes."""
    for start in range(0, removed, SQLITE_REMOVE_PATHS):
        paths = [f"%(r{i})s" for i in range(start, min(removed, start + SQLITE_REMOVE_PATHS))]
        data_sql = f"json_remove({data_sql}, {', '.join(paths)})"
    for start in range(0, changed, SQLITE_SET_PAIRS):
        pairs = [
            f"%(p{i})s, json(%(v{i})s)"
            for i in range(start, min(changed, start + SQLITE_SET_PAIRS))
        ]
        data_sql = f"json_set({data_sql}, {', '.join(pairs)})"
    return data_sql


@functools.cache
def _merge_sql(n: Names, changed: int, removed: int) -> str:
    """An ``UPDATE`` of the data only: a leading part of a delta too large for one SQLite
    statement (the last part's statement writes the lifetime too)."""
    return (
        f"UPDATE {n['table']} SET {n['data']} = {_sqlite_merge(n['data'], changed, removed)} "
        + _live_row(n)
    )


def _live_row(n: Names) -> str:
    """The ``WHERE`` of every write: the row of ``%(key)s`` unless it expired by
    ``%(now)s``, so a write never brings back a session that ended (the same in each
    statement of a split write: all of them match, or none)."""
    now = _param(n.vendor, "now", "timestamptz")
    return f"WHERE {n['key_hash']} = %(key)s AND {n['expires']} > {now}"


#: One SQLite statement's share of a delta: the keys it removes, the (key, text) it sets.
Part = tuple[list[str], list[tuple[str, str]]]


def _sqlite_parts(changed: Fields, removed: list[str]) -> list[Part]:
    """The delta in parts of at most :data:`SQLITE_NESTED_CALLS` nested calls each: one
    part, the common case, up to 720 changed keys."""
    items = list(changed.items())
    nested = -(-len(removed) // SQLITE_REMOVE_PATHS) - (-len(items) // SQLITE_SET_PAIRS)
    if nested <= SQLITE_NESTED_CALLS:
        return [(removed, items)]
    calls: list[Part] = [
        (removed[i : i + SQLITE_REMOVE_PATHS], [])
        for i in range(0, len(removed), SQLITE_REMOVE_PATHS)
    ]
    calls += [
        ([], items[i : i + SQLITE_SET_PAIRS]) for i in range(0, len(items), SQLITE_SET_PAIRS)
    ]
    parts: list[Part] = []
    for i in range(0, max(len(calls), 1), SQLITE_NESTED_CALLS):
        group = calls[i : i + SQLITE_NESTED_CALLS]
        parts.append(([k for r, _ in group for k in r], [kv for _, c in group for kv in c]))
    return parts


def _sqlite_params(part: Part) -> dict[str, str]:
    """A part's paths and values, as :func:`_sqlite_merge` names them."""
    removed, changed = part
    params = {f"r{i}": f'$."{key}"' for i, key in enumerate(removed)}
    for i, (key, text) in enumerate(changed):
        params[f"p{i}"], params[f"v{i}"] = f'$."{key}"', text
    return params


@functools.cache
def _update_sql(n: Names, data: tuple[str, int, int], replace: bool, user: str) -> str:
    """The merged ``UPDATE`` (named parameters, see :func:`update`). ``data``: how the data
    column is written (``keep``, ``full`` or ``merge``), how many keys changed, how many
    were removed; ``replace``: the writer's lifetime, else the stored one carried forward;
    ``user``: ``keep`` or ``set``."""
    vendor = n.vendor
    mode, changed, removed = data
    data_sql = n["data"]
    if mode == "full":
        data_sql = "%(data)s"
    elif mode == "merge" and vendor == "postgresql":
        parts = [
            f"SELECT key, value FROM json_each({n['data']}::json) "
            "WHERE NOT (key = ANY(%(drop)s::text[]))"
        ]
        if changed:
            parts.append("SELECT key, value FROM json_each(%(changed)s::json)")
        data_sql = (
            "(SELECT COALESCE(json_object_agg(m.key, m.value), '{}'::json)::text FROM ("
            + " UNION ALL ".join(parts)
            + ") m)"
        )
    elif mode == "merge":
        data_sql = _sqlite_merge(data_sql, changed, removed)
    now = _param(vendor, "now", "timestamptz")
    deadline = _earliest(vendor, n["deadline"], _param(vendor, "deadline", "timestamptz"))
    age = _param(vendor, "age", "integer")
    if replace:  # the writer's age and expiry; the deadline never later than stored
        expires = _earliest(vendor, _param(vendor, "expires", "timestamptz"), deadline)
    else:  # the stored age carried to now; a fixed date (age NULL) stays
        touched = _later(vendor, n["expires"], _plus_seconds(vendor, now, n["age"]))
        carried = f"CASE WHEN {n['age']} IS NULL THEN {n['expires']} ELSE {touched} END"
        expires = _earliest(vendor, carried, deadline)
    # An indexed column left out of SET (user_id) is not written: SQLite then leaves its
    # index alone. The data is always in SET: a RESAVE of an unchanged session writes it.
    sets = [f"{n['data']} = {data_sql}"]
    sets.append(f"{n['expires']} = {expires}")
    if replace:
        sets.append(f"{n['age']} = {age}")
    sets.append(f"{n['deadline']} = {deadline}")
    if user == "set":
        sets.append(f"{n['user_id']} = {_user_sql(n, '%(user)s')}")
    sets += [f"{n['last_seen']} = {now}", f"{n['user_agent']} = %(agent)s", f"{n['ip']} = %(ip)s"]
    return f"UPDATE {n['table']} SET {', '.join(sets)} " + _live_row(n)


def update(
    connection: Any, key_hash: str, record: Any, delta: Delta | None, now: float
) -> list[Statement] | None:
    """The ``UPDATE`` writing ``record`` (with ``delta``: only its keys) over the row as it
    is, or ``None`` where SQLite's JSON paths cannot name a key. One statement, but for a
    delta too large for one SQLite statement: then several, to run in one transaction
    (which holds SQLite's write lock from the first), the last also writing the lifetime."""
    vendor = connection.vendor
    params: dict[str, Any] = {
        "now": db_time.to_db(connection, now),
        "deadline": db_time.to_db(connection, record.deadline),
        "agent": record.client.user_agent,
        "ip": record.client.ip,
        "key": key_hash,
    }
    leading: list[Statement] = []
    if delta is None:
        data: tuple[str, int, int] = ("full", 0, 0)
        params["data"] = join_fields(record.fields)
        replace, user = True, "set"
    else:
        changed, removed = delta.changed, sorted(delta.removed)
        if vendor != "postgresql" and not all(
            sqlite_path_safe(key) for key in (*changed, *removed)
        ):
            return None
        if vendor == "postgresql":
            data = ("merge", len(changed), len(removed)) if delta else ("keep", 0, 0)
            params["drop"] = [*changed, *removed]
            params["changed"] = join_fields(changed)
        else:
            *parts, last = _sqlite_parts(changed, removed)
            for part in parts:
                sql = _merge_sql(names(connection), len(part[1]), len(part[0]))
                own = {"key": key_hash, "now": params["now"], **_sqlite_params(part)}
                leading.append(Statement(sql, own))
            data = ("merge", len(last[1]), len(last[0])) if delta else ("keep", 0, 0)
            params.update(_sqlite_params(last))
        replace = EXPIRY_KEY in changed or EXPIRY_KEY in delta.removed
        user = "set" if USER_KEY in changed or USER_KEY in delta.removed else "keep"
    if replace:
        params["expires"] = db_time.to_db(connection, record.expires)
        params["age"] = record.age
    if user == "set":
        params["user"] = db_time.user_param(connection, record.user_id)
    return [*leading, Statement(_update_sql(names(connection), data, replace, user), params)]
