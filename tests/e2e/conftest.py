"""The demo project served for the end-to-end tests: ``demo``, a real ``runserver`` process
on a free port with its own SQLite file, once on the db store and once on Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from tests import servers

ROOT = Path(__file__).resolve().parents[2]
USERNAME, PASSWORD = "demo", "demo-password-123"


def _manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stderr}"


@dataclass(frozen=True)
class Demo:
    """A running demo server: its URL, its session engine, and its Redis (redis engine)."""

    url: str
    engine: str
    redis: redis.Redis | None


@pytest.fixture(scope="module", params=["db", "redis"])
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    engine: str = request.param
    tmp = tmp_path_factory.mktemp(f"demo-{engine}")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
        "DEMO_DB_PATH": str(tmp / "db.sqlite3"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DEMO_SESSION_ENGINE", None)
    env.pop("DEMO_REDIS_URL", None)
    client: redis.Redis | None = None
    if engine == "redis":
        redis_url = servers.redis_url()
        env["DEMO_SESSION_ENGINE"] = "redis"
        env["DEMO_REDIS_URL"] = redis_url
        client = redis.Redis.from_url(redis_url)
        client.flushdb()
    _manage(env, "migrate", "--no-input")
    _manage(env, "ensure_demo_user")

    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"demo server exited early:\n{log_path.read_text()}")
            try:
                httpx.get(f"{url}/login/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"demo server not ready after 30s:\n{log_path.read_text()}")
                time.sleep(0.1)
        yield Demo(url, engine, client)
    finally:
        servers.terminate(proc)
        if client is not None:
            client.close()
