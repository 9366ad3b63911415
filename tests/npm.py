"""Real express-session dependencies from npm, for interoperability tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def npm_package(tmp_path_factory: pytest.TempPathFactory, spec: str, *more: str) -> Path:
    """A directory where ``require()`` finds ``spec`` (e.g. ``cookie@~0.7.2``) and any
    ``more`` packages; skips the test with the reason when node or npm is missing or the
    install fails."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not on PATH: express-session interop not checked")
    specs = " ".join((spec, *more))
    workdir: Path = tmp_path_factory.mktemp(spec.split("@")[0].replace("-", "_"))
    try:
        install = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", spec, *more],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=180,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"npm install {specs} failed: {exc}")
    if install.returncode != 0:
        pytest.skip(f"npm install {specs} failed: {install.stderr.strip()[-300:]}")
    return workdir
