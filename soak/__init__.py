"""The soak: a small sessionkit app under gunicorn, driven by many concurrent clients.

``python -m soak`` (``make soak``) runs it once on the Redis store and once on the
database store on PostgreSQL, checks what a user could observe (no 5xx, no lost write, no
session alive after it was ended, no worker memory growth) and exits non-zero on a failure.

- :mod:`soak.settings`, :mod:`~soak.views`: the app gunicorn serves.
- :mod:`soak.stack`: the Redis and PostgreSQL it uses, its users.
- :mod:`soak.server`: gunicorn, and its workers' memory.
- :mod:`soak.clients`: the clients and the checks they make.
- :mod:`soak.__main__`: the phases, the figures, the verdict.
"""
