"""Lua scripts of the Redis store: each reads and writes keys of one hash slot only.

A session is one hash. User keys are fields holding JSON text (a key starting with ``#``
is stored with one more ``#``); metadata lives in reserved ``#`` fields written by the
scripts from fixed arguments:

``ARGV[1]`` expiry (ms since the epoch), ``ARGV[2]`` touch age in ms or ``""``,
``ARGV[3]`` absolute deadline in ms or ``""``, ``ARGV[4]`` ``"=" .. user id`` or ``""``,
``ARGV[5]`` ``"full"`` or ``"delta"``, ``ARGV[6]`` how many fields to delete, then those
fields, then field/value pairs to set.

Write scripts answer ``{status, previous user ("=" .. id or ""), index expiry ms,
index renewed (0/1)}``; the caller keeps the per-user set in step with that answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Script:
    """A Lua script and its SHA-1, run with ``EVALSHA`` (``EVAL`` when not cached)."""

    text: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode()).hexdigest())


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

#: Keep a user's set of session hashes: ``KEYS[1]`` the set, ``ARGV[1]`` a sid to remove
#: or ``""``, ``ARGV[2]`` a sid to add or ``""``, ``ARGV[3]`` the least expiry (ms) the set
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
