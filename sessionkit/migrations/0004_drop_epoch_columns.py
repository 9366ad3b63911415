"""Issue 11, step 3 of 3: the old columns go, the new ones take their names (see 0003)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sessionkit", "0003_copy_datetimes_and_user")]

    operations = [
        migrations.RemoveField("session", "created"),
        migrations.RemoveField("session", "expires"),
        migrations.RemoveField("session", "last_seen"),
        migrations.RemoveField("session", "deadline"),
        migrations.RemoveField("session", "user_id"),
        migrations.RenameField("session", "created_at", "created"),
        migrations.RenameField("session", "expires_at", "expires"),
        migrations.RenameField("session", "last_seen_at", "last_seen"),
        migrations.RenameField("session", "deadline_at", "deadline"),
        migrations.RenameField("session", "user_fk", "user"),
        migrations.AlterField("session", "created", models.DateTimeField()),
        migrations.AlterField("session", "expires", models.DateTimeField(db_index=True)),
        migrations.AlterField("session", "last_seen", models.DateTimeField()),
    ]
