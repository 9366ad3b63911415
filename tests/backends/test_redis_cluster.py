"""The Redis store on a real three-master Redis Cluster started on loopback.

Every command and script must touch keys of one hash slot; a cluster answers CROSSSLOT
otherwise, so running Django's suite, cycle_key and the per-user index here proves it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio.cluster
from django.contrib.sessions.backends.base import UpdateError
from django.test import SimpleTestCase, override_settings
from redis.cluster import RedisCluster
from redis.crc import key_slot

import sessionkit
from sessionkit.backends.base import default_session_key, hash_key
from sessionkit.backends.redis import SessionStore
from sessionkit.backends.redis_client import sync_client
from sessionkit.backends.redis_wire import same_slot, session_key_name
from tests import servers
from tests.backends.conformance import SessionTestsMixin

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ENGINE = "sessionkit.backends.redis"
#: Ports of the running cluster's nodes (set by the ``cluster`` fixture).
NODES: list[int] = []


@pytest.fixture(scope="module")
def cluster() -> Iterator[list[int]]:
    """A three-master cluster on loopback; skipped only when there is no redis-server."""
    try:
        servers.find_redis_server()
    except RuntimeError as exc:
        pytest.skip(f"no redis-server binary to start a cluster with: {exc}")
    nodes = servers.start_redis_cluster(masters=3)
    try:
        NODES[:] = [node.port for node in nodes]
        yield NODES
    finally:
        NODES.clear()
        for node in nodes:
            node.cleanup()


def cluster_client() -> RedisCluster:
    """``SESSIONKIT_REDIS["CLIENT_FACTORY"]`` for the test cluster."""
    return RedisCluster(host=servers.LOOPBACK, port=NODES[0])


def async_cluster_client() -> Any:
    """``SESSIONKIT_REDIS["ASYNC_CLIENT_FACTORY"]`` for the test cluster."""
    return redis.asyncio.cluster.RedisCluster(host=servers.LOOPBACK, port=NODES[0])


CLUSTER_SETTINGS = {
    "SESSION_ENGINE": ENGINE,
    "SESSIONKIT_REDIS": {
        "PREFIX": "sk:",
        "CLIENT_FACTORY": f"{__name__}.cluster_client",
        "ASYNC_CLIENT_FACTORY": f"{__name__}.async_cluster_client",
    },
}


@pytest.mark.usefixtures("cluster")
@override_settings(**CLUSTER_SETTINGS)
class RedisClusterConformanceTests(SessionTestsMixin, SimpleTestCase):
    """Django's session suite, sync and async, on the cluster."""

    backend = SessionStore


@pytest.fixture
def on_cluster(cluster: list[int]) -> Iterator[RedisCluster]:
    with override_settings(**CLUSTER_SETTINGS):
        client = sync_client()
        assert isinstance(client, RedisCluster)
        yield client


def _owner(client: Any, key: str) -> Any:
    return client.get_node_from_key(key).port


def test_sessions_spread_over_all_three_masters(on_cluster: RedisCluster) -> None:
    owners = set()
    for _ in range(40):
        session = SessionStore()
        session["n"] = 1
        session.save()
        owners.add(
            _owner(on_cluster, session_key_name("sk:", hash_key(session.session_key or "")))
        )
    assert len(owners) == 3


def test_cycle_key_on_a_cluster_is_one_slot_rename(on_cluster: RedisCluster) -> None:
    session = SessionStore()
    session["n"] = 1
    session.save()
    old_key = session_key_name("sk:", hash_key(session.session_key or ""))
    session.cycle_key()
    new_key = session_key_name("sk:", hash_key(session.session_key or ""))
    assert key_slot(old_key.encode()) == key_slot(new_key.encode())
    assert not on_cluster.exists(old_key)
    assert SessionStore(session.session_key)["n"] == 1


def test_cycle_key_with_a_genid_hook_crosses_slots_on_a_cluster(on_cluster: RedisCluster) -> None:
    session = SessionStore()
    session["n"] = 1
    session.save()
    old = session.session_key
    ids = iter(f"custom-id-{i:04d}" for i in range(1000))
    session.genid = lambda: next(ids)
    session.cycle_key()
    assert session.session_key == "custom-id-0000"
    assert not SessionStore().exists(old)
    assert SessionStore(session.session_key)["n"] == 1


def _across_slots(taken: str, name: str) -> Any:
    """A ``GENID`` hook: first ``taken`` (an existing session), then ``name-0000``, ...
    (the cluster is not flushed between tests: each test names its own ids)."""
    ids = iter([taken, *(f"{name}-{i:04d}" for i in range(1000))])
    return lambda: next(ids)


def _outside_the_slot_of(key: str) -> Any:
    """A ``GENID`` hook giving a random id whose hash is not in ``key``'s hash's slot (one
    random id in 256 shares its tag)."""
    candidate = default_session_key()
    while same_slot(hash_key(key), hash_key(candidate)):
        candidate = default_session_key()
    return lambda: candidate


def test_cycle_key_with_a_genid_hook_skips_a_taken_id_across_slots(
    on_cluster: RedisCluster,
) -> None:
    other, session = SessionStore(), SessionStore()
    other["n"], session["n"] = 0, 1
    other.save()
    session.save()
    old = session.session_key
    session.genid = _across_slots(other.session_key or "", "skip-taken")
    session.cycle_key()
    assert session.session_key == "skip-taken-0000"
    assert not SessionStore().exists(old)
    assert SessionStore(other.session_key)["n"] == 0
    assert SessionStore(session.session_key)["n"] == 1


async def test_async_cycle_key_with_a_genid_hook_crosses_slots_on_a_cluster(
    cluster: list[int],
) -> None:
    with override_settings(**CLUSTER_SETTINGS):
        other, session = SessionStore(), SessionStore()
        await other.aset("n", 0)
        await other.asave()
        session.genid = _outside_the_slot_of("async-copy-0000")
        await session.aset("n", 1)
        await session.aset("_auth_user_id", "9")
        await session.asave()
        old = session.session_key
        session.genid = _across_slots(other.session_key or "", "async-copy")
        await session.acycle_key()
        assert session.session_key == "async-copy-0000"
        old_key = session_key_name("sk:", hash_key(old or ""))
        new_key = session_key_name("sk:", hash_key(session.session_key))
        assert key_slot(old_key.encode()) != key_slot(new_key.encode())
        assert not await SessionStore().aexists(old)
        assert await SessionStore(other.session_key).aget("n") == 0
        assert await SessionStore(session.session_key).aget("n") == 1
        assert [row.handle for row in sessionkit.user_sessions("9")] == [
            hash_key(session.session_key)
        ]


class LoggedOutDuringCopy(SessionStore):
    """A session another request logs out just after the copy checked that it exists
    (between the check and the create of the cross-slot ``cycle_key``)."""

    def _contains(self, key_hash: str) -> bool:
        found = super()._contains(key_hash)
        SessionStore()._remove(key_hash)
        return found

    async def _acontains(self, key_hash: str) -> bool:
        found = await super()._acontains(key_hash)
        await SessionStore()._aremove(key_hash)
        return found


def _holding(client: RedisCluster, marker: str) -> list[Any]:
    """Every session hash on the cluster whose ``marker`` field holds ``marker``."""
    keys = client.scan_iter(match="sk:{*", target_nodes=RedisCluster.PRIMARIES)
    return [key for key in keys if client.hget(key, "marker") == f'"{marker}"'.encode()]


def _in_another_slot(old: str, name: str) -> Any:
    """A ``GENID`` hook whose ids hash to another tag than ``old`` (the copy path)."""
    ids = (f"{name}-{i:04d}" for i in range(1000))
    return lambda: next(i for i in ids if not same_slot(hash_key(i), hash_key(old)))


@pytest.mark.parametrize("store_class", [SessionStore, LoggedOutDuringCopy])
def test_cross_slot_cycle_key_of_a_session_logged_out_meanwhile_raises_and_copies_nothing(
    on_cluster: RedisCluster, store_class: type[SessionStore]
) -> None:
    marker = f"sync-{store_class.__name__}"
    session = store_class()
    session["marker"] = marker
    session["_auth_user_id"] = "11"
    session.save()
    if store_class is SessionStore:
        SessionStore(session.session_key).flush()  # logged out before the cycle
    session.genid = _in_another_slot(session.session_key or "", marker)
    with pytest.raises(UpdateError):
        session.cycle_key()
    assert _holding(on_cluster, marker) == []
    assert sessionkit.user_sessions("11") == []


@pytest.mark.parametrize("store_class", [SessionStore, LoggedOutDuringCopy])
async def test_async_cross_slot_cycle_key_of_a_session_logged_out_meanwhile_copies_nothing(
    cluster: list[int], store_class: type[SessionStore]
) -> None:
    with override_settings(**CLUSTER_SETTINGS):
        marker = f"async-{store_class.__name__}"
        session = store_class()
        await session.aset("marker", marker)
        await session.aset("_auth_user_id", "12")
        await session.asave()
        if store_class is SessionStore:
            await SessionStore(session.session_key).aflush()
        session.genid = _in_another_slot(session.session_key or "", marker)
        with pytest.raises(UpdateError):
            await session.acycle_key()
        assert _holding(sync_client(), marker) == []
        assert sessionkit.user_sessions("12") == []


def _flush_scripts() -> None:
    for port in NODES:
        node: Any = redis.Redis(host=servers.LOOPBACK, port=port)
        try:
            node.script_flush()
        finally:
            node.close()


def _login(session: SessionStore, user_id: str) -> None:
    session.save()
    session.cycle_key()
    session["_auth_user_id"] = user_id
    session.save()


def test_per_user_index_on_a_cluster_after_script_flush(on_cluster: RedisCluster) -> None:
    sessions = [SessionStore() for _ in range(6)]
    for session in sessions:
        _flush_scripts()
        _login(session, "42")
    _flush_scripts()
    for session in sessions:
        session.cycle_key()
    assert {row.handle for row in sessionkit.user_sessions("42")} == {
        hash_key(s.session_key or "") for s in sessions
    }
    assert sessionkit.end_user_sessions("42") == 6


async def test_per_user_index_on_a_cluster_after_script_flush_async(cluster: list[int]) -> None:
    with override_settings(**CLUSTER_SETTINGS):
        sessions = [SessionStore() for _ in range(6)]
        for session in sessions:
            _flush_scripts()
            await session.asave()
            await session.acycle_key()
            await session.aset("_auth_user_id", "43")
            await session.asave()
        _flush_scripts()
        for session in sessions:
            await session.acycle_key()
        assert {row.handle for row in sessionkit.user_sessions("43")} == {
            hash_key(s.session_key or "") for s in sessions
        }
        assert sessionkit.end_user_sessions("43") == 6


def test_per_user_index_across_slots(on_cluster: RedisCluster) -> None:
    sessions = []
    for _ in range(6):
        session = SessionStore()
        session.save()
        session.cycle_key()
        session["_auth_user_id"] = "42"
        session.save()
        sessions.append(session)
    keep = sessions[0]
    assert len(sessionkit.user_sessions("42")) == 6
    assert sessionkit.end_user_sessions("42", keep=keep) == 5
    assert [row.handle for row in sessionkit.user_sessions("42")] == [
        hash_key(keep.session_key or "")
    ]
    keep.flush()
    assert sessionkit.user_sessions("42") == []


async def test_native_async_on_a_cluster(cluster: list[int]) -> None:
    with override_settings(**CLUSTER_SETTINGS):
        session = SessionStore()
        await session.aset("n", 1)
        await session.asave()
        loaded = SessionStore(session.session_key)
        assert await loaded.aget("n") == 1
        await loaded.aset("_auth_user_id", "7")
        await loaded.acycle_key()
        await loaded.asave()
        assert not await SessionStore().aexists(session.session_key)
        assert await SessionStore(loaded.session_key).aget("_auth_user_id") == "7"
        await loaded.adelete()
        assert not await SessionStore().aexists(loaded.session_key)
