"""Human columns: ``created``, ``last_seen``, ``expires`` and ``deadline`` become
``DateTimeField`` (they were epoch floats), and ``user_id`` (text) a foreign key to
``AUTH_USER_MODEL``.

Three migrations (0002 adds, 0003 copies, 0004 drops and renames), each its own
transaction: PostgreSQL refuses to ``ALTER`` a table whose rows were written in the same
transaction while a deferred foreign key is pending.

Every live row is kept: its times converted, its user kept where that user exists (an id
of a deleted user, or one that is no valid key, becomes ``NULL``: the session lives on,
logged in to nobody). Expired rows are dropped on the way. Reversible: backwards, the
datetimes go back to epoch floats and the user's key to text.
"""

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import migrations, models
from django.utils import timezone

#: Rows converted per ``bulk_update``.
BATCH = 500
TIMES = ("created", "expires", "last_seen", "deadline")


def _to_datetime(epoch: float) -> datetime:
    value = datetime.fromtimestamp(epoch, UTC)
    return value if settings.USE_TZ else timezone.make_naive(value)


def _to_epoch(value: datetime) -> float:
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC) if settings.USE_TZ else timezone.make_aware(value)
    return value.timestamp()


def _user_pks(user_model: Any, db: str, ids: Iterable[str]) -> dict[str, Any]:
    """Each text id that names an existing user, mapped to that user's key."""
    target = user_model._meta.pk
    keys: dict[str, Any] = {}
    for text in ids:
        try:
            keys[text] = target.to_python(text)
        except (ValidationError, ValueError, TypeError):
            continue
    found = set(
        user_model._default_manager.db_manager(db)
        .filter(pk__in=keys.values())
        .values_list("pk", flat=True)
    )
    return {text: pk for text, pk in keys.items() if pk in found}


def _batches(queryset: Any) -> Iterator[list[Any]]:
    """The rows in key order, ``BATCH`` at a time (keyset pages: safe to update as it goes)."""
    last = ""
    while batch := list(queryset.filter(pk__gt=last).order_by("pk")[:BATCH]):
        yield batch
        last = batch[-1].pk


def forwards(apps: Any, schema_editor: Any) -> None:
    Session = apps.get_model("sessionkit", "Session")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    db = schema_editor.connection.alias
    rows = Session.objects.using(db)
    rows.filter(models.Q(expires__lte=datetime.now(UTC).timestamp())).delete()
    for batch in _batches(rows):
        users = _user_pks(User, db, {r.user_id for r in batch if r.user_id})
        for row in batch:
            for name in TIMES:
                value = getattr(row, name)
                setattr(row, f"{name}_at", None if value is None else _to_datetime(value))
            row.user_fk_id = users.get(row.user_id)
        Session.objects.using(db).bulk_update(
            batch, [f"{name}_at" for name in TIMES] + ["user_fk"], batch_size=BATCH
        )


def backwards(apps: Any, schema_editor: Any) -> None:
    Session = apps.get_model("sessionkit", "Session")
    db = schema_editor.connection.alias
    for batch in _batches(Session.objects.using(db)):
        for row in batch:
            for name in TIMES:
                value = getattr(row, f"{name}_at")
                setattr(row, name, None if value is None else _to_epoch(value))
            row.user_id = None if row.user_fk_id is None else str(row.user_fk_id)
        Session.objects.using(db).bulk_update(batch, [*TIMES, "user_id"], batch_size=BATCH)


class Migration(migrations.Migration):
    dependencies = [("sessionkit", "0002_datetimes_and_user")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
