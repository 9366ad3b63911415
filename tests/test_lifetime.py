"""Lifetimes (``sessionkit.lifetime``): the store never loses a session the cookie still
names, and nothing outlives the absolute deadline.

The invariant, for any settings and any ``set_expiry()`` value: a stored session never
expires before the cookie the client holds, and never outlives its absolute deadline;
after a read (touched or not, rolling or not) the same still holds.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from sessionkit import lifetime
from sessionkit.conf import SessionKitSettings, parse

NOW = 1_800_000_000.0
SECONDS = st.integers(min_value=1, max_value=10**8)


@st.composite
def settings(draw: st.DrawFn) -> SessionKitSettings:
    raw = {
        "ROLLING": draw(st.booleans()),
        "ABSOLUTE_TIMEOUT": draw(st.none() | SECONDS),
        "COOKIE": {"MAX_AGE": draw(st.none() | SECONDS)},
    }
    with override_settings(SESSION_COOKIE_AGE=draw(SECONDS)):
        conf = parse(raw)
    assert not conf.problems
    return conf


#: What ``set_expiry()`` may have stored: nothing, 0, seconds (even negative), a date.
CUSTOM = (
    st.none()
    | st.just(0)
    | st.integers(min_value=-100, max_value=10**8)
    | st.integers(min_value=lifetime.MAX_LIFETIME - 100, max_value=sys.maxsize)
    | st.floats(min_value=-(10**6), max_value=10**8).map(
        lambda d: datetime.fromtimestamp(NOW + d).isoformat()
    )
)


@given(conf=settings(), custom=CUSTOM, age=st.floats(min_value=0, max_value=10**7))
def test_a_saved_session_outlives_its_cookie_and_not_its_deadline(
    conf: SessionKitSettings, custom: object, age: float
) -> None:
    created = NOW - age
    life = lifetime.store_lifetime(custom, NOW, created, conf)
    max_age = lifetime.cookie_max_age(custom, NOW, conf, limit=life.deadline)
    if max_age is not None:
        assert NOW + max_age <= life.expires or max_age == 0
    if life.deadline is not None:
        assert life.expires <= life.deadline
        assert life.deadline == created + (conf.absolute_timeout or 0)


@given(
    conf=settings(),
    custom=CUSTOM,
    later=st.floats(min_value=0, max_value=10**8),
    stale=st.booleans(),
    db=st.booleans(),
)
def test_after_a_read_the_store_still_outlives_the_cookie(
    conf: SessionKitSettings, custom: object, later: float, stale: bool, db: bool
) -> None:
    life = lifetime.store_lifetime(custom, NOW, NOW, conf)
    read_at = NOW + later
    if read_at >= life.expires:
        return  # expired: the read finds nothing
    slack = lifetime.touch_slack(life.age) if db else 0.0
    stored = lifetime.expiry_after_read(life.expires, life.age, life.deadline, read_at, slack)
    assert stored >= life.expires
    if life.deadline is not None:
        assert stored <= life.deadline
    if conf.rolling:  # the cookie is re-sent with a renewed lifetime, capped by the store's
        held = lifetime.cookie_max_age(
            custom, read_at, conf, limit=life.deadline, stored_expires=stored
        )
    elif stale:  # re-signed, keeping the expiry it had
        held = lifetime.cookie_max_age(
            custom, read_at, conf, limit=life.deadline, kept_expiry=life.expires
        )
    else:  # the cookie sent when it was saved
        held = lifetime.cookie_max_age(custom, NOW, conf, limit=life.deadline)
        read_at = NOW
    if held is not None and held > 0:
        assert read_at + held <= stored


def test_set_expiry_zero_is_a_browser_session_kept_for_the_idle_timeout() -> None:
    with override_settings(SESSION_COOKIE_AGE=900):
        conf = parse({"COOKIE": {"MAX_AGE": 3600}})
    assert lifetime.cookie_max_age(0, NOW, conf, limit=None) is None
    assert lifetime.store_lifetime(0, NOW, NOW, conf).expires == NOW + 900


def test_a_negative_set_expiry_has_already_expired() -> None:
    conf = parse({})
    assert lifetime.store_lifetime(-5, NOW, NOW, conf).expires < NOW
    assert lifetime.cookie_max_age(-5, NOW, conf, limit=None) == 0


def test_a_read_within_the_slack_leaves_the_expiry_and_beyond_it_touches() -> None:
    assert lifetime.touch_slack(3600) == 36
    assert lifetime.touch_slack(10**6) == lifetime.TOUCH_SLACK_MAX
    expires = NOW + 3600
    assert lifetime.expiry_after_read(expires, 3600, None, NOW + 30, 36) == expires
    assert lifetime.expiry_after_read(expires, 3600, None, NOW + 40, 36) == NOW + 3640


FAR = datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))  # after year 9999 in UTC


@pytest.mark.parametrize("custom", [10**12, sys.maxsize, FAR.isoformat()])
def test_a_set_expiry_beyond_50_years_is_cut_to_50_years(custom: object) -> None:
    conf = parse({})
    life = lifetime.store_lifetime(custom, NOW, NOW, conf)
    assert life.expires == NOW + lifetime.MAX_LIFETIME
    assert lifetime.cookie_max_age(custom, NOW, conf, limit=None) == lifetime.MAX_LIFETIME
    datetime.fromtimestamp(life.expires, UTC)  # a date a store or cookie can hold


@pytest.mark.parametrize("custom", [-(10**12), -sys.maxsize, "0001-01-01T00:00:00+00:00"])
def test_a_set_expiry_more_than_50_years_past_is_cut_to_50_years(custom: object) -> None:
    """Expired at once, as any date in the past, with a date every store can hold."""
    life = lifetime.store_lifetime(custom, NOW, NOW, parse({}))
    assert life.expires == NOW - lifetime.MAX_LIFETIME
    datetime.fromtimestamp(life.expires, UTC)


def test_an_unreadable_expiry_date_falls_back_to_the_cookie_age() -> None:
    conf = parse({"COOKIE": {"MAX_AGE": 3600}})
    assert lifetime.store_lifetime("not a date", NOW, NOW, conf).expires == NOW + 3600
    assert lifetime.cookie_max_age("not a date", NOW, conf, limit=None) == 3600


# -- the settings in force at read time (expiry_in_force) ---------------------------------


@given(
    stored_under=settings(),
    in_force=settings(),
    custom=CUSTOM,
    age=st.floats(min_value=0, max_value=10**7),
    reads=st.lists(st.floats(min_value=0, max_value=10**6), max_size=4),
    db=st.booleans(),
)
def test_the_settings_in_force_never_lengthen_a_session_and_unchanged_keep_it(
    stored_under: SessionKitSettings,
    in_force: SessionKitSettings,
    custom: object,
    age: float,
    reads: list[float],
    db: bool,
) -> None:
    """Saved under some settings, read a few times (touched or left within the db's
    slack), then judged under others: never later than the store's expiry; exactly it when
    the settings are unchanged; within the lowered caps otherwise."""
    created = NOW - age
    life = lifetime.store_lifetime(custom, NOW, created, stored_under)
    expires, last_seen, now = life.expires, NOW, NOW
    for gap in reads:
        now += gap
        slack = lifetime.touch_slack(life.age) if db else 0.0
        after = lifetime.expiry_after_read(expires, life.age, life.deadline, now, slack)
        if after != expires:
            expires, last_seen = after, now
    kept = lifetime.expiry_in_force(expires, life.age, created, last_seen, custom, stored_under)
    assert kept == expires
    judged = lifetime.expiry_in_force(expires, life.age, created, last_seen, custom, in_force)
    assert judged <= expires
    if in_force.absolute_timeout is not None:
        assert judged <= created + in_force.absolute_timeout
    idle = lifetime.touch_age(custom, in_force)
    if life.age is not None and idle is not None and idle < life.age:
        assert judged <= max(expires - life.age, last_seen) + idle


def test_a_lowered_max_age_counts_from_the_last_use_not_from_creation() -> None:
    old, new = parse({"COOKIE": {"MAX_AGE": 3600}}), parse({"COOKIE": {"MAX_AGE": 300}})
    created = NOW - 86400
    life = lifetime.store_lifetime(None, NOW - 100, created, old)  # last written 100 s ago
    judged = lifetime.expiry_in_force(life.expires, life.age, created, NOW - 100, None, new)
    assert judged == NOW + 200
    fixed = datetime.fromtimestamp(NOW + 50_000).isoformat()  # set_expiry(a date) stays
    dated = lifetime.store_lifetime(fixed, NOW, created, old)
    assert lifetime.expiry_in_force(dated.expires, None, created, NOW, fixed, new) == dated.expires


@given(
    conf=settings(),
    custom=CUSTOM,
    stored_deadline=st.none() | st.floats(min_value=NOW - 10**6, max_value=NOW + 10**8),
)
def test_a_merged_write_never_pushes_the_stored_deadline_back(
    conf: SessionKitSettings, custom: object, stored_deadline: float | None
) -> None:
    own = lifetime.store_lifetime(custom, NOW, NOW - 10, conf)
    merged = lifetime.merged_lifetime(custom, NOW, NOW - 10, stored_deadline, conf)
    assert merged.age == own.age
    assert merged.expires <= own.expires
    if stored_deadline is not None:
        assert merged.deadline is not None and merged.deadline <= stored_deadline
        assert merged.expires <= stored_deadline
