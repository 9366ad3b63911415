"""``path("sessions/", include("sessionkit.urls"))``: the "Your devices" page."""

from django.urls import URLPattern, path

from sessionkit import views

app_name = "sessionkit"

urlpatterns: list[URLPattern] = [
    path("", views.user_sessions, name="user_sessions"),
    path("end/", views.end_session, name="end_session"),
    path("end-others/", views.end_other_sessions, name="end_other_sessions"),
]
