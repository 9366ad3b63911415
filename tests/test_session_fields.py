"""Session data as JSON fields (``sessionkit.session_fields``): change judged by value."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionkit.session_fields import (
    Delta,
    LazyData,
    diff,
    from_fields,
    join_fields,
    to_fields,
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
)


def test_an_equal_value_is_no_change_and_an_in_place_mutation_is_one() -> None:
    before = to_fields({"items": [1], "x": 1})
    assert not diff(before, to_fields({"items": [1], "x": 1}))
    assert diff(before, to_fields({"items": [1, 2], "x": 1})) == Delta(
        {"items": "[1,2]"}, frozenset()
    )


def test_a_delta_merged_into_what_another_request_stored_keeps_its_keys() -> None:
    stored = {"theirs": "1", "mine": "1", "gone": "1"}
    delta = Delta({"mine": "2"}, frozenset({"gone"}))
    assert delta.applied_to(stored) == {"theirs": "1", "mine": "2"}


def test_values_json_cannot_hold_are_refused_when_saving_and_fingerprinted_when_comparing() -> (
    None
):
    with pytest.raises(TypeError):
        to_fields({"when": object()})
    assert to_fields({"n": float("nan")}, strict=False) == {"n": "NaN"}


def test_keys_that_are_not_str_are_saved_as_djangos_json_serializer_writes_them() -> None:
    """``json.dumps`` writes ``7`` as ``"7"`` and ``None`` as ``"null"``: so does a save,
    of a new session and of a loaded one (never a field a store cannot write)."""
    data = {7: "seven", 1.5: 1, True: [], None: {}, "s": "s"}
    fields = to_fields(data)
    assert all(isinstance(key, str) for key in fields)
    assert from_fields(fields) == json.loads(json.dumps(data))
    assert json.loads(join_fields(fields)) == json.loads(json.dumps(data))
    session = LazyData({"a": "1"})
    session[7] = "seven"
    assert diff({"a": "1"}, to_fields(session)) == Delta({"7": '"seven"'}, frozenset())


def test_a_key_json_cannot_hold_is_refused_when_saving_and_named() -> None:
    with pytest.raises(TypeError, match=r"session key \(1, 2\) is a tuple"):
        to_fields({(1, 2): "x"})
    session = LazyData({"a": "1"})
    session[(1, 2)] = "x"
    with pytest.raises(TypeError, match=r"session key \(1, 2\) is a tuple"):
        to_fields(session)
    assert to_fields(session, strict=False) == {"a": "1", "(1, 2)": '"x"'}


def test_a_key_holding_a_lone_surrogate_is_refused_when_saving_and_named() -> None:
    """No store can hold it (a Redis field name, a SQL path are UTF-8): an error naming
    the key at save time, not an encoding error from a store's client."""
    with pytest.raises(ValueError, match=r"session key 'k\\ud800' holds a lone surrogate"):
        to_fields({"k\ud800": 1})
    assert to_fields({"k\ud800": 1, "caf\u00e9": 2}, strict=False) == {
        "'k\\ud800'": "1",
        "caf\u00e9": "2",
    }


def test_a_lone_surrogate_is_saved_escaped_as_djangos_json_serializer_writes_it() -> None:
    """A str may hold one, UTF-8 cannot: the text escapes it (other characters stay as
    they are), so every store writes it and reads the same str back."""
    data = {"name": "bad\udcff", "nested": {"k\ud800": ["caf\u00e9 \udcff"]}}
    fields = to_fields(data)
    assert fields == {"name": '"bad\\udcff"', "nested": '{"k\\ud800":["caf\u00e9 \\udcff"]}'}
    assert from_fields(fields) == data
    assert json.loads(join_fields(fields).encode()) == data
    session = LazyData(fields)
    session["name"] += "!"
    assert to_fields(session)["name"] == '"bad\\udcff!"'


@settings(max_examples=50)
@given(st.dictionaries(st.text(), JSON, max_size=5))
def test_fields_round_trip_and_join_into_one_json_object(data: dict[str, object]) -> None:
    fields = to_fields(data)
    assert from_fields(fields) == data
    assert from_fields({"all": join_fields(fields)})["all"] == data


# -- LazyData: a loaded session decodes what the view reads ----------------------------

TWENTY = {f"k{i}": to_fields({"v": [i, {"n": i}]})["v"] for i in range(20)}


def test_reading_one_key_decodes_that_key_only() -> None:
    """A neighbour that is not JSON does not stop the read: it is never decoded."""
    session = LazyData({**TWENTY, "broken": "{not json"})
    assert session["k3"] == [3, {"n": 3}]
    assert session.get("k4") == [4, {"n": 4}]
    assert "broken" in session and len(session) == 21


def test_a_stored_text_that_is_not_json_reads_as_absent_and_is_dropped(caplog) -> None:
    session = LazyData({"ok": "1", "broken": "{not json"})
    assert session.get("broken", "default") == "default"
    assert "broken" not in session
    assert to_fields(session) == {"ok": "1"}
    assert "undecodable session value 'broken'" in caplog.text
    with pytest.raises(KeyError):
        LazyData({"broken": "{"})["broken"]
    with pytest.raises(KeyError):
        LazyData({"broken": "{"}).pop("broken")
    assert LazyData({"broken": "{"}).pop("broken", None) is None
    assert LazyData({"broken": "{"}).setdefault("broken", 1) == 1


def test_unread_values_keep_their_stored_text_verbatim() -> None:
    spaced = {"a": '{"x": [1, 2]}', "b": '"caf\\u00e9"', "c": "[1]"}
    session = LazyData(spaced)
    session["c"] = [2]
    assert to_fields(session) == {"a": '{"x": [1, 2]}', "b": '"caf\\u00e9"', "c": "[2]"}


def test_a_value_read_and_left_alone_is_no_change_however_it_was_spelled() -> None:
    spaced = {"a": '{"x": [1, 2]}', "b": '"caf\\u00e9"', "n": "1.0"}
    session = LazyData(spaced)
    assert (session["a"], session["b"], session["n"]) == ({"x": [1, 2]}, "café", 1.0)
    assert not diff(spaced, to_fields(session))


def test_a_value_read_and_changed_in_place_is_a_change() -> None:
    session = LazyData(TWENTY)
    session["k7"][1]["n"] = "changed"
    assert diff(TWENTY, to_fields(session)) == Delta({"k7": '[7,{"n":"changed"}]'}, frozenset())


def test_an_equal_value_assigned_over_an_unread_one_is_no_change() -> None:
    session = LazyData(TWENTY)
    session["k1"] = [1, {"n": 1}]
    session.update({"k2": [2, {"n": 2}]})
    assert not diff(TWENTY, to_fields(session))


def test_removed_and_new_keys_are_in_the_delta() -> None:
    session = LazyData(TWENTY)
    del session["k0"]
    session.pop("k1")
    session["new"] = True
    assert diff(TWENTY, to_fields(session)) == Delta({"new": "true"}, frozenset({"k0", "k1"}))


def test_whole_session_views_see_every_value_decoded() -> None:
    session = LazyData({"a": "1", "b": "[2]"})
    plain = {"a": 1, "b": [2]}
    assert dict(session) == {**session} == session.copy() == plain
    assert list(LazyData({"a": "1", "b": "[2]"})) == ["a", "b"]
    assert session == plain
    assert not session.__ne__(plain)
    assert LazyData({"a": "1"}) == LazyData({"a": "1.0"})  # two loaded sessions, by value
    assert LazyData({"a": "1"}) != LazyData({"a": "2"})
    assert list(session.items()) == list(plain.items())
    assert list(session.values()) == list(plain.values())
    assert json.loads(json.dumps(LazyData({"a": "1", "b": "[2]"}))) == plain
    assert pickle.loads(pickle.dumps(LazyData({"a": "1"}))) == {"a": 1}
    assert copy.deepcopy(LazyData({"a": "1"})) == {"a": 1}
    assert repr(LazyData({"a": "1"})) == "{'a': 1}"
    assert (LazyData({"a": "1"}) | {"b": 2}) == {"a": 1, "b": 2}
    assert ({"b": 2} | LazyData({"a": "1"})) == {"b": 2, "a": 1}


KEYS = st.sampled_from(["a", "b", "c", "d"])
OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["get", "getitem", "in", "set", "del", "pop", "setdefault", "update", "append"]
        )
        | st.sampled_from(["len", "keys", "items", "popitem", "clear"]),
        KEYS,
        JSON,
    ),
    max_size=12,
)


def apply(data: dict[str, Any], op: str, key: str, value: Any) -> Any:
    """One mapping operation as Django's ``SessionBase`` or a view performs it."""
    try:
        if op == "get":
            return data.get(key, "default")
        if op == "getitem":
            return data[key]
        if op == "in":
            return key in data
        if op == "set":
            data[key] = value
        elif op == "del":
            del data[key]
        elif op == "pop":
            return data.pop(key, "default")
        elif op == "setdefault":
            return data.setdefault(key, value)
        elif op == "update":
            data.update({key: value})
        elif op == "append":
            if isinstance(current := data.get(key), list):
                current.append(value)
        elif op == "len":
            return len(data)
        elif op == "keys":
            return list(data.keys())
        elif op == "items":
            return list(data.items())
        elif op == "popitem":
            return data.popitem()
        elif op == "clear":
            data.clear()
    except KeyError:
        return "KeyError"
    return None


@settings(max_examples=200)
@given(st.dictionaries(KEYS, JSON, max_size=4), OPS)
def test_a_lazy_session_behaves_as_the_plain_dict_it_stands_for(
    stored: dict[str, Any], ops: list[tuple[str, str, Any]]
) -> None:
    fields = to_fields(stored)
    lazy, plain = LazyData(fields), from_fields(fields)
    for op, key, value in ops:
        assert apply(lazy, op, key, copy.deepcopy(value)) == apply(plain, op, key, value)
    assert to_fields(lazy) == to_fields(plain)
    assert diff(fields, to_fields(lazy)) == diff(fields, to_fields(plain))
