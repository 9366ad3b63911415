"""Fault tests: real stores stopped, paused, cut off or locked while requests run.

:mod:`tests.faults.harness` holds what they share with ``tests/test_errors.py`` and
``tests/test_concurrency.py``.
"""
