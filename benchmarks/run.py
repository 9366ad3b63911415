"""The end-to-end benchmark: ``python -m benchmarks.run`` (``make bench``).

Every target is served in turn by a real server (gunicorn, one sync worker; uvicorn, one
ASGI worker) on loopback and driven by wrk; all targets alternate within each round, and
the results are medians over rounds of per-round ratios (see :mod:`benchmarks.report`).

Environment: ``ROUNDS`` (default 3, at least 3), ``DURATION`` (seconds per wrk run,
default 2), ``CONNECTIONS`` (wrk connections, default 2), ``COOKIES`` (sessions per size,
which the connections' requests rotate among, default 16), ``SERVERS`` (``gunicorn,uvicorn``),
``TARGETS`` and ``SCENARIOS`` (comma-separated names; scenarios as ``read-4KB`` or
``read-4KB-rolling``), ``QUICK=1`` (a smoke run: gunicorn, five targets, four scenarios,
one-second runs), ``BENCH_SHARED_SERVERS=1`` (use the machine's Redis/PostgreSQL when they
answer, instead of private ones: see :mod:`benchmarks.stores`),
``RESULTS`` (output directory, default benchmarks/results).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.appserver import ROOT, AppServer
from benchmarks.stores import PostgresProbe, RedisProbe, Stores, find_or_start
from benchmarks.targets import (
    QUICK_SCENARIOS,
    QUICK_TARGETS,
    SCENARIOS,
    SERVERS,
    TARGETS,
    Scenario,
    Target,
)
from benchmarks.wrk import WrkMissing, ensure_wrk, run_wrk, wrk_version

WARMUP_REQUESTS = 10


def _slug(scenario: Scenario) -> str:
    return f"{scenario.view}-{scenario.size}" + ("-rolling" if scenario.rolling else "")


def _names(variable: str, default: list[str]) -> list[str]:
    raw = os.environ.get(variable, "")
    return [n.strip() for n in raw.split(",") if n.strip()] or default


@dataclass(frozen=True)
class Config:
    rounds: int
    duration: float
    connections: int
    cookies: int
    servers: list[str]
    targets: list[Target]
    scenarios: list[Scenario]
    quick: bool
    results: Path

    @classmethod
    def from_env(cls) -> Config:
        quick = os.environ.get("QUICK", "") not in ("", "0")
        rounds = int(os.environ.get("ROUNDS") or 3)
        if rounds < 3:
            raise SystemExit("bench: ROUNDS must be at least 3 (medians of rounds)")
        by_slug = {_slug(s): s for s in SCENARIOS}
        scenarios = [
            by_slug[n] if n in by_slug else _unknown("scenario", n, by_slug)
            for n in _names(
                "SCENARIOS", [_slug(s) for s in (QUICK_SCENARIOS if quick else SCENARIOS)]
            )
        ]
        targets = [
            TARGETS[n] if n in TARGETS else _unknown("target", n, TARGETS)
            for n in _names("TARGETS", QUICK_TARGETS if quick else list(TARGETS))
        ]
        if TARGETS["floor"] not in targets:
            targets.insert(0, TARGETS["floor"])  # every ratio needs it
        servers = _names("SERVERS", ["gunicorn"] if quick else list(SERVERS))
        for server in servers:
            if server not in SERVERS:
                _unknown("server", server, SERVERS)
        return cls(
            rounds=rounds,
            duration=float(os.environ.get("DURATION") or (1 if quick else 2)),
            connections=int(os.environ.get("CONNECTIONS") or 2),
            cookies=int(os.environ.get("COOKIES") or 16),
            servers=servers,
            targets=targets,
            scenarios=scenarios,
            quick=quick,
            results=Path(os.environ.get("RESULTS") or ROOT / "benchmarks" / "results"),
        )


def _unknown(kind: str, name: str, known: Any) -> Any:
    raise SystemExit(f"bench: unknown {kind} {name!r}; known: {', '.join(known)}")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_machine(wrk: str, redis: RedisProbe, pg: PostgresProbe | None) -> dict[str, str]:
    cpu = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import sqlite3

    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "OS": f"{platform.system()} {platform.release()}",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "Python": platform.python_version(),
        "Django": _version("django"),
        "django-redis / redis-py": f"{_version('django-redis')} / {_version('redis')}",
        "psycopg": _version("psycopg"),
        "gunicorn / uvicorn": f"{_version('gunicorn')} / {_version('uvicorn')} "
        f"(uvloop {_version('uvloop')}, httptools {_version('httptools')})",
        "wrk": wrk_version(wrk),
        "Redis": redis.version(),
        "PostgreSQL": pg.server_version if pg else "not used",
        "SQLite": sqlite3.sqlite_version,
        "sessionkit commit": commit or "?",
    }


def migrate(env: dict[str, str], target: str) -> None:
    """Create the tables (Django's sessions, sessionkit's) in the target's database."""
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=dict(
            os.environ,
            **env,
            BENCH_TARGET=target,
            PYTHONPATH=str(ROOT),
            DJANGO_SETTINGS_MODULE="benchmarks.app.settings",
        ),
        check=True,
    )


def empty_pg_tables(conninfo: dict[str, Any]) -> None:
    import psycopg

    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE django_session, sessionkit_session")


class Bench:
    def __init__(self, config: Config, wrk: str, stores: Stores, workdir: Path) -> None:
        self.config = config
        self.wrk = wrk
        self.stores = stores
        self.workdir = workdir
        self.redis = RedisProbe(stores.redis_url)
        self.pg = PostgresProbe(stores.pg) if stores.pg else None
        self.env = {
            "BENCH_SQLITE_PATH": str(workdir / "bench.sqlite3"),
            "BENCH_REDIS_URL": stores.redis_url,
        }
        if stores.pg:
            self.env |= {
                "BENCH_PG_HOST": str(stores.pg["host"]),
                "BENCH_PG_PORT": str(stores.pg["port"]),
                "BENCH_PG_USER": str(stores.pg["user"]),
                "BENCH_PG_NAME": str(stores.pg["dbname"]),
            }
        self.measurements: list[report.Measurement] = []

    def units(self) -> list[tuple[Target, bool]]:
        """(target, rolling) pairs: one server start each. The floor has no rolling."""
        rolling = any(s.rolling for s in self.config.scenarios)
        fixed = any(not s.rolling for s in self.config.scenarios)
        out: list[tuple[Target, bool]] = []
        for target in self.config.targets:
            if target.engine is None:
                out.append((target, False))
                continue
            if fixed:
                out.append((target, False))
            if rolling:
                out.append((target, True))
        return out

    def run(self) -> None:
        units = self.units()
        total = self.config.rounds * len(self.config.servers) * len(units)
        done = 0
        started = time.monotonic()
        for round_ in range(self.config.rounds):
            for server in self.config.servers:
                shift = round_ % len(units)  # alternate: each round starts one unit later
                for target, rolling in units[shift:] + units[:shift]:
                    try:
                        self.run_unit(round_, server, target, rolling)
                    except (OSError, RuntimeError, TimeoutError) as error:
                        # One retry: a long run should not be lost to one failed start.
                        print(f"bench: {target.name} failed ({error!r}); retrying once")
                        self.run_unit(round_, server, target, rolling)
                    done += 1
                    elapsed = time.monotonic() - started
                    print(
                        f"bench: round {round_ + 1}/{self.config.rounds} {server:8} "
                        f"{target.name}{' rolling' if rolling else ''} "
                        f"[{done}/{total}, {elapsed:.0f}s, "
                        f"~{elapsed / done * (total - done):.0f}s left]",
                        flush=True,
                    )

    def scenarios_for(self, target: Target, rolling: bool) -> list[Scenario]:
        if target.engine is None:  # the floor: one run per view, no session
            views = dict.fromkeys(s.view for s in self.config.scenarios)
            return [Scenario(view, "200B") for view in views]
        return [s for s in self.config.scenarios if s.rolling == rolling]

    def run_unit(self, round_: int, server: str, target: Target, rolling: bool) -> None:
        scenarios = self.scenarios_for(target, rolling)
        env = dict(self.env, BENCH_TARGET=target.name, BENCH_ROLLING="1" if rolling else "0")
        app = AppServer(server, env, self.workdir / "app.log")
        try:
            pools: dict[str, Path | None] = {}
            for size in dict.fromkeys(s.size for s in scenarios):
                if target.engine is None:
                    pools[size] = None
                    continue
                cookies = [app.new_session(size) for _ in range(self.config.cookies)]
                if any(c is None for c in cookies):
                    raise RuntimeError(f"{target.name}: /setup/ set no session cookie")
                pool = self.workdir / f"cookies-{size}.txt"
                pool.write_text("\n".join(c for c in cookies if c) + "\n")
                pools[size] = pool
            for scenario in scenarios:
                chosen = pools[scenario.size]
                lines = chosen.read_text().split() if chosen else [None]
                for i in range(WARMUP_REQUESTS):
                    app.get(scenario.path, lines[i % len(lines)])
            measured = [
                self.measure(round_, server, target, scenario, app, pools[scenario.size])
                for scenario in scenarios
            ]
            self.measurements += measured  # all of a unit or nothing (a retry repeats it)
        finally:
            app.stop()

    def measure(
        self,
        round_: int,
        server: str,
        target: Target,
        scenario: Scenario,
        app: AppServer,
        cookies: Path | None,
    ) -> report.Measurement:
        sql0 = app.stats()["sql"]
        redis0 = self.redis.read()
        pg0 = self.pg.cpu() if self.pg else 0.0
        cpu0 = app.cpu()
        result = run_wrk(
            self.wrk,
            app.url,
            scenario.path,
            cookies,
            self.config.duration,
            self.config.connections,
        )
        cpu1 = app.cpu()
        pg1 = self.pg.cpu() if self.pg else 0.0
        redis1 = self.redis.read()
        sql1 = app.stats()["sql"]
        n = max(1, result.requests)
        redis = self.redis.delta(redis0, redis1)
        if target.store == "redis":
            store_cpu: float | None = redis.cpu / n * 1e6
        elif target.store == "postgres":
            store_cpu = (pg1 - pg0) / n * 1e6
        else:
            store_cpu = None
        if result.errors:
            print(
                f"bench: {target.name} {scenario.name}: {result.errors} errors; the server "
                f"logged last: {app.last_log_line()}",
                flush=True,
            )
        return {
            "round": round_,
            "server": server,
            "target": target.name,
            "scenario": scenario.name,
            "view": scenario.view,
            "size": scenario.size,
            "rolling": scenario.rolling,
            "requests": result.requests,
            "seconds": result.seconds,
            "rps": result.rps,
            "p50_ms": result.p50_ms,
            "p99_ms": result.p99_ms,
            "errors": result.errors,
            "app_cpu_us": (cpu1 - cpu0) / n * 1e6,
            "store_cpu_us": store_cpu,
            "redis_cpu_us": redis.cpu / n * 1e6,
            "pg_cpu_us": (pg1 - pg0) / n * 1e6,
            "redis_cmds": redis.commands / n,
            "redis_rts": redis.round_trips / n,
            "redis_bytes": redis.bytes_in / n,
            "redis_commandstats": {k: v / n for k, v in redis.commandstats.items()},
            "sql": (sql1 - sql0) / n,
        }


def write_results(
    config: Config, measurements: list[report.Measurement], machine: dict[str, str]
) -> Path:
    config.results.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    settings = {
        "mode": "QUICK (smoke run)" if config.quick else "full",
        "rounds": config.rounds,
        "seconds per wrk run": config.duration,
        "wrk": f"1 thread, {config.connections} connections, {config.cookies} sessions per size",
        "servers": ", ".join(config.servers),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    settings |= report.other_traffic(measurements)
    text = report.markdown(measurements, machine, settings)
    md = config.results / f"{stamp}.md"
    png = config.results / f"{stamp}.png"
    raw = config.results / f"{stamp}.json"
    md.write_text(text)
    report.chart(measurements, png, f"sessionkit benchmark {stamp} ({settings['mode']})")
    raw.write_text(
        json.dumps({"machine": machine, "run": settings, "measurements": measurements}, indent=1)
    )
    for path in (md, png, raw):
        shutil.copyfile(path, config.results / f"latest{path.suffix}")
    print(text)
    print(f"bench: wrote {md}, {png}, {raw} (and latest.*)")
    return md


def main() -> int:
    # A TERM (a stopped make, a CI timeout) unwinds like Ctrl-C: servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    config = Config.from_env()
    try:
        wrk = ensure_wrk()
    except WrkMissing as error:
        print(error, file=sys.stderr)
        return 2
    need_pg = any(t.db == "postgresql" for t in config.targets)
    stores = find_or_start(need_pg)
    workdir = Path(tempfile.mkdtemp(prefix="sessionkit-bench-"))
    try:
        if stores.pg is None:
            config = replace(config, targets=[t for t in config.targets if t.db != "postgresql"])
        bench = Bench(config, wrk, stores, workdir)
        migrate(bench.env, "floor")
        if stores.pg:
            migrate(bench.env, "django-db-pg")
            empty_pg_tables(stores.pg)
        machine = describe_machine(wrk, bench.redis, bench.pg)
        machine["Redis server"] = stores.redis_note
        machine["PostgreSQL server"] = stores.pg_note
        bench.run()
        machine["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        write_results(config, bench.measurements, machine)
    finally:
        stores.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
