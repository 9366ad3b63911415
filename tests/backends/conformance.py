"""Django's own ``SessionTestsMixin`` applied to a sessionkit engine.

When Django's suite has not been fetched (``python -m tests.django_suite``), a stand-in
mixin gives each store's conformance class one test that is skipped and says so; ``make
test``, tox and CI refuse to start without the suite instead (see ``tests/conftest.py``).
"""

from __future__ import annotations

import unittest
from typing import TYPE_CHECKING

from tests.django_suite import MISSING_REASON, find_sessions_tests

if TYPE_CHECKING or find_sessions_tests() is not None:
    from sessions_tests.tests import SessionTestsMixin
else:

    class SessionTestsMixin:
        """Stands in for Django's mixin while its suite is missing."""

        def test_djangos_session_suite(self) -> None:
            raise unittest.SkipTest(MISSING_REASON)


__all__ = ["SessionTestsMixin"]
