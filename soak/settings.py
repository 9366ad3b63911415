"""Settings of the soak app; the runner passes the store and the servers in the environment.

``SOAK_ENGINE``: ``redis`` or ``db``. ``SOAK_DATABASE``: the ``DATABASES["default"]`` entry as
JSON (PostgreSQL; users live there in both phases). ``SOAK_REDIS_URL`` and
``SOAK_REDIS_PREFIX``: the Redis database and the key prefix of this run.
"""

from __future__ import annotations

import json
import os
from typing import Any

SECRET_KEY = "sessionkit-soak-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "sessionkit",
]

MIDDLEWARE = [
    "sessionkit.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "soak.urls"
WSGI_APPLICATION = "soak.wsgi.application"

DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        **json.loads(os.environ.get("SOAK_DATABASE", "{}")),
        # One connection per gunicorn thread, kept: the soak measures sessions, not connects.
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": True,
    }
}

if os.environ.get("SOAK_ENGINE", "db") == "redis":
    SESSION_ENGINE = "sessionkit.backends.redis"
    SESSION_CACHE_ALIAS = "sessions"
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "sessions": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/13"),
        },
    }
    SESSIONKIT_REDIS = {"PREFIX": os.environ.get("SOAK_REDIS_PREFIX", "soak:")}
else:
    SESSION_ENGINE = "sessionkit.backends.db"

SESSIONKIT = {"ROLLING": True}

# Logins check a password on every cycle of the load; the hash's cost is not what is measured.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    # Errors only: an expected 403 or 400 would bury a 500's traceback in gunicorn's log.
    "loggers": {"django.request": {"level": "ERROR"}, "django.security": {"level": "ERROR"}},
}
