"""A session as JSON fields, compared by value as express-session judges "modified".

A session is held as *fields*: each top-level key mapped to the JSON text of its value.
Two states compare equal exactly when every value serialises the same, so assigning an
equal value is no change while mutating a nested list in place is one, with no need for
``request.session.modified = True``. Stores that write only changed keys use the diff.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

Fields = dict[str, str]

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_lenient = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=repr)


def decode_value(text: str) -> Any:
    return json.loads(text)


def to_fields(data: Mapping[str, Any], *, strict: bool = True) -> Fields:
    """Encode a session dict. ``strict=False`` fingerprints values JSON cannot hold."""
    encode = _encoder.encode if strict else _lenient.encode
    return {key: encode(value) for key, value in data.items()}


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
