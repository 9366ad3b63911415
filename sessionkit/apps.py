"""Django app configuration for sessionkit."""

from django.apps import AppConfig
from django.core.checks import Tags, register


class SessionKitConfig(AppConfig):
    """Registers the system checks, the settings-reload signal handler, the receivers
    that end a deactivated or deleted user's sessions, and the admin's pages
    (:func:`sessionkit.admin.register`).

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
        self._register_admin()

    @staticmethod
    def _register_admin() -> None:
        """Register the session list and add sessionkit's action and "sessions" section to
        the User admin (:func:`sessionkit.admin.register`). Run once every app's admin
        module is imported: the admin's autodiscovery happens in its own
        ``ready()``, which runs after this one when sessionkit is listed first, so it is
        run here first (importing is idempotent)."""
        from django.apps import apps

        if not apps.is_installed("django.contrib.admin"):
            return
        from django.contrib.admin import autodiscover
        from django.contrib.admin.apps import AdminConfig

        from sessionkit.admin import register

        if isinstance(apps.get_app_config("admin"), AdminConfig):
            autodiscover()
        register()
