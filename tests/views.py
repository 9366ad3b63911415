"""Views the middleware tests drive: each does one thing to ``request.session``."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse


def noop(request: HttpRequest) -> HttpResponse:
    return HttpResponse("untouched")


def read(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"value": request.session.get("x"), "key": request.session.session_key})


def write(request: HttpRequest) -> HttpResponse:
    """Set ``x`` (and any other query key) to the JSON value given."""
    for key, value in request.GET.items():
        request.session[key] = json.loads(value)
    return HttpResponse("written")


def append(request: HttpRequest) -> HttpResponse:
    """Mutate a nested list in place, without ``modified = True``."""
    request.session.setdefault("items", [])
    request.session.modified = False
    request.session["items"].append(request.GET.get("item", "a"))
    request.session.modified = False
    return HttpResponse("appended")


def expiry(request: HttpRequest) -> HttpResponse:
    request.session.set_expiry(int(request.GET["seconds"]))
    return HttpResponse("expiry set")


def flush(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return HttpResponse("flushed")


def cycle(request: HttpRequest) -> HttpResponse:
    request.session.cycle_key()
    return HttpResponse("cycled")


def fail(request: HttpRequest) -> HttpResponse:
    request.session["x"] = "during a server error"
    return HttpResponse("boom", status=500)


def raise_(request: HttpRequest) -> HttpResponse:
    request.session["x"] = "before the exception"
    raise ValueError("a bug in the view")


async def aread(request: HttpRequest) -> JsonResponse:
    value = await request.session.aget("x")
    return JsonResponse({"value": value, "key": request.session.session_key})


async def awrite(request: HttpRequest) -> HttpResponse:
    for key, value in request.GET.items():
        await request.session.aset(key, json.loads(value))
    return HttpResponse("written")


def message(request: HttpRequest) -> HttpResponse:
    """Add a message (POST) or render the pending ones (GET)."""
    if request.method == "POST":
        messages.info(request, request.POST["text"])
        return HttpResponse("added")
    return HttpResponse(" | ".join(str(m) for m in messages.get_messages(request)))


def genid(request: HttpRequest) -> str:
    """A GENID callable: ids that carry the requesting path, to show the request is passed."""
    import secrets

    return f"gen-{request.path.strip('/')}-{secrets.token_hex(12)}"


def bad_genid(request: HttpRequest) -> str:
    return "short"


def long_genid(request: HttpRequest) -> str:
    """Usable by sessionkit's stores, too long for Django's 40-character column."""
    return "long-" + "x" * 60


async def alogin_view(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import alogin
    from django.contrib.auth.models import User

    user = await User.objects.aget(username=request.GET["username"])
    await alogin(request, user)
    return HttpResponse("logged in")


async def alogout_view(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import alogout

    await alogout(request)
    return HttpResponse("logged out")


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.user.get_username() or None})


def change_password(request: HttpRequest) -> HttpResponse:
    """What Django's PasswordChangeView does: save the new password, keep this session."""
    from django.contrib.auth import update_session_auth_hash

    user = request.user
    user.set_password(request.POST["password"])  # type: ignore[union-attr]
    user.save()  # type: ignore[union-attr]
    update_session_auth_hash(request, user)
    return HttpResponse("changed")
