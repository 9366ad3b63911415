"""``manage.py sessionkit_adopt``: move every live session of the ``ADOPT_FROM`` engine into
sessionkit's store ahead of time (db, cached_db and file engines: the ones it can list; and
an Express app's ``connect_redis`` sessions, each to the same id).

Each session moves to the id its legacy key maps to (:func:`sessionkit.adopt.adopted_key`),
so the browser's legacy cookie still finds it, through ``ADOPT_FROM``, on its next request,
which re-issues a signed cookie. Every session moves in its own transaction: a run that
stops resumes by running again, and a second run moves nothing.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from sessionkit import adopt
from sessionkit.conf import get_settings
from sessionkit.engines import tracked

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Move every live session of SESSIONKIT['ADOPT_FROM'] into sessionkit's store, in "
        "batches; resumable and idempotent. Prints how many moved, were skipped and had "
        "expired."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="legacy sessions read per query"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        conf = get_settings()
        engine = conf.adopt_from
        if engine is None:
            raise CommandError(
                "SESSIONKIT['ADOPT_FROM'] is not set (or not valid: see manage.py check). Set "
                "it to the SESSION_ENGINE the site used before sessionkit."
            )
        if not adopt.listable(engine):
            raise CommandError(
                f"{engine.__module__} cannot list its sessions, so they cannot be moved ahead "
                "of time. With ADOPT_FROM set, each one moves on its next request."
            )
        batch_size = max(1, options["batch_size"])
        store_class = tracked(import_string(f"{settings.SESSION_ENGINE}.SessionStore"))
        if adopt.moves_by_id(engine):
            return self.move_by_id(engine, store_class, batch_size)
        total = adopt.count_legacy(engine)
        counts = {"moved": 0, "skipped": 0, "expired": 0}
        done = 0
        for batch in adopt.legacy_batches(engine, batch_size):
            now = time.time()
            for key, legacy in batch:
                counts[self.move_one(engine, store_class, key, legacy, conf.keys, now)] += 1
            done += len(batch)
            self.progress(done, total, counts)
        self.stdout.write(
            f"Moved {counts['moved']} session(s), skipped {counts['skipped']} (moved "
            f"already, by a request or an earlier run, or empty), deleted "
            f"{counts['expired']} expired."
        )

    def move_by_id(self, engine: type[Any], store_class: Any, batch_size: int) -> None:
        """connect_redis: every session to the same id (the cookies stay as they are);
        Redis has expired the ended ones already."""
        counts = {"moved": 0, "skipped": 0, "expired": 0}
        done = 0
        for batch in engine.ids(batch_size):
            for key in batch:
                outcome = adopt.move_by_id(engine, store_class, key)
                counts["moved" if outcome.status == "moved" else "skipped"] += 1
            done += len(batch)
            self.progress(done, done, counts)
        self.stdout.write(
            f"Moved {counts['moved']} session(s), skipped {counts['skipped']} (moved "
            "already, ended meanwhile, or not express-session's)."
        )

    @staticmethod
    def move_one(
        engine: type[Any],
        store_class: Any,
        key: str,
        legacy: adopt.Legacy | None,
        keys: tuple[bytes, ...],
        now: float,
    ) -> str:
        if legacy is None:  # a file that cannot be read: left where it is
            return "skipped"
        if legacy.expires <= now:
            adopt.claim(engine, key)
            return "expired"
        if not legacy.data:  # undecodable or empty: nothing to keep
            adopt.claim(engine, key)
            return "skipped"
        outcome = adopt.move(engine, store_class, key, keys, legacy=legacy)
        return "moved" if outcome.status == "moved" else "skipped"

    def progress(self, done: int, total: int, counts: dict[str, int]) -> None:
        total = max(total, done)
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stderr.write(
            f"[{bar}] {done}/{total}  moved {counts['moved']}, skipped {counts['skipped']}, "
            f"expired {counts['expired']}"
        )
