"""Settings of the sample project (see ``__init__``)."""

from __future__ import annotations

import os

SESSIONS = os.environ.get("PLUGIN_PROJECT_SESSIONS", "sessionkit")

SECRET_KEY = "plugin-project-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "sessionkit",
    *(["django.contrib.sessions"] if SESSIONS == "django" else []),
]

SESSION_MIDDLEWARE = {
    "sessionkit": "sessionkit.middleware.SessionMiddleware",
    "memory": "sessionkit.middleware.SessionMiddleware",
    "django": "django.contrib.sessions.middleware.SessionMiddleware",
}[SESSIONS]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    SESSION_MIDDLEWARE,
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
SESSION_ENGINE = {
    "sessionkit": "sessionkit.backends.db",
    "memory": "sessionkit.backends.memory",
    "django": "django.contrib.sessions.backends.db",
}[SESSIONS]

ROOT_URLCONF = "plugin_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_URL = "/static/"
