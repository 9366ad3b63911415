"""One app server process (gunicorn or uvicorn, one worker) serving one target, and the
HTTP calls the driver makes to it outside the measured runs."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from benchmarks.stores import tree_cpu
from tests.servers.ports import LOOPBACK, free_port
from tests.servers.process import terminate

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def server_command(server: str, port: int) -> list[str]:
    if server == "gunicorn":
        return [
            str(BIN / "gunicorn"), "benchmarks.app.wsgi:application",
            "--workers", "1", "--worker-class", "sync", "--bind", f"{LOOPBACK}:{port}",
            "--log-level", "warning",
        ]  # fmt: skip
    if server == "uvicorn":
        return [
            str(BIN / "uvicorn"), "benchmarks.app.asgi:application",
            "--host", LOOPBACK, "--port", str(port), "--log-level", "warning",
            "--no-access-log",
        ]  # fmt: skip
    raise ValueError(f"unknown server {server!r}")


class AppServer:
    """A running app server; its process tree's CPU time; stopped by pid."""

    def __init__(self, server: str, env: Mapping[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        full_env = dict(os.environ, **env, PYTHONPATH=str(ROOT))
        full_env["DJANGO_SETTINGS_MODULE"] = "benchmarks.app.settings"
        full_env["BENCH_ASYNC"] = "1" if server == "uvicorn" else "0"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                server_command(server, self.port),
                cwd=ROOT,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.log = log
        self._wait_ready()
        self.ps = psutil.Process(self.process.pid)

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app server exited:\n{self.log.read_text()[-3000:]}")
            try:
                self.get("/stats/")
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"app server not answering within {timeout:.0f}s")

    def get(self, path: str, cookie: str | None = None) -> tuple[int, list[str], bytes]:
        """One GET on a fresh connection: status, Set-Cookie headers, body."""
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
            response = conn.getresponse()
            return response.status, response.headers.get_all("Set-Cookie") or [], response.read()
        finally:
            conn.close()

    def new_session(self, size: str) -> str | None:
        """Create a session through the app; its ``name=value`` cookie (None: no session)."""
        status, cookies, _ = self.get(f"/setup/?size={size}")
        if status != 200:
            raise RuntimeError(f"/setup/ answered {status}")
        return cookies[0].split(";", 1)[0] if cookies else None

    def last_log_line(self) -> str:
        """What the servers have logged last (warnings and errors only): why requests failed."""
        lines = self.log.read_text(errors="replace").splitlines()
        return next((line for line in reversed(lines) if line.strip()), "(nothing logged)")

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.get("/stats/")[2])
        return result

    def cpu(self) -> float:
        """CPU seconds (user + system) of the server and its workers."""
        return tree_cpu(self.ps)

    def stop(self) -> None:
        terminate(self.process)
