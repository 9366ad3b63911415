"""uvicorn in a thread of the test process, serving Django's ASGI application: each
request in its own ``ThreadSensitiveContext``, as in production (Django's test
``AsyncClient`` runs every request's sync code on one thread)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from django.core.asgi import get_asgi_application

from tests.servers.ports import LOOPBACK, free_port
from tests.servers.process import wait_until


@contextmanager
def serve_asgi() -> Iterator[str]:
    """Serve the project under the settings in force; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(
        get_asgi_application(), host=LOOPBACK, port=port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, "uvicorn started")
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
