"""Django app configuration for sessionkit."""

from django.apps import AppConfig
from django.core.checks import Tags, register


class SessionKitConfig(AppConfig):
    """Registers the system checks, the settings-reload signal handler and the receivers
    that end a deactivated or deleted user's sessions.

    Both happen here, not when a module is imported, so importing any sessionkit module
    (in a script, a test, a management command of another app) has no side effect.
    """

    name = "sessionkit"
    verbose_name = "Sessions (sessionkit)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sessionkit import checks, conf, user_events

        register(checks.check_settings, Tags.security, "sessions")
        register(checks.check_deploy, Tags.security, deploy=True)
        conf.connect_signals()
        user_events.connect()
