"""Django app configuration for sessionkit."""

from django.apps import AppConfig


class SessionKitConfig(AppConfig):
    """Registers the system checks and the settings-reload signal handler."""

    name = "sessionkit"
    verbose_name = "Sessions (sessionkit)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sessionkit import (
            checks,  # noqa: F401  (registers the checks)
            conf,
        )

        conf.connect_signals()
