from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from demo_project import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard", permanent=False)),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("dashboard/", views.dashboard, name="dashboard"),
    # sessionkit's "Your devices" page (its frame: templates/sessionkit/base.html).
    path("sessions/", include("sessionkit.urls")),
    path("admin/", admin.site.urls),
]
