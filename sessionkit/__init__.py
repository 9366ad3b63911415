"""sessionkit: express-session's session model for Django.

Public API: :func:`user_sessions`, :func:`end_user_sessions`, :func:`end_session` and
their async twins :func:`auser_sessions`, :func:`aend_user_sessions`, :func:`aend_session`;
the signals are in :mod:`sessionkit.signals`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importing users.py at run time would load Django's models too early
    from django.contrib.sessions.backends.base import SessionBase

    from sessionkit.signals import Reason
    from sessionkit.users import UserSession

__version__ = "0.1.0"
__all__ = [
    "aend_session",
    "aend_user_sessions",
    "auser_sessions",
    "end_session",
    "end_user_sessions",
    "user_sessions",
]


def user_sessions(user: Any, current: SessionBase | None = None) -> list[UserSession]:
    """The user's live sessions (see :mod:`sessionkit.users`)."""
    from sessionkit.users import user_sessions

    return user_sessions(user, current)


def end_user_sessions(
    user: Any,
    keep: SessionBase | str | None = None,
    *,
    reason: Reason = "revoked",
    request: Any = None,
) -> int:
    """End all the user's sessions but ``keep`` (see :mod:`sessionkit.users`)."""
    from sessionkit.users import end_user_sessions

    return end_user_sessions(user, keep, reason=reason, request=request)


def end_session(user: Any, handle: str, *, request: Any = None) -> bool:
    """End one of the user's sessions by its handle (see :mod:`sessionkit.users`)."""
    from sessionkit.users import end_session

    return end_session(user, handle, request=request)


async def auser_sessions(user: Any, current: SessionBase | None = None) -> list[UserSession]:
    """:func:`user_sessions` for async code."""
    from sessionkit.users import auser_sessions

    return await auser_sessions(user, current)


async def aend_user_sessions(
    user: Any,
    keep: SessionBase | str | None = None,
    *,
    reason: Reason = "revoked",
    request: Any = None,
) -> int:
    """:func:`end_user_sessions` for async code."""
    from sessionkit.users import aend_user_sessions

    return await aend_user_sessions(user, keep, reason=reason, request=request)


async def aend_session(user: Any, handle: str, *, request: Any = None) -> bool:
    """:func:`end_session` for async code."""
    from sessionkit.users import aend_session

    return await aend_session(user, handle, request=request)
