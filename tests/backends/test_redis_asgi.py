"""The Redis store's native async path under a real ASGI server (uvicorn) and real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio
from django.http import HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import path

from sessionkit.backends import redis_client
from tests.servers.asgi import serve_asgi

pytestmark = [pytest.mark.redis, pytest.mark.slow]


async def put(request: HttpRequest, value: str) -> HttpResponse:
    await request.session.aset("n", value)
    return HttpResponse("ok")


async def read(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(await request.session.aget("n", "")))


async def cycle(request: HttpRequest) -> HttpResponse:
    await request.session.acycle_key()
    return HttpResponse("ok")


urlpatterns = [path("put/<str:value>/", put), path("read/", read), path("cycle/", cycle)]


@pytest.fixture
def asgi_server(redis_client: object) -> Iterator[str]:
    """uvicorn serving the test project (this module's urls) on Redis sessions."""
    with (
        override_settings(
            SESSION_ENGINE="sessionkit.backends.redis",
            SESSION_CACHE_ALIAS="redis",
            ROOT_URLCONF=__name__,
        ),
        serve_asgi() as url,
    ):
        yield url


def test_sessions_under_uvicorn_use_the_native_async_client(asgi_server: str) -> None:
    before = set(redis_client._async_clients.keys())
    with httpx.Client(base_url=asgi_server) as http:
        assert http.get("/put/1/").status_code == 200
        first = http.cookies["sessionid"]
        assert http.get("/read/").text == "1"
        assert http.get("/cycle/").status_code == 200
        assert http.cookies["sessionid"] != first
        assert http.get("/read/").text == "1"
    loops = set(redis_client._async_clients.keys()) - before
    assert len(loops) == 1  # uvicorn's event loop got its own client
    (clients,) = (redis_client._async_clients[loop] for loop in loops)
    assert all(isinstance(c, redis.asyncio.Redis) for c in clients.clients.values())
