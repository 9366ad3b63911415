"""Redis stopped, or paused past the socket timeout, in the middle of concurrent requests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.test import Client, override_settings

from tests import servers
from tests.faults.harness import SOCKET_TIMEOUT, redis_settings, redis_url, through_fault

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def browser() -> Client:
    return Client(raise_request_exception=False)


@pytest.fixture
def durable_redis() -> Iterator[servers.RedisServer]:
    """A private Redis that keeps its data across a restart (AOF, fsync on every write),
    serving the Redis store with short socket timeouts."""
    server = servers.RedisServer(args=["--appendonly", "yes", "--appendfsync", "always"])
    server.start()
    try:
        with override_settings(**redis_settings(redis_url(server.url))):
            yield server
    finally:
        server.cleanup()


def test_redis_stopped_and_restarted_during_requests(durable_redis: servers.RedisServer) -> None:
    @contextmanager
    def stopped() -> Iterator[None]:
        durable_redis.stop()
        yield
        durable_redis.start()

    through_fault(browser, stopped, hold=0.2)


def test_redis_paused_past_the_socket_timeout_during_requests(
    durable_redis: servers.RedisServer,
) -> None:
    @contextmanager
    def paused() -> Iterator[None]:
        durable_redis.pause()
        yield
        durable_redis.resume()

    through_fault(browser, paused, hold=2 * SOCKET_TIMEOUT)
