from django.urls import URLPattern, path

from tests.faults import views

urlpatterns: list[URLPattern] = [
    path("put/", views.put),
    path("dump/", views.dump),
    path("cycle/", views.cycle),
    path("logout/", views.logout),
]
