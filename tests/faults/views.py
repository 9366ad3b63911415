"""Views the fault and concurrency tests drive. While a :class:`Gate` is open, each view
loads its session and then holds until the test lets it act: every racer has read the
session before another request (a logout) changes it, and acts after."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse

#: Seconds a held view, or the test, waits for the other side at most.
HOLD_TIMEOUT = 20.0


class Gate:
    """``parties`` views meet the test after loading their sessions, then wait for it."""

    def __init__(self, parties: int) -> None:
        self.loaded = threading.Barrier(parties + 1, timeout=HOLD_TIMEOUT)
        self.go = threading.Event()

    def hold(self) -> None:
        self.loaded.wait()
        if not self.go.wait(HOLD_TIMEOUT):
            raise TimeoutError("the test never let the held views act")

    def release_after_all_loaded(self) -> None:
        """Wait until every view has loaded its session (the caller then acts: a logout)."""
        self.loaded.wait()


_gate: Gate | None = None


@contextmanager
def gate(parties: int) -> Iterator[Gate]:
    """Hold the next ``parties`` requests after their load (see :class:`Gate`)."""
    global _gate
    _gate = opened = Gate(parties)
    try:
        yield opened
    finally:
        opened.go.set()
        _gate = None


def held(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        current = _gate
        if current is not None:
            request.session.get("owner")  # load it now
            current.hold()
        return view(request)

    return wrapper


@held
def put(request: HttpRequest) -> HttpResponse:
    """Set each query key to its JSON value."""
    for key, value in request.GET.items():
        request.session[key] = json.loads(value)
    return HttpResponse("put")


def dump(request: HttpRequest) -> JsonResponse:
    """The session's data, and its id under ``_key``."""
    return JsonResponse({**dict(request.session.items()), "_key": request.session.session_key})


@held
def cycle(request: HttpRequest) -> HttpResponse:
    """A new id for the session, as ``login()`` and a password change do."""
    request.session.cycle_key()
    return HttpResponse("cycled")


def logout(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return HttpResponse("logged out")
