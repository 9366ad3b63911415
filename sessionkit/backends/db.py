"""The Django-database store (the default): one row per session, indexed expiry."""

from __future__ import annotations

import json
import logging
import time

from django.db import IntegrityError, router, transaction
from django.db.models import QuerySet

from sessionkit import lifetime
from sessionkit.backends.base import NEW_TAKEN, OLD_GONE, RENAMED, ClientInfo, Record
from sessionkit.backends.base import SessionStore as BaseStore
from sessionkit.models import Session
from sessionkit.session_fields import Delta, Fields, join_fields, to_fields

#: Rows deleted per statement by ``clear_expired`` (keeps locks and memory small).
PURGE_BATCH = 1000
#: Most DELETEs of ``end_user_sessions()`` chasing sessions cycled while it runs.
END_ROUNDS = 10

logger = logging.getLogger(__name__)


def _record(row: Session) -> Record:
    data = json.loads(row.data)
    return Record(
        fields=to_fields(data),
        created=row.created,
        expires=row.expires,
        age=row.age,
        deadline=row.deadline,
        user_id=row.user_id,
        client=ClientInfo(row.user_agent, row.ip),
        last_seen=row.last_seen,
    )


def _locked(live: QuerySet[Session]) -> Record | None:
    """The live row as a write merges into it (data and lifetime), locked until the
    transaction ends (``None``: it is gone)."""
    row = live.select_for_update().only("data", "created", "expires", "age", "deadline").first()
    if row is None:
        return None
    return Record(
        fields=_stored_fields(row),
        created=row.created,
        expires=row.expires,
        age=row.age,
        deadline=row.deadline,
    )


def _stored_fields(row: Session) -> Fields:
    try:
        return to_fields(json.loads(row.data))
    except ValueError:
        return {}


def _columns(record: Record) -> dict[str, object]:
    return {
        "data": join_fields(record.fields),
        "created": record.created,
        "expires": record.expires,
        "last_seen": record.last_seen,
        "age": record.age,
        "deadline": record.deadline,
        "user_id": record.user_id,
        "user_agent": record.client.user_agent,
        "ip": record.client.ip,
    }


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
        row = Session.objects.using(self._db(False)).filter(pk=key_hash, expires__gt=now).first()
        if row is None:
            return None
        try:
            record = _record(row)
        except ValueError:
            logger.warning(
                "sessionkit: undecodable session row %s; starting afresh", key_hash[:12]
            )
            return None
        expires = self._expiry_after_read(record, now)
        if expires > record.expires:
            Session.objects.using(self._db(True)).filter(
                pk=key_hash,
                expires__lt=expires,  # never shorten a concurrent set_expiry
            ).update(expires=expires, last_seen=now)
        return record

    def _insert(self, key_hash: str, record: Record) -> bool:
        db = self._db(True)
        try:
            with transaction.atomic(using=db):
                Session.objects.using(db).create(key_hash=key_hash, **_columns(record))
        except IntegrityError:
            return False
        return True

    def _update(self, key_hash: str, record: Record, delta: Delta | None) -> bool:
        """Write ``record`` merged into the row as it is now (locked): with a ``delta`` only
        the changed keys, so concurrent requests that change different keys lose nothing,
        and the lifetime computed from the merged session (:meth:`Record.merged`)."""
        db = self._db(True)
        live = Session.objects.using(db).filter(pk=key_hash, expires__gt=time.time())
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
            live = Session.objects.using(db).filter(pk=old, expires__gt=time.time())
            if (stored := _locked(live)) is None:
                return OLD_GONE
            if Session.objects.using(db).filter(pk=new).exists():
                return NEW_TAKEN
            merged = record.merged(stored, delta)
            Session.objects.using(db).create(key_hash=new, **_columns(merged))
            Session.objects.using(db).filter(pk=old).delete()
        return RENAMED

    def _remove(self, key_hash: str) -> None:
        Session.objects.using(self._db(True)).filter(pk=key_hash).delete()

    def _contains(self, key_hash: str) -> bool:
        return (
            Session.objects.using(self._db(False))
            .filter(pk=key_hash, expires__gt=time.time())
            .exists()
        )

    indexes_users = True

    @classmethod
    def _user_records(cls, user_id: str) -> list[tuple[str, Record]]:
        now = time.time()
        rows = Session.objects.using(cls._db(False)).filter(user_id=user_id, expires__gt=now)
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
    def _end_user_records(cls, user_id: str, keep: str | None) -> int:
        """Delete the user's rows but ``keep``, again while any is left: a ``cycle_key()``
        holding the old row's lock makes the DELETE wait, then skip the old row, and its new
        row, committed after the DELETE's snapshot (READ COMMITTED), is not seen; the plain
        read after it is, and another DELETE ends it."""
        others = Session.objects.using(cls._db(True)).filter(user_id=user_id)
        others = others.exclude(pk=keep or "")
        total = 0
        for _ in range(END_ROUNDS):
            total += others.delete()[0]
            if not others.exists():
                break
        return total

    @classmethod
    def _purge_expired(cls) -> int:
        """Delete expired rows in batches of ``PURGE_BATCH``; returns how many."""
        db = cls._db(True)
        now = time.time()
        total = 0
        while True:
            batch = list(
                Session.objects.using(db)
                .filter(expires__lte=now)
                .values_list("pk", flat=True)[:PURGE_BATCH]
            )
            if not batch:
                return total
            total += Session.objects.using(db).filter(pk__in=batch).delete()[0]
