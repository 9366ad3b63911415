"""In a real headless Chromium (Debian's ``chromium``, driven by Playwright's Python API),
against the demo on a live server (tests/e2e/conftest.py's ``demo``), on the db store and
on Redis: two devices and "Your devices", "remember me", logout, and a cookie page
JavaScript cannot read.

Chromium comes from the system (``make chromium``), never from ``playwright install``;
where there is none, these tests skip and say so. ``SESSIONKIT_SCREENSHOTS=1`` (``make
screenshots``) also writes the README's screenshots to docs/ from the db-store run.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import PASSWORD, ROOT, USERNAME, Demo

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install --group test)"
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

#: What this machine's Chromium needs to start headless, offline, as root.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
COOKIE_NAME = "sessionid"
REMEMBER_ME_SECONDS = 30 * 24 * 3600
ABSOLUTE_TIMEOUT = 90 * 24 * 3600  # demo_project/settings.py
LAPTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DOCS = ROOT / "docs"


def find_chromium() -> str | None:
    """The system's Chromium: on PATH, or Debian's path."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.access("/usr/bin/chromium", os.X_OK):
        found = "/usr/bin/chromium"
    return found


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium on this machine: `make chromium` (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def device(chromium: Any, demo: Demo) -> Iterator[Any]:
    """Make a fresh browser context (a device with its own cookies) on the demo. Each one
    still logged in logs out afterwards, so the next test starts with no session."""
    pages: list[Any] = []

    def new(user_agent: str = LAPTOP_UA, **options: Any) -> Any:
        context = chromium.new_context(base_url=demo.url, user_agent=user_agent, **options)
        context.set_default_timeout(15_000)
        pages.append(context.new_page())
        return pages[-1]

    yield new
    for page in pages:
        page.goto("/dashboard/")
        if urlsplit(page.url).path == "/dashboard/":
            page.get_by_role("button", name="Log out").click()
            page.wait_for_url("**/login/")
        page.context.close()


def log_in(page: Any, *, remember: bool = False) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    if remember:
        page.get_by_label("Remember me for 30 days").check()
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/")


def session_cookie(page: Any) -> dict[str, Any] | None:
    return next((c for c in page.context.cookies() if c["name"] == COOKIE_NAME), None)


def screenshot(page: Any, demo: Demo, name: str) -> None:
    """A full-page PNG of ``page``; into docs/ when SESSIONKIT_SCREENSHOTS=1 (db run)."""
    png = page.screenshot(full_page=True)
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    if os.environ.get("SESSIONKIT_SCREENSHOTS") == "1" and demo.engine == "db":
        Path(DOCS / name).write_bytes(png)


def device_rows(page: Any) -> Any:
    return page.get_by_role("table").locator("tbody tr")


def test_ending_the_other_device_sends_it_to_login(device: Any, demo: Demo) -> None:
    laptop, phone = device(LAPTOP_UA), device(PHONE_UA, **PHONE)
    log_in(laptop)
    log_in(phone)

    laptop.get_by_role("link", name="Your devices").first.click()
    laptop.wait_for_url("**/sessions/")
    rows = device_rows(laptop)
    assert rows.count() == 2
    this = laptop.locator("tbody tr[aria-current=true]")
    assert this.count() == 1
    assert "Chrome on Linux" in this.inner_text() and "this device" in this.inner_text()
    assert "127.0.0.1" in rows.nth(1).inner_text()
    assert laptop.locator("tbody time[datetime]").count() == 4
    screenshot(laptop, demo, "devices.png")

    # The same page on the phone: readable without scrolling sideways.
    phone.goto("/sessions/")
    assert device_rows(phone).count() == 2
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, demo, "devices-phone.png")

    laptop.get_by_role("button", name="End session on Safari on iPhone (127.0.0.1)").click()
    laptop.wait_for_load_state()
    assert "That device has been logged out." in laptop.content()
    assert device_rows(laptop).count() == 1

    # The phone's next click lands on the login page.
    phone.get_by_role("link", name="Dashboard").click()
    phone.wait_for_url("**/login/**")
    assert phone.get_by_role("button", name="Log in").is_visible()
    laptop.reload()
    assert device_rows(laptop).count() == 1  # the laptop is still logged in


def test_log_out_other_devices(device: Any, demo: Demo) -> None:
    first, second, third = device(), device(PHONE_UA, **PHONE), device()
    for page in (first, second, third):
        log_in(page)
    first.goto("/sessions/")
    assert device_rows(first).count() == 3
    first.get_by_role("button", name="Log out other devices").click()
    first.wait_for_load_state()
    assert "Logged out of 2 other devices." in first.content()
    assert device_rows(first).count() == 1
    for page in (second, third):
        page.reload()
        assert "/login/" in page.url


@pytest.mark.parametrize("remember", [True, False], ids=["remember", "browser-session"])
def test_remember_me_decides_whether_the_cookie_persists(
    device: Any, demo: Demo, remember: bool
) -> None:
    page = device()
    log_in(page, remember=remember)
    cookie = session_cookie(page)
    assert cookie is not None
    if remember:
        assert cookie["expires"] == pytest.approx(time.time() + REMEMBER_ME_SECONDS, abs=60)
    else:
        assert cookie["expires"] == -1  # a browser-session cookie: gone when it closes
    cookie_text = page.locator("#cookie-expiry").inner_text()
    assert ("browser" in cookie_text) is not remember


def test_dashboard_shows_idle_and_absolute_expiry(device: Any, demo: Demo) -> None:
    page = device()
    log_in(page, remember=True)
    idle = datetime.fromisoformat(page.locator("#idle-expiry").get_attribute("datetime"))
    absolute = datetime.fromisoformat(page.locator("#absolute-expiry").get_attribute("datetime"))
    assert idle.timestamp() == pytest.approx(time.time() + REMEMBER_ME_SECONDS, abs=60)
    assert absolute.timestamp() == pytest.approx(time.time() + ABSOLUTE_TIMEOUT, abs=60)
    screenshot(page, demo, "dashboard.png")


def test_logout_clears_the_cookie(device: Any, demo: Demo) -> None:
    page = device()
    log_in(page, remember=True)
    assert session_cookie(page) is not None
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/")
    assert session_cookie(page) is None
    page.goto("/dashboard/")
    assert "/login/" in page.url


def test_page_javascript_cannot_read_the_session_cookie(device: Any, demo: Demo) -> None:
    page = device()
    log_in(page)
    cookie = session_cookie(page)
    assert cookie is not None and cookie["httpOnly"] is True
    assert cookie["value"].startswith("s%3A")
    visible = page.evaluate("document.cookie")
    assert "csrftoken=" in visible  # JavaScript does see the cookies it may read
    assert f"{COOKIE_NAME}=" not in visible
