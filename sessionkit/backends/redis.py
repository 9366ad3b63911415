"""The Redis store: one hash per session, delta writes, a read that is one ``HGETALL``.

A read writes nothing while the expiry would move by no more than the touch slack
(:func:`sessionkit.lifetime.touch_slack`); past it the ``FETCH`` script pushes it back.
With ``SESSIONKIT_REDIS["CLIENT_CACHE"]`` the ``HGETALL`` is answered by a process-local
cache that Redis invalidates (:mod:`sessionkit.backends.redis_cache`).

Each session is a hash keyed by the SHA-256 of its id; every write is a Lua script that
checks and writes atomically and sets ``PEXPIREAT``; each user's sessions are a sorted set,
written before the session records it (the invariant is in :mod:`~sessionkit.backends.redis_wire`).
The key names, the scripts and their arguments and replies are
:mod:`sessionkit.backends.redis_wire`; which client, and how a script is run on it,
:mod:`sessionkit.backends.redis_client`; the ``SESSIONKIT_REDIS`` setting,
:func:`sessionkit.conf.get_redis_settings`.

Each primitive is written once as shared, I/O-free steps (build the call, read the reply)
with two thin entry points, sync and async, that differ only in the lines doing I/O.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, ClassVar

import redis
from asgiref.sync import sync_to_async

from sessionkit import lifetime
from sessionkit.backends import redis_wire as wire
from sessionkit.backends.base import (
    NEW_TAKEN,
    OLD_GONE,
    RENAMED,
    Purged,
    Record,
    Removed,
    default_session_key,
    hash_key,
)
from sessionkit.backends.base import SessionStore as BaseStore
from sessionkit.backends.redis_client import (
    Steps,
    adrive,
    arun_all,
    async_client,
    drive,
    is_cluster,
    run_all,
    sync_client,
)
from sessionkit.conf import get_redis_settings
from sessionkit.session_fields import Delta

#: Most random ids tried to find one whose hash shares the old id's tag (256 on average).
TAG_SEARCH_LIMIT = 1 << 16
#: Most rounds of ``end_user_sessions()`` chasing sessions cycled while it runs.
END_ROUNDS = 10


# -- the store --------------------------------------------------------------------------


def _prefix() -> str:
    return get_redis_settings().prefix


#: How many times a write runs when its script keeps answering ``INDEX_FIRST`` (another
#: request lengthening the session each time): twice is already rare.
WRITE_ATTEMPTS = 3


class SessionStore(BaseStore):
    """Sessions in Redis, one hash each, through django-redis or a client factory."""

    expires_by_itself = True
    indexes_users = True
    unavailable_errors: ClassVar[tuple[type[BaseException], ...]] = (
        *BaseStore.unavailable_errors,  # includes redis-py's ConnectionError and TimeoutError
        redis.exceptions.ClusterDownError,
        redis.exceptions.ReadOnlyError,
    )

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        #: The session's user-set membership as this object last read or wrote it: a write
        #: that stays within it needs no ``INDEX`` round trip first.
        self._indexed: wire.Indexed | None = None
        #: Whether this object's last read moved the stored expiry (else left it within the
        #: touch slack, and a cookie re-sent is given no more than the store holds).
        self._moved = False

    # -- primitives: their steps, as generators of calls (no I/O) ------------------------
    # Each yields the script calls to run, one round trip each, and receives their replies;
    # redis_client's ``drive`` / ``adrive`` run them on the sync / async client.

    def _fetch_steps(self, key_hash: str, now: float) -> Steps[Record | None]:
        """A plain ``HGETALL`` (no write, no script); :data:`~wire.FETCH` only when that
        read finds a touch due (:func:`~wire.touch_due`), at most once per touch slack."""
        got: wire.Fetched = yield wire.read_call(_prefix(), key_hash)
        self._moved = False
        if got.record is not None and got.record.is_live(now) and wire.touch_due(got.record, now):
            got = wire.fetched((yield wire.fetch_call(_prefix(), key_hash, now)), key_hash)
            self._moved = got.moved
        self._indexed = got.indexed
        if got.record is None or got.record.user_id is None or got.renew == "0":
            return got.record
        # The touch needs the user's set renewed: the set first, then the touch, so a
        # failure between leaves the session's expiry within the set's.
        user = got.record.user_id
        yield wire.index_call(_prefix(), user, add=key_hash, until=got.renew)
        if int((yield wire.touch_call(_prefix(), key_hash, user, got.renew, now))):
            self._indexed = wire.Indexed(key_hash, user, int(got.renew))
        return got.record

    def _index_first(self, record: Record, new_hash: str) -> wire.Call | None:
        """The ``INDEX`` call to run before writing ``record`` at ``new_hash``: a user, a new
        key_hash or an expiry past what the set is known to hold (the script checks again)."""
        if record.user_id is None:
            return None
        seen = self._indexed
        if (
            seen is not None
            and (seen.key_hash, seen.user_id) == (new_hash, record.user_id)
            and int(wire.ms(record.expires)) <= seen.until
        ):
            return None
        return wire.index_call(
            _prefix(), record.user_id, add=new_hash, until=wire.index_bound(record)
        )

    def _write_steps(
        self, script: wire.Script, key_hashes: tuple[str, ...], record: Record, delta: Delta | None
    ) -> Steps[int]:
        """A write script on ``key_hashes`` (one, or old and new), the user's set first."""
        new_hash = key_hashes[-1]
        first = self._index_first(record, new_hash)
        for _ in range(WRITE_ATTEMPTS):
            if first is not None:
                yield first
            index = "" if first is None else first.args[2]
            call = wire.write_call(script, _prefix(), key_hashes, record, delta, index)
            written = wire.Written.parse((yield call))
            if written.status != wire.INDEX_FIRST:
                break
            assert record.user_id is not None  # only a session with a user is refused
            first = wire.index_call(_prefix(), record.user_id, add=new_hash, until=written.index)
        else:
            raise RuntimeError("the user's session set kept falling behind the session")
        if written.status == 1:
            self._indexed = wire.Indexed(new_hash, record.user_id, int(written.index))
        elif written.status == 0 and script is not wire.INSERT and first is not None:
            assert record.user_id is not None  # the session is gone: so is its new member
            yield wire.index_call(_prefix(), record.user_id, remove=new_hash)
        if stale := wire.unindex_after(written, record.user_id, key_hashes[0], new_hash):
            yield wire.index_call(_prefix(), stale[0], remove=stale[1])
        return written.status

    def _delete_steps(self, key_hash: str) -> Steps[Removed]:
        """Delete a session, then take it out of its user's set; whether this call
        deleted it (``DEL``'s answer), and its user."""
        existed, user = wire.removed((yield wire.remove_call(_prefix(), key_hash)))
        if user is not None:
            yield wire.index_call(_prefix(), user, remove=key_hash)
        return Removed(existed, user)

    def _expiry_after_read(self, record: Record, now: float) -> float:
        """The expiry as the read left it: pushed back only when :data:`~wire.FETCH` said it
        moved it (more than the touch slack), else where it was."""
        if not self._moved:
            return record.expires
        return lifetime.touched_expiry(record.expires, record.age, record.deadline, now)

    # -- primitives: the sync entry points ------------------------------------------------

    def _fetch(self, key_hash: str, now: float) -> Record | None:
        return drive(sync_client(), self._fetch_steps(key_hash, now))

    def _write(
        self, script: wire.Script, key_hashes: tuple[str, ...], record: Record, delta: Delta | None
    ) -> int:
        return drive(sync_client(), self._write_steps(script, key_hashes, record, delta))

    def _insert(self, key_hash: str, record: Record) -> bool:
        return self._write(wire.INSERT, (key_hash,), record, None) == 1

    def _update(self, key_hash: str, record: Record, delta: Delta | None) -> bool:
        return self._write(wire.UPDATE, (key_hash,), record, delta) == 1

    def _remove(self, key_hash: str) -> Removed:
        return drive(sync_client(), self._delete_steps(key_hash))

    def _contains(self, key_hash: str) -> bool:
        return bool(sync_client().exists(wire.session_key_name(_prefix(), key_hash)))

    def _rename(self, old: str, new: str, record: Record, delta: Delta | None) -> int:
        """Move ``old`` to ``new`` writing ``delta``, in one script (``RENAME``)."""
        if self._copies(sync_client(), old, new):
            return self._copy(old, new, record)
        return self._write(wire.RENAME, (old, new), record, delta)

    def _copy(self, old: str, new: str, record: Record) -> int:
        """The base's create-then-delete, except that a session destroyed between the check
        and the create takes its copy with it: ``OLD_GONE``, never its data under a new id."""
        if not self._contains(old):
            return OLD_GONE
        if not self._insert(new, record):
            return NEW_TAKEN
        if self._remove(old).found:
            return RENAMED
        self._remove(new)
        return OLD_GONE

    # -- primitives: the async entry points -----------------------------------------------

    async def _afetch(self, key_hash: str, now: float) -> Record | None:
        if (client := async_client()) is None:
            return await sync_to_async(self._fetch)(key_hash, now)
        return await adrive(client, self._fetch_steps(key_hash, now))

    async def _awrite(
        self, script: wire.Script, key_hashes: tuple[str, ...], record: Record, delta: Delta | None
    ) -> int:
        if (client := async_client()) is None:
            return int(await sync_to_async(self._write)(script, key_hashes, record, delta))
        return await adrive(client, self._write_steps(script, key_hashes, record, delta))

    async def _ainsert(self, key_hash: str, record: Record) -> bool:
        return await self._awrite(wire.INSERT, (key_hash,), record, None) == 1

    async def _aupdate(self, key_hash: str, record: Record, delta: Delta | None) -> bool:
        return await self._awrite(wire.UPDATE, (key_hash,), record, delta) == 1

    async def _aremove(self, key_hash: str) -> Removed:
        if (client := async_client()) is None:
            return await sync_to_async(self._remove)(key_hash)
        return await adrive(client, self._delete_steps(key_hash))

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

    async def _acopy(self, old: str, new: str, record: Record) -> int:
        if not await self._acontains(old):
            return OLD_GONE
        if not await self._ainsert(new, record):
            return NEW_TAKEN
        if (await self._aremove(old)).found:
            return RENAMED
        await self._aremove(new)
        return OLD_GONE

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
    def _purge_expired(cls) -> Iterator[Purged]:
        """Nothing to do: Redis expires every session hash and user set by its TTL."""
        return iter(())

    # -- per-user index -------------------------------------------------------------------

    @classmethod
    def _user_records(cls, user_id: str) -> list[tuple[str, Record]]:
        """The user's live sessions: ``ZRANGE``, then one pipeline of ``HGETALL``. Members
        whose hash is gone or belongs to someone else are skipped (``INDEX`` drops them once
        their score has passed; removing them here could race a login adding one)."""
        client = sync_client()
        set_key = wire.user_key_name(_prefix(), user_id)
        key_hashes = sorted(wire.text(s) for s in client.zrange(set_key, 0, -1))
        if not key_hashes:
            return []
        return _live(user_id, key_hashes, _hgetall_all(client, key_hashes).execute())

    @classmethod
    async def _auser_records(cls, user_id: str) -> list[tuple[str, Record]]:
        if (client := async_client()) is None:
            return await sync_to_async(cls._user_records)(user_id)
        set_key = wire.user_key_name(_prefix(), user_id)
        key_hashes = sorted(wire.text(s) for s in await client.zrange(set_key, 0, -1))
        if not key_hashes:
            return []
        return _live(user_id, key_hashes, await _hgetall_all(client, key_hashes).execute())

    @classmethod
    def _end_user_records(cls, user_id: str, keep: str | None) -> list[str]:
        """Delete the user's sessions but ``keep``: ``ZRANGE``, one pipeline of ``END``
        (each deletes a hash only if its ``#user`` is still ``user_id``), then ``ZREM`` of
        the members it deleted. Again while a round finds members it has not seen: a
        ``cycle_key()`` that moved a session after the ``ZRANGE`` added its new id to the
        set first (the index is written before the session), so the next round ends it.
        ``END``'s ``DEL`` answers which sessions this call deleted."""
        client = sync_client()
        ending = _Ending(user_id, keep)
        for _ in range(END_ROUNDS):
            doomed = ending.doomed(client.zrange(ending.set_key, 0, -1))
            if not doomed:
                break
            if ended := ending.ended(doomed, run_all(client, ending.calls(doomed))):
                client.zrem(ending.set_key, *ended)
        return ending.total

    @classmethod
    async def _aend_user_records(cls, user_id: str, keep: str | None) -> list[str]:
        if (client := async_client()) is None:
            return await sync_to_async(cls._end_user_records)(user_id, keep)
        ending = _Ending(user_id, keep)
        for _ in range(END_ROUNDS):
            doomed = ending.doomed(await client.zrange(ending.set_key, 0, -1))
            if not doomed:
                break
            if ended := ending.ended(doomed, await arun_all(client, ending.calls(doomed))):
                await client.zrem(ending.set_key, *ended)
        return ending.total


def _hgetall_all(client: Any, key_hashes: list[str]) -> Any:
    """A pipeline (no transaction) of one ``HGETALL`` per session, sync or async."""
    pipe = client.pipeline(transaction=False)
    for key_hash in key_hashes:
        pipe.hgetall(wire.session_key_name(_prefix(), key_hash))
    return pipe


def _live(user_id: str, key_hashes: list[str], replies: list[Any]) -> list[tuple[str, Record]]:
    """The sessions among ``replies`` that live and still belong to ``user_id``."""
    found = []
    now = time.time()
    for key_hash, raw in zip(key_hashes, replies, strict=True):
        record = wire.decode_hash(raw)
        if record is not None and record.user_id == user_id and record.is_live(now):
            found.append((key_hash, record))
    return found


class _Ending:
    """The rounds of ``end_user_sessions()``, without the I/O (shared by sync and async)."""

    def __init__(self, user_id: str, keep: str | None) -> None:
        self.user_id = user_id
        self.set_key = wire.user_key_name(_prefix(), user_id)
        self.seen = {keep}
        self.total: list[str] = []

    def doomed(self, members: list[Any]) -> list[str]:
        doomed = [h for h in (wire.text(m) for m in members) if h not in self.seen]
        self.seen.update(doomed)
        return doomed

    def calls(self, doomed: list[str]) -> list[wire.Call]:
        return [wire.end_call(_prefix(), h, self.user_id) for h in doomed]

    def ended(self, doomed: list[str], replies: list[Any]) -> list[str]:
        ended = [h for h, deleted in zip(doomed, replies, strict=True) if int(deleted)]
        self.total += ended
        return ended
