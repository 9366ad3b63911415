"""Django settings for sessionkit's test suite.

Environment: ``SESSIONKIT_TEST_DB=postgresql`` runs on PostgreSQL (the machine's server on
127.0.0.1:5432, or a private one started by ``tests.servers``); ``SESSIONKIT_TEST_USE_TZ=0``
turns ``USE_TZ`` off. The ``redis`` cache's URL is resolved (and a server started if none
runs) only when that cache is first used. Importing this module downloads nothing: Django's
own session suite is installed as an app only when ``python -m tests.django_suite`` has
fetched it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.utils.functional import lazy

from tests import servers
from tests.django_suite import find_sessions_tests

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "sessionkit-tests-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver", "[::1]"]
USE_TZ = os.environ.get("SESSIONKIT_TEST_USE_TZ", "1") not in ("0", "false", "False")
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "sessionkit",  # before django.contrib.sessions: its clearsessions command wins
    "django.contrib.sessions",
    "django.contrib.messages",
    "tests",
]

# Django's own session test suite (SessionTestsMixin); its models.py needs the app installed.
# `python -m tests.django_suite` fetches it (make test and tox run that first); never here.
if find_sessions_tests() is not None:
    INSTALLED_APPS.append("sessions_tests")

MIDDLEWARE = [
    "sessionkit.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES: dict[str, dict[str, Any]]
if os.environ.get("SESSIONKIT_TEST_DB", "sqlite") == "postgresql":
    DATABASES = {"default": servers.postgres_dsn()}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "redis": {
        "BACKEND": "django_redis.cache.RedisCache",
        # Lazy: no Redis is contacted or started until the cache is first built.
        "LOCATION": lazy(servers.redis_url, str)(),
    },
}

SESSION_ENGINE = "sessionkit.backends.db"
SESSION_CACHE_ALIAS = "default"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

STATIC_URL = "/static/"
