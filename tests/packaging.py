"""Build the wheel and sdist as a release would, and check what a user installs.

``python -m tests.packaging`` (``make dist-check``, run by CI): ``python -m build`` into a
temporary directory, then

- the wheel holds the package, its migrations, ``py.typed``, the "Your devices" page's
  templates and stylesheet and the licence, and nothing of the repository's tests, demo,
  soak or benchmarks; the sdist holds LICENSE and README;
- its metadata names the distribution ``django-sessionkit`` with the BSD-3-Clause licence,
  requires only Django (Redis only through the ``redis`` extra), and publishes no extra of
  test or dev tools;
- installed into a fresh venv, ``import sessionkit`` works and gives the one version;
- mypy on a user's file that imports the public API sees real types (``py.typed``), not
  ``Any`` and not "missing library stubs".

Exits non-zero with the reason on the first failure.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import textwrap
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST_NAME = "django-sessionkit"

USER_FILE = textwrap.dedent(
    """
    import sessionkit
    from sessionkit.middleware import SessionMiddleware

    sessions = sessionkit.user_sessions("1")
    reveal_type(sessions)
    reveal_type(sessionkit.end_user_sessions("1"))
    reveal_type(SessionMiddleware)
    """
)
#: What mypy must reveal for USER_FILE's three lines, in order (``Any`` matches none).
REVEALED = (
    '"list[sessionkit.users.UserSession]"',
    '"int"',
    '-> sessionkit.middleware.SessionMiddleware"',
)


class Failure(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


def run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise Failure(f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def build(out: Path) -> tuple[Path, Path]:
    run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    check(len(wheels) == 1 and len(sdists) == 1, f"expected one wheel and one sdist: {wheels}")
    return wheels[0], sdists[0]


def check_wheel(wheel: Path) -> str:
    """The wheel's contents and metadata; returns its version."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(meta_name).decode())
    tops = {name.split("/", 1)[0] for name in names}
    strays = {t for t in tops if not (t == "sessionkit" or t.endswith(".dist-info"))}
    check(not strays, f"the wheel ships more than the package: {sorted(strays)}")
    for needed in (
        "sessionkit/py.typed",
        "sessionkit/migrations/0001_initial.py",
        "sessionkit/migrations/0002_datetimes_and_user.py",
        "sessionkit/migrations/0003_copy_datetimes_and_user.py",
        "sessionkit/migrations/0004_drop_epoch_columns.py",
        "sessionkit/templates/sessionkit/base.html",
        "sessionkit/templates/sessionkit/user_sessions.html",
        "sessionkit/static/sessionkit/sessionkit.css",
    ):
        check(needed in names, f"the wheel lacks {needed}")
    check(any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "the wheel lacks LICENSE")
    check(metadata["Name"] == DIST_NAME, f"distribution name is {metadata['Name']!r}")
    check(
        metadata.get("License-Expression") == "BSD-3-Clause",
        f"licence metadata is {metadata.get('License-Expression')!r}",
    )
    extras = set(metadata.get_all("Provides-Extra") or [])
    check(extras == {"redis"}, f"published extras are {sorted(extras)}, not just 'redis'")
    requires = metadata.get_all("Requires-Dist") or []
    plain = [r for r in requires if "extra ==" not in r]
    check(
        len(plain) == 1 and plain[0].lower().startswith("django"),
        f"run-time requirements: {plain}",
    )
    classifiers = set(metadata.get_all("Classifier") or [])
    for wanted in ("Framework :: Django :: 5.2", "Framework :: Django :: 6.0", "Typing :: Typed"):
        check(wanted in classifiers, f"classifier {wanted!r} missing")
    check(metadata.get_all("Project-URL") is not None, "no [project.urls]")
    return str(metadata["Version"])


def check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[-1] for name in archive.getnames()}
    for needed in ("LICENSE", "README.md", "pyproject.toml", "sessionkit/py.typed"):
        check(needed in names, f"the sdist lacks {needed}")


def check_installed(wheel: Path, version: str, work: Path) -> None:
    env = work / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", wheel)
    out = run(python, "-c", "import sessionkit; print(sessionkit.__version__)", cwd=work)
    check(out.strip() == version, f"installed version {out.strip()!r}, wheel {version!r}")
    user_file = work / "user_code.py"
    user_file.write_text(USER_FILE)
    mypy = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-executable", str(python), "--no-incremental",
         "--ignore-missing-imports", str(user_file)],
        cwd=work, capture_output=True, text=True, check=False,
    )  # fmt: skip
    revealed = [line for line in mypy.stdout.splitlines() if "Revealed type is" in line]
    check(
        len(revealed) == len(REVEALED) and "py.typed" not in mypy.stdout,
        f"mypy on a user's file:\n{mypy.stdout}{mypy.stderr}",
    )
    for line, wanted in zip(revealed, REVEALED, strict=True):
        check(wanted in line, f"mypy revealed {line!r}, not {wanted}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sessionkit-dist-") as tmp:
        work = Path(tmp)
        try:
            wheel, sdist = build(work / "dist")
            version = check_wheel(wheel)
            check_sdist(sdist)
            check_installed(wheel, version, work)
        except Failure as failure:
            print(f"dist-check: FAILED: {failure}", file=sys.stderr)
            return 1
    print(f"dist-check: {wheel.name} and {sdist.name} are right; installed, imported, typed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
