"""The Redis store's connections: which client, and how a script is run on it.

The sync client is django-redis's connection for ``SESSION_CACHE_ALIAS`` unless
``SESSIONKIT_REDIS["CLIENT_FACTORY"]`` names a factory (how Redis Cluster is used); the
async client is ``ASYNC_CLIENT_FACTORY``'s, or one derived from the sync client's
connection settings, one per event loop. Scripts go by ``EVALSHA``; a server that has not
cached one (after a restart or ``SCRIPT FLUSH``) gets its text by ``EVAL``, which caches it.
The settings are read by :func:`sessionkit.conf.get_redis_settings`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.connection
import redis.cluster
from asgiref.sync import sync_to_async
from django.conf import settings
from redis.exceptions import NoScriptError

from sessionkit.backends.redis_cache import close_caches, tracking_cache
from sessionkit.backends.redis_wire import Call, Read
from sessionkit.conf import forget_on_change, get_redis_settings

# -- clients ------------------------------------------------------------------------------


#: The clients ``CLIENT_FACTORY`` factories returned, one per factory: built once per process.
_factory_clients: dict[Callable[[], Any], Any] = {}


def _factory_client(factory: Callable[[], Any]) -> Any:
    """The client a ``CLIENT_FACTORY`` returns, built once per process."""
    client = _factory_clients.get(factory)
    if client is None:
        built = factory()
        client = _factory_clients.setdefault(factory, built)
        if client is not built:  # another thread's first call won
            built.close()
    return client


@functools.cache
def _cache_client(alias: str) -> Any:
    """django-redis's client for the cache ``alias``, looked up once per process: it
    wraps the process-wide connection pool, and redis-py clients are thread-safe, so
    asking ``caches[alias]`` again on every request (20 µs) bought nothing."""
    from django_redis import get_redis_connection

    return get_redis_connection(alias, write=True)


def _forget_clients() -> None:
    """Drop the clients a settings change made stale. A factory's client is sessionkit's
    own: it is closed, not left for the garbage collector (a Cluster client's connections
    sit in reference cycles, so dropping it left sockets open until a later collection).
    django-redis's client belongs to its cache and is only forgotten. The async clients are
    retired (closed when their loop ends) and the process-local caches closed: both are
    found by their pool's ``id()``, which a new pool may reuse."""
    _cache_client.cache_clear()
    while _factory_clients:
        _, client = _factory_clients.popitem()
        client.close()
    for entry in list(_async_clients.values()):
        entry.retire()
    close_caches()


forget_on_change(frozenset({"CACHES", "SESSION_CACHE_ALIAS", "SESSIONKIT_REDIS"}), _forget_clients)


def sync_client() -> Any:
    """The redis-py client sessions are stored with."""
    factory = get_redis_settings().client_factory
    if factory is not None:
        return _factory_client(factory)
    return _cache_client(settings.SESSION_CACHE_ALIAS)


#: Connection settings that mean the same to ``redis.asyncio`` connections.
_PORTABLE = frozenset(
    {
        "host", "port", "db", "username", "password", "path", "client_name",
        "socket_timeout", "socket_connect_timeout", "socket_keepalive",
        "encoding", "encoding_errors", "decode_responses", "health_check_interval",
        "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_data",
        "ssl_check_hostname",
    }
)  # fmt: skip
_ASYNC_CONNECTIONS: dict[type, type] = {
    redis.connection.Connection: redis.asyncio.connection.Connection,
    redis.connection.SSLConnection: redis.asyncio.connection.SSLConnection,
    redis.connection.UnixDomainSocketConnection: (
        redis.asyncio.connection.UnixDomainSocketConnection
    ),
}


def _async_twin(client: Any) -> Any | None:
    """A ``redis.asyncio`` client with ``client``'s connection settings, if derivable."""
    pool: Any = getattr(client, "connection_pool", None)
    if type(pool) not in (redis.ConnectionPool, redis.BlockingConnectionPool):
        return None  # Sentinel, Cluster or custom pools: use ASYNC_CLIENT_FACTORY
    connection_class = _ASYNC_CONNECTIONS.get(pool.connection_class)
    if connection_class is None:
        return None
    kwargs = {k: v for k, v in pool.connection_kwargs.items() if k in _PORTABLE}
    return redis.asyncio.Redis(
        connection_pool=redis.asyncio.ConnectionPool(
            connection_class=connection_class, max_connections=pool.max_connections, **kwargs
        )
    )


class LoopClients:
    """One event loop's ``redis.asyncio`` clients, by configuration, closed when the loop
    ends. Under WSGI, Django runs each async view in an event loop of its own (asgiref's
    ``async_to_sync`` is ``asyncio.run``): a client left open would keep its socket, its
    pool and the finished loop alive, one set per request."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.clients: dict[object, Any] = {}
        #: Clients a settings change replaced: no longer handed out, still closed at the end.
        self.retired: list[Any] = []
        # A loop holds its tasks weakly: this reference keeps the closer alive. Cancelled
        # before it ever ran, it closes nothing (the loop made no I/O, so has no socket
        # open), but its entry still goes, and with it the loop.
        self._closer = loop.create_task(self._close_at_shutdown())
        self._closer.add_done_callback(lambda _: _async_clients.pop(loop, None))

    async def _close_at_shutdown(self) -> None:
        """Wait for the loop's shutdown (``asyncio.run``, asgiref and uvicorn cancel the
        tasks left), then close its clients."""
        try:
            await asyncio.get_running_loop().create_future()  # never set
        finally:
            for client in [*self.clients.values(), *self.retired]:
                with contextlib.suppress(Exception):  # best effort: the loop is ending
                    await _aclose(client)

    def retire(self) -> None:
        self.retired += self.clients.values()
        self.clients.clear()


async def _aclose(client: Any) -> None:
    """Close a client, its pool (a client given its pool leaves it open) and, behind
    Sentinel, the connections to the sentinels (the master's pool leaves them open)."""
    await _aclose_one(client)
    if (pool := getattr(client, "connection_pool", None)) is not None:
        await pool.disconnect()
        if (sentinels := getattr(pool, "sentinel_manager", None)) is not None:
            await _aclose_one(sentinels)


async def _aclose_one(closable: Any) -> None:
    closer = getattr(closable, "aclose", None)  # redis-py 5.0.1+; close() before
    await (closer() if closer is not None else closable.close())


#: Each event loop's async clients (a loop gone, its entry goes too).
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopClients] = (
    weakref.WeakKeyDictionary()
)


def _loop_clients() -> LoopClients:
    loop = asyncio.get_running_loop()
    entry = _async_clients.get(loop)
    if entry is None:
        entry = _async_clients[loop] = LoopClients(loop)
    return entry


def async_client() -> Any | None:
    """This event loop's ``redis.asyncio`` client, or ``None`` (run the sync client in a
    thread) when none can be derived."""
    factory = get_redis_settings().async_client_factory
    clients = _loop_clients().clients
    if factory is not None:
        if factory not in clients:
            clients[factory] = factory()
        return clients[factory]
    sync = sync_client()
    ident = ("pool", id(getattr(sync, "connection_pool", sync)))
    if ident not in clients:
        clients[ident] = _async_twin(sync)
    return clients[ident]


def is_cluster(client: Any) -> bool:
    return isinstance(client, redis.cluster.RedisCluster | redis.asyncio.cluster.RedisCluster)


# -- running scripts --------------------------------------------------------------------------

T = TypeVar("T")
#: A primitive's steps: yields the calls to run one after the other (scripts, or a plain
#: ``HGETALL``), receives each reply, returns the primitive's answer. Written once, run by
#: :func:`drive` or :func:`adrive`.
Steps = Generator[Call | Read, Any, T]


def run(client: Any, call: Call | Read) -> Any:
    """``HGETALL`` for a :class:`Read`, answered as :meth:`Read.answer` parses it (from the
    process-local cache when it is on); a script by ``EVALSHA``, falling back to ``EVAL``
    (which caches the script) when not loaded, its keys then dropped from that cache."""
    cache = tracking_cache(client)
    if isinstance(call, Read):
        if cache is None:
            return call.answer(client.hgetall(call.key))
        return cache.read(call.key, call.answer)
    try:
        reply = client.evalsha(call.script.sha, *call.argv)
    except NoScriptError:
        reply = client.eval(call.script.text, *call.argv)
    finally:
        if cache is not None:
            cache.forget(call.keys)
    if cache is not None and call.script.changes:
        client.ping()  # the barrier: see redis_cache
    return reply


async def arun(client: Any, call: Call | Read) -> Any:
    """:func:`run` on a ``redis.asyncio`` client. The cache's connection is a sync one: a
    hit is answered in the event loop (no I/O but a non-blocking poll), a miss in a thread."""
    cache = tracking_cache(sync_client()) if get_redis_settings().client_cache else None
    if isinstance(call, Read):
        if cache is None:
            return call.answer(await client.hgetall(call.key))
        if (hit := cache.cached_now(call.key)) is not None:
            return hit
        return await sync_to_async(cache.read, thread_sensitive=False)(call.key, call.answer)
    try:
        reply = await client.evalsha(call.script.sha, *call.argv)
    except NoScriptError:
        reply = await client.eval(call.script.text, *call.argv)
    finally:
        if cache is not None:
            cache.forget(call.keys)
    if cache is not None and call.script.changes:
        await client.ping()
    return reply


def _pipeline(client: Any, calls: Sequence[Call], *, by_sha: bool) -> Any:
    """One pipeline (no transaction) of ``calls``: by SHA, or by text to load them."""
    pipe = client.pipeline(transaction=False)
    for call in calls:  # a cluster pipeline blocks .evalsha(), not the command itself
        if by_sha:
            pipe.execute_command("EVALSHA", call.script.sha, *call.argv)
        else:
            pipe.execute_command("EVAL", call.script.text, *call.argv)
    return pipe


def _not_loaded(calls: Sequence[Call], replies: Sequence[Any]) -> list[Call]:
    """The calls a server answered ``NOSCRIPT``; any other error is raised."""
    for reply in replies:
        if isinstance(reply, Exception) and not isinstance(reply, NoScriptError):
            raise reply
    return [c for c, r in zip(calls, replies, strict=True) if isinstance(r, NoScriptError)]


def _merged(replies: Sequence[Any], retried: Sequence[Any]) -> list[Any]:
    """The replies in call order, the ``NOSCRIPT`` ones replaced by their retries'."""
    again = iter(retried)
    return [next(again) if isinstance(r, NoScriptError) else r for r in replies]


def run_all(client: Any, calls: Sequence[Call]) -> list[Any]:
    """Run ``calls`` in one round trip by ``EVALSHA``; those a server answered ``NOSCRIPT``
    (so did not run) are sent again by ``EVAL`` in a second one. Each call runs once;
    answers the replies in call order."""
    if not calls:
        return []
    try:
        replies = _pipeline(client, calls, by_sha=True).execute(raise_on_error=False)
        retried = []
        if retry := _not_loaded(calls, replies):
            retried = _pipeline(client, retry, by_sha=False).execute()
    finally:
        if (cache := tracking_cache(client)) is not None:
            for call in calls:
                cache.forget(call.keys)
    if cache is not None and any(call.script.changes for call in calls):
        client.ping()
    return _merged(replies, retried)


async def arun_all(client: Any, calls: Sequence[Call]) -> list[Any]:
    """:func:`run_all` on a ``redis.asyncio`` client."""
    if not calls:
        return []
    cache = tracking_cache(sync_client()) if get_redis_settings().client_cache else None
    try:
        replies = await _pipeline(client, calls, by_sha=True).execute(raise_on_error=False)
        retried = []
        if retry := _not_loaded(calls, replies):
            retried = await _pipeline(client, retry, by_sha=False).execute()
    finally:
        if cache is not None:
            for call in calls:
                cache.forget(call.keys)
    if cache is not None and any(call.script.changes for call in calls):
        await client.ping()
    return _merged(replies, retried)


def drive(client: Any, steps: Steps[T]) -> T:
    """Run ``steps`` on a sync client, one call (one round trip) at a time."""
    try:
        call = next(steps)
        while True:
            call = steps.send(run(client, call))
    except StopIteration as done:
        result: T = done.value
        return result


async def adrive(client: Any, steps: Steps[T]) -> T:
    try:
        call = next(steps)
        while True:
            call = steps.send(await arun(client, call))
    except StopIteration as done:
        result: T = done.value
        return result
