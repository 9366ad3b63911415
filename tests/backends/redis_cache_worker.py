"""One "server process" for the client-cache tests: the Redis store with
``CLIENT_CACHE`` on, its own clients, driven line by line on stdin.

``python -m tests.backends.redis_cache_worker REDIS_URL``; commands: ``new`` (a session with
``n`` = 0; answers its id), ``set ID N``, ``get ID`` (``n``, or ``gone``), ``end ID``,
``cycle ID`` (``cycle_key()``, as a login does; answers the new id),
``stats`` (the cache's hits, misses and flushes); each answer is one line."""

from __future__ import annotations

import sys

import django
from django.conf import settings


def main(url: str) -> None:
    settings.configure(
        SECRET_KEY="redis-cache-worker-" + "x" * 40,
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "sessionkit"],
        CACHES={
            "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
            "sessions": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url},
        },
        SESSION_ENGINE="sessionkit.backends.redis",
        SESSION_CACHE_ALIAS="sessions",
        SESSIONKIT_REDIS={"CLIENT_CACHE": True},
    )
    django.setup()
    from sessionkit.backends.redis import SessionStore
    from sessionkit.backends.redis_cache import tracking_cache
    from sessionkit.backends.redis_client import sync_client

    for line in sys.stdin:
        command, *args = line.split()
        answer = "ok"
        if command == "new":
            session = SessionStore()
            session["n"] = 0
            session.save()
            answer = str(session.session_key)
        elif command == "set":
            session = SessionStore(args[0])
            session["n"] = int(args[1])
            session.save()
        elif command == "get":
            answer = str(SessionStore(args[0]).get("n", "gone"))
        elif command == "cycle":
            session = SessionStore(args[0])
            session.load()
            session.cycle_key()
            answer = str(session.session_key)
        elif command == "end":
            SessionStore().delete(args[0])
        elif command == "stats":
            cache = tracking_cache(sync_client())
            assert cache is not None
            answer = f"{cache.hits} {cache.misses} {cache.flushes} {cache.client_id}"
        print(answer, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
