"""The Redis store's wire format: its Lua scripts and the Python that speaks to them.

One module documents and implements the contract between :mod:`sessionkit.backends.redis`
and Redis: key names, the scripts, the layout of their arguments and the decoding of their
replies. Every script reads and writes keys of one hash slot only.

Keys: a session is a hash at ``<prefix>{<tag>}<key_hash>`` (``key_hash`` the SHA-256 of the id in
hex, ``tag`` its first :data:`TAG_LENGTH` digits, so a Redis Cluster keeps a session and
the id it is cycled to in one slot); each user's live sessions are a set at
``<prefix>user:<user id>``.

Fields: user keys are fields holding JSON text (a key starting with :data:`RESERVED` is
stored with one more); metadata lives in reserved ``#`` fields written by the scripts from
fixed arguments (times in milliseconds since the epoch):

``ARGV[1]`` expiry, ``ARGV[2]`` touch age in ms or ``""``, ``ARGV[3]`` absolute deadline
or ``""``, ``ARGV[4]`` ``"=" .. user id`` or ``""``, ``ARGV[5]`` ``"full"`` or
``"delta"``, ``ARGV[6]`` how many fields to delete, then those fields, then field/value
pairs to set (:func:`write_args` builds them).

Write scripts answer ``{status, previous user ("=" .. id or ""), index expiry ms, index
renewed (0/1)}`` (:class:`Written`); the caller keeps the per-user set in step with that
answer through :data:`INDEX` (:func:`index_ops`, :func:`index_calls`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sessionkit.backends.base import ClientInfo, Record
from sessionkit.session_fields import Delta

logger = logging.getLogger(__name__)

#: Hex digits of the key_hash used as the key's Redis Cluster hash tag (256 slots in use).
TAG_LENGTH = 2
#: Prefix of the hash fields that hold metadata; user keys starting with it get another.
RESERVED = "#"


@dataclass(frozen=True)
class Script:
    """A Lua script and its SHA-1, run with ``EVALSHA`` (``EVAL`` when not cached)."""

    text: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode()).hexdigest())


@dataclass(frozen=True)
class Call:
    """One run of ``script`` on ``keys`` with ``args``."""

    script: Script
    keys: tuple[str, ...]
    args: tuple[str, ...] = ()

    @property
    def argv(self) -> tuple[str | int, ...]:
        """What follows the SHA (or the text) in ``EVALSHA`` / ``EVAL``."""
        return (len(self.keys), *self.keys, *self.args)


_COMMON = """
local function fmt(n) return string.format('%.0f', n) end

local function call_chunked(cmd, key, argv, first, last)
  -- unpack() has a stack limit: send long argument lists in even-sized chunks
  local i = first
  while i <= last do
    local j = math.min(i + 199, last)
    redis.call(cmd, key, unpack(argv, i, j))
    i = j + 1
  end
end

local function index_until(expires, age, deadline)
  local e = expires + (tonumber(age) or 0)
  local d = tonumber(deadline)
  if d and d < e then e = d end
  return e
end

-- Write the metadata fields and the TTL; answer the write scripts' reply.
local function finish(key, argv, prev_user, prev_index)
  local expires = tonumber(argv[1])
  if argv[2] == '' then redis.call('HDEL', key, '#age')
  else redis.call('HSET', key, '#age', argv[2]) end
  if argv[3] == '' then redis.call('HDEL', key, '#deadline')
  else redis.call('HSET', key, '#deadline', argv[3]) end
  redis.call('HSET', key, '#expires', argv[1])
  local index, renewed = 0, 0
  if argv[4] == '' then
    redis.call('HDEL', key, '#user', '#index')
  else
    local uid = string.sub(argv[4], 2)
    redis.call('HSET', key, '#user', uid)
    index = tonumber(prev_index) or 0
    if uid ~= prev_user or expires > index then
      index = index_until(expires, argv[2], argv[3])
      redis.call('HSET', key, '#index', fmt(index))
      renewed = 1
    end
  end
  redis.call('PEXPIREAT', key, argv[1])
  local previous = ''
  if prev_user then previous = '=' .. prev_user end
  return {1, previous, fmt(index), renewed}
end

local function apply(key, argv)
  local removed = tonumber(argv[6])
  if argv[5] == 'full' then
    redis.call('DEL', key)
  elseif removed > 0 then
    call_chunked('HDEL', key, argv, 7, 6 + removed)
  end
  call_chunked('HSET', key, argv, 7 + removed, #argv)
end
"""

#: Read a session and push its expiry back in one round trip. ``KEYS[1]`` the hash,
#: ``ARGV[1]`` now in ms. Answers ``{}`` when gone, else ``{fields before the touch,
#: index expiry to renew the user's set to (0: none)}``.
FETCH = Script(
    _COMMON
    + """
local key = KEYS[1]
local flat = redis.call('HGETALL', key)
if #flat == 0 then return {} end
local meta = {}
for i = 1, #flat, 2 do
  if string.sub(flat[i], 1, 1) == '#' then meta[flat[i]] = flat[i + 1] end
end
local now = tonumber(ARGV[1])
local expires = tonumber(meta['#expires'])
local deadline = tonumber(meta['#deadline'])
if (not expires) or expires <= now or (deadline and deadline <= now) then return {} end
redis.call('HSET', key, '#seen', ARGV[1])
local renew = 0
local age = tonumber(meta['#age'])
if age then
  local touched = now + age
  if deadline and deadline < touched then touched = deadline end
  if touched > expires then
    redis.call('HSET', key, '#expires', fmt(touched))
    redis.call('PEXPIREAT', key, fmt(touched))
    local index = tonumber(meta['#index']) or 0
    if meta['#user'] and touched > index then
      renew = index_until(touched, age, deadline)
      redis.call('HSET', key, '#index', fmt(renew))
    end
  end
end
return {flat, fmt(renew)}
"""
)

#: Create a session; never overwrites. ``KEYS[1]`` the hash.
INSERT = Script(
    _COMMON
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, '', '0', 0} end
apply(KEYS[1], ARGV)
return finish(KEYS[1], ARGV, false, nil)
"""
)

#: Write an existing session (only the changed fields in ``delta`` mode); never
#: resurrects one that is gone. ``KEYS[1]`` the hash.
UPDATE = Script(
    _COMMON
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, '', '0', 0} end
local prev = redis.call('HMGET', KEYS[1], '#user', '#index')
apply(KEYS[1], ARGV)
return finish(KEYS[1], ARGV, prev[1], prev[2])
"""
)

#: Move a session to a new id and write its changes, atomically. ``KEYS[1]`` the old
#: hash, ``KEYS[2]`` the new one (same slot on a cluster). Status ``-1``: the new id is
#: taken; ``0``: the old session is gone.
RENAME = Script(
    _COMMON
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1, '', '0', 0} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, '', '0', 0} end
local prev = redis.call('HMGET', KEYS[1], '#user', '#index')
redis.call('RENAME', KEYS[1], KEYS[2])
apply(KEYS[2], ARGV)
return finish(KEYS[2], ARGV, prev[1], prev[2])
"""
)

#: Delete a session; answers its user id (or ``false``) so the caller can unindex it.
REMOVE = Script(
    """
local user = redis.call('HGET', KEYS[1], '#user')
redis.call('DEL', KEYS[1])
return user
"""
)

#: Keep a user's set of session hashes: ``KEYS[1]`` the set, ``ARGV[1]`` a key_hash to remove
#: or ``""``, ``ARGV[2]`` a key_hash to add or ``""``, ``ARGV[3]`` the least expiry (ms) the set
#: must have. The set's TTL only ever grows, so it never expires before a member.
INDEX = Script(
    """
if ARGV[1] ~= '' then redis.call('SREM', KEYS[1], ARGV[1]) end
if ARGV[2] ~= '' then
  redis.call('SADD', KEYS[1], ARGV[2])
  local wanted = tonumber(ARGV[3])
  local ttl = redis.call('PTTL', KEYS[1])
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  if ttl < 0 or now + ttl < wanted then
    redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', wanted))
  end
end
return 1
"""
)


# -- key names --------------------------------------------------------------------------


def session_key_name(prefix: str, key_hash: str) -> str:
    """The hash holding session ``key_hash``: its tag keeps a cycled id in the same slot."""
    return f"{prefix}{{{key_hash[:TAG_LENGTH]}}}{key_hash}"


def user_key_name(prefix: str, user_id: str) -> str:
    """The set of user ``user_id``'s session hashes (their key_hashes)."""
    return f"{prefix}user:{user_id}"


def same_slot(old_hash: str, new_hash: str) -> bool:
    """Whether the two sessions' hashes share a hash tag (so one script can move one)."""
    return old_hash[:TAG_LENGTH] == new_hash[:TAG_LENGTH]


# -- arguments ----------------------------------------------------------------------------


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def escape(key: str) -> str:
    """A user key as a hash field: one more :data:`RESERVED` when it starts with one."""
    return RESERVED + key if key.startswith(RESERVED) else key


def ms(seconds: float) -> str:
    """Seconds since the epoch as the scripts' whole milliseconds."""
    return str(round(seconds * 1000))


def write_args(record: Record, delta: Delta | None) -> tuple[str, ...]:
    """Write-script arguments writing ``record`` in full, or only ``delta``'s fields."""
    client = {"#agent": record.client.user_agent, "#ip": record.client.ip}
    meta = {"#seen": ms(record.last_seen)} | {k: v for k, v in client.items() if v}
    if delta is None:
        changed, mode = record.fields, "full"
        removed: list[str] = []
        meta["#created"] = ms(record.created)
    else:  # empty client fields are deleted, not stored
        changed, mode = delta.changed, "delta"
        removed = [escape(k) for k in sorted(delta.removed)]
        removed += [k for k, v in client.items() if not v]
    args = [
        ms(record.expires),
        "" if record.age is None else str(record.age * 1000),
        "" if record.deadline is None else ms(record.deadline),
        "" if record.user_id is None else "=" + record.user_id,
        mode,
        str(len(removed)),
        *removed,
    ]
    for key, value in changed.items():
        args += [escape(key), value]
    for name, value in meta.items():
        args += [name, value]
    return tuple(args)


def fetch_call(prefix: str, key_hash: str, now: float) -> Call:
    return Call(FETCH, (session_key_name(prefix, key_hash),), (ms(now),))


def write_call(
    script: Script, prefix: str, key_hashes: Sequence[str], record: Record, delta: Delta | None
) -> Call:
    """:data:`INSERT` / :data:`UPDATE` of one key_hash, or :data:`RENAME` of ``(old, new)``."""
    keys = tuple(session_key_name(prefix, key_hash) for key_hash in key_hashes)
    return Call(script, keys, write_args(record, delta))


def remove_call(prefix: str, key_hash: str) -> Call:
    return Call(REMOVE, (session_key_name(prefix, key_hash),))


# -- replies ------------------------------------------------------------------------------


def decode_record(flat: Sequence[bytes | str]) -> Record | None:
    """Decode ``HGETALL``'s flat reply; ``None`` for an empty or unreadable hash."""
    try:
        fields: dict[str, str] = {}
        meta: dict[str, str] = {}
        for name, value in zip(flat[::2], flat[1::2], strict=True):
            key, content = text(name), text(value)
            if key.startswith(RESERVED + RESERVED):
                fields[key[1:]] = content
            elif key.startswith(RESERVED):
                meta[key] = content
            else:
                fields[key] = content
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


def decode_hash(mapping: Mapping[Any, Any]) -> Record | None:
    """A session from redis-py's ``HGETALL`` dict (as a pipeline answers it)."""
    flat = [item for pair in mapping.items() for item in pair]
    return decode_record(flat) if flat else None


#: One call of the index script: ``(user id, hash to remove, hash to add, least expiry ms)``.
IndexOp = tuple[str, str, str, str]


def fetched(reply: Sequence[Any], key_hash: str) -> tuple[Record | None, list[IndexOp]]:
    """:data:`FETCH`'s answer: the record before the touch, and the user set's renewal."""
    if not reply:
        return None, []
    flat, renew = reply
    record = decode_record(flat)
    if record is None or record.user_id is None or text(renew) == "0":
        return record, []
    return record, [(record.user_id, "", key_hash, text(renew))]


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
        previous = text(previous) if previous else ""
        return cls(int(status), previous[1:] or None, text(index), bool(renewed))


def index_ops(
    written: Written, user_id: str | None, old_hash: str, new_hash: str
) -> list[IndexOp]:
    """What the per-user sets need after a write that moved ``old_hash`` to ``new_hash``."""
    ops: list[IndexOp] = []
    moved = old_hash != new_hash
    prev = written.previous_user
    if prev is not None and (prev != user_id or moved):
        ops.append((prev, old_hash, "", "0"))
    if user_id is not None and (prev != user_id or moved or written.renewed):
        ops.append((user_id, "", new_hash, written.index_until))
    return ops


def wrote(
    reply: Sequence[Any], record: Record, key_hashes: Sequence[str]
) -> tuple[int, list[IndexOp]]:
    """A write's status (1 done, 0 session gone, -1 new id taken) and its index ops."""
    written = Written.parse(reply)
    if written.status != 1:
        return written.status, []
    return 1, index_ops(written, record.user_id, key_hashes[0], key_hashes[-1])


def removed(reply: bytes | str | None, key_hash: str) -> list[IndexOp]:
    """:data:`REMOVE`'s answer (the session's user, if any) as index ops."""
    return [(text(reply), key_hash, "", "0")] if reply else []


def index_calls(prefix: str, ops: Sequence[IndexOp]) -> list[Call]:
    return [
        Call(INDEX, (user_key_name(prefix, user_id),), (remove, add, until))
        for user_id, remove, add, until in ops
    ]
