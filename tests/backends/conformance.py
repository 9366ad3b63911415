"""Django's own ``SessionTestsMixin`` applied to a sessionkit engine."""

from __future__ import annotations

from sessions_tests.tests import SessionTestsMixin

__all__ = ["SessionTestsMixin"]
