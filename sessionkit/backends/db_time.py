"""The db store's boundary: epoch seconds (records) to the table's columns and back.

Records keep times as epoch floats (every store shares :mod:`sessionkit.lifetime`'s
arithmetic); the table keeps ``DateTimeField`` values, aware UTC when ``USE_TZ``, naive in
``TIME_ZONE`` when not, as Django would write them. The user column holds the user
model's primary key, or ``NULL`` for an id that is not one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Field
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from sessionkit.models import Session

#: 1970-01-01 as a naive UTC datetime.
NAIVE_EPOCH = datetime(1970, 1, 1)


def to_datetime(epoch: float) -> datetime:
    """``epoch`` as the table's ``DateTimeField`` holds it in Python."""
    value = datetime.fromtimestamp(epoch, UTC)
    return value if settings.USE_TZ else timezone.make_naive(value)


def to_db(connection: Any, epoch: float | None) -> Any:
    """``epoch`` as a raw statement's parameter for a datetime column."""
    if epoch is None:
        return None
    if connection.vendor == "sqlite" and settings.USE_TZ and connection.timezone_name == "UTC":
        # What Django's adapt_datetimefield_value writes there, in a third of its time.
        return (NAIVE_EPOCH + timedelta(seconds=epoch)).isoformat(" ")
    return connection.ops.adapt_datetimefield_value(to_datetime(epoch))


def to_epoch(value: datetime | str | None) -> float:
    """A datetime column's value (the ORM's, a raw cursor's, SQLite's text) in epoch
    seconds. A naive value is UTC when ``USE_TZ``, else ``TIME_ZONE``."""
    when = parse_datetime(value) if isinstance(value, str) else value
    if not isinstance(when, datetime):  # SQLite's converter gives None for a bad text
        raise ValueError(f"not a datetime: {value!r}")
    if when.tzinfo is None:
        if settings.USE_TZ:  # SQLite's UTC text: the subtraction is the cheapest way
            return (when - NAIVE_EPOCH).total_seconds()
        when = timezone.make_aware(when)
    return when.timestamp()


def user_pk_field() -> Field[Any, Any]:
    """The user model's primary key, which the ``user`` column refers to."""
    target = Session._meta.get_field("user").target_field
    assert isinstance(target, Field)
    return target


def user_pk(user_id: str | None) -> Any:
    """``_auth_user_id`` as the user model's key, or ``None`` when it cannot be one: not of
    the key's type, or outside what its column holds (the field's own validators: an
    integer beyond the database's range would be refused as a parameter)."""
    if user_id is None:
        return None
    field = user_pk_field()
    try:
        pk = field.to_python(user_id)
        field.run_validators(pk)
    except (ValidationError, ValueError, TypeError):
        return None
    return pk


def user_param(connection: Any, user_id: str | None) -> Any:
    """``_auth_user_id`` as a raw statement's parameter for the user's key column."""
    value = user_pk(user_id)
    if value is None:
        return None
    return user_pk_field().get_db_prep_value(value, connection, prepared=False)
