"""Driving ``wrk``: installing it where missing, one timed run, its parsed summary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("rotate_cookies.lua")


class WrkMissing(RuntimeError):
    """wrk is not installed and could not be installed."""


def ensure_wrk() -> str:
    """The path of ``wrk``; installed with apt-get (as root) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print("bench: wrk not found; installing it with apt-get", flush=True)
        install = [apt, "install", "-y", "-q", "wrk"]
        if subprocess.run(install, check=False, stdout=subprocess.DEVNULL).returncode != 0:
            subprocess.run([apt, "update", "-q"], check=False, stdout=subprocess.DEVNULL)
            subprocess.run(install, check=False, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
        if found:
            return found
    raise WrkMissing(
        "bench: wrk (https://github.com/wg/wrk) is needed and could not be installed; "
        "install it (Debian/Ubuntu: `apt-get install wrk`, macOS: `brew install wrk`) "
        "and run `make bench` again"
    )


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    lines = (out.stdout or out.stderr).splitlines()
    return lines[0].strip() if lines else "?"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors plus non-2xx/3xx answers

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(
    wrk: str, url: str, path: str, cookies: Path | None, duration: float, connections: int
) -> WrkResult:
    """One wrk run (one thread: the machine's other CPU serves the app) against ``url+path``."""
    env = dict(os.environ, BENCH_PATH=path, BENCH_COOKIES=str(cookies) if cookies else "")
    seconds = max(1, round(duration))  # wrk takes whole seconds
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(SCRIPT)]
    out = subprocess.run(
        [*command, url + path],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=duration + 60,
    )
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line.removeprefix("BENCH_JSON "))
            return WrkResult(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1e3,
                p99_ms=data["p99_us"] / 1e3,
                errors=data["socket_errors"] + data["non2xx"],
            )
    raise RuntimeError(f"wrk gave no summary (exit {out.returncode}):\n{out.stdout}{out.stderr}")
