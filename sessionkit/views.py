"""The "Your devices" page: the user's sessions, "end" per device, "log out other devices".

``path("sessions/", include("sessionkit.urls"))`` mounts it. Ending is POST-only with
CSRF (a link or a prefetch never logs anyone out) and goes through :mod:`sessionkit.users`,
which only ever ends the requesting user's own sessions.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST, require_safe

from sessionkit import users
from sessionkit.backends.base import hash_key

TEMPLATE = "sessionkit/user_sessions.html"
NO_INDEX = "This site's session store cannot list or end your other sessions."


def _tell(request: HttpRequest, level: int, text: str) -> None:
    """A message for the next page, where ``django.contrib.messages`` is installed."""
    messages.add_message(request, level, text, fail_silently=True)


def _current_handle(request: HttpRequest) -> str | None:
    key = request.session.session_key
    return None if key is None else hash_key(key)


def _back() -> HttpResponse:
    return redirect("sessionkit:user_sessions")


@never_cache
@login_required
@require_safe
def user_sessions(request: HttpRequest) -> HttpResponse:
    """The page: one row per live session, this one marked."""
    try:
        sessions: list[users.UserSession] | None = users.user_sessions(
            request.user, current=request.session
        )
    except ImproperlyConfigured:
        sessions = None
    return render(request, TEMPLATE, {"sessions": sessions, "no_index": NO_INDEX})


@never_cache
@login_required
@require_POST
@csrf_protect
def end_session(request: HttpRequest) -> HttpResponse:
    """End the session whose handle is posted; ending this one logs the user out here."""
    handle = request.POST.get("handle", "")
    if handle and handle == _current_handle(request):
        auth.logout(request)
        _tell(request, messages.INFO, "You have been logged out of this device.")
        return redirect(resolve_url(settings.LOGOUT_REDIRECT_URL or settings.LOGIN_URL))
    try:
        ended = bool(handle) and users.end_session(request.user, handle)
    except ImproperlyConfigured:
        _tell(request, messages.ERROR, NO_INDEX)
    else:
        if ended:
            _tell(request, messages.SUCCESS, "That device has been logged out.")
        else:
            _tell(
                request,
                messages.WARNING,
                "That session is not one of yours, or it has already ended.",
            )
    return _back()


@never_cache
@login_required
@require_POST
@csrf_protect
def end_other_sessions(request: HttpRequest) -> HttpResponse:
    """ "Log out other devices": end every session of the user but this one."""
    try:
        ended = users.end_user_sessions(request.user, keep=request.session)
    except ImproperlyConfigured:
        _tell(request, messages.ERROR, NO_INDEX)
    else:
        devices = "device" if ended == 1 else "devices"
        _tell(request, messages.SUCCESS, f"Logged out of {ended} other {devices}.")
    return _back()
