"""``manage.py clearsessions`` for every engine, with or without django.contrib.sessions."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Deletes expired sessions from the configured SESSION_ENGINE's store."

    def handle(self, **options: Any) -> None:
        engine = import_module(settings.SESSION_ENGINE)
        try:
            removed = engine.SessionStore.clear_expired()
        except NotImplementedError as exc:
            raise CommandError(
                f"Session engine {settings.SESSION_ENGINE!r} doesn't support clearing expired "
                "sessions."
            ) from exc
        if isinstance(removed, int) and removed:
            self.stdout.write(f"Deleted {removed} expired session(s).")
        elif getattr(engine.SessionStore, "expires_by_itself", False):
            self.stdout.write(
                f"{settings.SESSION_ENGINE} expires sessions by itself; nothing to delete."
            )
        else:
            self.stdout.write("No expired sessions.")
