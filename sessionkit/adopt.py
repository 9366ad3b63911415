"""``SESSIONKIT["ADOPT_FROM"]``: serve and move the sessions of the Django engine a site
used before sessionkit, so switching does not log anyone out.

A request whose session cookie does not verify as sessionkit's, but whose legacy cookie
(``SESSION_COOKIE_NAME``, which is also sessionkit's name unless ``NAME`` says otherwise) is
a key (or a ``signed_cookies`` value) the legacy engine holds live, is served with that
session: :func:`adopt` moves it into sessionkit's store and hands the middleware the new
id, which the response signs into a new cookie.

The new id is derived from the legacy key, ``HMAC-SHA256(signing key, legacy key)``
(:func:`adopted_key`): requests racing with the same legacy cookie, and
``manage.py sessionkit_adopt`` (which cannot re-issue cookies), all land on one session.
A legacy record is *claimed* (deleted, the deletion telling who won) before its data is
written under the new id, so a session moved and then destroyed (a logout) is never
brought back from its legacy record. What each engine guarantees:

- ``db`` / ``cached_db``: the claim is a ``DELETE`` counted by the database, in one
  transaction with the insert (an insert that fails rolls the claim back); exactly one
  request moves a session.
- ``file``: the claim is ``unlink()``; exactly one request moves a session.
- ``cache``: the claim is ``cache.delete()``, whose answer says who deleted it on every
  Django cache (3.1+) and on django-redis; exactly one request moves a session.
- ``signed_cookies``: there is no record to claim; racing requests insert the same new id
  and all but the first find it taken, so there is still one session. But nothing can
  revoke a signed cookie: until its own expiry (``SESSION_COOKIE_AGE``) a copy of the
  legacy cookie sent after the moved session ended moves it again, as it would have
  opened the legacy session. Remove ``ADOPT_FROM`` once that age has passed.

``sessionkit.backends.connect_redis`` (an Express app's sessions, once it is retired) is
adopted by id (:func:`move_by_id`): its cookie already verifies as sessionkit's (the same
secret), so each session moves to the same id, copied first and then deleted in a
transaction watching it since it was read, and nobody's cookie changes.

A request that loses the race is served the new id only if the winner has stored it
already, else as a fresh session, and never clears the cookie (the winner's response sets
it). The legacy expiry is kept: the new record expires when the legacy one would have
(sooner if sessionkit's settings say so), and the new cookie's ``Max-Age`` is what was left.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.backends import cache as dj_cache
from django.contrib.sessions.backends import cached_db as dj_cached_db
from django.contrib.sessions.backends import db as dj_db
from django.contrib.sessions.backends import file as dj_file
from django.contrib.sessions.backends import signed_cookies as dj_signed
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, SessionBase
from django.core import signing
from django.core.exceptions import SuspiciousOperation
from django.db import router, transaction
from django.http import HttpRequest, HttpResponseBase

from sessionkit import signals
from sessionkit.backends.base import ClientInfo, TrackedSession
from sessionkit.backends.base import SessionStore as KitStore
from sessionkit.conf import SessionKitSettings
from sessionkit.rules import CookieState
from sessionkit.session_fields import from_fields

#: Django's engines ADOPT_FROM can read (a subclass of one works as that one).
ENGINES: tuple[type[SessionBase], ...] = (
    dj_cached_db.SessionStore,
    dj_db.SessionStore,
    dj_file.SessionStore,
    dj_cache.SessionStore,
    dj_signed.SessionStore,
)
#: Salt of the adopted id's HMAC (a different key than the cookie signature's use of it).
ADOPT_SALT = b"sessionkit.adopt:v1:"
#: Longest key Django's engines store (``django_session.session_key``).
LEGACY_KEY_LENGTH = 40
_KEY_CHARS = frozenset(VALID_KEY_CHARS)
#: Characters of an adopted id: 192 bits, base64url, fits Django's 40-character column.
ADOPTED_KEY_LENGTH = 32
#: A mover that is not a request (``manage.py sessionkit_adopt``).
NO_CLIENT = ClientInfo()


@dataclass(frozen=True, slots=True)
class Legacy:
    """A live legacy session: its data, and when the legacy engine would have ended it."""

    data: dict[str, Any]
    expires: float


def legacy_cookie_name() -> str:
    """The cookie Django's own middleware used: ``SESSION_COOKIE_NAME``."""
    return str(settings.SESSION_COOKIE_NAME)


def adopted_key(legacy_key: str, key: bytes) -> str:
    """The sessionkit id a legacy key moves to: an HMAC of it under the signing ``key``, so
    only the server can compute it and every mover of one legacy session agrees on it."""
    digest = hmac.new(key, ADOPT_SALT + legacy_key.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:ADOPTED_KEY_LENGTH]


# -- reading and claiming a legacy record, per engine --------------------------------------


def _timestamp(value: datetime.datetime) -> float:
    if value.tzinfo is None:  # USE_TZ = False: naive local time, as Django wrote it
        return value.timestamp()
    return value.astimezone(datetime.UTC).timestamp()


def _expiry(store: SessionBase, data: dict[str, Any], modified: float) -> float:
    """When Django's engine ends a session last written at ``modified``."""
    mod = datetime.datetime.fromtimestamp(modified, tz=datetime.UTC)
    if not settings.USE_TZ:
        mod = datetime.datetime.fromtimestamp(modified)
    return _timestamp(store.get_expiry_date(modification=mod, expiry=data.get("_session_expiry")))


def _decode(store: SessionBase, text: str) -> dict[str, Any]:
    data: dict[str, Any] = store.decode(text)  # {} when tampered or unreadable
    return data


def could_be_legacy(engine: type[SessionBase], value: str) -> bool:
    """Whether ``engine`` could have made ``value``: Django's keys are at most 40 of
    ``VALID_KEY_CHARS`` (anything else never reaches a query, a file name or a cache key,
    which memcached would refuse); a signed_cookies value is checked by its signature."""
    if issubclass(engine, dj_signed.SessionStore):
        return True
    return len(value) <= LEGACY_KEY_LENGTH and set(value) <= _KEY_CHARS


def read(engine: type[SessionBase], value: str, now: float) -> Legacy | None:
    """The live legacy session ``value`` names, or ``None`` (unknown, expired, empty)."""
    if not could_be_legacy(engine, value):
        return None
    store: Any = engine(value)
    if store.session_key is None:  # Django's engines refuse a malformed key
        return None
    legacy: Legacy | None
    if issubclass(engine, dj_db.SessionStore):  # cached_db too: the row is the truth
        row = store.model.objects.filter(session_key=value).first()
        legacy = None
        if row is not None:
            legacy = Legacy(_decode(store, row.session_data), _timestamp(row.expire_date))
    elif issubclass(engine, dj_file.SessionStore):
        legacy = _read_file(store)
    elif issubclass(engine, dj_cache.SessionStore):
        legacy = _read_cache(store, now)
    else:  # signed_cookies: the value is the session, signed and timestamped
        data = store.load()
        legacy = Legacy(data, _expiry(store, data, _signed_at(value))) if data else None
    if legacy is None or not legacy.data or legacy.expires <= now:
        return None
    return legacy


def _read_file(store: Any) -> Legacy | None:
    try:
        path = store._key_to_file()  # refuses a key with characters Django never makes
    except SuspiciousOperation:
        return None
    try:
        with open(path, encoding="ascii") as f:
            text = f.read()
        modified = os.stat(path).st_mtime
    except (OSError, ValueError):
        return None
    data = _decode(store, text) if text else {}
    return Legacy(data, _expiry(store, data, modified))


def _read_cache(store: Any, now: float) -> Legacy | None:
    data = store._cache.get(store.cache_key)
    if not isinstance(data, dict):
        return None
    ttl = getattr(store._cache, "ttl", None)  # django-redis knows the entry's lifetime
    remaining = ttl(store.cache_key) if callable(ttl) else None
    if isinstance(remaining, int) and remaining > 0:
        return Legacy(data, now + remaining)
    # Other caches do not tell: the expiry the data implies as if written now.
    return Legacy(data, _expiry(store, data, now))


def _signed_at(value: str) -> float:
    """When Django's ``signing.dumps`` wrote a signed_cookies value that verified (so it is
    ``payload:timestamp:signature``)."""
    return float(signing.b62_decode(value.rsplit(":", 2)[-2]))


def claim(engine: type[SessionBase], value: str) -> bool:
    """Delete the legacy record; ``True`` if this call deleted it (the caller moves it),
    ``False`` if another one did. ``signed_cookies`` has no record: always ``True``."""
    store: Any = engine(value)
    if issubclass(engine, dj_db.SessionStore):
        deleted, _ = store.model.objects.filter(session_key=value).delete()
        if issubclass(engine, dj_cached_db.SessionStore):
            store._cache.delete(store.cache_key)
        return bool(deleted > 0)
    if issubclass(engine, dj_file.SessionStore):
        try:
            os.unlink(store._key_to_file())
        except (FileNotFoundError, SuspiciousOperation):
            return False
        return True
    if issubclass(engine, dj_cache.SessionStore):
        # Django's caches answer whether they deleted; an old backend answering None
        # cannot say, and is taken at its word that it did.
        return bool(store._cache.delete(store.cache_key) is not False)
    return True


def _in_transaction(engine: type[SessionBase]) -> Any:
    """The db engines' claim and insert commit together (a failed insert undoes the
    claim, and a racing claim waits for the winner's commit)."""
    if issubclass(engine, dj_db.SessionStore):
        return transaction.atomic(using=router.db_for_write(engine.get_model_class()))
    return _nothing()


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# -- writing the moved session -------------------------------------------------------------


def put(store_class: type[TrackedSession], key: str, legacy: Legacy, client: ClientInfo) -> bool:
    """Store ``legacy`` under ``key`` in sessionkit's store, expiring when it would have;
    ``False`` if ``key`` is taken (another mover stored it first)."""
    session: Any = store_class(key)  # type: ignore[call-arg]
    session.begin(None, client)
    session._session_cache = dict(legacy.data)
    if isinstance(session, KitStore):
        key_hash, record, _ = session._pending(must_create=True)
        record = replace(record, expires=min(record.expires, legacy.expires))
        if not session._io(session._insert, key_hash, record):
            return False
        signals.created(type(session), key_hash, record.user_id, None, None)
        return True
    # A Django engine as sessionkit's store: its expiry counts from this write.
    try:
        session.save(must_create=True)
    except CreateError:
        return False
    return True


def stored(store_class: type[TrackedSession], key: str) -> bool:
    """Whether sessionkit's store holds ``key`` (moved already)."""
    session: Any = store_class()
    return bool(session.exists(key))


# -- what the middleware and the command call ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one legacy key."""

    #: ``moved`` (by this call), ``already`` (moved before, or by a racing request),
    #: ``lost`` (a racing request claimed it and is moving it), ``gone`` (unknown or
    #: expired: nothing moved, nothing created).
    status: Literal["moved", "already", "lost", "gone"]
    key: str | None = None


def move(
    engine: type[SessionBase],
    store_class: type[TrackedSession],
    value: str,
    keys: tuple[bytes, ...],
    client: ClientInfo = NO_CLIENT,
    *,
    legacy: Legacy | None = None,
) -> Outcome:
    """Move the legacy session ``value`` to its adopted id (see the module docstring)."""
    for k in keys:  # an id adopted under an older secret stays reachable
        if stored(store_class, candidate := adopted_key(value, k)):
            claim(engine, value)  # moved: a legacy record left beside it goes too
            return Outcome("already", candidate)
    new_key = adopted_key(value, keys[0])
    if legacy is None:
        legacy = read(engine, value, time.time())
    if legacy is None:
        return Outcome("gone")
    with _in_transaction(engine):
        if not claim(engine, value):
            return Outcome("lost", new_key)
        if not put(store_class, new_key, legacy, client):
            return Outcome("already", new_key)
    return Outcome("moved", new_key)


def moves_by_id(engine: type[Any]) -> bool:
    """Whether ``engine``'s sessions move to the same id (``connect_redis``)."""
    return bool(getattr(engine, "adopts_by_id", False))


def move_by_id(engine: type[Any], store_class: type[TrackedSession], key: str) -> Outcome:
    """Move the session ``key`` of a by-id engine into sessionkit's store under ``key``,
    expiring when it would have. The source is deleted only if it did not change since it
    was read (:meth:`~sessionkit.backends.connect_redis.SessionStore.move_out`): a racing
    request finds either the source or the copy, never neither, and a copy that lost that
    race is removed, so a session moved and then ended is never brought back."""

    def put_copy(fields: dict[str, str], expires: float) -> bool:
        return put(store_class, key, Legacy(from_fields(fields), expires), NO_CLIENT)

    status = engine.move_out(key, put_copy)
    if status == "lost":
        copy: Any = store_class()
        copy.delete(key)
        return Outcome("gone")
    return Outcome(status, None if status == "gone" else key)


def adopt_by_id(conf: SessionKitSettings, store_class: type[TrackedSession], key: str) -> None:
    """The middleware's hook for a verified cookie when ``ADOPT_FROM`` moves by id: the
    session it names moves now if it is still in the source (one round trip otherwise)."""
    assert conf.adopt_from is not None
    move_by_id(conf.adopt_from, store_class, key)


async def aadopt_by_id(
    conf: SessionKitSettings, store_class: type[TrackedSession], key: str
) -> None:
    await sync_to_async(adopt_by_id)(conf, store_class, key)


def legacy_value(request: HttpRequest) -> str | None:
    """The legacy cookie's value as Django's middleware read it (``request.COOKIES``)."""
    value = request.COOKIES.get(legacy_cookie_name())
    return value or None


def adopt(
    request: HttpRequest,
    conf: SessionKitSettings,
    store_class: type[TrackedSession],
    client: ClientInfo = NO_CLIENT,
) -> CookieState | None:
    """The middleware's hook for a request whose cookie is not sessionkit's: the cookie
    state of the adopted session (re-signed on this response, keeping its expiry), or
    ``None`` (no legacy session: the request goes on as it would without ``ADOPT_FROM``)."""
    assert conf.adopt_from is not None
    value = legacy_value(request)
    if value is None:
        return None
    request._sessionkit_legacy = True  # type: ignore[attr-defined]  # clear it if renamed
    outcome = move(conf.adopt_from, store_class, value, conf.keys, client)
    if outcome.key is None:
        return None
    # A loser that finds nothing yet is served a fresh session, without clearing the
    # cookie the winner's response sets: ``present`` is only for a cookie that is ours.
    return CookieState(
        present=outcome.status != "lost" and conf.name == legacy_cookie_name(),
        key=outcome.key,
        stale_signature=True,
    )


async def aadopt(
    request: HttpRequest,
    conf: SessionKitSettings,
    store_class: type[TrackedSession],
    client: ClientInfo = NO_CLIENT,
) -> CookieState | None:
    """:func:`adopt` for the async path: the legacy engines are sync (the ORM, files)."""
    return await sync_to_async(adopt)(request, conf, store_class, client)


def clear_legacy_cookie(request: HttpRequest, response: HttpResponseBase, name: str) -> None:
    """With a sessionkit ``NAME`` other than ``SESSION_COOKIE_NAME``, a legacy cookie that
    went through adoption (moved or dead) is cleared on the response."""
    if getattr(request, "_sessionkit_legacy", False) and name != legacy_cookie_name():
        response.delete_cookie(
            legacy_cookie_name(),
            path=settings.SESSION_COOKIE_PATH,
            domain=settings.SESSION_COOKIE_DOMAIN,
            samesite=settings.SESSION_COOKIE_SAMESITE,
        )


# -- the command's side: every legacy session ahead of time ----------------------------------


def listable(engine: type[SessionBase]) -> bool:
    """Whether ``manage.py sessionkit_adopt`` can list the engine's sessions."""
    return moves_by_id(engine) or issubclass(engine, dj_db.SessionStore | dj_file.SessionStore)


def legacy_batches(
    engine: type[SessionBase], batch_size: int
) -> Iterator[list[tuple[str, Legacy | None]]]:
    """Every legacy key in batches, in key order, each with its record as stored (live or
    not; ``None``: unreadable). Moved keys are gone from the listing, so a run that stopped
    resumes by starting over."""
    if issubclass(engine, dj_db.SessionStore):
        yield from _db_batches(engine, batch_size)
    else:
        yield from _file_batches(engine, batch_size)


def _db_batches(
    engine: type[SessionBase], batch_size: int
) -> Iterator[list[tuple[str, Legacy | None]]]:
    model = engine.get_model_class()  # type: ignore[attr-defined]
    store = engine()
    after = ""
    while True:
        rows = list(
            model.objects.filter(session_key__gt=after)
            .order_by("session_key")
            .values_list("session_key", "session_data", "expire_date")[:batch_size]
        )
        if not rows:
            return
        yield [
            (key, Legacy(_decode(store, text), _timestamp(expire_date)))
            for key, text, expire_date in rows
        ]
        after = rows[-1][0]


def _file_batches(
    engine: type[SessionBase], batch_size: int
) -> Iterator[list[tuple[str, Legacy | None]]]:
    store: Any = engine()
    prefix = store.file_prefix
    names = sorted(n for n in os.listdir(store.storage_path) if n.startswith(prefix))
    for start in range(0, len(names), batch_size):
        batch: list[tuple[str, Legacy | None]] = []
        for name in names[start : start + batch_size]:
            key = name[len(prefix) :]
            session = engine(key)
            batch.append((key, None if session.session_key is None else _read_file(session)))
        yield batch


def count_legacy(engine: type[SessionBase]) -> int:
    if issubclass(engine, dj_db.SessionStore):
        return int(engine.get_model_class().objects.count())
    store: Any = engine()
    return sum(1 for n in os.listdir(store.storage_path) if n.startswith(store.file_prefix))
