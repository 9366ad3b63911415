"""The database store's table: one row per session, keyed by a hash of its id."""

from __future__ import annotations

from django.db import models


class Session(models.Model):
    """A stored session. ``key_hash`` is SHA-256 of the id: the table holds no cookie."""

    key_hash = models.CharField(max_length=64, primary_key=True)
    #: The session dict as a JSON object (never pickle).
    data = models.TextField()
    #: Epoch seconds; floats keep the store free of time-zone settings.
    created = models.FloatField()
    expires = models.FloatField(db_index=True)
    last_seen = models.FloatField()
    #: Seconds a touch extends the session by (``None``: a fixed expiry date).
    age = models.IntegerField(null=True)
    deadline = models.FloatField(null=True)
    user_id = models.CharField(max_length=255, null=True, db_index=True)
    user_agent = models.CharField(max_length=256, default="")
    ip = models.CharField(max_length=45, default="")

    class Meta:
        db_table = "sessionkit_session"
        verbose_name = "session"

    def __str__(self) -> str:
        return self.key_hash[:12]
