"""The Redis store's wire format: its Lua scripts and the Python that speaks to them.

One module documents and implements the contract between :mod:`sessionkit.backends.redis`
and Redis: key names, the scripts, the layout of their arguments and the decoding of their
replies. Every script reads and writes keys of one hash slot only.

Keys: a session is a hash at ``<prefix>{<tag>}<key_hash>`` (``key_hash`` the SHA-256 of the id in
hex, ``tag`` its first :data:`TAG_LENGTH` digits, so a Redis Cluster keeps a session and
the id it is cycled to in one slot); each user's sessions are a sorted set at
``<prefix>user:<user id>`` of key_hashes, each scored with the time (ms) until which its
session may live.

Fields: user keys are fields holding JSON text (a key starting with :data:`RESERVED` is
stored with one more); metadata lives in reserved ``#`` fields written by the scripts from
fixed arguments (times in milliseconds since the epoch):

``ARGV[1]`` expiry, ``ARGV[2]`` touch age in ms or ``""``, ``ARGV[3]`` absolute deadline
or ``""``, ``ARGV[4]`` ``"=" .. user id`` or ``""``, ``ARGV[5]`` ``"full"`` or
``"delta"``, ``ARGV[6]`` ``"1"`` when the writer's lifetime counts (a full write, or a
delta that sets or removes ``_session_expiry``) else ``"0"``, ``ARGV[7]`` the write's time,
``ARGV[8]`` the score the caller has just made sure the session has in its user's set (or
``""``), ``ARGV[9]`` how many fields to delete, then those fields, then field/value pairs to
set (:func:`write_args` builds them).

Expiry metadata is merged like data. A write whose ``ARGV[6]`` is ``"0"`` keeps the stored
``#age`` and ``#deadline`` and carries the stored lifetime forward to its own time (``now +
#age``, never earlier than ``#expires``; a fixed date stays), so a concurrent write of
another key never undoes a ``set_expiry()``. No update moves a stored ``#deadline`` later
or ``#created`` (the session's age) forward.

The per-user index keeps one invariant: *a session hash whose ``#user`` is ``u`` is a
member of ``u``'s set with a score, and the set a TTL, no earlier than the session's
expiry*. ``#index`` records the score known to be in the set. So the set is always written
first, the session second:

- a write that would give a session a user, a new key_hash or an expiry past ``#index``
  needs :data:`INDEX` run first, with the score it reports in ``ARGV[8]``. Python runs it
  first when it can tell (a new user or key_hash, or an expiry past the ``#index`` its read
  saw); when it could not (another request changed the session meanwhile) the script writes
  nothing and answers status :data:`INDEX_FIRST` with the score it needs, and Python runs
  :data:`INDEX` and the write again. If :data:`INDEX` fails nothing is written; if the
  write fails after it, the set holds a member too many, which listings skip;
- :data:`FETCH` never pushes ``#expires`` past ``#index``; when its touch needs more it
  answers the score, and the caller runs :data:`INDEX`, then :data:`TOUCH`, which records
  ``#index`` and pushes the expiry (two more round trips, once per session age);
- members leave a set after their session did: :data:`REMOVE` / a write that changed the
  user, then ``ZREM``; :data:`INDEX` drops members whose score has passed (their session
  has expired); ``end_user_sessions`` deletes a member's hash only if its ``#user`` is still
  that user (:data:`END`), and removes from the set only the members it deleted.

Write scripts answer ``{status, previous user ("=" .. id or ""), score}`` (:class:`Written`):
status 1 written (the score recorded in ``#index``), 0 the session is gone (``RENAME``:
the old one; nothing is written anywhere), -1 the new id is taken, :data:`INDEX_FIRST`
(the score the set needs first).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sessionkit import lifetime
from sessionkit.backends.base import ClientInfo, Record
from sessionkit.rules import EXPIRY
from sessionkit.session_fields import Delta

logger = logging.getLogger(__name__)

#: Hex digits of the key_hash used as the key's Redis Cluster hash tag (256 slots in use).
TAG_LENGTH = 2
#: Prefix of the hash fields that hold metadata; user keys starting with it get another.
RESERVED = "#"
#: A write script's status: the user's set must hold the session (with the score answered)
#: before this write may record it.
INDEX_FIRST = 2


@dataclass(frozen=True)
class Script:
    """A Lua script and its SHA-1, run with ``EVALSHA`` (``EVAL`` when not cached).
    ``changes``: whether it may change or end a session's data (not only its expiry,
    ``#seen`` or its user's set): with the process-local cache on, such a write is followed
    by a barrier (:mod:`sessionkit.backends.redis_cache`)."""

    text: str
    changes: bool = True
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


@dataclass(frozen=True)
class Read:
    """A plain ``HGETALL`` of one session hash: a session's read when no touch is due, a
    read-only command that costs Redis no more than a ``GET`` and that a process-local
    cache may answer (:mod:`sessionkit.backends.redis_cache`). What the steps receive is
    :meth:`answer`'s :class:`Fetched`, so a cache keeps that and parses a hash once, not
    on every hit."""

    key: str
    key_hash: str

    def answer(self, reply: Mapping[Any, Any]) -> Fetched:
        return read(reply, self.key_hash)


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

-- The score a session's set member needs: its expiry plus one age (so the set is renewed
-- once per age, not on every touch), capped by the deadline.
local function index_until(expires, age, deadline)
  local e = expires + (tonumber(age) or 0)
  local d = tonumber(deadline)
  if d and d < e then e = d end
  return e
end

-- The metadata a write reads before writing ({} for a hash that does not exist).
local function stored_meta(key)
  local names = {'#expires', '#age', '#deadline', '#created', '#user', '#index'}
  local values = redis.call('HMGET', key, unpack(names))
  local meta = {}
  for i, name in ipairs(names) do
    if values[i] then meta[name] = values[i] end
  end
  return meta
end

-- The lifetime this write leaves: the writer's (ARGV[6] == '1') or the stored one carried
-- forward to the write's time; never a later deadline than the stored one.
local function lifetime(argv, stored)
  local expires, age, deadline = tonumber(argv[1]), tonumber(argv[2]), tonumber(argv[3])
  if argv[6] ~= '1' and stored['#expires'] then
    expires, age = tonumber(stored['#expires']), tonumber(stored['#age'])
    deadline = tonumber(stored['#deadline'])
    if age and tonumber(argv[7]) + age > expires then expires = tonumber(argv[7]) + age end
  end
  local kept = tonumber(stored['#deadline'])
  if kept and ((not deadline) or deadline > kept) then deadline = kept end
  if deadline and expires > deadline then expires = deadline end
  return {expires = expires, age = age, deadline = deadline, index = 0}
end

-- What this write will store, or (w.refused) the INDEX_FIRST answer: the session's user set
-- must hold it, with a score covering its expiry, before it is recorded. ``index`` is the
-- score the stored #index vouches for (nil when the key_hash changes).
local function prepare(argv, stored, index)
  local w = lifetime(argv, stored)
  if argv[4] ~= '' then
    w.user = string.sub(argv[4], 2)
    local known = tonumber(argv[8]) or 0
    if index and stored['#user'] == w.user and (tonumber(index) or 0) > known then
      known = tonumber(index)
    end
    if w.expires > known then
      w.refused = {2, '', fmt(index_until(w.expires, w.age, w.deadline))}
    end
    w.index = known
  end
  return w
end

-- A write script's first write: Redis decides at a script's first write whether it refuses
-- it at maxmemory (OOM), and lets DEL, HDEL and RENAME through, and every write after a
-- first one. So each write script starts with this HSET of the write's time (written
-- anyway), which Redis refuses at maxmemory: then nothing at all is written.
local function guard(key, argv)
  redis.call('HSET', key, '#seen', argv[7])
end

local function apply(key, argv)
  local removed = tonumber(argv[9])
  guard(key, argv)
  if argv[5] == 'full' and redis.call('EXISTS', key) == 1 then
    redis.call('DEL', key)
  elseif removed > 0 then
    call_chunked('HDEL', key, argv, 10, 9 + removed)
  end
  call_chunked('HSET', key, argv, 10 + removed, #argv)
end

-- Write the metadata fields (one HSET, one HDEL) and the TTL; answer the write scripts'
-- reply.
local function finish(key, stored, w)
  local set, del = {'#expires', fmt(w.expires)}, {}
  local function keep(name, value)
    if value then
      set[#set + 1] = name
      set[#set + 1] = value
    else
      del[#del + 1] = name
    end
  end
  keep('#age', w.age and fmt(w.age))
  keep('#deadline', w.deadline and fmt(w.deadline))
  if stored['#created'] then keep('#created', stored['#created']) end
  keep('#user', w.user)
  keep('#index', w.user and fmt(w.index))
  redis.call('HSET', key, unpack(set))
  if #del > 0 then redis.call('HDEL', key, unpack(del)) end
  redis.call('PEXPIREAT', key, fmt(w.expires))
  local previous = ''
  if stored['#user'] then previous = '=' .. stored['#user'] end
  return {1, previous, fmt(w.index)}
end
"""

#: Read a session and push its expiry back, when due, in one round trip (the read itself is
#: a plain ``HGETALL``; this runs only when that read finds a touch due, :func:`touch_due`).
#: ``KEYS[1]`` the hash, ``ARGV[1]`` now in ms, ``ARGV[2]`` the touch slack as a fraction of
#: ``#age``, ``ARGV[3]`` its cap in ms (:func:`sessionkit.lifetime.touch_slack`: the expiry
#: moves only by more than the slack; ``#seen`` is rewritten at the same granularity, or
#: once the cap has passed for a session without ``#age``). Answers ``{}`` when gone, else
#: ``{fields before the touch, the score the user's set needs before the expiry can go
#: further (0: none), 1 if the expiry moved (or must, after that renewal) else 0}``; the
#: touch never goes past ``#index``.
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
local age = tonumber(meta['#age'])
local slack = tonumber(ARGV[3])
if age and age * tonumber(ARGV[2]) < slack then slack = age * tonumber(ARGV[2]) end
local renew, moved, pushed = 0, 0, nil
if age then
  local touched = now + age
  if deadline and deadline < touched then touched = deadline end
  if touched - expires > slack then
    moved = 1
    local index = tonumber(meta['#index']) or 0
    if meta['#user'] and touched > index then
      renew = index_until(touched, age, deadline)
      touched = index
    end
    if touched > expires then pushed = touched end
  end
end
if pushed then
  redis.call('HSET', key, '#expires', fmt(pushed), '#seen', ARGV[1])
  redis.call('PEXPIREAT', key, fmt(pushed))
elseif moved == 1 or now - (tonumber(meta['#seen']) or 0) > slack then
  redis.call('HSET', key, '#seen', ARGV[1])
end
return {flat, fmt(renew), moved}
""",
    changes=False,
)

#: The rest of a touch once :data:`INDEX` has renewed the user's set: ``KEYS[1]`` the hash,
#: ``ARGV[1]`` the user, ``ARGV[2]`` the score the set now has, ``ARGV[3]`` now. Records
#: ``#index`` and pushes the expiry (up to it); nothing if the session is gone or changed
#: user meanwhile. Answers 1 when it recorded the score.
TOUCH = Script(
    _COMMON
    + """
local key = KEYS[1]
local m = redis.call('HMGET', key, '#user', '#index', '#expires', '#age', '#deadline')
if m[1] ~= ARGV[1] then return 0 end
local index = tonumber(ARGV[2])
if (tonumber(m[2]) or 0) > index then index = tonumber(m[2]) end
redis.call('HSET', key, '#index', fmt(index), '#seen', ARGV[3])
local expires, age, deadline = tonumber(m[3]), tonumber(m[4]), tonumber(m[5])
if expires and age then
  local touched = tonumber(ARGV[3]) + age
  if deadline and deadline < touched then touched = deadline end
  if touched > index then touched = index end
  if touched > expires then
    redis.call('HSET', key, '#expires', fmt(touched))
    redis.call('PEXPIREAT', key, fmt(touched))
  end
end
return 1
""",
    changes=False,
)

#: Create a session; never overwrites. ``KEYS[1]`` the hash.
INSERT = Script(
    _COMMON
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, '', '0'} end
local w = prepare(ARGV, {}, nil)
if w.refused then return w.refused end
apply(KEYS[1], ARGV)
return finish(KEYS[1], {}, w)
"""
)

#: Write an existing session (only the changed fields in ``delta`` mode); never
#: resurrects one that is gone. ``KEYS[1]`` the hash.
UPDATE = Script(
    _COMMON
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, '', '0'} end
local stored = stored_meta(KEYS[1])
local w = prepare(ARGV, stored, stored['#index'])
if w.refused then return w.refused end
apply(KEYS[1], ARGV)
return finish(KEYS[1], stored, w)
"""
)

#: Move a session to a new id and write its changes, atomically. ``KEYS[1]`` the old
#: hash, ``KEYS[2]`` the new one (same slot on a cluster). Status ``-1``: the new id is
#: taken; ``0``: the old session is gone (destroyed meanwhile), and nothing is written.
RENAME = Script(
    _COMMON
    + """
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1, '', '0'} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, '', '0'} end
local stored = stored_meta(KEYS[1])
local w = prepare(ARGV, stored, nil)
if w.refused then return w.refused end
guard(KEYS[1], ARGV)
redis.call('RENAME', KEYS[1], KEYS[2])
apply(KEYS[2], ARGV)
return finish(KEYS[2], stored, w)
"""
)

#: Delete a session; answers ``{keys deleted (0/1), its user id or ""}`` so the caller knows
#: whether it was there and can unindex it.
REMOVE = Script(
    """
local user = redis.call('HGET', KEYS[1], '#user')
local deleted = redis.call('DEL', KEYS[1])
return {deleted, user or ''}
"""
)

#: Delete a session only if it still belongs to ``ARGV[1]`` (``end_user_sessions``): a set
#: member whose hash now holds another user's session, or none, is left alone.
END = Script(
    """
if redis.call('HGET', KEYS[1], '#user') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
)

#: Keep a user's sorted set of session hashes: ``KEYS[1]`` the set, ``ARGV[1]`` a key_hash
#: to remove or ``""``, ``ARGV[2]`` a key_hash to add or ``""`` with ``ARGV[3]`` its least
#: score (ms). Scores and the set's TTL only ever grow, so a member outlives its session and
#: the set its members; adding drops the members whose score has passed (expired sessions).
INDEX = Script(
    """
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
if ARGV[2] ~= '' then
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now))
  redis.call('ZADD', KEYS[1], 'GT', ARGV[3], ARGV[2])
  local wanted = tonumber(ARGV[3])
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 or now + ttl < wanted then
    redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', wanted))
  end
end
return 1
""",
    changes=False,
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


def owns_lifetime(delta: Delta | None) -> bool:
    """Whether a write's expiry, age and deadline replace the stored ones: a full write, or
    a delta that sets or removes ``_session_expiry``; otherwise the script keeps them."""
    return delta is None or EXPIRY in delta.changed or EXPIRY in delta.removed


def index_bound(record: Record) -> str:
    """The score (ms) to give ``record``'s session in its user's set: the script's
    ``index_until`` (expiry plus one age, capped by the deadline)."""
    until = record.expires + (record.age or 0)
    if record.deadline is not None:
        until = min(until, record.deadline)
    return ms(until)


def write_args(record: Record, delta: Delta | None, index: str = "") -> tuple[str, ...]:
    """Write-script arguments writing ``record`` in full, or only ``delta``'s fields;
    ``index``: the score the caller has just made sure the session has in its user's set."""
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
        "1" if owns_lifetime(delta) else "0",
        ms(record.last_seen),
        index,
        str(len(removed)),
        *removed,
    ]
    for key, value in changed.items():
        args += [escape(key), value]
    for name, value in meta.items():
        args += [name, value]
    return tuple(args)


def read_call(prefix: str, key_hash: str) -> Read:
    return Read(session_key_name(prefix, key_hash), key_hash)


#: :data:`FETCH`'s slack arguments: :func:`sessionkit.lifetime.touch_slack` in ms.
_SLACK_ARGS = (repr(lifetime.TOUCH_SLACK), ms(lifetime.TOUCH_SLACK_MAX))


def fetch_call(prefix: str, key_hash: str, now: float) -> Call:
    return Call(FETCH, (session_key_name(prefix, key_hash),), (ms(now), *_SLACK_ARGS))


def touch_call(prefix: str, key_hash: str, user_id: str, index: str, now: float) -> Call:
    return Call(TOUCH, (session_key_name(prefix, key_hash),), (user_id, index, ms(now)))


def write_call(
    script: Script,
    prefix: str,
    key_hashes: Sequence[str],
    record: Record,
    delta: Delta | None,
    index: str = "",
) -> Call:
    """:data:`INSERT` / :data:`UPDATE` of one key_hash, or :data:`RENAME` of ``(old, new)``."""
    keys = tuple(session_key_name(prefix, key_hash) for key_hash in key_hashes)
    return Call(script, keys, write_args(record, delta, index))


def remove_call(prefix: str, key_hash: str) -> Call:
    return Call(REMOVE, (session_key_name(prefix, key_hash),))


def end_call(prefix: str, key_hash: str, user_id: str) -> Call:
    return Call(END, (session_key_name(prefix, key_hash),), (user_id,))


def index_call(
    prefix: str, user_id: str, remove: str = "", add: str = "", until: str = "0"
) -> Call:
    """:data:`INDEX` on ``user_id``'s set: remove one key_hash and/or add one with a score."""
    return Call(INDEX, (user_key_name(prefix, user_id),), (remove, add, until))


# -- replies ------------------------------------------------------------------------------


def _split(
    pairs: Iterable[tuple[bytes | str, bytes | str]],
) -> tuple[dict[str, str], dict[str, str]]:
    """A hash's ``(name, value)`` pairs as user fields (unescaped) and ``#`` metadata."""
    fields: dict[str, str] = {}
    meta: dict[str, str] = {}
    try:
        for name, value in pairs:
            key = name.decode() if isinstance(name, bytes) else name
            content = value.decode() if isinstance(value, bytes) else value
            if key[:1] != RESERVED:
                fields[key] = content
            elif key[1:2] == RESERVED:
                fields[key[1:]] = content
            else:
                meta[key] = content
    except UnicodeDecodeError:  # not written by sessionkit: read as no session
        logger.warning("sessionkit: unreadable session hash in Redis; starting afresh")
        return {}, {}
    return fields, meta


def _record(fields: dict[str, str], meta: dict[str, str]) -> Record | None:
    """The session a hash's fields and metadata hold; ``None`` when unreadable."""
    try:
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


def decode_record(flat: Sequence[bytes | str]) -> Record | None:
    """Decode ``HGETALL``'s flat reply; ``None`` for an empty or unreadable hash."""
    if len(flat) % 2:
        logger.warning("sessionkit: unreadable session hash in Redis; starting afresh")
        return None
    return _record(*_split(zip(flat[::2], flat[1::2], strict=True)))


def decode_hash(mapping: Mapping[Any, Any]) -> Record | None:
    """A session from redis-py's ``HGETALL`` dict (as a pipeline answers it)."""
    return _record(*_split(mapping.items())) if mapping else None


@dataclass(frozen=True, slots=True)
class Indexed:
    """What a session's hash says of its user-set membership: the user and the score
    ``#index`` vouches for (ms; ``0``: none)."""

    key_hash: str
    user_id: str | None
    until: int


@dataclass(frozen=True, slots=True)
class Fetched:
    """A read's answer (:data:`FETCH`'s, or a plain :class:`Read`'s): the record before the
    touch, its membership, the score the set needs before the touch can go on (``"0"``:
    none), and whether the read moved the stored expiry (or will, once the set is renewed)."""

    record: Record | None
    indexed: Indexed | None
    renew: str = "0"
    moved: bool = False


def _fetched(
    fields: dict[str, str], meta: dict[str, str], key_hash: str, renew: str = "0", moved: int = 0
) -> Fetched:
    record = _record(fields, meta)
    if record is None:
        return Fetched(None, None)
    index = meta.get("#index", "0")
    indexed = Indexed(key_hash, record.user_id, int(index) if index.isdigit() else 0)
    needed = renew if record.user_id is not None else "0"
    return Fetched(record, indexed, needed, bool(moved))


def fetched(reply: Sequence[Any], key_hash: str) -> Fetched:
    """:data:`FETCH`'s answer."""
    if not reply:
        return Fetched(None, None)
    flat, renew, moved = reply
    if len(flat) % 2:
        return Fetched(None, None)
    pairs = zip(flat[::2], flat[1::2], strict=True)
    return _fetched(*_split(pairs), key_hash, text(renew), int(moved))


def read(reply: Mapping[Any, Any], key_hash: str) -> Fetched:
    """A plain :class:`Read`'s answer (redis-py's ``HGETALL`` dict); no touch done."""
    return _fetched(*_split(reply.items()), key_hash) if reply else Fetched(None, None)


def touch_due(record: Record, now: float) -> bool:
    """Whether a read at ``now`` must run :data:`FETCH` (the same rule, in Python): the
    expiry would move by more than the slack, or ``#seen`` is older than it."""
    slack = lifetime.touch_slack(record.age) if record.age is not None else None
    if slack is None:
        return now - record.last_seen > lifetime.TOUCH_SLACK_MAX
    touched = lifetime.touched_expiry(record.expires, record.age, record.deadline, now)
    return touched - record.expires > slack or now - record.last_seen > slack


@dataclass(frozen=True, slots=True)
class Written:
    """A write script's answer: status (1 written, 0 gone, -1 new id taken,
    :data:`INDEX_FIRST`), the session's user before the write, and the score (recorded in
    ``#index``, or needed first)."""

    status: int
    previous_user: str | None
    index: str

    @classmethod
    def parse(cls, reply: Sequence[Any]) -> Written:
        status, previous, index = reply
        previous = text(previous) if previous else ""
        return cls(int(status), previous[1:] or None, text(index))


def unindex_after(
    written: Written, user_id: str | None, old_hash: str, new_hash: str
) -> tuple[str, str] | None:
    """``(user, key_hash)`` to take out of a set once a write moved ``old_hash`` to
    ``new_hash`` (or changed its user); members are added before the write, never after."""
    prev = written.previous_user
    if written.status == 1 and prev is not None and (prev != user_id or old_hash != new_hash):
        return prev, old_hash
    return None


def removed(reply: Sequence[Any]) -> tuple[bool, str | None]:
    """:data:`REMOVE`'s answer: whether the session was there, and its user."""
    deleted, user = reply
    return bool(int(deleted)), text(user) or None
