"""Sharing a login with an Express app that shares the session (``connect_redis``).

The Express app keeps its logged-in user's id under one session key (``userId`` here, as
``req.session.userId = user.id``); Django keeps its own (``_auth_user_id`` and friends).
Opt-in, the two agree:

- :class:`ExpressUserBackend` authenticates the user whose primary key the session's
  ``userId`` holds (active users only, as ``ModelBackend``);
- :class:`ExpressLoginMiddleware`, after ``AuthenticationMiddleware``, logs that user in
  on Django (``login()``: a new session id, the old one dead on both sides) when Django
  has no user or another one, logs out when the key is gone (the Express side logged out
  by deleting it), and writes the key whenever a user is logged in on Django, so a Django
  login is an Express login too.

A different key name: subclass the middleware and set :attr:`ExpressLoginMiddleware.user_key`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth import SESSION_KEY, get_user_model, login, logout
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

#: The session key the Express app keeps its user id under, by default.
USER_KEY = "userId"
BACKEND = "sessionkit.express_auth.ExpressUserBackend"


class ExpressUserBackend(ModelBackend):
    """Authenticates ``express_user_id``: the primary key the Express app stored."""

    def authenticate(  # type: ignore[override]
        self, request: HttpRequest | None, express_user_id: Any = None, **kwargs: Any
    ) -> Any:
        if express_user_id is None or isinstance(express_user_id, bool | dict | list):
            return None
        model = get_user_model()
        try:
            user = model._default_manager.get(pk=express_user_id)
        except (model.DoesNotExist, ValueError, TypeError, ValidationError):
            return None  # an id Django does not know, or not a key of its kind
        return user if self.user_can_authenticate(user) else None


def _as_json(pk: Any) -> Any:
    """A primary key as the session stores it for the Express side (a number stays one)."""
    return pk if isinstance(pk, int | str) else str(pk)


class ExpressLoginMiddleware(MiddlewareMixin):
    """Keeps Django's login and the Express app's ``user_key`` the same user."""

    #: The session key both apps keep the user's id under.
    user_key: ClassVar[str] = USER_KEY

    def process_request(self, request: HttpRequest) -> None:
        session = request.session
        express_id = session.get(self.user_key)
        user = request.user
        if express_id is None:
            if user.is_authenticated:  # the Express side logged out
                logout(request)
            return
        if user.is_authenticated and str(user.pk) == str(express_id):
            return
        found = ExpressUserBackend().authenticate(request, express_user_id=express_id)
        if found is not None:
            login(request, found, backend=BACKEND)
            session[self.user_key] = express_id  # login() flushes on a change of user

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return response
        session = request.session
        # Only a session Django's login is in (not one flushed since, by logout()).
        logged_in = str(session.get(SESSION_KEY)) == str(user.pk)
        if logged_in and str(session.get(self.user_key)) != str(user.pk):
            session[self.user_key] = _as_json(user.pk)
        return response
