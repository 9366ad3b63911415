"""The measured views, sync (gunicorn) and async (uvicorn), and the driver's helpers.

``none`` never touches the session, ``read`` reads one key, ``write`` sets one key to a
value no earlier request wrote (so every engine sees a real change). Without a session
middleware (the floor) the views answer the same without a session.
"""

from __future__ import annotations

import itertools
import os
import random
import string
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from benchmarks.app.apps import statements
from benchmarks.targets import SIZES

_writes = itertools.count()
_OK = b"ok"


def session_data(size: str) -> dict[str, str]:
    """About ``SIZES[size]`` bytes of JSON in its number of keys, not easily compressed
    (Django's signed_cookies engine compresses)."""
    total, keys = SIZES[size]
    per_key = max(1, total // keys - len('"k00":"",'))
    return {
        f"k{i}": "".join(random.choices(string.ascii_letters + string.digits, k=per_key))
        for i in range(keys)
    }


def _session(request: HttpRequest) -> Any:
    return getattr(request, "session", None)


def setup(request: HttpRequest) -> HttpResponse:
    """Create a session of ``?size=`` (the response sets its cookie)."""
    session = _session(request)
    if session is not None:
        session.update(session_data(request.GET.get("size", "200B")))
    return HttpResponse(_OK)


def stats(request: HttpRequest) -> JsonResponse:
    """What the driver reads around a run: this process's SQL statements so far."""
    return JsonResponse({"pid": os.getpid(), "sql": statements()})


def none(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_OK)


def read(request: HttpRequest) -> HttpResponse:
    session = _session(request)
    if session is not None:
        session.get("k0")
    return HttpResponse(_OK)


def write(request: HttpRequest) -> HttpResponse:
    session = _session(request)
    if session is not None:
        session["w"] = f"{os.getpid()}-{next(_writes)}"
    return HttpResponse(_OK)


async def anone(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_OK)


async def aread(request: HttpRequest) -> HttpResponse:
    session = _session(request)
    if session is not None:
        await session.aget("k0")
    return HttpResponse(_OK)


async def awrite(request: HttpRequest) -> HttpResponse:
    session = _session(request)
    if session is not None:
        await session.aset("w", f"{os.getpid()}-{next(_writes)}")
    return HttpResponse(_OK)
