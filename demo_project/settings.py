"""Settings for the sessionkit demo. Not for production: DEBUG and the key come from env.

Environment variables:

- ``DJANGO_DEBUG``: ``0``/``false`` turns DEBUG off (default on, it is a demo).
- ``DJANGO_SECRET_KEY``: the secret key (a development default otherwise).
- ``DEMO_DB_PATH``: the SQLite file (default ``demo_project/db.sqlite3``).
- ``DEMO_SESSION_ENGINE=redis``: keep sessions in Redis at ``DEMO_REDIS_URL``.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

DEBUG = os.environ.get("DJANGO_DEBUG", "1").lower() not in {"0", "false", "no", "off"}
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "dev-only-sessionkit-demo-key-change-me-0123456789abcdefghijklmnop"
)
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # No django.contrib.sessions: sessionkit brings its own store and model.
    "sessionkit",
    "demo_project.accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "sessionkit.middleware.SessionMiddleware",  # in place of Django's SessionMiddleware
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_project.urls"
WSGI_APPLICATION = "demo_project.wsgi.application"
ASGI_APPLICATION = "demo_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DB_PATH") or BASE_DIR / "db.sqlite3",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"

# Sessions: the database store by default, Redis with DEMO_SESSION_ENGINE=redis.
if os.environ.get("DEMO_SESSION_ENGINE", "db").lower() == "redis":
    SESSION_ENGINE = "sessionkit.backends.redis"
    SESSION_CACHE_ALIAS = "default"
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": os.environ.get("DEMO_REDIS_URL", "redis://127.0.0.1:6379/0"),
        }
    }
else:
    SESSION_ENGINE = "sessionkit.backends.db"

SESSIONKIT = {
    # express-session's `rolling`: every response re-sends the cookie, so an active user's
    # session never expires while they keep using the site.
    "ROLLING": True,
    # No express-session option: however active, a session ends 90 days after login (the
    # dashboard shows this "absolute" expiry beside the idle one).
    "ABSOLUTE_TIMEOUT": 90 * 24 * 3600,
    "COOKIE": {
        # `cookie.maxAge`: None makes a browser-session cookie (gone when the browser closes).
        # The login view's "remember me" box overrides it per session with set_expiry().
        "MAX_AGE": None,
        # `cookie.secure`: "auto" marks the cookie Secure exactly when the request is HTTPS,
        # so the demo works over plain http://127.0.0.1 and stays safe behind TLS.
        "SECURE": "auto",
    },
}
