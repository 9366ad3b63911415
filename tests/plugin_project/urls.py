from django.contrib import admin
from django.urls import URLPattern, URLResolver, path

from . import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("whoami/", views.whoami),
    path("awhoami/", views.awhoami),
    path("count/", views.count),
]
