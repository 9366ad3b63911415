"""The "Your devices" page (sessionkit.views, include("sessionkit.urls")) through Django's
test client, on the db store and on Redis: who may see it, what it lists, and that only a
POST with a CSRF token ends the user's own sessions."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

import sessionkit
import sessionkit.test

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.devices_urls")]

PASSWORD = "pw-123456"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
PAGE, END, END_OTHERS = "/sessions/", "/sessions/end/", "/sessions/end-others/"


@pytest.fixture(
    params=[
        pytest.param("db", marks=pytest.mark.db),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test once on the db store and once on the Redis store (flushed first)."""
    if request.param == "db":
        yield "db"
        return
    request.getfixturevalue("redis_client")
    with override_settings(
        SESSION_ENGINE="sessionkit.backends.redis", SESSION_CACHE_ALIAS="redis"
    ):
        yield "redis"


@pytest.fixture
def user(engine: str) -> User:
    return User.objects.create_user("lin", password=PASSWORD)


def device(username: str, agent: str, **options: bool) -> sessionkit.test.Client:
    """A browser logged in as ``username`` that has made one request (agent, IP recorded)."""
    client = sessionkit.test.Client(HTTP_USER_AGENT=agent, **options)
    assert client.login(username=username, password=PASSWORD)
    client.get("/write/?seen=1")  # a request that saves the session records agent and IP
    return client


def rows(page: str) -> list[tuple[bool, str]]:
    """The table's rows as (marked current, visible text)."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    found = re.findall(r"<tr([^>]*)>(.*?)</tr>", body, re.S)
    return [
        (
            'aria-current="true"' in attrs,
            " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cells)).split()),
        )
        for attrs, cells in found
    ]


def handle_of(client: sessionkit.test.Client, user: User) -> str:
    (mine,) = (s for s in sessionkit.user_sessions(user, current=client.session) if s.current)
    return mine.handle


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match, "no CSRF token in the page"
    return match.group(1)


def logged_in(client: sessionkit.test.Client) -> bool:
    return client.get(PAGE).status_code == 200


def test_the_page_needs_a_login_and_sends_to_login_url(engine: str, settings) -> None:
    response = sessionkit.test.Client().get(PAGE)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/sessions/"
    settings.LOGIN_URL = "/elsewhere/"
    assert sessionkit.test.Client().get(PAGE)["Location"] == "/elsewhere/?next=/sessions/"
    assert (
        sessionkit.test.Client().post(END, {"handle": "x"})["Location"].startswith("/elsewhere/")
    )


def test_the_page_lists_each_device_and_marks_this_one(user: User) -> None:
    device("lin", IPHONE)
    laptop = device("lin", FIREFOX)
    response = laptop.get(PAGE)
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    page = response.content.decode()
    listed = rows(page)
    assert len(listed) == 2
    current = [text for is_current, text in listed if is_current]
    assert len(current) == 1 and current[0].startswith("Firefox on Linux this device")
    assert any(
        text.startswith("Safari on iPhone") for is_current, text in listed if not is_current
    )
    assert all("127.0.0.1" in text and "ago" in text for _, text in listed)
    # plain, accessible HTML: a viewport, machine-readable times, buttons with names
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "/static/sessionkit/sessionkit.css" in page
    assert len(re.findall(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+"', page)) == 4
    assert "End session on Safari on iPhone (127.0.0.1)" in " ".join(
        re.sub(r"<[^>]+>", " ", page).split()
    )
    assert page.count("Log out other devices") == 1


def test_get_never_ends_a_session(user: User) -> None:
    phone, laptop = device("lin", IPHONE), device("lin", FIREFOX)
    assert laptop.get(END, {"handle": handle_of(phone, user)}).status_code == 405
    assert laptop.get(END_OTHERS).status_code == 405
    assert logged_in(phone) and logged_in(laptop)
    assert len(sessionkit.user_sessions(user)) == 2


def test_ending_needs_the_csrf_token(user: User) -> None:
    phone = device("lin", IPHONE)
    laptop = device("lin", FIREFOX, enforce_csrf_checks=True)
    assert laptop.post(END, {"handle": handle_of(phone, user)}).status_code == 403
    assert laptop.post(END_OTHERS).status_code == 403
    assert logged_in(phone)
    token = csrf_token(laptop.get(PAGE).content.decode())
    response = laptop.post(END_OTHERS, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert not logged_in(phone)


def test_ending_one_device_logs_it_out_and_keeps_this_one(user: User) -> None:
    phone, tablet, laptop = (
        device("lin", IPHONE),
        device("lin", "Tablet/1"),
        device("lin", FIREFOX),
    )
    response = laptop.post(END, {"handle": handle_of(phone, user)}, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    assert "That device has been logged out." in response.content.decode()
    assert [text.split(" ")[0] for _, text in rows(response.content.decode())] == [
        "Firefox",
        "Unknown",
    ]
    assert phone.get(PAGE)["Location"].startswith("/accounts/login/")
    assert logged_in(tablet) and logged_in(laptop)


def test_log_out_other_devices_keeps_only_this_one(user: User) -> None:
    phone, tablet, laptop = (
        device("lin", IPHONE),
        device("lin", "Tablet/1"),
        device("lin", FIREFOX),
    )
    response = laptop.post(END_OTHERS, follow=True)
    page = response.content.decode()
    assert "Logged out of 2 other devices." in page
    assert [is_current for is_current, _ in rows(page)] == [True]
    assert "Log out other devices" not in page  # nothing left to end
    assert not logged_in(phone) and not logged_in(tablet)
    assert logged_in(laptop)


def test_another_users_handle_is_refused(user: User) -> None:
    User.objects.create_user("mo", password=PASSWORD)
    mo = device("mo", IPHONE)
    mos = User.objects.get(username="mo")
    laptop = device("lin", FIREFOX)
    response = laptop.post(END, {"handle": handle_of(mo, mos)}, follow=True)
    assert response.status_code == 200
    assert "not one of yours" in response.content.decode()
    assert logged_in(mo)
    assert "Safari" not in response.content.decode()  # another user's devices never shown


@pytest.mark.parametrize("posted", [{}, {"handle": ""}, {"handle": "no-such-session"}])
def test_a_missing_or_unknown_handle_ends_nothing(user: User, posted: dict[str, str]) -> None:
    phone, laptop = device("lin", IPHONE), device("lin", FIREFOX)
    response = laptop.post(END, posted, follow=True)
    assert response.status_code == 200
    assert "already ended" in response.content.decode()
    assert logged_in(phone) and logged_in(laptop)


def test_ending_this_device_logs_out_here(user: User, settings) -> None:
    phone, laptop = device("lin", IPHONE), device("lin", FIREFOX)
    response = laptop.post(END, {"handle": handle_of(laptop, user)})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert response.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == 0
    assert not logged_in(laptop)
    assert logged_in(phone)
    settings.LOGOUT_REDIRECT_URL = "/bye/"
    response = phone.post(END, {"handle": handle_of(phone, user)})
    assert response["Location"] == "/bye/"


def test_an_engine_without_a_per_user_index_says_so(settings) -> None:
    settings.SESSION_ENGINE = "sessionkit.backends.cache"
    User.objects.create_user("lin", password=PASSWORD)
    client = sessionkit.test.Client()
    assert client.login(username="lin", password=PASSWORD)
    page = client.get(PAGE).content.decode()
    assert "cannot list or end your other sessions" in page
    for url in (END, END_OTHERS):
        response = client.post(url, {"handle": "x"}, follow=True)
        assert response.status_code == 200
        assert "cannot list or end your other sessions" in response.content.decode()


def test_a_project_overrides_the_template(user: User, settings, tmp_path: Path) -> None:
    (tmp_path / "sessionkit").mkdir()
    (tmp_path / "sessionkit" / "user_sessions.html").write_text(
        "{% for s in sessions %}[{{ s.label }}{% if s.current %}*{% endif %}]{% endfor %}"
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path]}]
    laptop = device("lin", FIREFOX)
    assert laptop.get(PAGE).content.decode() == "[Firefox on Linux*]"
