"""``python -m soak``: the soak on the Redis store, then on the db store on
PostgreSQL, within one wall-clock budget; prints the figures and exits 1 if a check failed."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from soak import clients, server, stack

#: The stores, in the order they run: (label, SOAK_ENGINE).
PHASES = (("redis", "redis"), ("db (PostgreSQL)", "db"))
#: A worker may grow by less than this between the warm-up and the end.
MAX_GROWTH = 0.10
#: Seconds a phase takes beyond its load (gunicorn's start and stop, the last answers),
#: until the first phase has measured it.
PHASE_OVERHEAD = 5.0
#: Seconds of the budget kept for what follows the phases (dropping the database) and
#: what precedes this process (make, the interpreter's start).
RESERVE = 3.0


@dataclass
class Phase:
    """One store's run: its figures and its workers' memory (KiB, per pid)."""

    label: str
    seconds: float = 0.0
    figures: clients.Figures = field(default_factory=clients.Figures)
    warm: dict[int, int] = field(default_factory=dict)
    end: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: The end of gunicorn's log (Django's tracebacks), shown when a check failed.
    log: str = ""

    def growth(self) -> float:
        """The largest relative RSS growth of a worker (1.0 if a worker was replaced)."""
        if not self.warm or set(self.warm) != set(self.end):
            return 1.0
        return max((self.end[pid] - self.warm[pid]) / self.warm[pid] for pid in self.warm)

    def checks(self) -> dict[str, bool]:
        f = self.figures
        return {
            "requests done": f.requests > 0,
            "zero 5xx": f.server_errors == 0,
            "zero broken connections": f.transport_errors == 0,
            "zero lost writes": f.lost_writes == 0 and f.lost_sessions == 0,
            "zero sessions alive after their end": f.alive_after_end == 0,
            "zero unexpected answers": f.unexpected == 0,
            f"worker memory growth < {MAX_GROWTH:.0%}": self.growth() < MAX_GROWTH,
            "ran to the end": not self.errors,
        }


async def load(gunicorn: server.Gunicorn, phase: Phase, users: list[str], count: int) -> None:
    """Drive the clients, and sample the workers' memory after a quarter of the time (the
    warm-up) and at the end."""
    task = asyncio.create_task(clients.soak(gunicorn.url, users, count, phase.seconds))
    await asyncio.sleep(phase.seconds / 4)
    phase.warm = {pid: server.rss_kib(pid) for pid in gunicorn.workers()}
    phase.figures = await task
    phase.end = {pid: server.rss_kib(pid) for pid in gunicorn.workers()}


def run_phase(
    run: stack.Stack, engine: str, phase: Phase, users: list[str], count: int, logs: Path
) -> None:
    gunicorn = server.Gunicorn(stack.environment(run, engine), logs / f"gunicorn-{engine}.log")
    try:
        gunicorn.start()
        asyncio.run(load(gunicorn, phase, users, count))
    except Exception as exc:  # reported as a failed check, with the server's log
        phase.errors.append(f"{type(exc).__name__}: {exc}\n{gunicorn.log_tail()}")
    finally:
        gunicorn.stop()
        phase.log = gunicorn.log_tail()


def table(phases: list[Phase], total: float, budget: float) -> str:
    def kib(values: dict[int, int]) -> str:
        return " + ".join(f"{v / 1024:.1f}" for _, v in sorted(values.items())) or "-"

    rows: list[tuple[str, list[str]]] = [
        ("seconds of load", [f"{p.seconds:.1f}" for p in phases]),
        ("requests", [str(p.figures.requests) for p in phases]),
        ("requests/s", [f"{p.figures.requests / p.seconds:.0f}" for p in phases]),
        *(
            (f"  {name}", [str(p.figures.actions[name]) for p in phases])
            for name in ("login", *clients.ACTIONS)
        ),
        ("5xx", [str(p.figures.server_errors) for p in phases]),
        ("broken connections", [str(p.figures.transport_errors) for p in phases]),
        ("writes acknowledged", [str(p.figures.writes_acknowledged) for p in phases]),
        ("values read back", [str(p.figures.values_verified) for p in phases]),
        ("lost writes", [str(p.figures.lost_writes) for p in phases]),
        ("lost sessions", [str(p.figures.lost_sessions) for p in phases]),
        ("ended by other device", [str(p.figures.ended_by_others) for p in phases]),
        ("  of which 400 (raced)", [str(p.figures.interrupted) for p in phases]),
        ("ended cookies replayed", [str(p.figures.replays) for p in phases]),
        ("alive after their end", [str(p.figures.alive_after_end) for p in phases]),
        ("unexpected answers", [str(p.figures.unexpected) for p in phases]),
        ("worker RSS warm (MiB)", [kib(p.warm) for p in phases]),
        ("worker RSS end (MiB)", [kib(p.end) for p in phases]),
        ("worst worker growth", [f"{p.growth():+.1%}" for p in phases]),
    ]
    width = max(len(name) for name, _ in rows)
    cols = [max(len(p.label), *(len(r[1][i]) for r in rows)) for i, p in enumerate(phases)]
    labels = "  ".join(p.label.rjust(c) for p, c in zip(phases, cols, strict=True))
    head = " " * width + "  " + labels
    lines = [head, "-" * len(head)]
    for name, values in rows:
        cells = "  ".join(v.rjust(c) for v, c in zip(values, cols, strict=True))
        lines.append(f"{name.ljust(width)}  {cells}")
    lines.append(f"wall clock {total:.1f} s of {budget:.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress in CI logs
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--clients", type=int, default=60, help="concurrent clients (>= 50)")
    parser.add_argument("--seconds", type=float, default=20.0, help="load per store")
    parser.add_argument("--budget", type=float, default=60.0, help="wall-clock limit, in all")
    args = parser.parse_args(argv)
    started = time.monotonic()
    users = [f"soak-{i:02d}" for i in range(-(-args.clients // clients.DEVICES_PER_USER))]
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="sessionkit-soak-") as tmp, stack.stack() as run:
        stack.prepare(run, users)
        workers = f"{server.WORKERS} gthread workers x {server.THREADS} threads"
        print(f"soak: {args.clients} clients of {len(users)} users, {workers}")
        overhead = PHASE_OVERHEAD  # then what the previous phase took beyond its load
        for index, (label, engine) in enumerate(PHASES):
            left = args.budget - (time.monotonic() - started) - RESERVE
            share = left / (len(PHASES) - index) - overhead
            phase = Phase(label, seconds=min(args.seconds, share))
            phases.append(phase)
            if phase.seconds < 5:
                phase.errors.append(f"no time left in the {args.budget:.0f} s budget")
                continue
            begun = time.monotonic()
            print(f"soak: {label}, {phase.seconds:.1f} s of load from {begun - started:.1f} s")
            run_phase(run, engine, phase, users, args.clients, Path(tmp))
            overhead = max(PHASE_OVERHEAD, time.monotonic() - begun - phase.seconds)
    total = time.monotonic() - started
    print(table(phases, total, args.budget))
    results = [
        (f"{phase.label}: {name}", ok) for phase in phases for name, ok in phase.checks().items()
    ]
    results.append((f"wall clock under {args.budget:.0f} s", total <= args.budget))
    results.append(("at least 50 clients", args.clients >= 50))
    for phase in phases:
        for line in [*phase.figures.details, *phase.errors]:
            print(f"  {phase.label}: {line}")
    failed = [name for name, ok in results if not ok]
    for phase in phases:
        if phase.log.strip() and not all(phase.checks().values()):
            print(f"--- {phase.label}: the end of gunicorn's log ---\n{phase.log.rstrip()}")
    if failed:
        print("soak FAILED: " + "; ".join(failed))
    # The closing line CI reads: each check is one result.
    print(f"soak: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
