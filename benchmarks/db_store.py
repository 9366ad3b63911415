"""In-process benchmark of the db store against Django's ``db`` engine, and against the db
store of another git revision (``--old``), on SQLite or PostgreSQL.

    python -m benchmarks.db_store --db sqlite --old main
    python -m benchmarks.db_store --db postgresql --old main   # a private server (tests.servers)

Each round runs every target's operation ``--ops`` times, the targets in a rotated order;
a cell is the median over rounds of Django's time divided by the target's (above 1: faster
than Django), and of the SQL statements per operation. Operations, on sessions of 4 keys
(about 200 B) and 20 keys (about 4 KB):

- ``read``: load a session and read one key (sessionkit: within the touch slack);
- ``rolling``: the same with rolling on: Django's engine saves the session on every request
  (``SESSION_SAVE_EVERY_REQUEST``), sessionkit's read pushes the expiry back (past the slack
  only: at most one ``UPDATE`` per session per minute, not counted here);
- ``write``: load a session, set one key to a new value, save.

Nothing here is part of ``make test``.
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def configure(db: str) -> None:
    import django
    from django.conf import settings

    if db == "postgresql":
        from tests.servers import postgres_dsn

        database = postgres_dsn()
    else:
        directory = tempfile.mkdtemp(prefix="sessionkit-bench-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": f"{directory}/db.sqlite3"}
    settings.configure(
        SECRET_KEY="benchmark-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
        INSTALLED_APPS=["django.contrib.contenttypes", "sessionkit", "django.contrib.sessions"],
        DATABASES={"default": database},
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, run_syncdb=True)


def old_store(revision: str) -> type:
    """``sessionkit.backends.db.SessionStore`` as it is at ``revision``."""
    source = subprocess.run(
        ["git", "show", f"{revision}:sessionkit/backends/db.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("sessionkit_old_db", loader=None)
    assert spec is not None
    module = types.ModuleType(spec.name)
    module.__file__ = f"<{revision}:sessionkit/backends/db.py>"
    sys.modules[spec.name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    store: type = module.SessionStore
    return store


def session_data(keys: int, size: int) -> dict[str, str]:
    letters = string.ascii_letters
    per = max(1, size // keys - 12)
    return {
        f"key{i:02d}": "".join(letters[(i * 7 + j) % 52] for j in range(per)) for i in range(keys)
    }


def make_sessions(store: type, data: dict[str, str], count: int = 16) -> list[str]:
    keys = []
    for _ in range(count):
        session = store()
        session.update(data)
        session.save()
        keys.append(session.session_key)
    return keys


def operation(kind: str, store: type, django_engine: bool) -> Callable[[str, int], Any]:
    if kind == "read" or (kind == "rolling" and not django_engine):

        def read(key: str, i: int) -> Any:
            return store(key)["key00"]

        return read
    if kind == "rolling":

        def read_and_save(key: str, i: int) -> None:
            session = store(key)
            session["key00"]
            session.save()  # SESSION_SAVE_EVERY_REQUEST

        return read_and_save

    def write(key: str, i: int) -> None:
        session = store(key)
        session["key00"]
        session["w"] = i
        session.save()

    return write


def measure(fn: Callable[[str, int], Any], keys: list[str], ops: int) -> tuple[float, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn(keys[0], -1)
    start = time.perf_counter()
    for i in range(ops):
        fn(keys[i % len(keys)], i)
    return (time.perf_counter() - start) / ops, float(len(captured.captured_queries))


def _ratio(times: dict[str, list[float]], a: str, b: str) -> float:
    """The median over rounds of ``a``'s time over ``b``'s (above 1: ``b`` is faster)."""
    return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--old", default="main", help="git revision of the old db store")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ops", type=int, default=300)
    args = parser.parse_args()
    configure(args.db)

    from django.contrib.sessions.backends.db import SessionStore as DjangoStore

    from sessionkit.backends.db import SessionStore as NewStore

    targets = {"django": DjangoStore, "old": old_store(args.old), "new": NewStore}
    sizes = {"200B": session_data(4, 200), "4KB": session_data(20, 4000)}
    cells = [(kind, size) for kind in ("read", "rolling", "write") for size in sizes]
    sessions = {
        (name, size): make_sessions(store, data)
        for name, store in targets.items()
        for size, data in sizes.items()
    }
    times: dict[tuple[str, str, str], list[float]] = {}
    statements: dict[tuple[str, str, str], float] = {}
    names = list(targets)
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for kind, size in cells:
            for name in order:
                fn = operation(kind, targets[name], name == "django")
                elapsed, queries = measure(fn, sessions[name, size], args.ops)
                times.setdefault((kind, size, name), []).append(elapsed)
                statements[kind, size, name] = queries
    print(f"db={args.db}, {args.rounds} rounds of {args.ops} operations, old = {args.old}\n")
    print(
        "| operation | Django µs | old µs | new µs | old vs Django | new vs Django"
        " | new vs old | SQL Django / old / new |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for kind, size in cells:
        t = {name: times[kind, size, name] for name in names}
        sql = " / ".join(f"{statements[kind, size, name]:.0f}" for name in names)
        print(
            f"| {kind} {size} | {statistics.median(t['django']) * 1e6:.0f} "
            f"| {statistics.median(t['old']) * 1e6:.0f} | {statistics.median(t['new']) * 1e6:.0f} "
            f"| {_ratio(t, 'django', 'old'):.2f}x | {_ratio(t, 'django', 'new'):.2f}x "
            f"| {_ratio(t, 'old', 'new'):.2f}x | {sql} |"
        )


if __name__ == "__main__":
    main()
