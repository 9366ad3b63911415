"""The test URLconf plus ``include("sessionkit.urls")``, as a project with the "Your
devices" page has it (tests/test_views.py; the E050/E051 checks look for the include)."""

from django.urls import URLPattern, URLResolver, include, path

from tests.urls import urlpatterns as test_urlpatterns

urlpatterns: list[URLPattern | URLResolver] = [
    *test_urlpatterns,
    path("sessions/", include("sessionkit.urls")),
]
