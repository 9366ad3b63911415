"""Signals a session's life sends: ``session_created`` and ``session_ended``.

Both are sent by sessionkit's stores (db, redis, cache, memory, connect_redis), once per
event: a store operation that can race (two requests logging out one session, a logout
beside a ``clearsessions``) sends only where the store answered that *this* call stored or
deleted the session. ``sender`` is the store class; every other argument is a keyword:

- ``handle``: the session's opaque handle (:attr:`sessionkit.users.UserSession.handle`);
- ``user_id``: the id (a string) of the user logged in to it, or ``None``;
- ``request``: the ``HttpRequest`` that caused it, when there is one (``None`` for a
  ``clearsessions`` run or a call outside a request);
- ``session_created`` also has ``previous``: the handle a rotated session had
  (``cycle_key()``, so ``login()``), else ``None``;
- ``session_ended`` also has ``reason``, one of :data:`REASONS`.

Receivers run in the thread (sync) or the event loop (async code: ``Signal.asend``) of the
operation, after the store has answered; an exception in one propagates, as Django's
model signals do.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from django.dispatch import Signal

Reason = Literal["logout", "expired", "revoked", "rotated", "password_change", "user_deactivated"]

#: Why a session ended: ``logout`` (``flush()`` or ``delete()``: ``logout()``), ``expired``
#: (sessionkit found it past its lifetime and deleted it), ``revoked`` (``end_session()`` /
#: ``end_user_sessions()``), ``rotated`` (``cycle_key()`` moved it to a new handle),
#: ``password_change`` (``update_session_auth_hash()`` ended the user's other sessions),
#: ``user_deactivated`` (the user was saved with ``is_active=False``, or deleted).
REASONS: Final = ("logout", "expired", "revoked", "rotated", "password_change", "user_deactivated")

session_created = Signal()
session_ended = Signal()


def _handle(sender: Any, stored: str) -> str:
    """The handle of a session stored under ``stored``: never a usable id, also for a
    store that keys sessions by their raw id (``connect_redis``)."""
    return str(sender.handle_of(stored))


def created(
    sender: type, stored: str, user_id: str | None, request: Any, previous: str | None
) -> None:
    if session_created.has_listeners(sender):
        session_created.send(
            sender,
            handle=_handle(sender, stored),
            user_id=user_id,
            request=request,
            previous=previous and _handle(sender, previous),
        )


async def acreated(
    sender: type, stored: str, user_id: str | None, request: Any, previous: str | None
) -> None:
    if session_created.has_listeners(sender):
        await session_created.asend(
            sender,
            handle=_handle(sender, stored),
            user_id=user_id,
            request=request,
            previous=previous and _handle(sender, previous),
        )


def ended(sender: type, stored: str, user_id: str | None, reason: Reason, request: Any) -> None:
    if session_ended.has_listeners(sender):
        session_ended.send(
            sender, handle=_handle(sender, stored), user_id=user_id, reason=reason, request=request
        )


async def aended(
    sender: type, stored: str, user_id: str | None, reason: Reason, request: Any
) -> None:
    if session_ended.has_listeners(sender):
        await session_ended.asend(
            sender, handle=_handle(sender, stored), user_id=user_id, reason=reason, request=request
        )
