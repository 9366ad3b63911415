"""The demo's views: log in (with "remember me"), a dashboard, log out. "Your devices" is
sessionkit's own page (``include("sessionkit.urls")`` in urls.py)."""

from datetime import UTC, datetime
from typing import Any

from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from sessionkit.conf import get_settings

REMEMBER_ME_SECONDS = 30 * 24 * 3600


def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    form = AuthenticationForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        auth.login(request, form.get_user())
        # "Remember me": a persistent cookie for 30 days; otherwise a browser-session cookie.
        request.session.set_expiry(REMEMBER_ME_SECONDS if request.POST.get("remember") else 0)
        messages.success(request, "Welcome back")
        next_url = request.POST.get("next") or request.GET.get("next")
        if next_url and url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return HttpResponseRedirect(next_url)
        return redirect("dashboard")
    next_url = request.GET.get("next", "")
    return render(request, "login.html", {"form": form, "next": next_url})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    auth.logout(request)
    messages.info(request, "You have been logged out.")
    return redirect("login")


def _settings_rows() -> list[tuple[str, Any]]:
    """The active SESSIONKIT settings, without secrets or signing keys."""
    s = get_settings()
    c = s.cookie
    return [
        ("NAME", s.name),
        ("RESAVE", s.resave),
        ("SAVE_UNINITIALIZED", s.save_uninitialized),
        ("ROLLING", s.rolling),
        ("PROXY", s.proxy),
        ("ABSOLUTE_TIMEOUT", s.absolute_timeout),
        ("SECRET set explicitly", s.secret_is_explicit),
        ("COOKIE.MAX_AGE", c.max_age),
        ("COOKIE.SECURE", c.secure),
        ("COOKIE.HTTPONLY", c.httponly),
        ("COOKIE.SAMESITE", c.samesite),
        ("COOKIE.DOMAIN", c.domain),
        ("COOKIE.PATH", c.path),
        ("idle timeout (browser-session cookies)", s.idle_timeout),
    ]


def _when(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, tz=UTC)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    visits = request.session.get("visits", 0) + 1
    request.session["visits"] = visits
    context = {
        "visits": visits,
        "at_browser_close": request.session.get_expire_at_browser_close(),
        # Idle expiry: when the session ends if no request comes before (rolling pushes it
        # back on every request). Absolute: ABSOLUTE_TIMEOUT from login, used or not.
        "idle_expiry": request.session.get_expiry_date(),
        "absolute_expiry": _when(getattr(request.session, "deadline", None)),
        "settings_rows": _settings_rows(),
    }
    return render(request, "dashboard.html", context)
