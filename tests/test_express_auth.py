"""sessionkit.express_auth on a real store and Django's auth: the session key the Express
app keeps its user id under, and Django's login, kept the same user. (The two apps
together: tests/e2e/test_express_interop.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model, login
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import override_settings
from django.urls import path

from sessionkit.express_auth import ExpressLoginMiddleware, ExpressUserBackend
from sessionkit.test import Client

pytestmark = pytest.mark.django_db


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {"username": request.user.get_username() or None, "uid": request.session.get("uid")}
    )


def log_in(request: HttpRequest) -> HttpResponse:
    user = User.objects.get(username=request.GET["username"])
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse("ok")


urlpatterns = [path("whoami/", whoami), path("login/", log_in)]


class UidLogin(ExpressLoginMiddleware):
    user_key = "uid"


BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "sessionkit.express_auth.ExpressUserBackend",
]
STACK = [
    "sessionkit.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "sessionkit.express_auth.ExpressLoginMiddleware",
]


@pytest.fixture
def client() -> Iterator[Client]:
    with override_settings(
        ROOT_URLCONF=__name__, MIDDLEWARE=STACK, AUTHENTICATION_BACKENDS=BACKENDS
    ):
        yield Client()


@pytest.fixture
def users() -> tuple[User, User]:
    make = get_user_model().objects.create_user
    return make("ada", password="pw-ada-123"), make("bob", password="pw-bob-123")


def express_sets(client: Client, value: object = None) -> None:
    """What the Express app does to the shared session, outside any Django request: set
    its user key (or delete it: ``None``)."""
    session = client.session
    if value is None:
        session.pop("userId", None)
    else:
        session["userId"] = value
    session.save()


def who(client: Client) -> str | None:
    username: str | None = client.get("/whoami/").json()["username"]
    return username


def test_the_express_user_id_logs_that_user_in_and_its_removal_logs_out(
    client: Client, users: tuple[User, User]
) -> None:
    ada, bob = users
    express_sets(client, ada.pk)
    old_key = client.session.session_key
    assert who(client) == "ada"
    assert client.session.session_key != old_key  # login(): a new id
    assert client.session["userId"] == ada.pk
    express_sets(client, bob.pk)  # another user logged in on the Express side
    assert who(client) == "bob"
    assert client.session["userId"] == bob.pk
    express_sets(client)  # the Express side logged out by deleting its key
    assert who(client) is None
    assert "_auth_user_id" not in client.session


def test_a_django_login_writes_the_key_the_express_app_reads(
    client: Client, users: tuple[User, User]
) -> None:
    client.get("/login/", {"username": "bob"})
    assert client.session["userId"] == users[1].pk
    assert who(client) == "bob"


@pytest.mark.parametrize("value", [999, "not-a-pk", True, [1], None])
def test_an_id_django_cannot_use_logs_nobody_in(
    client: Client, users: tuple[User, User], value: object
) -> None:
    express_sets(client, value)
    assert who(client) is None


def test_an_inactive_user_is_not_logged_in(client: Client, users: tuple[User, User]) -> None:
    users[0].is_active = False
    users[0].save()
    express_sets(client, users[0].pk)
    assert who(client) is None
    assert ExpressUserBackend().authenticate(None, express_user_id=users[0].pk) is None


def test_another_key_name_by_subclassing(users: tuple[User, User]) -> None:
    stack = [*STACK[:2], f"{__name__}.UidLogin"]
    with override_settings(
        ROOT_URLCONF=__name__, MIDDLEWARE=stack, AUTHENTICATION_BACKENDS=BACKENDS
    ):
        client = Client()
        session = client.session
        session["uid"] = users[0].pk
        session.save()
        assert client.get("/whoami/").json() == {"username": "ada", "uid": users[0].pk}
