"""The memory store: Django's session test suite plus expiry on read."""

from __future__ import annotations

from django.test import SimpleTestCase

from sessionkit.backends.memory import SessionStore
from tests.backends.conformance import SessionTestsMixin


class MemoryStoreConformanceTests(SessionTestsMixin, SimpleTestCase):
    backend = SessionStore
