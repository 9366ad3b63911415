"""One session, two stacks: a real Express app (express-session + connect-redis, from npm)
and Django on ``sessionkit.backends.connect_redis``, on one Redis, driven over HTTP with
one cookie jar (cookies are not isolated by port, so both apps see one cookie, as two apps
behind one domain do).

Each Django "deployment" is a WSGI server thread under its settings; the Express app is a
child process (tests/express)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest
import redis
from django.contrib.auth import get_user_model, login
from django.contrib.auth.models import User
from django.core.handlers.wsgi import WSGIHandler
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import override_settings
from django.urls import path
from django.utils.dateparse import parse_datetime

from sessionkit.signing import decode_cookie_value
from tests import servers
from tests.express import ExpressApp, install
from tests.helpers import close_thread_connections

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

SECRET = "keyboard cat, shared by both apps, long enough"
NAME = "app.sid"
MAX_AGE = 3600


# -- the Django app: this module is its urlconf ---------------------------------------------

#: The concurrency test's hold: the view has loaded the session / may go on.
loaded = threading.Event()
go_on = threading.Event()


def dump(request: HttpRequest) -> JsonResponse:
    data = dict(request.session)  # loads first: an id that led nowhere is then None
    return JsonResponse({"id": request.session.session_key, "data": data})


def write(request: HttpRequest) -> HttpResponse:
    for key, value in request.GET.items():
        request.session[key] = json.loads(value)
    return HttpResponse("written")


def hold(request: HttpRequest) -> HttpResponse:
    """Load the session, wait for the test, then write the query's keys."""
    request.session.get("anything")
    loaded.set()
    assert go_on.wait(10)
    return write(request)


def flush(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return HttpResponse("flushed")


def cycle(request: HttpRequest) -> HttpResponse:
    request.session.cycle_key()
    return HttpResponse("cycled")


def log_in(request: HttpRequest) -> HttpResponse:
    user = User.objects.get(username=request.GET["username"])
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse("logged in")


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"username": request.user.get_username() or None})


urlpatterns = [
    path("dump/", dump),
    path("write/", write),
    path("hold/", hold),
    path("flush/", flush),
    path("cycle/", cycle),
    path("login/", log_in),
    path("whoami/", whoami),
]


# -- the deployments ---------------------------------------------------------------------


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(server: Any) -> None:
    try:
        server.serve_forever()
    finally:
        close_thread_connections()


DJANGO = {
    "ROOT_URLCONF": __name__,
    "SESSION_ENGINE": "sessionkit.backends.connect_redis",
    "SESSION_CACHE_ALIAS": "redis",
}


def kit(**more: Any) -> dict[str, Any]:
    """The SESSIONKIT both apps agree on (see the Express options in :func:`express`)."""
    return {"SECRET": SECRET, "NAME": NAME, "COOKIE": {"MAX_AGE": MAX_AGE}, **more}


@contextmanager
def django_app(**settings: Any) -> Iterator[str]:
    """Django served under ``settings`` (over :data:`DJANGO` and :func:`kit`); its URL."""
    with override_settings(**{**DJANGO, "SESSIONKIT": kit(), **settings}):
        server = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=QuietHandler)
        thread = threading.Thread(target=serve, args=(server,), daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)


@pytest.fixture(scope="module")
def express_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return install(tmp_path_factory)


@pytest.fixture
def express(express_dir: Any, redis_client: redis.Redis) -> Iterator[Callable[..., str]]:
    """Start the Express app with express-session options over the shared ones; its URL."""
    started: list[ExpressApp] = []

    def start(**options: Any) -> str:
        shared = {
            "redisUrl": servers.redis_url(),
            "prefix": "sess:",
            "ttl": 86400,
            "secret": SECRET,
            "name": NAME,
            "maxAge": MAX_AGE * 1000,
            "rolling": False,
            "resave": False,
            "saveUninitialized": False,
        }
        app = ExpressApp(express_dir, **{**shared, **options}).start()
        started.append(app)
        return app.url

    try:
        yield start
    finally:
        for app in started:
            app.cleanup()


@pytest.fixture
def jar() -> Iterator[httpx.Client]:
    """The browser: one cookie jar for both apps."""
    try:
        with httpx.Client(timeout=30) as client:
            yield client
    finally:
        connections.close_all()


def sid(jar: httpx.Client) -> str:
    """The session id the browser's cookie names (verified as either app would)."""
    verified = decode_cookie_value(unquote(jar.cookies[NAME]), (SECRET.encode(),))
    assert verified is not None
    return verified.value


def node_json(jar: httpx.Client, url: str) -> Any:
    response = jar.get(url)
    assert response.status_code == 200, response.text
    return response.json()


# -- one session, both ways --------------------------------------------------------------


def test_a_key_set_on_node_is_read_on_django(
    express: Callable[..., str], jar: httpx.Client, redis_client: redis.Redis
) -> None:
    node = express()
    node_json(jar, f"{node}/write?cart=" + json.dumps(["apple", {"qty": 2}]))
    key = sid(jar)
    with django_app() as django:
        seen = node_json(jar, f"{django}/dump/")
    assert seen == {"id": key, "data": {"cart": ["apple", {"qty": 2}]}}
    assert sid(jar) == key  # Django kept the cookie (unchanged, not rolling: not re-sent)


def test_a_key_set_on_django_is_read_on_node_with_a_consistent_cookie(
    express: Callable[..., str], jar: httpx.Client, redis_client: redis.Redis
) -> None:
    node = express()
    with django_app() as django:
        response = jar.get(f"{django}/write/", params={"name": '"Zoë"', "n": "1.5"})
    set_cookie = response.headers["set-cookie"]
    key = sid(jar)
    seen = node_json(jar, f"{node}/read")
    assert seen["id"] == key and seen["data"] == {"name": "Zoë", "n": 1.5}
    # express-session loaded Django's cookie object: the Set-Cookie Django sent, as data.
    cookie = seen["cookie"]
    assert cookie["originalMaxAge"] == MAX_AGE * 1000
    assert cookie["httpOnly"] is True and cookie["path"] == "/" and cookie["sameSite"] == "lax"
    assert (
        "Max-Age=3600" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    )
    expires_header = set_cookie.split("expires=", 1)[1].split(";", 1)[0]
    stored_expiry = parse_datetime(cookie["expires"])
    assert stored_expiry is not None
    assert abs(stored_expiry.timestamp() - parsedate_to_datetime(expires_header).timestamp()) < 2
    assert 3598 <= redis_client.ttl(f"sess:{key}") <= 3600


def test_logging_out_on_django_ends_the_session_for_node(
    express: Callable[..., str], jar: httpx.Client, redis_client: redis.Redis
) -> None:
    node = express()
    node_json(jar, f"{node}/write?x=1")
    key = sid(jar)
    with django_app() as django:
        assert jar.get(f"{django}/flush/").status_code == 200
    assert redis_client.get(f"sess:{key}") is None
    assert NAME not in jar.cookies  # Django cleared the cookie
    seen = node_json(jar, f"{node}/read")
    assert seen["data"] == {} and seen["id"] != key


def test_destroy_on_node_ends_the_session_for_django(
    express: Callable[..., str], jar: httpx.Client, redis_client: redis.Redis
) -> None:
    node = express()
    with django_app() as django:
        jar.get(f"{django}/write/", params={"x": "1"})
        key = sid(jar)
        node_json(jar, f"{node}/logout")
        assert redis_client.get(f"sess:{key}") is None
        seen = node_json(jar, f"{django}/dump/")
    assert seen == {"id": None, "data": {}}


def test_regenerate_on_node_leaves_the_old_id_dead_for_django(
    express: Callable[..., str], jar: httpx.Client
) -> None:
    node = express()
    node_json(jar, f"{node}/write?x=1")
    old_cookie = jar.cookies[NAME]
    node_json(jar, f"{node}/regenerate")
    new_cookie = jar.cookies[NAME]
    assert new_cookie != old_cookie
    with django_app() as django:
        assert node_json(jar, f"{django}/dump/")["data"] == {"x": 1}
        stale = httpx.Client(cookies={NAME: old_cookie}, timeout=30)
        with stale:
            assert stale.get(f"{django}/dump/").json() == {"id": None, "data": {}}


def test_cycle_key_on_django_leaves_the_old_id_dead_for_node(
    express: Callable[..., str], jar: httpx.Client, redis_client: redis.Redis
) -> None:
    node = express()
    node_json(jar, f"{node}/write?x=1")
    old_key, old_cookie = sid(jar), jar.cookies[NAME]
    with django_app() as django:
        jar.get(f"{django}/cycle/")
    assert sid(jar) != old_key
    assert redis_client.get(f"sess:{old_key}") is None
    assert node_json(jar, f"{node}/read")["data"] == {"x": 1}
    with httpx.Client(cookies={NAME: old_cookie}, timeout=30) as stale:
        seen = stale.get(f"{node}/read").json()
    assert seen["data"] == {} and seen["id"] != old_key


@pytest.mark.parametrize("roller", ["node", "django"])
def test_a_request_on_either_side_extends_the_expiry_the_other_sees(
    express: Callable[..., str], jar: httpx.Client, redis_client: redis.Redis, roller: str
) -> None:
    node = express(rolling=True)
    node_json(jar, f"{node}/write?x=1")
    key = sid(jar)
    with django_app(SESSIONKIT=kit(ROLLING=True)) as django:
        redis_client.expire(f"sess:{key}", 5)  # most of the hour gone
        response = jar.get(f"{node}/read" if roller == "node" else f"{django}/dump/")
        assert "Max-Age=3600" in response.headers["set-cookie"] or roller == "node"
        assert redis_client.ttl(f"sess:{key}") >= 3598
        # ... so the other side still finds the session once the 5 s have passed
        redis_client.expire(f"sess:{key}", 3590)  # and an untouched read writes nothing
        other = f"{django}/dump/" if roller == "node" else f"{node}/read"
        assert node_json(jar, other)["data"] == {"x": 1}


def test_remember_me_set_on_node_is_kept_by_django_writes(
    express: Callable[..., str], jar: httpx.Client, redis_client: redis.Redis
) -> None:
    node = express()
    node_json(jar, f"{node}/write?x=1")
    node_json(jar, f"{node}/remember?ms={30 * 86400 * 1000}")
    key = sid(jar)
    with django_app() as django:
        response = jar.get(f"{django}/write/", params={"y": "2"})
    assert f"Max-Age={30 * 86400}" in response.headers["set-cookie"]
    assert redis_client.ttl(f"sess:{key}") > 30 * 86400 - 5
    assert node_json(jar, f"{node}/read")["cookie"]["originalMaxAge"] == 30 * 86400 * 1000


@pytest.mark.parametrize("side", ["node", "django"])
def test_save_uninitialized_as_each_side_says(
    express: Callable[..., str], jar: httpx.Client, redis_client: redis.Redis, side: str
) -> None:
    node = express(saveUninitialized=side == "node")
    with django_app(SESSIONKIT=kit(SAVE_UNINITIALIZED=side == "django")) as django:
        first, second = (node, django) if side == "node" else (django, node)
        jar.get(f"{first}/read" if first == node else f"{first}/dump/")
        key = sid(jar)  # an empty session, stored
        assert redis_client.exists(f"sess:{key}")
        seen = node_json(jar, f"{second}/read" if second == node else f"{second}/dump/")
        assert seen["id"] == key and seen["data"] == {}


def test_neither_side_stores_an_unused_session_without_save_uninitialized(
    express: Callable[..., str], jar: httpx.Client, redis_client: redis.Redis
) -> None:
    node = express()
    with django_app() as django:
        assert node_json(jar, f"{django}/dump/")["data"] == {}
        assert node_json(jar, f"{node}/read")["data"] == {}
    assert redis_client.keys("*") == [] and NAME not in jar.cookies


# -- concurrent requests on both sides ------------------------------------------------------


def test_a_django_write_keeps_a_key_node_wrote_while_it_ran(
    express: Callable[..., str], jar: httpx.Client, redis_client: redis.Redis
) -> None:
    """Django writes only what it changed, merged into what Redis holds (WATCH)."""
    node = express()
    node_json(jar, f"{node}/write?a=0&b=0")
    loaded.clear()
    go_on.clear()
    with django_app() as django:
        result: dict[str, int] = {}

        def django_request() -> None:
            try:
                result["status"] = jar.get(f"{django}/hold/", params={"a": "1"}).status_code
            finally:
                close_thread_connections()

        thread = threading.Thread(target=django_request)
        thread.start()
        assert loaded.wait(10)
        node_json(jar, f"{node}/write?b=2")  # while Django's request holds the session
        go_on.set()
        thread.join(10)
    assert result["status"] == 200
    assert node_json(jar, f"{node}/read")["data"] == {"a": 1, "b": 2}


def test_a_node_write_overwrites_a_key_django_wrote_while_it_ran(
    express: Callable[..., str], jar: httpx.Client, redis_client: redis.Redis
) -> None:
    """connect-redis writes the whole session express-session loaded: a key another request
    wrote meanwhile is lost (the README says so)."""
    node = express()
    node_json(jar, f"{node}/write?a=0&b=0")
    with django_app() as django:
        result: dict[str, int] = {}

        def node_request() -> None:
            result["status"] = jar.get(f"{node}/hold", params={"a": "1"}).status_code

        thread = threading.Thread(target=node_request)
        thread.start()
        with httpx.Client(timeout=30) as control:  # no cookie: not a session request
            control.get(f"{node}/entered")
            jar.get(f"{django}/write/", params={"b": "2"})
            assert json.loads(redis_client.get(f"sess:{sid(jar)}") or b"{}")["b"] == 2
            control.get(f"{node}/release")
        thread.join(10)
        assert result["status"] == 200
        assert node_json(jar, f"{django}/dump/")["data"] == {"a": 1, "b": 0}


# -- sharing a login -----------------------------------------------------------------------

LOGIN = {
    "AUTHENTICATION_BACKENDS": [
        "django.contrib.auth.backends.ModelBackend",
        "sessionkit.express_auth.ExpressUserBackend",
    ],
    "MIDDLEWARE": [
        "sessionkit.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "sessionkit.express_auth.ExpressLoginMiddleware",
    ],
}


@pytest.fixture
def user() -> User:
    return get_user_model().objects.create_user("ada", password="lovelace-123")


def test_a_login_on_node_logs_the_user_in_on_django(
    express: Callable[..., str], jar: httpx.Client, user: User
) -> None:
    node = express()
    node_json(jar, f"{node}/login?uid={user.pk}")
    with django_app(**LOGIN) as django:
        assert node_json(jar, f"{django}/whoami/") == {"username": "ada"}
        assert node_json(jar, f"{django}/whoami/") == {"username": "ada"}
        node_json(jar, f"{node}/logout")
        assert node_json(jar, f"{django}/whoami/") == {"username": None}


def test_a_login_on_django_writes_the_user_id_node_reads(
    express: Callable[..., str], jar: httpx.Client, user: User
) -> None:
    node = express()
    with django_app(**LOGIN) as django:
        jar.get(f"{django}/login/", params={"username": "ada"})
        assert node_json(jar, f"{node}/read")["data"]["userId"] == user.pk
        assert node_json(jar, f"{django}/whoami/") == {"username": "ada"}
        jar.get(f"{django}/flush/")
    assert node_json(jar, f"{node}/read")["data"] == {}


@pytest.mark.parametrize("resave", [True, False])
@pytest.mark.parametrize("side", ["node", "django"])
def test_resave_as_each_side_says(
    express: Callable[..., str],
    jar: httpx.Client,
    redis_client: redis.Redis,
    side: str,
    resave: bool,
) -> None:
    """A request that reads and changes nothing rewrites the stored session (a new
    ``cookie.expires``) exactly when its side's resave says so; else it only touches."""
    node = express(resave=resave and side == "node")
    with django_app(SESSIONKIT=kit(RESAVE=resave and side == "django")) as django:
        node_json(jar, f"{node}/write?x=1")
        key = sid(jar)
        before = redis_client.get(f"sess:{key}")
        redis_client.expire(f"sess:{key}", 100)
        node_json(jar, f"{node}/read" if side == "node" else f"{django}/dump/")
        after = redis_client.get(f"sess:{key}")
    assert (after != before) is resave
    assert json.loads(after or b"{}")["x"] == 1
    assert redis_client.ttl(f"sess:{key}") >= 3598  # touched, if not rewritten
