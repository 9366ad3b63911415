"""The pytest plugin (``sessionkit.pytest_plugin``, entry point ``pytest11``): a project's
tests use pytest-django's stock ``client``, ``async_client`` and ``admin_client`` fixtures
on sessionkit with no change, and the memory store starts every test empty.

Each test copies the sample project ``tests/plugin_project`` (no conftest.py) to a
temporary directory and runs its tests with pytest-django in a subprocess, as the project's
own ``python -m pytest`` would: the plugin is found through its installed entry point. The
same runs with ``-p no:sessionkit`` show what the plugin fixes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import django.test
import pytest
from django.test import AsyncClient, Client
from pytest_django import Settings

import sessionkit.test
from sessionkit.backends.memory import SessionStore as MemoryStore

SESSIONKIT_MW = "sessionkit.middleware.SessionMiddleware"
PROJECT = Path(__file__).resolve().parent / "plugin_project"

pytestmark = pytest.mark.slow


def run_project(tmp_path: Path, sessions: str, *options: str) -> dict[str, str]:
    """Run ``plugin_project/flows_<sessions>.py`` under pytest-django in a subprocess;
    each test's name mapped to ``passed``, ``failed`` or ``error``."""
    shutil.copytree(
        PROJECT, tmp_path / "plugin_project", ignore=shutil.ignore_patterns("__pycache__")
    )
    report = tmp_path / "report.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_", "COV_"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "plugin_project.settings",
        "PLUGIN_PROJECT_SESSIONS": sessions,
        "PYTHONPATH": str(tmp_path),
    }
    command = [
        sys.executable, "-m", "pytest", "-p", "pytest_django",
        "-p", "no:randomly", "-p", "no:cacheprovider",
        "-o", "asyncio_default_fixture_loop_scope=function",
        f"--junitxml={report}", *options,
        f"plugin_project/flows_{sessions}.py",
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert report.exists(), done.stdout + done.stderr
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[case.attrib["name"]] = "failed" if failed else "passed"
    assert outcomes, done.stdout + done.stderr
    return outcomes


SESSIONKIT_FLOWS = [
    "test_the_stock_fixtures_are_sessionkits_clients",
    "test_login_then_the_next_request_is_authenticated",
    "test_force_login_then_views_and_the_test_see_one_session",
    "test_session_written_by_the_test_is_seen_by_the_view",
    "test_logout_ends_the_session",
    "test_admin_client_reaches_the_admin",
    "test_async_client_logs_in_and_is_authenticated",
]


def test_stock_fixtures_log_in_and_see_the_session_on_a_sessionkit_project(
    tmp_path: Path,
) -> None:
    assert run_project(tmp_path, "sessionkit") == dict.fromkeys(SESSIONKIT_FLOWS, "passed")


def test_without_the_plugin_the_stock_fixtures_are_anonymous(tmp_path: Path) -> None:
    """What the plugin fixes: Django's client writes an unsigned cookie sessionkit rejects."""
    outcomes = run_project(tmp_path, "sessionkit", "-p", "no:sessionkit")
    assert outcomes == {
        **dict.fromkeys(SESSIONKIT_FLOWS, "failed"),
        # Anonymous either way: it passes without the plugin too.
        "test_logout_ends_the_session": "passed",
    }


def test_on_djangos_own_middleware_the_fixtures_are_pytest_djangos(tmp_path: Path) -> None:
    assert run_project(tmp_path, "django") == {
        "test_the_stock_fixtures_are_djangos_clients": "passed",
        "test_login_then_the_next_request_is_authenticated": "passed",
        "test_admin_client_reaches_the_admin": "passed",
        "test_async_client_logs_in_and_is_authenticated": "passed",
    }


def test_the_memory_store_starts_each_test_empty(tmp_path: Path) -> None:
    assert run_project(tmp_path, "memory") == {
        "test_first_leaves_a_session_behind": "passed",
        "test_second_leaves_a_session_behind": "passed",
    }


def test_without_the_plugin_one_tests_memory_sessions_leak_into_the_next(
    tmp_path: Path,
) -> None:
    assert run_project(tmp_path, "memory", "-p", "no:sessionkit") == {
        "test_first_leaves_a_session_behind": "passed",
        "test_second_leaves_a_session_behind": "failed",
    }


# --- in this suite's own process (the plugin is active here too) -------------------------


def test_here_the_stock_fixtures_are_sessionkits_clients(
    client: Client, async_client: AsyncClient
) -> None:
    assert type(client) is sessionkit.test.Client
    assert type(async_client) is sessionkit.test.AsyncClient


@pytest.mark.django_db
def test_here_admin_client_is_logged_in_on_sessionkit(admin_client: Client) -> None:
    assert type(admin_client) is sessionkit.test.Client
    assert admin_client.get("/admin/").status_code == 200


@pytest.fixture
def djangos_middleware(settings: Settings) -> None:
    settings.MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware" if m == SESSIONKIT_MW else m
        for m in settings.MIDDLEWARE
    ]
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"


@pytest.mark.django_db
def test_here_without_sessionkits_middleware_the_fixtures_are_djangos(
    djangos_middleware: None, client: Client, async_client: AsyncClient, admin_client: Client
) -> None:
    assert type(client) is django.test.Client
    assert type(async_client) is django.test.AsyncClient
    assert type(admin_client) is django.test.Client
    assert admin_client.get("/admin/").status_code == 200


def test_reset_forgets_every_memory_session() -> None:
    store = MemoryStore()
    store["x"] = 1
    store.save()
    assert MemoryStore().exists(store.session_key)
    MemoryStore.reset()
    assert MemoryStore.records() == {}
    assert not MemoryStore().exists(store.session_key)


def test_loading_the_plugin_imports_neither_django_nor_the_rest_of_sessionkit() -> None:
    """pytest loads it in every test run of a venv that has sessionkit, Django project or not,
    before Django is configured."""
    probe = (
        "import sys, sessionkit.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'sessionkit')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['sessionkit', 'sessionkit.pytest_plugin']"
