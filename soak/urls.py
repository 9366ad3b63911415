"""The soak app's endpoints: one per thing a user does to their session."""

from django.urls import URLPattern, path

from soak import views

urlpatterns: list[URLPattern] = [
    path("login/", views.login_view),
    path("read/", views.read),
    path("write/", views.write),
    path("password/", views.password),
    path("others/", views.others),
    path("logout/", views.logout_view),
]
