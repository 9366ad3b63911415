"""Issue 11, step 1 of 3: the new columns beside the old ones (see 0003)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("sessionkit", "0001_initial"),
    ]

    operations = [
        # The old columns nullable first, so that going backwards re-adds them nullable.
        migrations.AlterField("session", "created", models.FloatField(null=True)),
        migrations.AlterField("session", "expires", models.FloatField(null=True)),
        migrations.AlterField("session", "last_seen", models.FloatField(null=True)),
        migrations.AddField("session", "created_at", models.DateTimeField(null=True)),
        migrations.AddField("session", "expires_at", models.DateTimeField(null=True)),
        migrations.AddField("session", "last_seen_at", models.DateTimeField(null=True)),
        migrations.AddField("session", "deadline_at", models.DateTimeField(null=True)),
        migrations.AddField(
            "session",
            "user_fk",
            models.ForeignKey(
                null=True,
                on_delete=models.deletion.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
