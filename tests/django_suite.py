"""Django's own session test suite (``tests/sessions_tests``) for the installed Django.

The suite is not part of Django's wheel, so the source distribution of the same version is
fetched with ``pip download`` and only ``tests/sessions_tests/`` is kept, under
``.cache/django-src/<version>/sessions_tests/`` (or ``$SESSIONKIT_DJANGO_SRC_CACHE/<version>``).

Fetching is a step of its own, run before pytest by ``make test`` and tox::

    python -m tests.django_suite

The test settings only look for the fetched suite (:func:`find_sessions_tests`, never a
download) and install the ``sessions_tests`` app when it is there; without it the stores'
conformance tests are skipped with :data:`MISSING_REASON`, or the run fails at start when
:func:`required` (``make test``, tox and CI).
"""

from __future__ import annotations

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
REQUIRED_ENV = "SESSIONKIT_TEST_REQUIRE_DJANGO_SUITE"
MISSING_REASON = (
    f"Django {django.__version__}'s sessions_tests suite has not been fetched: "
    "run `python -m tests.django_suite` (make test and tox do)"
)


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


def find_sessions_tests(version: str = django.__version__) -> Path | None:
    """The fetched suite's directory, its parent put on ``sys.path``; ``None`` when it has
    not been fetched. Never downloads."""
    version_dir = cache_root() / version
    suite = version_dir / PACKAGE
    if not (suite / "tests.py").is_file():
        return None
    if str(version_dir) not in sys.path:
        sys.path.insert(0, str(version_dir))
    return suite


def ensure_sessions_tests(version: str = django.__version__) -> Path:
    """Fetch the suite unless it is there, put its parent on ``sys.path``, return its
    directory."""
    version_dir = cache_root() / version
    suite = version_dir / PACKAGE
    if not (suite / "tests.py").is_file():
        version_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=version_dir) as tmp:
            sdist = _download_sdist(version, Path(tmp))
            _extract_suite(sdist, Path(tmp) / "out")
            shutil.rmtree(suite, ignore_errors=True)
            (Path(tmp) / "out" / PACKAGE).rename(suite)
    found = find_sessions_tests(version)
    if found is None:
        raise RuntimeError(f"{suite} has no tests.py after the fetch")
    return found


def required() -> bool:
    """Whether a run must have the suite: ``SESSIONKIT_TEST_REQUIRE_DJANGO_SUITE=1`` (set by
    ``make test`` and tox) or ``CI``."""
    flags = (os.environ.get(REQUIRED_ENV, ""), os.environ.get("CI", ""))
    return any(flag not in ("", "0", "false", "False") for flag in flags)


if __name__ == "__main__":
    print(ensure_sessions_tests())
