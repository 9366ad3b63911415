"""A private memcached server for the cache store's tests (always private: memcached has
no databases to keep the tests apart from a machine's own data)."""

from __future__ import annotations

import functools
import getpass
import os
import shutil
import socket

from tests.servers.ports import LOOPBACK
from tests.servers.process import ManagedProcess


def find_memcached() -> str | None:
    """Path of ``memcached`` on PATH (Debian: ``apt-get install memcached``), or ``None``."""
    return shutil.which("memcached")


def memcached_version(port: int, timeout: float = 0.5) -> bool:
    """Whether a memcached answers ``version`` on the loopback ``port``."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.sendall(b"version\r\n")
            return sock.recv(64).startswith(b"VERSION")
    except OSError:
        return False


class MemcachedServer(ManagedProcess):
    """``memcached`` on a free loopback port, 64 MB, TCP only."""

    kind = "memcached"

    def command(self) -> list[str]:
        binary = find_memcached()
        if binary is None:
            raise RuntimeError("no memcached on PATH")
        args = [binary, "-l", LOOPBACK, "-p", str(self.port), "-U", "0", "-m", "64"]
        if os.geteuid() == 0:  # memcached refuses to run as root without naming a user
            args += ["-u", getpass.getuser()]
        return args

    def ready(self) -> bool:
        return memcached_version(self.port)


@functools.cache
def memcached_location() -> str:
    """``host:port`` of the test session's memcached, started on first use."""
    return f"{LOOPBACK}:{MemcachedServer().start().port}"
