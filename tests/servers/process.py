"""The lifecycle every private test server shares.

A :class:`ManagedProcess` runs one server binary as a child process, in a temporary
directory of its own, on a free loopback port: :meth:`~ManagedProcess.start` launches it and
waits until it answers, :meth:`~ManagedProcess.stop` stops it by pid (its stop signal, then
SIGKILL), and the directory is removed when the interpreter exits. A stopped server can be
started again on the same port with the same directory (fault tests restart Redis).
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Self

from tests.servers.ports import free_port, port_open


def private_only() -> bool:
    """``SESSIONKIT_TEST_PRIVATE_SERVERS=1``: never use the machine's own servers."""
    return os.environ.get("SESSIONKIT_TEST_PRIVATE_SERVERS", "") not in ("", "0")


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``predicate`` until it holds, or raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.05)


def terminate(process: subprocess.Popen[bytes] | None, stop_signal: int = signal.SIGTERM) -> bool:
    """Stop a process by pid (``stop_signal``, then SIGKILL after 10 s); False if it was
    not running."""
    if process is None or process.poll() is not None:
        return False
    process.send_signal(stop_signal)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    return True


class ManagedProcess:
    """A server binary run as a child process on a loopback port, in a temporary directory.

    Subclasses say what to run (:meth:`command`) and when it is ready (:meth:`ready`); they
    may fill the directory first (:meth:`prepare`) and finish the setup once the server
    answers (:meth:`after_start`). The server's output goes to :attr:`log`.
    """

    #: Names the directory, the log file and error messages.
    kind: ClassVar[str] = "server"
    #: The signal that asks the server to shut down (SIGKILL follows after 10 s).
    stop_signal: ClassVar[int] = signal.SIGTERM
    #: Seconds :meth:`start` waits for :meth:`ready`.
    start_timeout: ClassVar[float] = 20.0

    def __init__(self, port: int | None = None, *, run_as: str | None = None) -> None:
        self.port = port if port is not None else free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"sessionkit-{self.kind}-{self.port}-"))
        self.log = self.dir / f"{self.kind}.log"
        #: The account the server runs as (None: this process's own).
        self.run_as = run_as
        if run_as is not None:
            entry = pwd.getpwnam(run_as)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self.process: subprocess.Popen[bytes] | None = None
        atexit.register(self.cleanup)

    def command(self) -> list[str]:
        """The server's command line."""
        raise NotImplementedError

    def ready(self) -> bool:
        """Whether the started server is ready for the tests."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Fill :attr:`dir` before each start (configuration, data directory)."""

    def after_start(self) -> None:
        """Finish the setup once :meth:`ready` holds."""

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs."""
        process = self.process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.pid is not None

    def log_tail(self, size: int = 2000) -> str:
        """The end of the server's output."""
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def start(self) -> Self:
        """Start (or restart) the server on its port and wait until it is ready."""
        if self.running:
            return self
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is already taken")
        self.prepare()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                user=self.run_as,
                start_new_session=True,
            )
        try:
            wait_until(
                self._started,
                f"{self.kind} on port {self.port} answering",
                timeout=self.start_timeout,
            )
            self.after_start()
        except BaseException:
            self.stop()
            raise
        return self

    def _started(self) -> bool:
        if not self.running:
            raise RuntimeError(f"{self.kind} exited at start:\n{self.log_tail()}")
        return self.ready()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it keeps its port and answers nothing."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the server by pid and wait until its port is free."""
        self.resume()  # a paused server cannot act on its stop signal
        process, self.process = self.process, None
        if terminate(process, self.stop_signal):
            wait_until(lambda: not port_open(self.port), f"port {self.port} freed", timeout=10)

    def cleanup(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
