"""The Redis and PostgreSQL servers the benchmark runs against, and their counters.

By default the benchmark starts its own Redis and PostgreSQL (with the test suite's
helpers, :mod:`tests.servers`): their counters are server-wide, and on this shared machine
another engineer's test run on 127.0.0.1:6379 was seen issuing thousands of commands a
second in the middle of a benchmark. ``BENCH_SHARED_SERVERS=1`` uses the machine's servers
on 127.0.0.1:6379 / 5432 when they answer (and private ones otherwise); every run reports
how much traffic it saw from other clients. The private PostgreSQL runs with its default
durability (the test suite's starts with ``fsync`` off, which would flatter the database
engines).

Counters (deltas around one wrk run, divided by its requests):

- Redis: ``INFO stats cpu commandstats`` in one command. CPU is ``used_cpu_sys +
  used_cpu_user``; commands are ``total_commands_processed`` (on Redis 7 this counts the
  commands a Lua script runs as well as the script call); round trips are
  ``total_reads_processed`` (read events: one per request the client sent and waited on,
  so a script or a pipeline is one); bytes are ``total_net_input_bytes`` (what clients
  wrote to Redis). The probe's own command is measured once (two probes back to back)
  and subtracted.
- PostgreSQL: CPU of the postmaster and all its children (backends, WAL writer,
  checkpointer...) from ``/proc`` via psutil, so the server must be on this machine; a
  child that exits during a run takes its CPU with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import psutil
import redis

from tests.servers import postgres as pg_servers
from tests.servers import redis as redis_servers
from tests.servers.ports import LOOPBACK, port_open


def tree_cpu(root: psutil.Process) -> float:
    """CPU seconds (user + system) of ``root`` and every process below it still running."""
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


BENCH_DATABASE = "sessionkit_bench"
#: Redis database number on a shared server (the tests use 15).
BENCH_REDIS_DB = 14


def shared_allowed() -> bool:
    """``BENCH_SHARED_SERVERS=1``: use the machine's servers when they answer."""
    return os.environ.get("BENCH_SHARED_SERVERS", "") not in ("", "0")


class DurablePostgres(pg_servers.PostgresServer):
    """The test suite's private PostgreSQL, without its ``-F`` (fsync off)."""

    def command(self) -> list[str]:
        return [arg for arg in super().command() if arg != "-F"]


@dataclass
class RedisCounters:
    cpu: float
    commands: int
    round_trips: int
    bytes_in: int
    commandstats: dict[str, int]

    def minus(self, other: RedisCounters) -> RedisCounters:
        stats = {
            name: calls - other.commandstats.get(name, 0)
            for name, calls in self.commandstats.items()
            if calls != other.commandstats.get(name, 0)
        }
        return RedisCounters(
            self.cpu - other.cpu,
            self.commands - other.commands,
            self.round_trips - other.round_trips,
            self.bytes_in - other.bytes_in,
            stats,
        )


class RedisProbe:
    """Reads a Redis server's counters; :meth:`delta` of two reads minus the probe itself."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client: Any = redis.Redis.from_url(url)
        self.overhead = RedisCounters(0.0, 0, 0, 0, {})
        first = self.read()
        self.overhead = self.read().minus(first)
        self.overhead.cpu = 0.0

    def read(self) -> RedisCounters:
        info = self.client.execute_command("INFO", "stats", "cpu", "commandstats")
        return RedisCounters(
            cpu=float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
            commands=int(info["total_commands_processed"]),
            round_trips=int(info["total_reads_processed"]),
            bytes_in=int(info["total_net_input_bytes"]),
            commandstats={
                key.removeprefix("cmdstat_"): int(value["calls"])
                for key, value in info.items()
                if key.startswith("cmdstat_")
            },
        )

    def delta(self, before: RedisCounters, after: RedisCounters) -> RedisCounters:
        d = after.minus(before)
        d.commands -= self.overhead.commands
        d.round_trips -= self.overhead.round_trips
        d.bytes_in -= self.overhead.bytes_in
        d.commandstats["info"] = d.commandstats.get("info", 1) - 1
        if not d.commandstats["info"]:
            del d.commandstats["info"]
        return d

    def version(self) -> str:
        return str(self.client.info("server")["redis_version"])


class PostgresProbe:
    """CPU seconds of a local PostgreSQL server: the postmaster and all its children."""

    def __init__(self, conninfo: dict[str, Any]) -> None:
        import psycopg

        with psycopg.connect(**conninfo) as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()
            version = conn.execute("SHOW server_version").fetchone()
        assert backend is not None and version is not None
        self.server_version = str(version[0])
        self.postmaster = psutil.Process(psutil.Process(int(backend[0])).ppid())

    def cpu(self) -> float:
        return tree_cpu(self.postmaster)


@dataclass
class Stores:
    """The servers in use, and what started them (to stop them at the end)."""

    redis_url: str
    redis_note: str
    pg: dict[str, Any] | None  # psycopg conninfo of the benchmark database, if any
    pg_note: str
    started: list[Any]

    def stop(self) -> None:
        for server in self.started:
            server.cleanup()


def _pg_conninfo(port: int, user: str, dbname: str) -> dict[str, Any]:
    return {"host": LOOPBACK, "port": port, "user": user, "dbname": dbname, "connect_timeout": 5}


def _create_database(port: int, user: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(**_pg_conninfo(port, user, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DATABASE])
        if exists.fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DATABASE)))


def find_or_start(need_postgres: bool) -> Stores:
    """Redis and (if needed) PostgreSQL: private ones, or the machine's where allowed."""
    started: list[Any] = []
    if shared_allowed() and redis_servers.redis_ping(6379):
        redis_url = f"redis://{LOOPBACK}:6379/{BENCH_REDIS_DB}"
        redis_note = f"the machine's, {LOOPBACK}:6379"
    else:
        redis_server = redis_servers.start_redis_server()
        started.append(redis_server)
        redis_url = redis_server.url_for(BENCH_REDIS_DB)
        redis_note = f"private on port {redis_server.port}"
    pg: dict[str, Any] | None = None
    note = "not used"
    if need_postgres:
        port, user = None, "postgres"
        if shared_allowed() and port_open(5432):
            for candidate in ("postgres", "root"):
                if pg_servers._pg_connects(5432, candidate, "postgres"):
                    port, user, note = 5432, candidate, "the machine's, 127.0.0.1:5432"
                    break
        if port is None:
            try:
                pg_server = DurablePostgres().start()
            except (RuntimeError, TimeoutError) as error:
                print(f"bench: no PostgreSQL ({error}); skipping the PostgreSQL targets")
                return Stores(redis_url, redis_note, None, "unavailable", started)
            started.append(pg_server)
            port, note = pg_server.port, f"private on port {pg_server.port} (fsync on)"
        _create_database(port, user)
        pg = _pg_conninfo(port, user, BENCH_DATABASE)
    return Stores(redis_url, redis_note, pg, note, started)
