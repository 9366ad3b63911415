"""The README's snippets, pasted into a fresh project as a reader would, pass ``check``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

#: What ``django-admin startproject`` gives, with the README's "Using it in a project" applied.
FRESH_PROJECT = textwrap.dedent(
    """
    SECRET_KEY = "a-fresh-project-secret-key-that-is-long-enough-0123456789"
    DEBUG = True
    INSTALLED_APPS = [
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.messages",
        "django.contrib.staticfiles",
        "sessionkit",
    ]
    MIDDLEWARE = [
        "django.middleware.security.SecurityMiddleware",
        "sessionkit.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ]
    TEMPLATES = [{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": [
            "django.template.context_processors.request",
            "django.contrib.auth.context_processors.auth",
            "django.contrib.messages.context_processors.messages",
        ]},
    }]
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
    ROOT_URLCONF = "project_urls"
    """
)


def redis_snippet() -> str:
    """The README's "A single Redis" example, as printed."""
    section = README.split("### The Redis store", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    return block.group(1).split("\n# Sentinel", 1)[0]


def check(tmp_path: Path, settings: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "project_settings.py").write_text(FRESH_PROJECT + settings)
    (tmp_path / "project_urls.py").write_text("urlpatterns = []\n")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", "check", "--fail-level", "WARNING"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_fresh_project_passes_check_on_the_default_db_store(tmp_path: Path) -> None:
    done = check(tmp_path, 'SESSION_ENGINE = "sessionkit.backends.db"\n')
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("snippet", [redis_snippet()], ids=["single-redis"])
def test_the_readme_redis_snippet_pasted_into_a_fresh_project_passes_check(
    tmp_path: Path, snippet: str
) -> None:
    done = check(tmp_path, snippet)
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout


def test_a_redis_snippet_without_a_default_cache_fails_check(tmp_path: Path) -> None:
    """What the README's snippet used to be: Django's caches.E001."""
    broken = redis_snippet().replace(
        '"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},\n', ""
    )
    assert broken != redis_snippet()
    done = check(tmp_path, broken)
    assert done.returncode != 0 and "caches.E001" in done.stderr


def express_snippet() -> str:
    """The README's Django settings for running beside Express, as printed."""
    section = README.split("## Running beside Express", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    return block.group(1)


def test_the_readme_beside_express_settings_pass_check(tmp_path: Path) -> None:
    """On the Redis snippet's caches (its "sessions" alias), as a reader would combine them."""
    done = check(tmp_path, redis_snippet() + express_snippet())
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout
    without_secret = express_snippet().replace('"SECRET": ["the express secret"],', "")
    assert without_secret != express_snippet()
    done = check(tmp_path, redis_snippet() + without_secret)
    assert done.returncode != 0 and "sessionkit.W040" in done.stderr
