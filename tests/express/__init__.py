"""A real Express app (express, express-session, connect-redis and redis from npm, pinned)
run as a child process on a free port, sharing sessions with Django through Redis."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.servers.ports import LOOPBACK, port_open
from tests.servers.process import ManagedProcess

#: The npm packages the Express app runs on, pinned.
PACKAGES = ("express@5.3.0", "express-session@1.19.0", "connect-redis@9.0.0", "redis@6.3.1")
APP = Path(__file__).with_name("app.js")


def install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's directory with its packages installed (skips without node/npm)."""
    from tests.npm import npm_package

    workdir = npm_package(tmp_path_factory, *PACKAGES)
    shutil.copy(APP, workdir / APP.name)
    return workdir


class ExpressApp(ManagedProcess):
    """``node app.js <config>`` on a free loopback port; ``options`` as the app reads them
    (express-session's and connect-redis's options, see app.js)."""

    kind = "express"

    def __init__(self, workdir: Path, **options: Any) -> None:
        self.workdir = workdir
        super().__init__()
        self.options = {"port": self.port, **options}

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def prepare(self) -> None:
        (self.dir / "config.json").write_text(json.dumps(self.options))

    def command(self) -> list[str]:
        return ["node", str(self.workdir / APP.name), str(self.dir / "config.json")]

    def ready(self) -> bool:
        return port_open(self.port)
