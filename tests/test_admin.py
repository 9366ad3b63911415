"""The admin: the db store's session list, and each user's sessions on the User admin,
driven through Django's test client as a superuser, on the stores that keep an index."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Permission, User
from django.urls import reverse

import sessionkit
import sessionkit.test
from sessionkit.admin import (
    SessionAdmin,
    UserSessionsMixin,
    db_store_in_use,
    device_label,
    extend_user_admin,
    register,
)
from sessionkit.backends.base import hash_key
from sessionkit.models import Session

pytestmark = [pytest.mark.db, pytest.mark.django_db]

SESSIONS = reverse("admin:sessionkit_session_changelist")
USERS = reverse("admin:auth_user_changelist")
LONG_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
LAPTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
TABLET = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Safari/605.1.15"
)


def device(username: str, agent: str) -> sessionkit.test.Client:
    """A browser that logged in as ``username`` and made a request (agent and IP kept)."""
    client = sessionkit.test.Client(HTTP_USER_AGENT=agent)
    assert client.login(username=username, password="pw-123456")
    client.get("/write/?seen=1")
    return client


def logged_in(client: sessionkit.test.Client) -> bool:
    return client.get("/read/").json()["key"] is not None


@pytest.fixture
def people() -> dict[str, User]:
    return {
        name: User.objects.create_user(name, f"{name}@example.com", "pw-123456")
        for name in ("lin", "mo")
    }


@pytest.fixture
def superuser() -> sessionkit.test.Client:
    """The admin's browser: logged in on whatever engine the test set first."""
    User.objects.create_superuser("boss", "boss@example.com", "pw-123456")
    return device("boss", "AdminBrowser/1.0")


@pytest.fixture(params=["db", "redis", "memory"])
def indexed_engine(request: pytest.FixtureRequest, settings: Any) -> str:
    """Each store with a per-user index, set before anyone logs in."""
    settings.SESSION_ENGINE = f"sessionkit.backends.{request.param}"
    if request.param == "redis":
        settings.SESSION_CACHE_ALIAS = "redis"
        request.getfixturevalue("redis_client")  # the shared test Redis, flushed
    return str(request.param)


def listed(response: Any) -> list[Session]:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


# -- the db store's sessions --------------------------------------------------------------


def test_the_list_shows_each_logged_in_session_and_no_anonymous_one(people, superuser):
    device("lin", PHONE), device("mo", LONG_AGENT)
    sessionkit.test.Client().get("/write/?cart=1")  # anonymous: a row, not listed
    assert Session.objects.count() == 4
    response = superuser.get(SESSIONS)
    assert sorted(str(row.user) for row in listed(response)) == ["boss", "lin", "mo"]
    page = response.content.decode()
    assert "Safari on iPhone" in page and "127.0.0.1" in page and ">IP<" in page
    assert device_label(LONG_AGENT) == "Chrome on Linux"
    assert device_label(LONG_AGENT) in page and LONG_AGENT not in page  # the label


def test_the_list_filters_and_searches_by_user(people, superuser):
    device("lin", PHONE), device("lin", LAPTOP), device("mo", TABLET)
    lin = people["lin"]
    filtered = listed(superuser.get(SESSIONS, {"user__id__exact": lin.pk}))
    assert sorted(row.user_agent for row in filtered) == [LAPTOP, PHONE]
    assert [row.user_agent for row in listed(superuser.get(SESSIONS, {"q": "mo"}))] == [TABLET]
    found = listed(superuser.get(SESSIONS, {"q": "lin@example"}))  # the email too
    assert {row.user_id for row in found} == {lin.pk}


def test_the_action_ends_the_selected_sessions_and_no_other(people, superuser):
    phone, laptop, tablet = (
        device("lin", PHONE),
        device("lin", LAPTOP),
        device("mo", TABLET),
    )
    chosen = [hash_key(phone.session.session_key), hash_key(tablet.session.session_key)]
    response = superuser.post(
        SESSIONS, {"action": "end_selected", "_selected_action": chosen}, follow=True
    )
    assert "Ended 2 session(s)." in response.content.decode()
    assert not logged_in(phone) and not logged_in(tablet)
    assert logged_in(laptop) and logged_in(superuser)
    assert not Session.objects.filter(pk__in=chosen).exists()


def test_a_session_is_read_only_and_its_data_never_shown(people, superuser):
    phone = device("lin", PHONE)
    key_hash = hash_key(phone.session.session_key)
    phone.get("/write/", {"secret": '"hunter2"'})
    page = superuser.get(reverse("admin:sessionkit_session_change", args=[key_hash]))
    assert page.status_code == 200 and PHONE in page.content.decode()  # the full agent
    assert "hunter2" not in page.content.decode()
    assert superuser.get(reverse("admin:sessionkit_session_add")).status_code == 403
    deleting = reverse("admin:sessionkit_session_delete", args=[key_hash])
    assert superuser.post(deleting, {"post": "yes"}).status_code == 403
    assert logged_in(phone)


def test_ending_needs_the_delete_permission(people, superuser):
    staff = User.objects.create_user("clerk", password="pw-123456", is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(codename="view_session", content_type__app_label="sessionkit")
    )
    clerk = device("clerk", "Desk/1.0")
    phone = device("lin", PHONE)
    response = clerk.get(SESSIONS)
    assert len(listed(response)) == 3  # boss, clerk, lin
    assert "end_selected" not in response.content.decode()
    clerk.post(
        SESSIONS,
        {"action": "end_selected", "_selected_action": [hash_key(phone.session.session_key)]},
    )
    assert logged_in(phone)


def test_the_list_is_hidden_while_another_store_is_in_use(settings, people):
    settings.SESSION_ENGINE = "sessionkit.backends.memory"
    User.objects.create_superuser("boss", "boss@example.com", "pw-123456")
    boss = device("boss", "AdminBrowser/1.0")
    assert boss.get(SESSIONS).status_code == 403
    assert "sessionkit_session" not in boss.get(reverse("admin:index")).content.decode()


# -- the User admin, on every store with an index -----------------------------------------


def test_the_user_page_lists_the_users_sessions(indexed_engine, people, superuser):
    device("lin", PHONE), device("lin", LAPTOP), device("mo", TABLET)
    page = superuser.get(reverse("admin:auth_user_change", args=[people["lin"].pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Safari on iPhone" in html and "Firefox on Windows" in html and "127.0.0.1" in html
    assert "Safari on macOS" not in html
    link = f"{SESSIONS}?user__id__exact={people['lin'].pk}"
    assert (link in html) == (indexed_engine == "db")  # the db store's list, filtered
    quiet = superuser.get(reverse("admin:auth_user_change", args=[people["mo"].pk]))
    assert "Safari on macOS" in quiet.content.decode()


def test_the_user_action_ends_every_session_of_the_selected_users(
    indexed_engine, people, superuser
):
    phone, laptop, tablet = (
        device("lin", PHONE),
        device("lin", LAPTOP),
        device("mo", TABLET),
    )
    response = superuser.post(
        USERS,
        {"action": "end_all_sessions", "_selected_action": [people["lin"].pk]},
        follow=True,
    )
    assert "Ended 2 session(s) of 1 user(s)." in response.content.decode()
    assert not logged_in(phone) and not logged_in(laptop)
    assert logged_in(tablet) and logged_in(superuser)
    assert sessionkit.user_sessions(people["lin"]) == []
    page = superuser.get(reverse("admin:auth_user_change", args=[people["lin"].pk]))
    assert "No live sessions." in page.content.decode()


def test_a_store_without_an_index_says_so_instead_of_failing(settings, people):
    settings.SESSION_ENGINE = "sessionkit.backends.cache"
    User.objects.create_superuser("boss", "boss@example.com", "pw-123456")
    boss = device("boss", "AdminBrowser/1.0")
    page = boss.get(reverse("admin:auth_user_change", args=[people["lin"].pk]))
    assert page.status_code == 200 and "keeps no per-user index" in page.content.decode()
    response = boss.post(
        USERS, {"action": "end_all_sessions", "_selected_action": [people["lin"].pk]}, follow=True
    )
    assert response.status_code == 200
    assert "keeps no per-user index" in response.content.decode()


def test_a_projects_own_user_admin_is_extended_not_replaced():
    class ProjectUserAdmin(UserAdmin):
        list_display = ("username", "email")

    site = admin.AdminSite(name="project")
    assert extend_user_admin(site) is False  # nothing registered for the user model
    site.register(User, ProjectUserAdmin)
    assert extend_user_admin(site) and extend_user_admin(site)  # once
    extended = site.get_model_admin(User)
    assert isinstance(extended, ProjectUserAdmin) and isinstance(extended, UserSessionsMixin)
    assert extended.list_display == ("username", "email")
    assert type(extended).__mro__[2] is ProjectUserAdmin
    assert isinstance(admin.site.get_model_admin(User), UserSessionsMixin)  # by ready()


_ORDER_PROBE = """
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=[
        "sessionkit",  # before the admin: its autodiscovery has not run at sessionkit's ready()
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.messages",
    ],
    SECRET_KEY="probe-secret-key-not-used-for-anything-0123456789",
)
django.setup()
from django.contrib import admin
from django.contrib.auth.models import User
from sessionkit.admin import SessionAdmin, UserSessionsMixin
from sessionkit.models import Session

assert isinstance(admin.site.get_model_admin(Session), SessionAdmin)
assert isinstance(admin.site.get_model_admin(User), UserSessionsMixin)
print("ok")
"""


def test_the_admin_pages_are_there_whichever_app_is_listed_first():
    done = subprocess.run(
        [sys.executable, "-c", _ORDER_PROBE],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
    )
    assert done.stdout.strip() == "ok", done.stderr
    assert isinstance(admin.site.get_model_admin(Session), SessionAdmin)


def test_register_on_another_site_adds_the_session_list_once():
    site = admin.AdminSite(name="other")
    site.register(User, UserAdmin)
    register(site)
    register(site)
    assert isinstance(site.get_model_admin(Session), SessionAdmin)
    assert isinstance(site.get_model_admin(User), UserSessionsMixin)


def test_a_popup_user_list_offers_no_action(people, superuser):
    response = superuser.get(USERS, {"_popup": "1"})
    assert response.status_code == 200
    assert "end_all_sessions" not in response.content.decode()
    assert "end_all_sessions" in superuser.get(USERS).content.decode()


def test_an_unroutable_engine_or_site_hides_the_session_list_link(settings, people):
    settings.SESSION_ENGINE = "no.such.engine"
    assert not db_store_in_use()
    settings.SESSION_ENGINE = "sessionkit.backends.db"
    site = admin.AdminSite(name="not-in-urls")
    site.register(User, UserAdmin)
    extend_user_admin(site)
    extended = site.get_model_admin(User)
    assert isinstance(extended, UserSessionsMixin)
    assert extended._sessions_link(people["lin"]) == ""


def test_ending_a_users_sessions_needs_the_change_permission(people, superuser):
    viewer = User.objects.create_user("viewer", password="pw-123456", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_user", content_type__app_label="auth")
    )
    watcher = device("viewer", "Desk/1.0")
    phone = device("lin", PHONE)
    response = watcher.get(USERS)
    assert response.status_code == 200
    assert "end_all_sessions" not in response.content.decode()
    watcher.post(USERS, {"action": "end_all_sessions", "_selected_action": [people["lin"].pk]})
    assert logged_in(phone)


def test_a_user_admin_without_actions_stays_without(people):
    class NoActions(UserAdmin):
        actions = None

    site = admin.AdminSite(name="no-actions")
    site.register(User, NoActions)
    extend_user_admin(site)
    assert site.get_model_admin(User).actions is None
