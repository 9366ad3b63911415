"""The soak: a small sessionkit app under gunicorn, driven by many concurrent clients.

``python -m benchmarks.soak`` (``make soak``) runs it once on the Redis store and once on the
database store on PostgreSQL, checks what a user could observe (no 5xx, no lost write, no
session alive after it was ended, no worker memory growth) and exits non-zero on a failure.

- :mod:`benchmarks.soak.settings`, :mod:`~benchmarks.soak.views`: the app gunicorn serves.
- :mod:`benchmarks.soak.stack`: the Redis and PostgreSQL it uses, its users.
- :mod:`benchmarks.soak.server`: gunicorn, and its workers' memory.
- :mod:`benchmarks.soak.clients`: the clients and the checks they make.
- :mod:`benchmarks.soak.__main__`: the phases, the figures, the verdict.
"""
