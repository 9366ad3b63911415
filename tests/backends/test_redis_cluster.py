"""The Redis store on a real three-master Redis Cluster started on loopback.

Every command and script must touch keys of one hash slot; a cluster answers CROSSSLOT
otherwise, so running Django's suite, cycle_key and the per-user index here proves it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio.cluster
from django.test import SimpleTestCase, override_settings
from redis.cluster import RedisCluster
from redis.crc import key_slot

import sessionkit
from sessionkit.backends.base import hash_key
from sessionkit.backends.redis import SessionStore, session_key_name, sync_client
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
    assert [row.sid for row in sessionkit.user_sessions("42")] == [
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
