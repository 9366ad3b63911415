"""The Redis store: one hash per session, delta writes, read-and-touch in one round trip.

Each session is a hash keyed by the SHA-256 of its id; every write is a Lua script that
checks and writes atomically and sets ``PEXPIREAT``; each user's live sessions are a set.
The key names, the scripts and their arguments and replies are
:mod:`sessionkit.backends.redis_wire`; which client, and how a script is run on it,
:mod:`sessionkit.backends.redis_client`; the ``SESSIONKIT_REDIS`` setting,
:func:`sessionkit.conf.get_redis_settings`.

Each primitive is written once as shared, I/O-free steps (build the call, read the reply)
with two thin entry points, sync and async, that differ only in the lines doing I/O.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import redis
from asgiref.sync import sync_to_async

from sessionkit.backends import redis_wire as wire
from sessionkit.backends.base import (
    Record,
    default_session_key,
    hash_key,
)
from sessionkit.backends.base import SessionStore as BaseStore
from sessionkit.backends.redis_client import (
    arun,
    arun_all,
    async_client,
    is_cluster,
    run,
    run_all,
    sync_client,
)
from sessionkit.conf import get_redis_settings
from sessionkit.session_fields import Delta

#: Most random ids tried to find one whose hash shares the old id's tag (256 on average).
TAG_SEARCH_LIMIT = 1 << 16


# -- the store --------------------------------------------------------------------------


def _prefix() -> str:
    return get_redis_settings().prefix


class SessionStore(BaseStore):
    """Sessions in Redis, one hash each, through django-redis or a client factory."""

    expires_by_itself = True
    indexes_users = True
    unavailable_errors: ClassVar[tuple[type[BaseException], ...]] = (
        *BaseStore.unavailable_errors,  # includes redis-py's ConnectionError and TimeoutError
        redis.exceptions.ClusterDownError,
        redis.exceptions.ReadOnlyError,
    )

    # -- primitives: the sync entry points ------------------------------------------------

    def _fetch(self, key_hash: str, now: float) -> Record | None:
        client = sync_client()
        record, ops = wire.fetched(
            run(client, wire.fetch_call(_prefix(), key_hash, now)), key_hash
        )
        run_all(client, wire.index_calls(_prefix(), ops))
        return record

    def _write(
        self, script: wire.Script, key_hashes: tuple[str, ...], record: Record, delta: Delta | None
    ) -> int:
        """Run a write script on ``key_hashes`` (one, or old and new) and keep the user sets."""
        client = sync_client()
        reply = run(client, wire.write_call(script, _prefix(), key_hashes, record, delta))
        status, ops = wire.wrote(reply, record, key_hashes)
        run_all(client, wire.index_calls(_prefix(), ops))
        return status

    def _insert(self, key_hash: str, record: Record) -> bool:
        return self._write(wire.INSERT, (key_hash,), record, None) == 1

    def _update(self, key_hash: str, record: Record, delta: Delta | None) -> bool:
        return self._write(wire.UPDATE, (key_hash,), record, delta) == 1

    def _remove(self, key_hash: str) -> None:
        client = sync_client()
        ops = wire.removed(run(client, wire.remove_call(_prefix(), key_hash)), key_hash)
        run_all(client, wire.index_calls(_prefix(), ops))

    def _contains(self, key_hash: str) -> bool:
        return bool(sync_client().exists(wire.session_key_name(_prefix(), key_hash)))

    def _rename(self, old: str, new: str, record: Record, delta: Delta | None) -> int:
        """Move ``old`` to ``new`` writing ``delta``, in one script (``RENAME``)."""
        if self._copies(sync_client(), old, new):
            return self._copy(old, new, record)
        return self._write(wire.RENAME, (old, new), record, delta)

    # -- primitives: the async entry points -----------------------------------------------

    async def _afetch(self, key_hash: str, now: float) -> Record | None:
        if (client := async_client()) is None:
            return await sync_to_async(self._fetch)(key_hash, now)
        reply = await arun(client, wire.fetch_call(_prefix(), key_hash, now))
        record, ops = wire.fetched(reply, key_hash)
        await arun_all(client, wire.index_calls(_prefix(), ops))
        return record

    async def _awrite(
        self, script: wire.Script, key_hashes: tuple[str, ...], record: Record, delta: Delta | None
    ) -> int:
        if (client := async_client()) is None:
            return int(await sync_to_async(self._write)(script, key_hashes, record, delta))
        reply = await arun(client, wire.write_call(script, _prefix(), key_hashes, record, delta))
        status, ops = wire.wrote(reply, record, key_hashes)
        await arun_all(client, wire.index_calls(_prefix(), ops))
        return status

    async def _ainsert(self, key_hash: str, record: Record) -> bool:
        return await self._awrite(wire.INSERT, (key_hash,), record, None) == 1

    async def _aupdate(self, key_hash: str, record: Record, delta: Delta | None) -> bool:
        return await self._awrite(wire.UPDATE, (key_hash,), record, delta) == 1

    async def _aremove(self, key_hash: str) -> None:
        if (client := async_client()) is None:
            return await sync_to_async(self._remove)(key_hash)
        ops = wire.removed(await arun(client, wire.remove_call(_prefix(), key_hash)), key_hash)
        await arun_all(client, wire.index_calls(_prefix(), ops))

    async def _acontains(self, key_hash: str) -> bool:
        if (client := async_client()) is None:
            return await sync_to_async(self._contains)(key_hash)
        return bool(await client.exists(wire.session_key_name(_prefix(), key_hash)))

    async def _arename(self, old: str, new: str, record: Record, delta: Delta | None) -> int:
        if (client := async_client()) is None:
            return int(await sync_to_async(self._rename)(old, new, record, delta))
        if self._copies(client, old, new):
            return await self._acopy(old, new, record)
        return await self._awrite(wire.RENAME, (old, new), record, delta)

    # -- cycle_key (the retry loop is the base class's) ----------------------------------

    @staticmethod
    def _copies(client: Any, old: str, new: str) -> bool:
        """Whether ``old`` moves to ``new`` by create-then-delete, not one script: on a
        Cluster, ids in different slots (a ``GENID`` hook) cannot meet in one script."""
        return not wire.same_slot(old, new) and is_cluster(client)

    def _new_key_for(self, old_hash: str) -> str:
        """A fresh id whose hash has ``old_hash``'s tag (any id from a ``GENID`` hook), so
        ``cycle_key()``'s rename stays in one slot of a Cluster."""
        if self.genid is not None:
            return self._get_new_session_key()
        for _ in range(TAG_SEARCH_LIMIT):
            key = default_session_key()
            if wire.same_slot(hash_key(key), old_hash):
                return key
        raise RuntimeError("no session id with a matching hash tag found")  # pragma: no cover

    @classmethod
    def _purge_expired(cls) -> int:
        """Nothing to do: Redis expires every session hash and user set by its TTL."""
        return 0

    # -- per-user index -------------------------------------------------------------------

    @classmethod
    def _user_records(cls, user_id: str) -> list[tuple[str, Record]]:
        """The user's live sessions: ``SMEMBERS``, then one pipeline of ``HGETALL``; a
        third round trip prunes members that expired."""
        client = sync_client()
        prefix = _prefix()
        set_key = wire.user_key_name(prefix, user_id)
        key_hashes = sorted(wire.text(s) for s in client.smembers(set_key))
        if not key_hashes:
            return []
        pipe = client.pipeline(transaction=False)
        for key_hash in key_hashes:
            pipe.hgetall(wire.session_key_name(prefix, key_hash))
        found, dead = [], []
        now = time.time()
        for key_hash, raw in zip(key_hashes, pipe.execute(), strict=True):
            record = wire.decode_hash(raw)
            if record is not None and record.user_id == user_id and record.is_live(now):
                found.append((key_hash, record))
            else:
                dead.append(key_hash)
        if dead:
            client.srem(set_key, *dead)
        return found

    @classmethod
    def _end_user_records(cls, user_id: str, keep: str | None) -> int:
        """Delete the user's sessions but ``keep``: ``SMEMBERS``, then one pipeline."""
        client = sync_client()
        prefix = _prefix()
        set_key = wire.user_key_name(prefix, user_id)
        doomed = [s for s in (wire.text(m) for m in client.smembers(set_key)) if s != keep]
        if not doomed:
            return 0
        pipe = client.pipeline(transaction=False)
        for key_hash in doomed:
            pipe.delete(wire.session_key_name(prefix, key_hash))
        pipe.srem(set_key, *doomed)
        return sum(int(n) for n in pipe.execute()[:-1])
