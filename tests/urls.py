from django.urls import path

from tests import views

urlpatterns = [
    path(f"{name}/", getattr(views, name))
    for name in (
        "noop",
        "read",
        "write",
        "append",
        "expiry",
        "flush",
        "cycle",
        "fail",
        "aread",
        "awrite",
    )
]
