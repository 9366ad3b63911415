"""Session data as JSON fields (``sessionkit.session_fields``): change judged by value."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionkit.session_fields import Delta, diff, from_fields, join_fields, to_fields

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


@settings(max_examples=50)
@given(st.dictionaries(st.text(), JSON, max_size=5))
def test_fields_round_trip_and_join_into_one_json_object(data: dict[str, object]) -> None:
    fields = to_fields(data)
    assert from_fields(fields) == data
    assert from_fields({"all": join_fields(fields)})["all"] == data
