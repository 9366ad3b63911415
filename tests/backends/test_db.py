"""The database store: Django's session test suite, hashed keys, JSON rows, purging."""

from __future__ import annotations

import pytest
from django.test import TestCase

from sessionkit.backends.db import SessionStore
from tests.backends.conformance import SessionTestsMixin

pytestmark = pytest.mark.db


class DatabaseStoreConformanceTests(SessionTestsMixin, TestCase):
    backend = SessionStore
