"""Microbenchmarks (pytest-benchmark) of sessionkit's per-request work, outside the test
suite: ``make bench-micro`` (``pytest benchmarks/micro --ds=benchmarks.app.settings
--benchmark-only``). pyproject's ``testpaths`` keeps a bare ``pytest`` from collecting them.
"""

from __future__ import annotations

import pytest

from benchmarks.app.views import session_data

KEYS = 20


@pytest.fixture
def twenty_keys() -> dict[str, str]:
    """A 4 KB session in 20 keys, as in the end-to-end benchmark's ``4KB`` scenarios."""
    data = session_data("4KB")
    assert len(data) == KEYS
    return data
