"""The Redis store's opt-in process-local cache (``SESSIONKIT_REDIS["CLIENT_CACHE"]``).

Server-assisted client-side caching, kept minimal: one connection per process speaks RESP3
with ``CLIENT TRACKING ON``, so Redis remembers which session hashes it read and pushes an
``invalidate`` message on that same connection when one changes (written, touched, deleted,
expired or evicted, by any client). A read of a cached session first reads every message
already waiting on that connection (a non-blocking poll of its socket, no round trip),
drops the hashes they name, and only then answers from the cache; a miss is a plain
``HGETALL`` on that connection, which makes Redis track the hash for it.

Why not redis-py's own ``cache_config``: redis-py (5.1+) refuses it on Redis before 7.4
("to maximize compatibility with all Redis products"), while ``CLIENT TRACKING`` exists
since Redis 6.0 and the project runs on 6.2 and 7.0. This module uses redis-py's
``Connection`` (auth, TLS, database, timeouts from the store's own client) and its RESP3
parser's invalidation hook, as redis-py's ``CacheProxyConnection`` does.

What it guarantees, and its limits (docs/redis.md says the same for users):

- a session changed or ended through any process is never served stale by another once the
  changing response has been sent. Redis queues an invalidation for every connection
  tracking the hash while the changing command runs, and writes those out in the same turn
  of its event loop as the command's reply, though not necessarily first. So with the cache
  on, every write that changes or ends a session (``Script.changes``) is followed by a
  ``PING`` before it returns: Redis answers it in a later turn, after it has written the
  invalidations to every other process's socket. A reader reads everything waiting on its
  socket before it serves a hit (a message cut in two, or a long backlog, sends the read to
  Redis, whose reply comes after them). Measured without the barrier: about one read in
  seven served stale by a second process on this 2-CPU machine; with it, none;
- this process's own writes drop their hashes at once (:meth:`TrackingCache.forget`);
- when the tracking connection drops (``CLIENT KILL``, a Redis restart, a timeout), Redis
  forgets what it tracked for it: the cache is emptied when the drop is seen (the poll reads
  the end of the stream, or a command on it fails) and again on every (re)connect, before
  anything is served: a dropped connection never serves a hit;
- the limits: "written to the socket" is "handed to the network" when the processes run on
  other hosts than Redis: the invalidation races the changing response, which has further
  to go (to the client and back to the other process), and is lost if the link breaks. A
  connection dead without the peer closing it (a partition where no FIN or RST arrives)
  looks alive until a command on it fails: its hits may be stale until then. Touches (the
  expiry and ``#seen``) are not followed by the barrier: a stale copy of them only makes a
  reader touch again, and neither is a write that fails after Redis ran it (a timeout on
  its reply). A single Redis (or a primary) only: Cluster and Sentinel clients read
  without the cache. Under ASGI the event loop never waits for the tracking connection: a
  read while another thread's miss holds it goes to a thread as a miss does.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, TypeVar, cast

import redis
import redis.connection

from sessionkit.conf import get_redis_settings

T = TypeVar("T")

#: Most invalidations read before a hit: beyond it the hit is a miss (a few KB, far below
#: any socket buffer: Redis keeps output back only once the reader's buffer is full).
DRAIN_LIMIT = 64

#: Most keys :meth:`TrackingCache.forget` queues before it applies them itself.
FORGET_BACKLOG = 4096

#: Connection classes the cache can open its tracking connection with.
_CONNECTIONS = (
    redis.connection.Connection,
    redis.connection.SSLConnection,
    redis.connection.UnixDomainSocketConnection,
)


class TrackingCache:
    """Session hashes read through one RESP3 ``CLIENT TRACKING`` connection, kept until
    Redis says they changed (least recently used dropped beyond ``size``)."""

    def __init__(self, pool: redis.ConnectionPool, size: int) -> None:
        #: Held so that no other pool takes its ``id()`` (the key of :data:`_caches`) while
        #: this cache answers for it.
        self._pool = pool
        kwargs = {**pool.connection_kwargs, "protocol": 3}
        kwargs.pop("parser_class", None)  # django-redis's RESP2 parser: RESP3 is needed
        self._connection: Any = pool.connection_class(**kwargs)
        self._connection.register_connect_callback(self._on_connect)
        self._entries: OrderedDict[bytes, Any] = OrderedDict()
        #: Keys this process wrote, dropped from the entries before the next lookup (a
        #: ``deque`` append needs no lock, so a write in the event loop never waits).
        self._forgotten: deque[bytes] = deque()
        self._size = size
        self._lock = threading.RLock()
        #: Hits, misses and times the cache was emptied by a (re)connect: for tests.
        self.hits = self.misses = self.flushes = 0
        #: The tracking connection's ``CLIENT ID`` (for ``CLIENT KILL ID``; tests).
        self.client_id: int | None = None

    # -- the connection ---------------------------------------------------------------

    def _on_connect(self, connection: Any) -> None:
        """Every (re)connect: nothing tracked before it can be trusted any more."""
        self._flush()
        connection._parser.set_invalidation_push_handler(self._invalidated)
        connection.send_command("CLIENT", "TRACKING", "ON")
        connection.read_response()
        connection.send_command("CLIENT", "ID")
        self.client_id = int(connection.read_response())

    def _invalidated(self, message: list[Any]) -> None:
        """An ``invalidate`` push: its keys, or ``None`` (``FLUSHDB``/``FLUSHALL``)."""
        with self._lock:
            if message[1] is None:
                self._flush()
            else:
                for key in message[1]:
                    self._entries.pop(_bytes(key), None)

    def _flush(self) -> None:
        with self._lock:
            self._entries.clear()
            self.flushes += 1

    def _drop(self) -> None:
        """The connection is unusable: forget it and everything it vouched for."""
        self._flush()
        self._connection.disconnect()

    def _drain(self) -> bool:
        """Read every message already on the socket (no round trip). ``False`` (read from
        Redis instead) when the connection is not (or no longer) up, the cache then empty;
        when a message is cut in two (the rest is on its way: the read's reply comes after
        it); or when more than :data:`DRAIN_LIMIT` were waiting (the socket's buffer may
        have been full, with more still in Redis's output buffer)."""
        connection = self._connection
        if connection._sock is None:
            return False
        try:
            for _ in range(DRAIN_LIMIT + 1):
                if not connection.can_read(timeout=0):
                    return True
                connection.read_response(push_request=True, timeout=0, disconnect_on_error=False)
        except redis.exceptions.TimeoutError:
            return False
        except (redis.exceptions.ConnectionError, OSError):
            self._drop()
        return False

    # -- reads ------------------------------------------------------------------------

    def cached(self, key: str) -> Any | None:
        """The cached answer for ``key`` once every waiting invalidation has been applied,
        without blocking on the network; ``None`` on a miss."""
        with self._lock:
            self._apply_forgotten()
            if not self._drain():
                return None
            name = key.encode()
            reply = self._entries.get(name)
            if reply is not None:
                self._entries.move_to_end(name)
                self.hits += 1
            return reply

    def read(self, key: str, answer: Callable[[Any], T]) -> T:
        """``answer`` of ``HGETALL key``: from the cache, else on the tracking connection
        (one round trip, after which Redis tracks it) and kept. What is kept is the answer
        (the parsed session, never changed in place by its readers), so a hit parses
        nothing. Entries are keyed by the Redis key alone: every read passes the same
        ``answer`` (:meth:`~sessionkit.backends.redis_wire.Read.answer`)."""
        with self._lock:
            hit = self.cached(key)
            if hit is not None:
                return cast(T, hit)
            self.misses += 1
            try:
                self._connection.send_command("HGETALL", key)
                reply = self._connection.read_response()
            except BaseException:
                self._drop()
                raise
            answered = answer(reply)
            if reply:  # an empty reply (no session) is not cached
                self._entries[key.encode()] = answered
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
            return answered

    def close(self) -> None:
        """Empty the cache and close its connection (a settings change replaced it)."""
        with self._lock:
            self._drop()

    def cached_now(self, key: str) -> Any | None:
        """:meth:`cached`, or ``None`` at once while another thread holds the connection
        (a miss in flight): what the event loop asks, which must never wait on a thread."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return self.cached(key)
        finally:
            self._lock.release()

    def forget(self, keys: tuple[str, ...]) -> None:
        """Drop hashes this process has just written (it must never read them stale):
        before the next lookup, even one already waiting for a miss in flight."""
        self._forgotten.extend(key.encode() for key in keys)
        if len(self._forgotten) > FORGET_BACKLOG:  # writes without reads: apply them now
            with self._lock:
                self._apply_forgotten()

    def _apply_forgotten(self) -> None:
        while self._forgotten:
            self._entries.pop(self._forgotten.popleft(), None)


def _bytes(key: bytes | str) -> bytes:
    return key if isinstance(key, bytes) else key.encode()


#: This process's caches, one per connection pool (a forked child gets its own).
_caches: dict[tuple[int, int], TrackingCache] = {}
_caches_lock = threading.Lock()


def close_caches() -> None:
    """Close every cache of this process (called when the Redis settings change)."""
    with _caches_lock:
        while _caches:
            _, cache = _caches.popitem()
            cache.close()


def tracking_cache(client: Any) -> TrackingCache | None:
    """The cache for ``client``'s sessions when ``CLIENT_CACHE`` is on and the client is a
    plain ``redis.Redis`` on a single server; ``None`` otherwise (read without it)."""
    conf = get_redis_settings()
    if not conf.client_cache:
        return None
    pool = getattr(client, "connection_pool", None)
    if type(pool) not in (redis.ConnectionPool, redis.BlockingConnectionPool):
        return None
    if pool.connection_class not in _CONNECTIONS:  # type: ignore[union-attr]
        return None
    ident = (os.getpid(), id(pool))
    cache = _caches.get(ident)
    if cache is None:
        with _caches_lock:
            cache = _caches.get(ident)
            if cache is None:
                cache = _caches[ident] = TrackingCache(pool, conf.client_cache_size)  # type: ignore[arg-type]
    return cache
