"""What the benchmark compares: targets (a session engine under a middleware) and
scenarios (a view, a session size, rolling on or off).

Shared by the driver (:mod:`benchmarks.run`) and the app's settings
(:mod:`benchmarks.app.settings`), so a target means the same on both sides. No Django here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A session engine served under one middleware, on one database."""

    name: str
    #: ``None`` for the floor: no session middleware at all.
    engine: str | None
    #: ``"django"`` (Django's SessionMiddleware), ``"sessionkit"`` or ``None`` (the floor).
    middleware: str | None
    #: The database Django uses (the db engines' store; every target has one).
    db: str = "sqlite"
    #: The Django engine this target replaces: its ratio column compares against it.
    matches: str | None = None
    #: Which external store's CPU and counters to read: ``"redis"``, ``"postgres"`` or None.
    store: str | None = None
    #: ``SESSIONKIT_REDIS["CLIENT_CACHE"]``: the Redis store's process-local cache.
    client_cache: bool = False


DJ = "django.contrib.sessions.backends."
SK = "sessionkit.backends."

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("floor", None, None),
        Target("django-db", DJ + "db", "django"),
        Target("django-db-pg", DJ + "db", "django", db="postgresql", store="postgres"),
        Target("django-cache", DJ + "cache", "django", store="redis"),
        Target("django-cached_db", DJ + "cached_db", "django", store="redis"),
        Target("django-signed_cookies", DJ + "signed_cookies", "django"),
        Target("sessionkit-db", SK + "db", "sessionkit", matches="django-db"),
        Target(
            "sessionkit-db-pg",
            SK + "db",
            "sessionkit",
            db="postgresql",
            matches="django-db-pg",
            store="postgres",
        ),
        Target(
            "sessionkit-redis", SK + "redis", "sessionkit", matches="django-cache", store="redis"
        ),
        Target(
            "sessionkit-redis-cached",
            SK + "redis",
            "sessionkit",
            matches="django-cache",
            store="redis",
            client_cache=True,
        ),
        Target(
            "sessionkit-cache", SK + "cache", "sessionkit", matches="django-cache", store="redis"
        ),
        Target("sessionkit-memory", SK + "memory", "sessionkit"),
    )
}

#: Bytes of session data (JSON) per size, and how many keys hold it.
SIZES: dict[str, tuple[int, int]] = {"200B": (200, 4), "4KB": (4096, 20)}


@dataclass(frozen=True)
class Scenario:
    """One measured cell's request: a view over sessions of one size, rolling or not."""

    view: str  # "none" (never touches the session), "read" (one key), "write" (one key)
    size: str  # a key of SIZES
    rolling: bool = False

    @property
    def name(self) -> str:
        return f"{self.view} {self.size}" + (", rolling" if self.rolling else "")

    @property
    def path(self) -> str:
        return f"/{self.view}/"


SCENARIOS: list[Scenario] = [
    Scenario("none", "200B"),
    Scenario("read", "200B"),
    Scenario("read", "4KB"),
    Scenario("write", "200B"),
    Scenario("write", "4KB"),
    Scenario("none", "200B", rolling=True),
    Scenario("read", "200B", rolling=True),
    Scenario("read", "4KB", rolling=True),
]

#: ``QUICK=1``: a smoke run of a few targets and scenarios.
QUICK_TARGETS = ["floor", "django-cache", "sessionkit-redis", "django-db", "sessionkit-db"]
QUICK_SCENARIOS = [
    Scenario("none", "200B"),
    Scenario("read", "4KB"),
    Scenario("write", "200B"),
    Scenario("read", "4KB", rolling=True),
]

SERVERS = ("gunicorn", "uvicorn")
