"""``/none/``, ``/read/``, ``/write/`` (async views with ``BENCH_ASYNC=1``), ``/setup/``,
``/stats/``."""

from __future__ import annotations

import os

from django.urls import path

from benchmarks.app import views

_async = os.environ.get("BENCH_ASYNC", "0") == "1"

urlpatterns = [
    path("none/", views.anone if _async else views.none),
    path("read/", views.aread if _async else views.read),
    path("write/", views.awrite if _async else views.write),
    path("setup/", views.setup),
    path("stats/", views.stats),
]
