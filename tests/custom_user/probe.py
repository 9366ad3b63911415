"""Run as ``python -m tests.custom_user.probe <AUTH_USER_MODEL>`` (``DATABASES`` as JSON in
``SESSIONKIT_PROBE_DATABASE``): the db store on a user model whose key is not an integer,
on a database of its own. Prints ``ok``."""

from __future__ import annotations

import json
import os
import sys

import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "sessionkit",
        "tests.custom_user",
    ],
    AUTH_USER_MODEL=sys.argv[1],
    DATABASES={"default": json.loads(os.environ["SESSIONKIT_PROBE_DATABASE"])},
    SECRET_KEY="probe-secret-key-not-used-for-anything-0123456789",
    SESSION_ENGINE="sessionkit.backends.db",
    USE_TZ=True,
)
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402

import sessionkit  # noqa: E402
from sessionkit.backends.base import hash_key  # noqa: E402
from sessionkit.backends.db import SessionStore  # noqa: E402
from sessionkit.models import Session  # noqa: E402


def logged_in(user_id: str) -> SessionStore:
    session = SessionStore()
    session.update({"_auth_user_id": user_id, "x": 1})
    session.save()
    return session


def main() -> None:
    User = get_user_model()
    lin = User.objects.create(username="lin")
    lin_id = lin._meta.pk.value_to_string(lin)  # as django.contrib.auth.login() stores it
    phone, laptop = logged_in(lin_id), logged_in(lin_id)
    assert Session.objects.get(pk=hash_key(phone.session_key)).user == lin
    assert len(sessionkit.user_sessions(lin)) == 2
    assert sessionkit.end_session(lin, hash_key(phone.session_key))
    assert SessionStore(phone.session_key).load() == {}
    nobody = logged_in("00000000-0000-0000-0000-000000000000")
    odd = logged_in("not a key of any kind " * 20)
    for session in (nobody, odd):
        assert Session.objects.get(pk=hash_key(session.session_key)).user is None
    laptop.cycle_key()
    assert Session.objects.get(pk=hash_key(laptop.session_key)).user == lin
    lin.delete()
    assert SessionStore(laptop.session_key).load() == {}
    assert SessionStore(nobody.session_key).load()["x"] == 1


if __name__ == "__main__":
    original = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        main()
    finally:
        connection.creation.destroy_test_db(original, verbosity=0)
    print("ok")
