"""sessionkit: express-session's session model for Django.

Public API: :func:`user_sessions`, :func:`end_user_sessions`, :func:`end_session`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importing users.py at run time would load Django's models too early
    from django.contrib.sessions.backends.base import SessionBase

    from sessionkit.users import UserSession

__version__ = "0.1.0"
__all__ = ["end_session", "end_user_sessions", "user_sessions"]


def user_sessions(user: Any, current: SessionBase | None = None) -> list[UserSession]:
    """The user's live sessions (see :mod:`sessionkit.users`)."""
    from sessionkit.users import user_sessions

    return user_sessions(user, current)


def end_user_sessions(user: Any, keep: SessionBase | str | None = None) -> int:
    """End all the user's sessions but ``keep`` (see :mod:`sessionkit.users`)."""
    from sessionkit.users import end_user_sessions

    return end_user_sessions(user, keep)


def end_session(user: Any, key_hash: str) -> bool:
    """End one of the user's sessions by its hashed id (see :mod:`sessionkit.users`)."""
    from sessionkit.users import end_session

    return end_session(user, key_hash)
