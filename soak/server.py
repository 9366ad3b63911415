"""gunicorn serving the soak app, and its workers' memory read from ``/proc``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests import servers

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 2
THREADS = 8


class Gunicorn:
    """A gunicorn master with :data:`WORKERS` gthread workers on a free loopback port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = servers.free_port()
        self.url = f"http://{servers.LOOPBACK}:{self.port}"
        self.log = log
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        """Start the master and wait until the app answers."""
        command = [
            sys.executable, "-m", "gunicorn", "soak.wsgi:application",
            "--bind", f"{servers.LOOPBACK}:{self.port}",
            "--workers", str(WORKERS), "--worker-class", "gthread", "--threads", str(THREADS),
            "--backlog", "512", "--timeout", "30", "--graceful-timeout", "5",
            # Idle keep-alive connections stay open for the whole run: a server closing one
            # just as a client reuses it is a broken connection no retry may hide (POST).
            "--keep-alive", "120",
            "--log-level", "warning", "--error-logfile", "-",
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start:\n{self.log_tail()}")
            try:
                answered = httpx.get(f"{self.url}/read/", timeout=2).status_code == 200
            except httpx.TransportError:
                answered = False
            if answered and len(self.workers()) == WORKERS:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"gunicorn not ready in {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def workers(self) -> list[int]:
        """Pids of the master's worker processes (the processes whose parent it is)."""
        if self.process is None:
            return []
        master, found = self.process.pid, []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # "pid (comm) state ppid ...": comm may hold spaces, so split after ")".
                ppid = int(stat.read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == master:
                found.append(int(stat.parent.name))
        return sorted(found)

    def stop(self) -> None:
        """SIGTERM to the master (a graceful stop), by pid."""
        if self.process is not None:
            servers.terminate(self.process, signal.SIGTERM)
            self.process = None

    def log_tail(self, size: int = 6000) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from ``/proc/<pid>/status`` (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
