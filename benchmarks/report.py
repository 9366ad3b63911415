"""From the rounds' measurements to the results: medians of per-round ratios, a markdown
table, a PNG chart.

Ratios are taken within a round (a target against the floor, or against the Django engine
it replaces, measured minutes apart on the same server) and only then is the median over
rounds taken, so a machine that slows down between rounds shifts both sides alike.
Absolute requests per second are kept in the raw JSON, not in the table.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.targets import TARGETS

Measurement = dict[str, Any]


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


@dataclass(frozen=True)
class Cell:
    server: str
    scenario: str
    target: str
    rounds: int
    vs_floor: float | None
    vs_django: float | None
    p50_ms: float | None
    p99_ms: float | None
    app_cpu_us: float | None
    app_over_floor_us: float | None
    store_cpu_us: float | None
    redis_cmds: float | None
    redis_rts: float | None
    redis_bytes: float | None
    sql: float | None
    errors: int


def cells(measurements: list[Measurement]) -> list[Cell]:
    """One cell per (server, scenario, target), in run order of scenarios and targets."""
    floor: dict[tuple[int, str, str], Measurement] = {}
    by_key: dict[tuple[int, str, str, str], Measurement] = {}
    groups: dict[tuple[str, str, str], list[Measurement]] = defaultdict(list)
    for m in measurements:
        if m["target"] == "floor":
            floor[(m["round"], m["server"], m["view"])] = m
        else:
            by_key[(m["round"], m["server"], m["target"], m["scenario"])] = m
            groups[(m["server"], m["scenario"], m["target"])].append(m)

    def vs_floor(m: Measurement) -> float | None:
        f = floor.get((m["round"], m["server"], m["view"]))
        return m["rps"] / f["rps"] if f and f["rps"] else None

    def over_floor(m: Measurement) -> float | None:
        f = floor.get((m["round"], m["server"], m["view"]))
        return m["app_cpu_us"] - f["app_cpu_us"] if f else None

    def vs_django(m: Measurement) -> float | None:
        matches = TARGETS[m["target"]].matches
        if matches is None:
            return None
        other = by_key.get((m["round"], m["server"], matches, m["scenario"]))
        return m["rps"] / other["rps"] if other and other["rps"] else None

    out: list[Cell] = []
    for (server, scenario, target), rows in groups.items():
        out.append(
            Cell(
                server=server,
                scenario=scenario,
                target=target,
                rounds=len(rows),
                vs_floor=_median(vs_floor(m) for m in rows),
                vs_django=_median(vs_django(m) for m in rows),
                p50_ms=_median(m["p50_ms"] for m in rows),
                p99_ms=_median(m["p99_ms"] for m in rows),
                app_cpu_us=_median(m["app_cpu_us"] for m in rows),
                app_over_floor_us=_median(over_floor(m) for m in rows),
                store_cpu_us=_median(m["store_cpu_us"] for m in rows),
                redis_cmds=_median(m["redis_cmds"] for m in rows),
                redis_rts=_median(m["redis_rts"] for m in rows),
                redis_bytes=_median(m["redis_bytes"] for m in rows),
                sql=_median(m["sql"] for m in rows),
                errors=sum(m["errors"] for m in rows),
            )
        )
    return out


def floor_cells(measurements: list[Measurement]) -> dict[tuple[str, str], dict[str, float | None]]:
    """(server, view) -> the floor's medians (absolute req/s kept here only, as context)."""
    rows: dict[tuple[str, str], list[Measurement]] = defaultdict(list)
    for m in measurements:
        if m["target"] == "floor":
            rows[(m["server"], m["view"])].append(m)
    return {
        key: {
            "rps": _median(m["rps"] for m in ms),
            "p50_ms": _median(m["p50_ms"] for m in ms),
            "p99_ms": _median(m["p99_ms"] for m in ms),
            "app_cpu_us": _median(m["app_cpu_us"] for m in ms),
        }
        for key, ms in rows.items()
    }


def other_traffic(measurements: list[Measurement]) -> dict[str, str]:
    """What other clients did to the stores while targets that do not use them ran: a
    shared server's background, which every per-request store counter also contains."""
    out: dict[str, str] = {}
    for store, label, value, unit in (
        ("redis", "Redis commands/s from other clients", "redis_cmds", 1.0),
        ("postgres", "PostgreSQL CPU ms/s, background and other clients", "pg_cpu_us", 1e-3),
    ):
        if not any(TARGETS[m["target"]].store == store for m in measurements):
            continue
        quiet = [m for m in measurements if TARGETS[m["target"]].store != store]
        seconds = sum(m["seconds"] for m in quiet)
        if seconds:
            total = sum(m[value] * m["requests"] for m in quiet) * unit
            out[f"{label} (while targets not using it ran)"] = f"{total / seconds:.1f}"
    return out


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


COLUMNS = (
    "scenario | target | req/s vs floor | vs Django engine | p50 ms | p99 ms | "
    "app CPU µs/req | app CPU over floor µs | store CPU µs/req | Redis cmds/req | "
    "Redis round trips/req | Redis bytes in/req | SQL/req"
)


def markdown(
    measurements: list[Measurement], machine: Mapping[str, str], config: Mapping[str, Any]
) -> str:
    """The results as markdown: the machine, the run's settings, one table per server."""
    lines = ["# sessionkit benchmark", ""]
    lines += ["| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine.items()]
    lines += ["", "| run | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in config.items()]
    lines += [
        "",
        "Each cell: the median over rounds of per-round values. `req/s vs floor`: requests per "
        "second against the same server without session middleware in the same round; "
        "`vs Django engine`: against the Django engine the target replaces (sessionkit "
        "`redis` and `cache` against Django's `cache` over django-redis, `db` against `db` "
        "on the same database). CPU and counters are per request; store CPU is Redis's "
        "(Redis targets) or the PostgreSQL server's (PostgreSQL targets); SQLite and the "
        "memory store run inside the app. See benchmarks/README.md for how each is counted.",
    ]
    all_cells = cells(measurements)
    floors = floor_cells(measurements)
    servers = list(dict.fromkeys(m["server"] for m in measurements))
    for server in servers:
        lines += ["", f"## {server}", ""]
        lines += ["| " + COLUMNS + " |", "|" + "---|" * 2 + "---:|" * 11]
        scenarios = list(dict.fromkeys(c.scenario for c in all_cells if c.server == server))
        for scenario in scenarios:
            view = scenario.split(" ", 1)[0]
            f = floors.get((server, view))
            if f is not None:
                lines.append(
                    f"| {scenario} | floor ({_fmt(f['rps'], '.0f')} req/s) | 1.00 | — | "
                    f"{_fmt(f['p50_ms'], '.2f')} | {_fmt(f['p99_ms'], '.2f')} | "
                    f"{_fmt(f['app_cpu_us'], '.0f')} | 0 | — | — | — | — | — |"
                )
            for c in all_cells:
                if c.server != server or c.scenario != scenario:
                    continue
                store = TARGETS[c.target].store
                redis = store == "redis"
                flag = f" ⚠ {c.errors} errors" if c.errors else ""
                lines.append(
                    f"| {scenario} | {c.target}{flag} | {_fmt(c.vs_floor, '.2f')} | "
                    f"{_fmt(c.vs_django, '.2f', 'x')} | {_fmt(c.p50_ms, '.2f')} | "
                    f"{_fmt(c.p99_ms, '.2f')} | {_fmt(c.app_cpu_us, '.0f')} | "
                    f"{_fmt(c.app_over_floor_us, '.0f')} | "
                    f"{_fmt(c.store_cpu_us if store else None, '.0f')} | "
                    f"{_fmt(c.redis_cmds if redis else None, '.2f')} | "
                    f"{_fmt(c.redis_rts if redis else None, '.2f')} | "
                    f"{_fmt(c.redis_bytes if redis else None, '.0f')} | {_fmt(c.sql, '.2f')} |"
                )
    return "\n".join(lines) + "\n"


def chart(measurements: list[Measurement], path: Path, title: str) -> None:
    """A grouped bar chart per server: each target's median req/s ratio to the floor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    all_cells = cells(measurements)
    servers = list(dict.fromkeys(c.server for c in all_cells))
    targets = [t for t in TARGETS if any(c.target == t for c in all_cells)]
    fig, axes = plt.subplots(len(servers), 1, figsize=(16, 5.5 * len(servers)), squeeze=False)
    colours = plt.get_cmap("tab20")
    for ax, server in zip(axes[:, 0], servers, strict=True):
        scenarios = list(dict.fromkeys(c.scenario for c in all_cells if c.server == server))
        width = 0.85 / max(1, len(targets))
        for i, target in enumerate(targets):
            values = {
                c.scenario: c.vs_floor or 0.0
                for c in all_cells
                if c.server == server and c.target == target
            }
            xs = [s + (i - (len(targets) - 1) / 2) * width for s in range(len(scenarios))]
            ax.bar(
                xs,
                [values.get(s, 0.0) for s in scenarios],
                width,
                label=target,
                color=colours(i % 20),
                hatch="" if target.startswith("sessionkit") else "//",
                edgecolor="white",
                linewidth=0.3,
            )
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(scenarios)), scenarios, rotation=15)
        ax.set_ylabel("req/s ÷ floor (median of rounds)")
        ax.set_title(f"{server} (1 worker)")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    # One legend for every panel, above them: inside a panel it hid the shorter bars.
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles, labels, ncol=6, fontsize=9, loc="upper center", bbox_to_anchor=(0.5, 0.965)
    )
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(path, dpi=110)
    plt.close(fig)
