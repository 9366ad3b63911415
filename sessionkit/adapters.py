"""One interface over sessionkit stores and Django's own engines.

sessionkit's stores track their loaded state, touch on read and write deltas natively.
Django's engines (``django.contrib.sessions.backends.*``) get the same tracking by
wrapping their ``load``/``aload`` on the instance, so the middleware's rules apply to them
too; they lack the extras (touch, delta writes), which the middleware then does without.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest

from sessionkit.backends.base import ClientInfo, generated_key
from sessionkit.backends.base import SessionStore as KitStore
from sessionkit.conf import SessionKitSettings
from sessionkit.errors import StoreUnavailable
from sessionkit.tracking import Fields, to_fields

#: What a Django engine raises when its store is down.
_FOREIGN_UNAVAILABLE: tuple[type[BaseException], ...] = KitStore.unavailable_errors


def prepare(
    session: SessionBase, request: HttpRequest, conf: SessionKitSettings, client: ClientInfo
) -> None:
    """Give the store what it needs from the request: GENID, client info, tracking."""
    genid = partial(conf.genid, request) if conf.genid else None
    if isinstance(session, KitStore):
        session.client = client
        session.genid = genid
        return
    if genid is not None:  # instance overrides: Django's engines have no GENID hook
        generate = partial(generated_key, genid)
        setattr(session, "_get_new_session_key", generate)  # noqa: B010
        setattr(session, "_aget_new_session_key", sync_to_async(generate))  # noqa: B010
    _track(session)


def _track(session: Any) -> None:
    session.original_fields = None
    session.failure = None
    load, aload = session.load, session.aload

    def loaded(data: dict[str, Any]) -> dict[str, Any]:
        if session.session_key is not None:
            session.original_fields = to_fields(data, strict=False)
        return data

    def fail(exc: BaseException) -> StoreUnavailable:
        error = StoreUnavailable.logged(type(session).__module__, exc)
        session.failure = error
        return error

    def tracked_load() -> dict[str, Any]:
        try:
            return loaded(load())
        except _FOREIGN_UNAVAILABLE as exc:
            raise fail(exc) from exc

    async def tracked_aload() -> dict[str, Any]:
        try:
            return loaded(await aload())
        except _FOREIGN_UNAVAILABLE as exc:
            raise fail(exc) from exc

    session.load, session.aload = tracked_load, tracked_aload
    session._sessionkit_fail = fail


def fields_of(data: dict[str, Any]) -> Fields:
    return to_fields(data, strict=False)


def original_fields(session: Any) -> Fields | None:
    """Fields as loaded from the store, or ``None`` if the session did not come from it."""
    return getattr(session, "original_fields", None)


def has_unsaved_changes(session: Any) -> bool:
    if isinstance(session, KitStore):
        return session.has_unsaved_changes
    return True


def touches(session: Any) -> bool:
    """Whether loading the session already pushed its stored expiry back."""
    return isinstance(session, KitStore)


def destroyed(session: Any) -> bool:
    """Whether ``flush()`` ended the session during this request."""
    return bool(getattr(session, "destroyed", False))


def failure(session: Any) -> StoreUnavailable | None:
    return getattr(session, "failure", None)


def save(session: Any) -> None:
    if isinstance(session, KitStore):
        session.save()
        return
    try:
        session.save()
    except _FOREIGN_UNAVAILABLE as exc:
        raise session._sessionkit_fail(exc) from exc


async def asave(session: Any) -> None:
    if isinstance(session, KitStore):
        await session.asave()
        return
    try:
        await session.asave()
    except _FOREIGN_UNAVAILABLE as exc:
        raise session._sessionkit_fail(exc) from exc
