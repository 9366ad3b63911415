"""A session as JSON fields, compared by value as express-session judges "modified".

A session is held as *fields*: each top-level key mapped to the JSON text of its value.
Two states compare equal exactly when every value serialises the same, so assigning an
equal value is no change while mutating a nested list in place is one, with no need for
``request.session.modified = True``. Stores that write only changed keys use the diff.
Keys and values are written as Django's JSON serializer writes them: a key that is not a
str as ``json.dumps`` writes it (``7`` as ``"7"``), a lone surrogate in a value escaped (in
a key, which no store can hold, it is refused).

A session loaded from a store is a :class:`LazyData`: each value is decoded when the view
first reads it, and only the values the view read or wrote are encoded again to judge the
change; the others keep their stored text verbatim.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_values

Fields = dict[str, str]

logger = logging.getLogger(__name__)

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_lenient = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=repr)
#: A lone surrogate: a str may hold one, UTF-8 (so a store) cannot.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _writable(text: str) -> str:
    """``text`` with each lone surrogate escaped as Django's serializer (``json.dumps``)
    writes it: UTF-8, so every store, can then hold it."""
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return _SURROGATE.sub(_escape, text)
    return text


def _encode(value: Any) -> str:
    return _writable(_encoder.encode(value))


def _encode_lenient(value: Any) -> str:
    return _writable(_lenient.encode(value))


def _field_key(key: Any, *, strict: bool = True) -> str:
    """A session key as ``json.dumps`` (Django's serializer) writes it: ``7`` as ``"7"``,
    ``True`` as ``"true"``, ``None`` as ``"null"``. ``strict=False`` fingerprints a key
    JSON cannot hold (a tuple) instead of refusing it."""
    if isinstance(key, str):
        if key.isascii() or _writable(key) is key:
            return key
        if not strict:
            return repr(key)
        raise ValueError(
            f"the session key {key!r} holds a lone surrogate, which no store can hold"
        )
    if isinstance(key, int | float) or key is None:
        return json.dumps(key)
    if not strict:
        return repr(key)
    raise TypeError(
        f"the session key {key!r} is a {type(key).__name__}, which JSON cannot hold: "
        "use a str (or an int, float, bool or None, saved as its JSON text)."
    )


def decode_value(text: str) -> Any:
    return json.loads(text)


def to_fields(data: Mapping[Any, Any], *, strict: bool = True) -> Fields:
    """Encode a session dict. ``strict=False`` fingerprints values JSON cannot hold."""
    if isinstance(data, LazyData):
        return data.fields(strict=strict)
    encode = (_encoder if strict else _lenient).encode
    fields: Fields = {}
    for key, value in data.items():  # the checks inline: this runs for every key of a save
        text = encode(value)
        if not text.isascii():
            text = _writable(text)
        if type(key) is not str or not key.isascii():
            key = _field_key(key, strict=strict)
        fields[key] = text
    return fields


def from_fields(fields: Mapping[str, str]) -> dict[str, Any]:
    return {key: json.loads(text) for key, text in fields.items()}


def join_fields(fields: Mapping[str, str]) -> str:
    """One JSON object from encoded fields, without decoding them again."""
    return (
        "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{v}" for k, v in fields.items()) + "}"
    )


class Delta(NamedTuple):
    """What changed between two field states."""

    changed: Fields
    removed: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.changed or self.removed)

    def applied_to(self, stored: Mapping[str, str]) -> Fields:
        """``stored`` with this change merged in: keys other requests changed survive."""
        fields = {k: v for k, v in stored.items() if k not in self.removed}
        fields.update(self.changed)
        return fields


def diff(before: Mapping[str, str], after: Mapping[str, str]) -> Delta:
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    return Delta(changed, frozenset(before.keys() - after.keys()))


#: Types whose values cannot change in place: read and not replaced, a value of one of
#: these is still exactly its stored text.
_IMMUTABLE = (str, int, float, bool, type(None))


class _Pending:
    """The placeholder of a value not decoded yet (its text is in ``LazyData._stored``)."""

    __slots__ = ()


_PENDING: Any = _Pending()
_MISSING: Any = object()


class LazyData(dict[str, Any]):
    """A session dict over stored fields that decodes a value on its first read.

    Every key is in the dict from the start (so ``in``, ``len``, iterating keys, assigning
    and deleting are a plain dict's), its value a placeholder until read. Reading one key
    decodes that key only; anything that hands out values in bulk (``values()``,
    ``items()``, ``==``, ``copy()``, ``dict(session)``, pickling) decodes the rest first.
    :meth:`fields` encodes only the values the view read or wrote: a value never read, read
    and of a type that cannot change in place, or read and still equal to what was stored,
    keeps its stored text verbatim. A stored text that is not JSON reads as absent
    (logged), and the next save drops it.
    """

    __slots__ = ("_origin", "_stored")

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__(dict.fromkeys(fields, _PENDING))
        #: The fields as loaded (never changed): their order and texts.
        self._stored = fields
        #: The value each key had when decoded, to tell it was not replaced since.
        self._origin: dict[str, Any] = {}

    def _decode(self, key: str) -> Any:
        """The value of pending ``key``, now in the dict (``_MISSING``: not JSON, dropped)."""
        try:
            value = json.loads(self._stored[key])
        except ValueError:
            logger.warning("sessionkit: undecodable session value %r dropped", key)
            dict.__delitem__(self, key)
            return _MISSING
        dict.__setitem__(self, key, value)
        self._origin[key] = value
        return value

    def _decode_all(self) -> None:
        for key, value in list(dict.items(self)):
            if value is _PENDING:
                self._decode(key)

    # -- one key: decoded on demand ---------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        if value is _PENDING and (value := self._decode(key)) is _MISSING:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key, default)
        if value is _PENDING and (value := self._decode(key)) is _MISSING:
            return default
        return value

    def pop(self, key: str, *default: Any) -> Any:
        if dict.get(self, key) is _PENDING and self._decode(key) is _MISSING:
            return dict.pop(self, key, *default)  # raises KeyError without a default
        return dict.pop(self, key, *default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        value = dict.setdefault(self, key, default)
        if value is _PENDING and (value := self._decode(key)) is _MISSING:
            dict.__setitem__(self, key, default)
            return default
        return value

    def __iter__(self) -> Iterator[str]:
        # Defined here so that ``dict(session)``, ``{**session}`` and ``d.update(session)``
        # go through ``keys()`` and ``__getitem__`` instead of copying placeholders.
        return dict.__iter__(self)

    # -- values in bulk: decode the rest, then a plain dict -----------------------------

    def values(self) -> dict_values[str, Any]:
        self._decode_all()
        return dict.values(self)

    def items(self) -> dict_items[str, Any]:
        self._decode_all()
        return dict.items(self)

    def popitem(self) -> tuple[str, Any]:
        self._decode_all()
        return dict.popitem(self)

    def copy(self) -> dict[str, Any]:
        self._decode_all()
        return dict(dict.items(self))

    def __eq__(self, other: object) -> bool:
        self._decode_all()
        if isinstance(other, LazyData):
            other._decode_all()
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __or__(self, other: Any) -> Any:
        return self.copy() | other

    def __ror__(self, other: Any) -> Any:
        return other | self.copy()

    def __repr__(self) -> str:
        self._decode_all()
        return dict.__repr__(self)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (dict, (self.copy(),))

    # -- the session as fields --------------------------------------------------------

    def fields(self, *, strict: bool = True) -> Fields:
        """The session as fields: a value not decoded, or read and still what was stored,
        as its stored text; a value written, or read and changed in place, encoded. A
        read value whose text differs is compared with the stored one re-encoded (a store
        written by another program may space or escape JSON differently): no change."""
        encode = _encode if strict else _encode_lenient
        stored, origin = self._stored, self._origin
        out: Fields = {}
        for key, value in dict.items(self):
            if value is _PENDING:
                out[key] = stored[key]
            elif value is not origin.get(key, _MISSING):  # written: judged by its text
                out[_field_key(key, strict=strict)] = encode(value)
            elif type(value) in _IMMUTABLE:
                out[key] = stored[key]
            else:  # read, perhaps changed in place
                text = encode(value)
                unchanged = text == stored[key] or text == encode(json.loads(stored[key]))
                out[key] = stored[key] if unchanged else text
        return out
