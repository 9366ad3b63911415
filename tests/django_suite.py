"""Django's own session test suite (``tests/sessions_tests``) for the installed Django.

The suite is not part of Django's wheel, so the source distribution of the same version is
fetched once with ``pip download`` and only ``tests/sessions_tests/`` is kept, under
``.cache/django-src/<version>/sessions_tests/`` (or ``$SESSIONKIT_DJANGO_SRC_CACHE/<version>``).
After :func:`ensure_sessions_tests`, ``from sessions_tests.tests import SessionTestsMixin``
works; settings must list ``"sessions_tests"`` in ``INSTALLED_APPS`` (its ``models.py``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import django

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "sessions_tests"


def cache_root() -> Path:
    """Directory that holds one subdirectory per Django version."""
    configured = os.environ.get("SESSIONKIT_DJANGO_SRC_CACHE")
    return Path(configured) if configured else REPO_ROOT / ".cache" / "django-src"


def _download_sdist(version: str, into: Path) -> Path:
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "download", f"django=={version}",
            "--no-binary", ":all:", "--no-deps",
            "--disable-pip-version-check", "--quiet", "--dest", str(into),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
        timeout=600,
    )  # fmt: skip
    if result.returncode != 0:
        output = result.stdout.decode(errors="replace")
        raise RuntimeError(f"pip download django=={version} failed:\n{output}")
    sdists = sorted(into.glob("[Dd]jango-*.tar.gz"))
    if not sdists:
        raise RuntimeError(f"pip download django=={version} produced no source archive")
    return sdists[0]


def _extract_suite(sdist: Path, into: Path) -> None:
    """Extract ``<top>/tests/sessions_tests/*`` from ``sdist`` into ``into/sessions_tests``."""
    with tarfile.open(sdist) as archive:
        members = []
        for member in archive.getmembers():
            parts = Path(member.name).parts
            if len(parts) > 3 and parts[1:3] == ("tests", PACKAGE) and member.isfile():
                member.name = str(Path(*parts[2:]))
                members.append(member)
        if not members:
            raise RuntimeError(f"{sdist.name} has no tests/{PACKAGE}/")
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4+
            archive.extractall(into, members=members, filter="data")
        else:  # pragma: no cover
            archive.extractall(into, members=members)


@functools.cache
def ensure_sessions_tests(version: str = django.__version__) -> Path:
    """Fetch the suite if needed, put its parent on ``sys.path`` and return its directory."""
    version_dir = cache_root() / version
    suite = version_dir / PACKAGE
    if not (suite / "tests.py").is_file():
        version_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=version_dir) as tmp:
            sdist = _download_sdist(version, Path(tmp))
            _extract_suite(sdist, Path(tmp) / "out")
            shutil.rmtree(suite, ignore_errors=True)
            (Path(tmp) / "out" / PACKAGE).rename(suite)
    if str(version_dir) not in sys.path:
        sys.path.insert(0, str(version_dir))
    return suite


if __name__ == "__main__":
    print(ensure_sessions_tests())
