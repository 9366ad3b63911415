"""The db store's user column on user models whose key is a UUID or a username: each run
in a process of its own (``AUTH_USER_MODEL`` is fixed once a project has migrated), on
this pass's database engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("model", ["custom_user.UuidUser", "custom_user.NamedUser"])
def test_the_db_store_on_a_user_model_without_an_integer_key(model: str) -> None:
    database = {
        key: connection.settings_dict[key]
        for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
        if key in connection.settings_dict
    }
    if connection.vendor != "sqlite":
        database["NAME"] = f"sessionkit_custom_user_{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["SESSIONKIT_PROBE_DATABASE"] = json.dumps(database)
    done = subprocess.run(
        [sys.executable, "-m", "tests.custom_user.probe", model],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.stdout.strip() == "ok", done.stderr
