"""JSON views of the soak app. Every answer names the user the request's session belongs to
(``null``: anonymous), which is what the clients check their session against."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

import sessionkit

#: Session keys the clients write start with this; the others are Django's (auth).
DATA_PREFIX = "k"


def _answer(request: HttpRequest, **extra: object) -> JsonResponse:
    user = request.user.get_username() if request.user.is_authenticated else None
    return JsonResponse({"user": user, **extra})


def _anonymous(request: HttpRequest) -> JsonResponse:
    """A request that needs a logged-in session and has none: 403, and what it is."""
    response = _answer(request)
    response.status_code = 403
    return response


@csrf_exempt
@require_POST
def login_view(request: HttpRequest) -> JsonResponse:
    user = authenticate(
        request, username=request.POST["username"], password=request.POST["password"]
    )
    if user is None:
        return JsonResponse({"user": None}, status=401)
    login(request, user)
    return _answer(request)


@require_GET
def read(request: HttpRequest) -> JsonResponse:
    data = {k: v for k, v in request.session.items() if k.startswith(DATA_PREFIX)}
    return _answer(request, data=data)


@csrf_exempt
@require_POST
def write(request: HttpRequest) -> JsonResponse:
    """Set the session key ``key`` to the integer ``value``."""
    if not request.user.is_authenticated:
        return _anonymous(request)
    key = request.POST["key"]
    if not key.startswith(DATA_PREFIX):
        return JsonResponse({"error": "bad key"}, status=400)
    request.session[key] = int(request.POST["value"])
    return _answer(request)


@csrf_exempt
@require_POST
def password(request: HttpRequest) -> JsonResponse:
    """What a password change does to the session: a new id for the same data (Django's
    ``update_session_auth_hash`` cycles the key). The password itself stays, so the
    user's other devices stay logged in and keep writing."""
    if not request.user.is_authenticated:
        return _anonymous(request)
    update_session_auth_hash(request, request.user)
    return _answer(request)


@csrf_exempt
@require_POST
def others(request: HttpRequest) -> JsonResponse:
    """ "Log out other devices": every session of the user but this one ends."""
    if not request.user.is_authenticated:
        return _anonymous(request)
    ended = sessionkit.end_user_sessions(request.user, keep=request.session)
    return _answer(request, ended=ended)


@csrf_exempt
@require_POST
def logout_view(request: HttpRequest) -> JsonResponse:
    logout(request)
    return _answer(request)
