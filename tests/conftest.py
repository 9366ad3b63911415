"""Shared fixtures: real Redis servers (shared and private), cache hygiene, Hypothesis profile."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
from django.core.cache import caches
from hypothesis import HealthCheck, settings

from tests import django_suite, servers

settings.register_profile(
    "sessionkit",
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# `make fuzz` (tests marked `fuzz`): a long, randomised run; new seeds every time.
settings.register_profile(
    "fuzz",
    parent=settings.get_profile("sessionkit"),
    max_examples=int(os.environ.get("SESSIONKIT_FUZZ_EXAMPLES", "2500")),
    derandomize=False,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "sessionkit"))


def pytest_configure(config: pytest.Config) -> None:
    """``make test``, tox and CI never run without Django's own session suite."""
    if django_suite.required() and django_suite.find_sessions_tests() is None:
        raise pytest.UsageError(django_suite.MISSING_REASON)


@pytest.fixture(scope="session")
def redis_server() -> str:
    """URL of the session's Redis database (the machine's server, or a private one)."""
    return servers.redis_url()


@pytest.fixture
def redis_client(redis_server: str) -> Iterator[redis.Redis]:
    """A client on the test database, flushed before each test."""
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def private_redis() -> Iterator[servers.RedisServer]:
    """A Redis server of this test's own: to stop and restart (fault tests), or whose
    ``INFO`` counters see only this test's traffic."""
    server = servers.start_redis_server()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(autouse=True)
def _clear_locmem_cache() -> Iterator[None]:
    """Empty the in-process default cache around each test."""
    caches["default"].clear()
    yield
    caches["default"].clear()
