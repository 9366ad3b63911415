"""Settings of the benchmark app, chosen by environment variables (set by the driver).

- ``BENCH_TARGET``: a name from :data:`benchmarks.targets.TARGETS` (default ``floor``).
- ``BENCH_ROLLING=1``: rolling sessions (``SESSIONKIT["ROLLING"]`` and Django's
  ``SESSION_SAVE_EVERY_REQUEST``).
- ``BENCH_ASYNC=1``: async views (the uvicorn runs; gunicorn serves the sync ones).
- ``BENCH_SQLITE_PATH``: the SQLite file; ``BENCH_PG_HOST`` / ``BENCH_PG_PORT`` /
  ``BENCH_PG_USER`` / ``BENCH_PG_NAME``: the PostgreSQL database.
- ``BENCH_REDIS_URL``: the Redis database behind the ``default`` cache (django-redis).

Every database runs with its default durability (no pragma, no unlogged table). Connections
persist (``CONN_MAX_AGE = None``) for every target alike, as a production server would.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.targets import TARGETS

TARGET = TARGETS[os.environ.get("BENCH_TARGET", "floor")]
ROLLING = os.environ.get("BENCH_ROLLING", "0") == "1"

SECRET_KEY = "sessionkit-benchmark-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "sessionkit",
    "django.contrib.sessions",
    "benchmarks.app",
]

_MIDDLEWARE = {
    None: [],
    "django": ["django.contrib.sessions.middleware.SessionMiddleware"],
    "sessionkit": ["sessionkit.middleware.SessionMiddleware"],
}
MIDDLEWARE = _MIDDLEWARE[TARGET.middleware]
# The floor runs without the middleware that sessionkit's check asks for.
SILENCED_SYSTEM_CHECKS = ["sessionkit.W003"]

ROOT_URLCONF = "benchmarks.app.urls"

DATABASES: dict[str, dict[str, Any]]
if TARGET.db == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("BENCH_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("BENCH_PG_PORT", "5432"),
            "USER": os.environ.get("BENCH_PG_USER", "postgres"),
            "PASSWORD": "",
            "NAME": os.environ.get("BENCH_PG_NAME", "sessionkit_bench"),
            "CONN_MAX_AGE": None,
        }
    }
else:
    default_sqlite = Path(tempfile.gettempdir()) / "sessionkit-bench.sqlite3"
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("BENCH_SQLITE_PATH", str(default_sqlite)),
            "CONN_MAX_AGE": None,
        }
    }

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        "KEY_PREFIX": f"bench:{TARGET.name}",
    }
}

if TARGET.engine is not None:
    SESSION_ENGINE = TARGET.engine
SESSION_CACHE_ALIAS = "default"
# Sessions left behind on a shared server expire on their own within the hour.
SESSION_COOKIE_AGE = 3600
SESSION_SAVE_EVERY_REQUEST = ROLLING
SESSIONKIT = {"ROLLING": ROLLING}
SESSIONKIT_REDIS = {"CLIENT_CACHE": TARGET.client_cache}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
