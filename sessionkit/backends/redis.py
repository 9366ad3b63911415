"""The Redis store: one hash per session, delta writes, read-and-touch in one round trip.

Each session is a hash at ``<PREFIX>{<tag>}<sid>`` (``sid`` the SHA-256 of the id, ``tag``
its first two hex digits, so a Redis Cluster keeps a session and the id it is cycled to
in one slot). Every write is a Lua script (see :mod:`sessionkit.backends.redis_scripts`)
that checks and writes atomically and sets ``PEXPIREAT``. Each user's live sessions are a
set at ``<PREFIX>user:<user id>``.

The client is django-redis's connection for ``SESSION_CACHE_ALIAS`` unless the
``SESSIONKIT_REDIS`` setting names a factory (how Redis Cluster is used)::

    SESSIONKIT_REDIS = {
        "PREFIX": "sessionkit:",
        "CLIENT_FACTORY": "myproject.redis.sessions_client",        # -> redis.Redis / RedisCluster
        "ASYNC_CLIENT_FACTORY": "myproject.redis.sessions_aclient",  # -> redis.asyncio client
    }
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.connection
import redis.cluster
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string
from redis.exceptions import NoScriptError

from sessionkit.backends import redis_scripts as lua
from sessionkit.backends.base import (
    CREATE_ATTEMPTS,
    ClientInfo,
    Record,
    default_session_key,
    hash_key,
)
from sessionkit.backends.base import SessionStore as BaseStore
from sessionkit.tracking import Delta

logger = logging.getLogger("sessionkit")

#: Hex digits of the sid used as the key's Redis Cluster hash tag (256 slots in use).
TAG_LENGTH = 2
#: Prefix of the hash fields that hold metadata; user keys starting with it get another.
RESERVED = "#"
#: Most random ids tried to find one whose hash shares the old id's tag (256 on average).
TAG_SEARCH_LIMIT = 1 << 16

SETTING = "SESSIONKIT_REDIS"
_KEYS = frozenset({"PREFIX", "CLIENT_FACTORY", "ASYNC_CLIENT_FACTORY"})


# -- settings and clients ---------------------------------------------------------------


@dataclass(frozen=True)
class RedisStoreSettings:
    """The ``SESSIONKIT_REDIS`` setting (every key optional)."""

    #: Prepended to every key; must not contain ``{`` or ``}`` (hash tags are ours).
    prefix: str = "sessionkit:"
    #: Dotted path of a callable returning a redis-py client (``redis.Redis`` or
    #: ``redis.cluster.RedisCluster``); ``None``: django-redis's ``SESSION_CACHE_ALIAS``.
    client_factory: str | None = None
    #: Dotted path of a callable returning a ``redis.asyncio`` client; ``None``: one is
    #: derived from the sync client's connection settings (plain and TLS connections).
    async_client_factory: str | None = None


@functools.cache
def store_settings() -> RedisStoreSettings:
    """``SESSIONKIT_REDIS``, validated once (and again when ``override_settings`` changes it);
    ``manage.py check`` reports a bad value as ``sessionkit.E010``."""
    raw: object = getattr(settings, SETTING, None) or {}
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(f"{SETTING} must be a dict")
    if unknown := set(raw) - _KEYS:
        raise ImproperlyConfigured(f"{SETTING} has unknown keys: {sorted(unknown)}")
    prefix = raw.get("PREFIX", RedisStoreSettings.prefix)
    if not isinstance(prefix, str) or "{" in prefix or "}" in prefix:
        raise ImproperlyConfigured(f"{SETTING}['PREFIX'] must be a string without braces")
    factories = [raw.get(name) for name in ("CLIENT_FACTORY", "ASYNC_CLIENT_FACTORY")]
    if any(f is not None and not isinstance(f, str) for f in factories):
        raise ImproperlyConfigured(f"{SETTING} factories must be dotted paths (strings)")
    return RedisStoreSettings(prefix, *factories)


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING:
        store_settings.cache_clear()


setting_changed.connect(_reload, dispatch_uid="sessionkit.backends.redis.reload")


@functools.cache
def _factory_client(path: str) -> Any:
    """The client a ``CLIENT_FACTORY`` returns, built once per process."""
    return import_string(path)()


def sync_client() -> Any:
    """The redis-py client sessions are stored with."""
    conf = store_settings()
    if conf.client_factory:
        return _factory_client(conf.client_factory)
    from django_redis import get_redis_connection

    return get_redis_connection(settings.SESSION_CACHE_ALIAS, write=True)


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


#: One async client per event loop (and per configuration): clients are bound to a loop.
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[object, Any]] = (
    weakref.WeakKeyDictionary()
)


def async_client() -> Any | None:
    """This event loop's ``redis.asyncio`` client, or ``None`` (run the sync client in a
    thread) when none can be derived."""
    conf = store_settings()
    loop = asyncio.get_running_loop()
    clients = _async_clients.setdefault(loop, {})
    if conf.async_client_factory:
        ident: object = conf.async_client_factory
        if ident not in clients:
            clients[ident] = import_string(conf.async_client_factory)()
        return clients[ident]
    sync = sync_client()
    ident = ("pool", id(getattr(sync, "connection_pool", sync)))
    if ident not in clients:
        clients[ident] = _async_twin(sync)
    return clients[ident]


def is_cluster(client: Any) -> bool:
    return isinstance(client, redis.cluster.RedisCluster | redis.asyncio.cluster.RedisCluster)


def _run(client: Any, script: lua.Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """``EVALSHA``, falling back to ``EVAL`` (which caches the script) when not loaded."""
    try:
        return client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return client.eval(script.text, len(keys), *keys, *args)


async def _arun(client: Any, script: lua.Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
    try:
        return await client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return await client.eval(script.text, len(keys), *keys, *args)


# -- encoding ---------------------------------------------------------------------------


def session_key_name(prefix: str, sid: str) -> str:
    """The hash holding session ``sid``: its tag keeps a cycled id in the same slot."""
    return f"{prefix}{{{sid[:TAG_LENGTH]}}}{sid}"


def user_key_name(prefix: str, user_id: str) -> str:
    return f"{prefix}user:{user_id}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _escape(key: str) -> str:
    return RESERVED + key if key.startswith(RESERVED) else key


def _ms(seconds: float) -> str:
    return str(round(seconds * 1000))


def _write_args(record: Record, delta: Delta | None) -> list[str]:
    """Script arguments writing ``record`` in full, or only ``delta``'s fields."""
    client = {"#agent": record.client.user_agent, "#ip": record.client.ip}
    meta = {"#seen": _ms(record.last_seen)} | {k: v for k, v in client.items() if v}
    if delta is None:
        changed, mode = record.fields, "full"
        removed: list[str] = []
        meta["#created"] = _ms(record.created)
    else:  # empty client fields are deleted, not stored
        changed, mode = delta.changed, "delta"
        removed = [_escape(k) for k in sorted(delta.removed)]
        removed += [k for k, v in client.items() if not v]
    args = [
        _ms(record.expires),
        "" if record.age is None else str(record.age * 1000),
        "" if record.deadline is None else _ms(record.deadline),
        "" if record.user_id is None else "=" + record.user_id,
        mode,
        str(len(removed)),
        *removed,
    ]
    for key, value in changed.items():
        args += [_escape(key), value]
    for name, value in meta.items():
        args += [name, value]
    return args


def _record(flat: Sequence[bytes | str]) -> Record | None:
    """Decode ``HGETALL``'s flat reply; ``None`` for an empty or unreadable hash."""
    try:
        fields: dict[str, str] = {}
        meta: dict[str, str] = {}
        for name, value in zip(flat[::2], flat[1::2], strict=True):
            key, text = _text(name), _text(value)
            if key.startswith(RESERVED + RESERVED):
                fields[key[1:]] = text
            elif key.startswith(RESERVED):
                meta[key] = text
            else:
                fields[key] = text
        if "#expires" not in meta:
            return None
        return Record(
            fields=fields,
            created=int(meta.get("#created", "0")) / 1000,
            expires=int(meta["#expires"]) / 1000,
            age=int(meta["#age"]) // 1000 if "#age" in meta else None,
            deadline=int(meta["#deadline"]) / 1000 if "#deadline" in meta else None,
            user_id=meta.get("#user"),
            client=ClientInfo(meta.get("#agent", ""), meta.get("#ip", "")),
            last_seen=int(meta.get("#seen", "0")) / 1000,
        )
    except ValueError:
        logger.warning("sessionkit: unreadable session hash in Redis; starting afresh")
        return None


@dataclass(frozen=True, slots=True)
class Written:
    """A write script's answer."""

    status: int
    previous_user: str | None
    index_until: str
    renewed: bool

    @classmethod
    def parse(cls, reply: Sequence[Any]) -> Written:
        status, previous, index, renewed = reply
        previous = _text(previous) if previous else ""
        return cls(int(status), previous[1:] or None, _text(index), bool(renewed))


#: One call of the index script: ``(user id, sid to remove, sid to add, least expiry ms)``.
IndexOp = tuple[str, str, str, str]


def _index_ops(written: Written, user_id: str | None, old_sid: str, new_sid: str) -> list[IndexOp]:
    """What the per-user sets need after a write that moved ``old_sid`` to ``new_sid``."""
    ops: list[IndexOp] = []
    moved = old_sid != new_sid
    prev = written.previous_user
    if prev is not None and (prev != user_id or moved):
        ops.append((prev, old_sid, "", "0"))
    if user_id is not None and (prev != user_id or moved or written.renewed):
        ops.append((user_id, "", new_sid, written.index_until))
    return ops


# -- the store --------------------------------------------------------------------------


class SessionStore(BaseStore):
    """Sessions in Redis, one hash each, through django-redis or a client factory."""

    expires_by_itself = True
    indexes_users = True
    unavailable_errors: ClassVar[tuple[type[BaseException], ...]] = (
        *BaseStore.unavailable_errors,  # includes redis-py's ConnectionError and TimeoutError
        redis.exceptions.ClusterDownError,
        redis.exceptions.ReadOnlyError,
    )

    # -- keys and helpers ---------------------------------------------------------------

    @staticmethod
    def _key(sid: str) -> str:
        return session_key_name(store_settings().prefix, sid)

    @staticmethod
    def _user_key(user_id: str) -> str:
        return user_key_name(store_settings().prefix, user_id)

    @classmethod
    def _index(cls, client: Any, ops: list[IndexOp]) -> None:
        if not ops:
            return
        pipe = client.pipeline(transaction=False)
        for user_id, remove, add, until in ops:
            pipe.execute_command(
                "EVAL", lua.INDEX.text, 1, cls._user_key(user_id), remove, add, until
            )
        pipe.execute()

    @classmethod
    async def _aindex(cls, client: Any, ops: list[IndexOp]) -> None:
        if not ops:
            return
        pipe = client.pipeline(transaction=False)
        for user_id, remove, add, until in ops:
            pipe.execute_command(
                "EVAL", lua.INDEX.text, 1, cls._user_key(user_id), remove, add, until
            )
        await pipe.execute()

    def _fetched(self, reply: Sequence[Any], sid: str) -> tuple[Record | None, list[IndexOp]]:
        if not reply:
            return None, []
        flat, renew = reply
        record = _record(flat)
        if record is None or record.user_id is None or _text(renew) == "0":
            return record, []
        return record, [(record.user_id, "", sid, _text(renew))]

    # -- primitives ---------------------------------------------------------------------

    def _fetch(self, sid: str, now: float) -> Record | None:
        client = sync_client()
        reply = _run(client, lua.FETCH, [self._key(sid)], [_ms(now)])
        record, ops = self._fetched(reply, sid)
        self._index(client, ops)
        return record

    def _write(self, script: lua.Script, sid: str, record: Record, delta: Delta | None) -> bool:
        client = sync_client()
        written = Written.parse(_run(client, script, [self._key(sid)], _write_args(record, delta)))
        if written.status != 1:
            return False
        self._index(client, _index_ops(written, record.user_id, sid, sid))
        return True

    def _insert(self, sid: str, record: Record) -> bool:
        return self._write(lua.INSERT, sid, record, None)

    def _update(self, sid: str, record: Record, delta: Delta | None) -> bool:
        return self._write(lua.UPDATE, sid, record, delta)

    def _remove(self, sid: str) -> None:
        client = sync_client()
        user = _run(client, lua.REMOVE, [self._key(sid)], [])
        if user:
            self._index(client, [(_text(user), sid, "", "0")])

    def _contains(self, sid: str) -> bool:
        return bool(sync_client().exists(self._key(sid)))

    async def _afetch(self, sid: str, now: float) -> Record | None:
        client = async_client()
        if client is None:
            return await sync_to_async(self._fetch)(sid, now)
        reply = await _arun(client, lua.FETCH, [self._key(sid)], [_ms(now)])
        record, ops = self._fetched(reply, sid)
        await self._aindex(client, ops)
        return record

    async def _awrite(
        self, script: lua.Script, sid: str, record: Record, delta: Delta | None
    ) -> bool:
        client = async_client()
        if client is None:
            return await sync_to_async(self._write)(script, sid, record, delta)
        reply = await _arun(client, script, [self._key(sid)], _write_args(record, delta))
        written = Written.parse(reply)
        if written.status != 1:
            return False
        await self._aindex(client, _index_ops(written, record.user_id, sid, sid))
        return True

    async def _ainsert(self, sid: str, record: Record) -> bool:
        return await self._awrite(lua.INSERT, sid, record, None)

    async def _aupdate(self, sid: str, record: Record, delta: Delta | None) -> bool:
        return await self._awrite(lua.UPDATE, sid, record, delta)

    async def _aremove(self, sid: str) -> None:
        client = async_client()
        if client is None:
            return await sync_to_async(self._remove)(sid)
        user = await _arun(client, lua.REMOVE, [self._key(sid)], [])
        if user:
            await self._aindex(client, [(_text(user), sid, "", "0")])

    async def _acontains(self, sid: str) -> bool:
        client = async_client()
        if client is None:
            return await sync_to_async(self._contains)(sid)
        return bool(await client.exists(self._key(sid)))

    @classmethod
    def _purge_expired(cls) -> int:
        """Nothing to do: Redis expires every session hash and user set by its TTL."""
        return 0

    # -- cycle_key: one atomic rename-and-write ----------------------------------------

    def _cycled_key(self, old_sid: str) -> str:
        """A fresh id whose hash has ``old_sid``'s tag (any id from a ``GENID`` hook)."""
        if self.genid is not None:
            return self._get_new_session_key()
        tag = old_sid[:TAG_LENGTH]
        for _ in range(TAG_SEARCH_LIMIT):
            key = default_session_key()
            if hash_key(key).startswith(tag):
                return key
        raise RuntimeError("no session id with a matching hash tag found")  # pragma: no cover

    def _rename(self, old: str, new: str, record: Record, delta: Delta | None) -> int:
        """Move ``old`` to ``new`` writing ``delta``: 1 done, 0 old gone, -1 new taken."""
        client = sync_client()
        if old[:TAG_LENGTH] != new[:TAG_LENGTH] and is_cluster(client):
            return self._copy(old, new, record)
        keys = [self._key(old), self._key(new)]
        written = Written.parse(_run(client, lua.RENAME, keys, _write_args(record, delta)))
        if written.status == 1:
            self._index(client, _index_ops(written, record.user_id, old, new))
        return written.status

    def _copy(self, old: str, new: str, record: Record) -> int:
        """Cluster, ids in different slots (a ``GENID`` hook): create, then delete."""
        if not self._insert(new, record):
            return -1
        self._remove(old)
        return 1

    async def _arename(self, old: str, new: str, record: Record, delta: Delta | None) -> int:
        client = async_client()
        if client is None:
            return int(await sync_to_async(self._rename)(old, new, record, delta))
        if old[:TAG_LENGTH] != new[:TAG_LENGTH] and is_cluster(client):
            if not await self._ainsert(new, record):
                return -1
            await self._aremove(old)
            return 1
        keys = [self._key(old), self._key(new)]
        reply = await _arun(client, lua.RENAME, keys, _write_args(record, delta))
        written = Written.parse(reply)
        if written.status == 1:
            await self._aindex(client, _index_ops(written, record.user_id, old, new))
        return written.status

    def cycle_key(self) -> None:
        """Give the session a new id: the stored hash is renamed, the old id gone at once."""
        data = self._session  # type: ignore[attr-defined]
        old = self.session_key
        if old is None or self._saved is None:  # nothing stored yet: Django's way
            super().cycle_key()
            return
        old_sid = hash_key(old)
        for _ in range(CREATE_ATTEMPTS):
            self._session_key = self._cycled_key(old_sid)
            sid, record, delta = self._pending(must_create=False)
            status = self._io(self._rename, old_sid, sid, record, delta)
            if status == 1:
                self._saved_as(record, True, False)
                self.modified = True
                return
            if status == 0:  # destroyed meanwhile: store the data under a new id
                self._saved = None
                self.create()
                self._session_cache = data
                return
        raise RuntimeError("could not find an unused session id")

    async def acycle_key(self) -> None:
        data = await self._aget_session()  # type: ignore[attr-defined]
        old = self.session_key
        if old is None or self._saved is None:
            await super().acycle_key()
            return
        old_sid = hash_key(old)
        for _ in range(CREATE_ATTEMPTS):
            self._session_key = self._cycled_key(old_sid)
            sid, record, delta = self._pending(must_create=False)
            status = await self._aio(self._arename, old_sid, sid, record, delta)
            if status == 1:
                self._saved_as(record, True, False)
                self.modified = True
                return
            if status == 0:
                self._saved = None
                await self.acreate()
                self._session_cache = data
                return
        raise RuntimeError("could not find an unused session id")

    # -- per-user index -------------------------------------------------------------------

    @classmethod
    def _user_records(cls, user_id: str) -> list[tuple[str, Record]]:
        """The user's live sessions: ``SMEMBERS``, then one pipeline of ``HGETALL``; a
        third round trip prunes members that expired."""
        client = sync_client()
        set_key = cls._user_key(user_id)
        sids = sorted(_text(s) for s in client.smembers(set_key))
        if not sids:
            return []
        pipe = client.pipeline(transaction=False)
        prefix = store_settings().prefix
        for sid in sids:
            pipe.hgetall(session_key_name(prefix, sid))
        found, dead = [], []
        now = time.time()
        for sid, raw in zip(sids, pipe.execute(), strict=True):
            flat = [item for pair in raw.items() for item in pair]
            record = _record(flat) if flat else None
            if record is not None and record.user_id == user_id and record.is_live(now):
                found.append((sid, record))
            else:
                dead.append(sid)
        if dead:
            client.srem(set_key, *dead)
        return found

    @classmethod
    def _end_user_records(cls, user_id: str, keep: str | None) -> int:
        """Delete the user's sessions but ``keep``: ``SMEMBERS``, then one pipeline."""
        client = sync_client()
        set_key = cls._user_key(user_id)
        doomed = [s for s in (_text(m) for m in client.smembers(set_key)) if s != keep]
        if not doomed:
            return 0
        prefix = store_settings().prefix
        pipe = client.pipeline(transaction=False)
        for sid in doomed:
            pipe.delete(session_key_name(prefix, sid))
        pipe.srem(set_key, *doomed)
        return sum(int(n) for n in pipe.execute()[:-1])
