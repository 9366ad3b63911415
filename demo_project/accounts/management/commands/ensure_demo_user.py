"""``python manage.py ensure_demo_user``: create (or reset) the demo login, idempotently."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

USERNAME = "demo"
PASSWORD = "demo-password-123"


class Command(BaseCommand):
    help = f"Create the user {USERNAME!r} with password {PASSWORD!r} if it does not exist."

    def handle(self, *args: Any, **options: Any) -> None:
        user, created = get_user_model().objects.get_or_create(username=USERNAME)
        if created or not user.check_password(PASSWORD) or not user.is_active:
            user.set_password(PASSWORD)
            user.is_active = True
            user.save()
        verb = "Created" if created else "Found"
        self.stdout.write(self.style.SUCCESS(f"{verb} user {USERNAME!r} (password {PASSWORD!r})."))
