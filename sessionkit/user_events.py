"""Ending a user's sessions when their account changes: a password change, deactivation,
deletion.

Django has no signal for a password change, so it is recognised where it shows: a write of
a session that keeps its user but changes the session auth hash ``login()`` stored, which
is what ``update_session_auth_hash()`` (and ``aupdate_session_auth_hash()``) do after the
view saved the new password. The one other writer of that hash, Django's ``get_user()``
re-hashing a session verified by a ``SECRET_KEY_FALLBACKS`` key, changes no password: its
old hash still matches a fallback hash of the user's current password, and is told apart
by that (one query, only when the hash changed).

Deactivation and deletion are Django's model signals on the user model, connected by
:meth:`sessionkit.apps.SessionKitConfig.ready`. A queryset ``update(is_active=False)``
sends none: end those users' sessions with :func:`sessionkit.end_user_sessions`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_save, pre_delete
from django.utils.crypto import constant_time_compare

from sessionkit.conf import get_settings
from sessionkit.session_fields import Fields, decode_value


class Rehash(NamedTuple):
    """A write that kept a session's user but changed its auth hash."""

    user_id: str
    old_hash: str


def rehashed(before: Fields | None, after: Fields) -> Rehash | None:
    """What a write from ``before`` to ``after`` did to the session's auth hash, if it
    changed it and kept the user (a cheap test: two lookups when the hash is unchanged)."""
    if before is None or (old := before.get(HASH_SESSION_KEY)) == after.get(HASH_SESSION_KEY):
        return None
    user = after.get(SESSION_KEY)
    if old is None or user is None or before.get(SESSION_KEY) != user:
        return None
    return Rehash(str(decode_value(user)), str(decode_value(old)))


def _rotated_secret(user: Any, old_hash: str) -> bool:
    """Whether ``old_hash`` is ``user``'s hash under a fallback secret: Django re-hashed
    the session for a rotated ``SECRET_KEY``, the password is unchanged."""
    fallbacks = getattr(user, "get_session_auth_fallback_hash", None)
    return fallbacks is not None and any(
        constant_time_compare(old_hash, fallback) for fallback in fallbacks()
    )


def _user_model() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model()


def password_changed(change: Rehash, keep: str, request: Any) -> None:
    """End the user's sessions but ``keep`` (``END_OTHERS_ON_PASSWORD_CHANGE``)."""
    from sessionkit import users

    if not get_settings().end_others_on_password_change or users.indexed_store() is None:
        return
    user = _user_model()._default_manager.filter(pk=change.user_id).first()
    if user is not None and _rotated_secret(user, change.old_hash):
        return
    users.end_user_sessions(change.user_id, keep, reason="password_change", request=request)


async def apassword_changed(change: Rehash, keep: str, request: Any) -> None:
    from sessionkit import users

    if not get_settings().end_others_on_password_change or users.indexed_store() is None:
        return
    user = await _user_model()._default_manager.filter(pk=change.user_id).afirst()
    if user is not None and _rotated_secret(user, change.old_hash):
        return
    await users.aend_user_sessions(change.user_id, keep, reason="password_change", request=request)


def _end_all(user: Any) -> None:
    from sessionkit import users

    if users.indexed_store() is not None:
        users.end_user_sessions(user, reason="user_deactivated")


def user_saved(sender: type, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """A user saved with ``is_active=False`` has no session left."""
    if not raw and getattr(instance, "is_active", True) is False:
        _end_all(instance)


def user_deleted(sender: type, instance: Any, **kwargs: Any) -> None:
    """A deleted user has no session left (before the row goes, so a foreign key from the
    db store's table has nothing to cascade)."""
    _end_all(instance)


def connect() -> None:
    """Connect the receivers to the user model (none without ``django.contrib.auth``)."""
    try:
        model = _user_model()
    except ImproperlyConfigured:
        return
    post_save.connect(user_saved, sender=model, dispatch_uid="sessionkit.user_saved")
    pre_delete.connect(user_deleted, sender=model, dispatch_uid="sessionkit.user_deleted")
