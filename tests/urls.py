from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, path

from tests import views

VIEWS = ("noop", "read", "write", "append", "expiry", "flush", "cycle", "fail", "aread", "awrite")

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="admin/login.html")),
    path("message/", views.message),
    path("alogin/", views.alogin_view),
    path("alogout/", views.alogout_view),
    path("raise/", views.raise_),
    path("whoami/", views.whoami),
    path("change-password/", views.change_password),
    *(path(f"{name}/", getattr(views, name)) for name in VIEWS),
]
