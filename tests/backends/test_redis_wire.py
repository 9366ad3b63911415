"""The Redis store's wire format: key names, the scripts' arguments and replies, checked
against the real scripts on a real Redis (what Python writes, Lua reads, and back)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from redis.crc import key_slot

from sessionkit.backends import redis_wire as wire
from sessionkit.backends.base import ClientInfo, Record, hash_key
from sessionkit.session_fields import Delta

pytestmark = pytest.mark.redis

PREFIX = "wire:"


@pytest.fixture
def r(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    yield redis_client


def call(client: redis.Redis, c: wire.Call) -> object:
    return client.eval(c.script.text, *c.argv)  # type: ignore[no-untyped-call]


def record(**changes: object) -> Record:
    now = time.time()
    values: dict[str, object] = {
        "fields": {"cart": "[1,2]", "#x": '"mine"', "##y": "1"},
        "created": now - 10,
        "expires": now + 60,
        "age": 60,
        "deadline": now + 3600,
        "user_id": "42",
        "client": ClientInfo("Firefox", "10.0.0.1"),
        "last_seen": now,
    } | changes
    return Record(**values)  # type: ignore[arg-type]


def test_scripts_have_stable_distinct_shas() -> None:
    scripts = [
        wire.FETCH, wire.TOUCH, wire.INSERT, wire.UPDATE, wire.RENAME, wire.REMOVE, wire.END,
        wire.INDEX,
    ]  # fmt: skip
    assert len({s.sha for s in scripts}) == len(scripts)
    assert wire.Script(wire.FETCH.text).sha == wire.FETCH.sha


def test_session_and_its_cycled_id_share_a_slot_through_the_tag() -> None:
    key_hash = hash_key("some-id")
    name = wire.session_key_name(PREFIX, key_hash)
    assert name == f"{PREFIX}{{{key_hash[:2]}}}{key_hash}"
    other = "f" * 64 if not key_hash.startswith("f") else "0" * 64
    assert wire.same_slot(key_hash, key_hash[:2] + other[2:])
    assert not wire.same_slot(key_hash, other)
    assert key_slot(name.encode()) == key_slot(
        wire.session_key_name("x:", key_hash[:2] + other[2:]).encode()
    )
    assert wire.user_key_name(PREFIX, "42") == "wire:user:42"


def test_a_record_written_by_insert_decodes_to_itself(r: redis.Redis) -> None:
    written = record()
    key_hash = hash_key("a")
    until = str(int(wire.ms(written.expires)) + 60_000)  # expiry + age: before the deadline
    assert wire.index_bound(written) == until
    # A session with a user is recorded only once its set holds it: first, the score.
    reply = call(r, wire.write_call(wire.INSERT, PREFIX, [key_hash], written, None))
    assert wire.Written.parse(reply) == wire.Written(wire.INDEX_FIRST, None, until)
    assert not r.exists(wire.session_key_name(PREFIX, key_hash))
    reply = call(r, wire.write_call(wire.INSERT, PREFIX, [key_hash], written, None, until))
    assert wire.Written.parse(reply) == wire.Written(1, None, until)
    stored = r.hgetall(wire.session_key_name(PREFIX, key_hash))
    assert stored[b"##x"] == b'"mine"' and stored[b"###y"] == b"1"  # escaped user keys
    assert stored[b"#index"] == until.encode()
    decoded = wire.decode_hash(stored)
    assert decoded is not None
    assert decoded.fields == written.fields
    assert decoded.user_id == "42" and decoded.age == 60
    assert decoded.client == written.client
    for name in ("created", "expires", "deadline", "last_seen"):
        assert abs(getattr(decoded, name) - getattr(written, name)) < 0.001


def test_delta_writes_only_changed_and_removed_fields(r: redis.Redis) -> None:
    key_hash = hash_key("b")
    first = record()
    call(r, wire.write_call(wire.INSERT, PREFIX, [key_hash], first, None, wire.index_bound(first)))
    changed = record(fields={"cart": "[3]"}, client=ClientInfo("", "10.0.0.2"))
    delta = Delta(changed={"cart": "[3]"}, removed=frozenset({"#x"}))
    reply = call(r, wire.write_call(wire.UPDATE, PREFIX, [key_hash], changed, delta))
    assert wire.Written.parse(reply).status == 1
    decoded = wire.decode_hash(r.hgetall(wire.session_key_name(PREFIX, key_hash)))
    assert decoded is not None
    assert decoded.fields == {"cart": "[3]", "##y": "1"}
    assert decoded.client == ClientInfo("", "10.0.0.2")  # an empty agent is deleted


def test_only_a_full_write_or_a_change_of_session_expiry_sets_the_lifetime() -> None:
    assert wire.owns_lifetime(None)
    assert wire.owns_lifetime(Delta({"_session_expiry": "2"}, frozenset()))
    assert wire.owns_lifetime(Delta({}, frozenset({"_session_expiry"})))
    assert not wire.owns_lifetime(Delta({"cart": "[1]"}, frozenset({"x"})))
    written = record()
    args = wire.write_args(written, Delta({"cart": "[1]"}, frozenset()), "99")
    assert args[5:8] == ("0", wire.ms(written.last_seen), "99")  # ARGV[6], [7], [8]


def test_write_replies_and_what_the_user_sets_need_after() -> None:
    assert wire.Written.parse([0, "", "0"]) == wire.Written(0, None, "0")
    assert wire.Written.parse([1, b"=42", b"99"]) == wire.Written(1, "42", "99")
    same = wire.Written(1, "42", "99")
    assert wire.unindex_after(same, "42", "a", "a") is None  # same user, same key_hash
    assert wire.unindex_after(same, "42", "a", "b") == ("42", "a")  # renamed
    assert wire.unindex_after(same, None, "a", "a") == ("42", "a")  # logged out in place
    assert wire.unindex_after(same, "43", "a", "a") == ("42", "a")  # another user
    assert wire.unindex_after(wire.Written(0, None, "0"), "42", "a", "b") is None
    assert wire.removed([1, b"42"]) == (True, "42")
    assert wire.removed([0, b""]) == (False, None)
    index = wire.index_call(PREFIX, "42", remove="a")
    assert index == wire.Call(wire.INDEX, ("wire:user:42",), ("a", "", "0"))
    assert index.argv == (1, "wire:user:42", "a", "", "0")


def test_fetch_answers_the_record_before_the_touch_and_the_sets_renewal(
    r: redis.Redis,
) -> None:
    key_hash = hash_key("c")
    now = time.time()
    soon = record(expires=now + 1, deadline=None)
    call(r, wire.write_call(wire.INSERT, PREFIX, [key_hash], soon, None, wire.index_bound(soon)))
    name = wire.session_key_name(PREFIX, key_hash)
    r.hset(name, "#index", wire.ms(now + 2))  # the set is known to live 2 s, not 60
    got = wire.fetched(call(r, wire.fetch_call(PREFIX, key_hash, now)), key_hash)  # type: ignore[arg-type]
    assert got.record is not None and abs(got.record.expires - soon.expires) < 0.001
    assert got.indexed == wire.Indexed(key_hash, "42", int(wire.ms(now + 2)))
    # The touch went no further than the set is known to live, and asks for its renewal.
    assert r.hget(name, "#expires") == wire.ms(now + 2).encode()
    assert int(got.renew) == int(wire.ms(now)) + 2 * 60_000  # the touched expiry + the age
    call(r, wire.touch_call(PREFIX, key_hash, "42", got.renew, now))
    assert r.hget(name, "#index") == got.renew.encode()
    assert r.hget(name, "#expires") == wire.ms(now + 60).encode()
    assert r.pexpiretime(name) == int(wire.ms(now + 60))
    assert wire.fetched(call(r, wire.fetch_call(PREFIX, "0" * 64, now)), "0" * 64) == (  # type: ignore[arg-type]
        wire.Fetched(None, None)
    )


def test_unreadable_or_metadata_less_hashes_decode_to_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert wire.decode_hash({}) is None
    assert wire.decode_record([b"cart", b"[1]"]) is None  # no #expires
    with caplog.at_level("WARNING", logger="sessionkit"):
        assert wire.decode_record([b"#expires", b"soon"]) is None
    assert "unreadable session hash" in caplog.text


def test_a_hash_that_is_not_utf8_reads_as_no_session() -> None:
    assert wire.decode_hash({b"#expires": b"1", b"n": b"\xff"}) is None
    assert wire.read({b"#expires": b"1", b"\xff": b"1"}, "0" * 64).record is None
    assert wire.decode_record([b"#expires", b"1", b"n"]) is None  # odd: not a hash reply
