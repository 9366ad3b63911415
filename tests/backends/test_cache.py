"""The cache store over Django caches: Django's session test suite."""

from __future__ import annotations

from django.test import SimpleTestCase

from sessionkit.backends.cache import SessionStore
from tests.backends.conformance import SessionTestsMixin


class CacheStoreConformanceTests(SessionTestsMixin, SimpleTestCase):
    backend = SessionStore
