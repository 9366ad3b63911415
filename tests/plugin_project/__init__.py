"""A user's project, as ``django-admin startproject`` leaves it plus sessionkit, for the
pytest plugin's test (``tests/test_pytest_plugin.py``). It has no conftest.py: its tests
(``flows_*.py``, named so the main suite does not collect them) use pytest-django's stock
fixtures only, run by pytest-django in a subprocess from a copy of this directory.

``PLUGIN_PROJECT_SESSIONS`` picks the setup: ``sessionkit`` (sessionkit's middleware and
db store, the default), ``memory`` (sessionkit's middleware and memory store) or
``django`` (Django's own middleware and db engine, sessionkit merely installed).
"""
