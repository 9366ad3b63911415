"""The Django-database store (the default): one row per session, indexed expiry."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from django.db import DataError, OperationalError, connections, router, transaction
from django.db.models import QuerySet, Subquery

from sessionkit import lifetime
from sessionkit.backends import db_sql, db_time
from sessionkit.backends.base import (
    NEW_TAKEN,
    NOT_FOUND,
    OLD_GONE,
    RENAMED,
    ClientInfo,
    Purged,
    Record,
    Removed,
)
from sessionkit.backends.base import SessionStore as BaseStore
from sessionkit.models import Session
from sessionkit.session_fields import Delta, Fields, join_fields, to_fields

#: Rows deleted per statement by ``clear_expired`` (keeps locks and memory small).
PURGE_BATCH = 1000
#: Most DELETEs of ``end_user_sessions()`` chasing sessions cycled while it runs.
END_ROUNDS = 10

logger = logging.getLogger(__name__)


def _record_from_row(row: tuple[Any, ...]) -> Record:
    """A record from a row of :data:`db_sql.READ_COLUMNS` (``ValueError``: undecodable)."""
    data, created, expires, age, deadline, user_id, user_agent, ip, last_seen = row
    return Record(
        fields=_decoded(data),
        created=db_time.to_epoch(created),
        expires=db_time.to_epoch(expires),
        age=age,
        deadline=None if deadline is None else db_time.to_epoch(deadline),
        user_id=None if user_id is None else str(user_id),
        client=ClientInfo(user_agent, ip),
        last_seen=db_time.to_epoch(last_seen),
    )


def _record(row: Session) -> Record:
    """A record from a model instance (``ValueError``: undecodable)."""
    return _record_from_row(tuple(getattr(row, column) for column in db_sql.READ_COLUMNS))


def _locked(live: QuerySet[Session]) -> Record | None:
    """The live row as a write merges into it (data and lifetime), locked until the
    transaction ends (``None``: it is gone)."""
    row = live.select_for_update().only("data", "created", "expires", "age", "deadline").first()
    if row is None:
        return None
    return Record(
        fields=_stored_fields(row),
        created=db_time.to_epoch(row.created),
        expires=db_time.to_epoch(row.expires),
        age=row.age,
        deadline=None if row.deadline is None else db_time.to_epoch(row.deadline),
    )


def _decoded(data: str) -> Fields:
    """A row's data as fields (``ValueError``: not JSON, or JSON but not an object)."""
    session = json.loads(data)
    if not isinstance(session, dict):
        raise ValueError(f"session data is a JSON {type(session).__name__}, not an object")
    return to_fields(session)


def _stored_fields(row: Session) -> Fields:
    try:
        return _decoded(row.data)
    except ValueError:
        return {}


def _now() -> Any:
    """Now, as the table's datetime columns compare."""
    return db_time.to_datetime(time.time())


def _user(user_id: str | None) -> Any:
    """The user column's value: the user's key while that user exists, else ``NULL``
    (as the raw statements write it, :func:`db_sql._user_sql`)."""
    pk = db_time.user_pk(user_id)
    if pk is None:
        return None
    users = db_time.user_pk_field().model._default_manager
    return Subquery(users.filter(pk=pk).values("pk")[:1])


def _columns(record: Record) -> dict[str, object]:
    return {
        "data": join_fields(record.fields),
        "created": db_time.to_datetime(record.created),
        "expires": db_time.to_datetime(record.expires),
        "last_seen": db_time.to_datetime(record.last_seen),
        "age": record.age,
        "deadline": None if record.deadline is None else db_time.to_datetime(record.deadline),
        "user_id": _user(record.user_id),
        "user_agent": record.client.user_agent,
        "ip": record.client.ip,
    }


def _recoverable(connection: Any, db: str, statements: int) -> Any:
    """A transaction around the merged write when it takes several statements (one write,
    all or nothing), and a savepoint around it inside a PostgreSQL transaction, so a
    statement refused for its JSON leaves the transaction usable for the locked path."""
    if statements > 1 or (connection.vendor == "postgresql" and connection.in_atomic_block):
        return transaction.atomic(using=db)
    return contextlib.nullcontext()


def _json_refused(connection: Any, error: Exception) -> bool:
    """Whether the merged ``UPDATE`` failed on the JSON it reads, not the database."""
    if connection.vendor == "postgresql":
        return isinstance(error, DataError)
    return isinstance(error, OperationalError) and "malformed JSON" in str(error)


class SessionStore(BaseStore):
    """Sessions in the ``sessionkit_session`` table of the default (or routed) database."""

    @staticmethod
    def _read_slack(age: int | None) -> float:
        """A busy session does not cost an UPDATE per read."""
        return lifetime.touch_slack(age)

    @classmethod
    def _db(cls, write: bool) -> str:
        return (router.db_for_write if write else router.db_for_read)(Session) or "default"

    def _fetch(self, key_hash: str, now: float) -> Record | None:
        """One ``SELECT``; an ``UPDATE`` too when the touch is due, once per slack window
        (:meth:`_read_slack`)."""
        connection = connections[self._db(False)]
        with connection.cursor() as cursor:
            cursor.execute(
                db_sql.select_sql(db_sql.names(connection)),
                (key_hash, db_time.to_db(connection, now)),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        try:
            record = _record_from_row(row)
        except ValueError:
            logger.warning(
                "sessionkit: undecodable session row %s; starting afresh", key_hash[:12]
            )
            return None
        expires = self._expiry_after_read(record, now)
        if expires > record.expires:
            writer = connections[self._db(True)]
            with writer.cursor() as cursor:  # never shortens a concurrent set_expiry
                when = db_time.to_db(writer, expires)
                cursor.execute(
                    db_sql.touch_sql(db_sql.names(writer)),
                    (when, db_time.to_db(writer, now), key_hash, when),
                )
        return record

    def _insert(self, key_hash: str, record: Record) -> bool:
        """One ``INSERT ... ON CONFLICT DO NOTHING``: a taken id inserts no row."""
        connection = connections[self._db(True)]
        params: list[Any] = [
            key_hash,
            join_fields(record.fields),
            db_time.to_db(connection, record.created),
            db_time.to_db(connection, record.expires),
            record.age,
            db_time.to_db(connection, record.deadline),
            db_time.user_param(connection, record.user_id),
            record.client.user_agent,
            record.client.ip,
            db_time.to_db(connection, record.last_seen),
        ]
        with connection.cursor() as cursor:
            cursor.execute(db_sql.insert_sql(db_sql.names(connection)), params)
            return bool(cursor.rowcount == 1)

    def _update(self, key_hash: str, record: Record, delta: Delta | None) -> bool:
        """One ``UPDATE`` merging ``delta`` (only the changed keys, so concurrent requests
        that change different keys lose nothing) and the lifetime into the row as it is
        (:mod:`sessionkit.backends.db_sql`; several in one transaction for a delta too large
        for one); the locked read-merge-write (:meth:`_locked_update`) where that statement
        cannot carry the delta."""
        db = self._db(True)
        connection = connections[db]
        statements = db_sql.update(connection, key_hash, record, delta, time.time())
        if statements is None:
            return self._locked_update(db, key_hash, record, delta)
        try:
            with _recoverable(connection, db, len(statements)), connection.cursor() as cursor:
                for statement in statements:  # the first takes the write lock: no writer between
                    cursor.execute(statement.sql, statement.params)
                return bool(cursor.rowcount == 1)
        except (DataError, OperationalError) as error:
            if not _json_refused(connection, error):
                raise
        # PostgreSQL's json refuses a \u0000; either refuses a row that is not JSON.
        return self._locked_update(db, key_hash, record, delta)

    @staticmethod
    def _locked_update(db: str, key_hash: str, record: Record, delta: Delta | None) -> bool:
        """Write ``record`` merged into the row as it is now, read under its lock
        (:meth:`Record.merged`): keys a JSON path cannot name, data SQL cannot parse."""
        live = Session.objects.using(db).filter(pk=key_hash, expires__gt=_now())
        with transaction.atomic(using=db):
            if (stored := _locked(live)) is None:
                return False
            live.update(**_columns(record.merged(stored, delta)))
        return True

    def _rename(self, old: str, new: str, record: Record, delta: Delta | None) -> int:
        """Insert the new row and delete the old one in one transaction that locks the old
        row, merging ``delta`` into it as it is now."""
        db = self._db(True)
        with transaction.atomic(using=db):
            live = Session.objects.using(db).filter(pk=old, expires__gt=_now())
            if (stored := _locked(live)) is None:
                return OLD_GONE
            if Session.objects.using(db).filter(pk=new).exists():
                return NEW_TAKEN
            merged = record.merged(stored, delta)
            Session.objects.using(db).create(key_hash=new, **_columns(merged))
            Session.objects.using(db).filter(pk=old).delete()
        return RENAMED

    def _remove(self, key_hash: str) -> Removed:
        rows = self._returning(db_sql.remove_sql, key_hash)
        return Removed(True, _user_id(rows[0][0])) if rows else NOT_FOUND

    @classmethod
    def _returning(cls, sql: Any, *params: Any) -> list[tuple[Any, ...]]:
        """The rows a ``DELETE ... RETURNING`` of :mod:`db_sql` deleted."""
        connection = connections[cls._db(True)]
        with connection.cursor() as cursor:
            cursor.execute(sql(db_sql.names(connection)), params)
            return list(cursor.fetchall())

    def _contains(self, key_hash: str) -> bool:
        return (
            Session.objects.using(self._db(False)).filter(pk=key_hash, expires__gt=_now()).exists()
        )

    indexes_users = True

    @classmethod
    def _user_records(cls, user_id: str) -> list[tuple[str, Record]]:
        if (pk := db_time.user_pk(user_id)) is None:
            return []
        now = time.time()
        rows = Session.objects.using(cls._db(False)).filter(
            user_id=pk, expires__gt=db_time.to_datetime(now)
        )
        records = []
        for row in rows:
            try:
                record = _record(row)
            except ValueError:
                continue  # undecodable: not a session anyone can use
            if record.is_live(now):
                records.append((row.key_hash, record))
        return records

    @classmethod
    def _end_user_records(cls, user_id: str, keep: str | None) -> list[str]:
        """Delete the user's rows but ``keep``, again while any is left: a ``cycle_key()``
        holding the old row's lock makes the DELETE wait, then skip the old row, and its new
        row, committed after the DELETE's snapshot (READ COMMITTED), is not seen; the plain
        read after it is, and another DELETE ends it."""
        if (pk := db_time.user_pk(user_id)) is None:
            return []
        others = Session.objects.using(cls._db(True)).filter(user_id=pk)
        others = others.exclude(pk=keep or "")
        user = db_time.user_param(connections[cls._db(True)], user_id)
        ended: list[str] = []
        for _ in range(END_ROUNDS):
            ended += (row[0] for row in cls._returning(db_sql.end_user_sql, user, keep or ""))
            if not others.exists():
                break
        return ended

    @classmethod
    def _purge_expired(cls) -> Iterator[Purged]:
        """Delete expired rows in batches of ``PURGE_BATCH``, yielding each; until a batch
        deletes none (a concurrent purge took the rest)."""
        connection = connections[cls._db(True)]
        now = db_time.to_db(connection, time.time())
        while rows := cls._returning(purge_batch, now, now):
            yield from ((key_hash, _user_id(user)) for key_hash, user in rows)


def _user_id(value: Any) -> str | None:
    """A user column's raw value as ``_auth_user_id`` says it (``None``: no user)."""
    return None if value is None else str(value)


def purge_batch(names: db_sql.Names) -> str:
    return db_sql.purge_sql(names, PURGE_BATCH)
