"""Device labels for the "your devices" list."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionkit.user_agents import MAX_USER_AGENT, device_label, trimmed

AGENTS = {
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0": "Firefox on Linux",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0": "Edge on Windows",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15": "Safari on macOS",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1": "Chrome on iPhone",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36": "Samsung Internet on Android",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36": "Chrome on ChromeOS",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/156.0.0.0 Safari/537.36": "Chrome on Linux",
    "curl/8.11.0": "curl",
    "": "Unknown device",
}


@pytest.mark.parametrize(("agent", "label"), AGENTS.items())
def test_common_agents_get_a_short_label(agent, label):
    assert device_label(agent) == label


@given(st.text(max_size=2000))
def test_any_header_is_trimmed_to_printable_and_labelled(agent):
    kept = trimmed(agent)
    assert len(kept) <= MAX_USER_AGENT and kept.isprintable()
    assert device_label(kept)


@given(st.text(max_size=2000))
def test_trimming_drops_only_what_is_not_printable(agent):
    head = agent[:MAX_USER_AGENT]
    assert trimmed(agent) == "".join(ch for ch in head if ch.isprintable())


@pytest.mark.parametrize("agent", AGENTS)
def test_a_browser_header_is_stored_as_sent(agent):
    assert trimmed(agent) == agent


def test_control_characters_are_dropped_from_the_header():
    assert trimmed("Mozilla/5.0\x00\x1b[31m (X11)\n") == "Mozilla/5.0[31m (X11)"
