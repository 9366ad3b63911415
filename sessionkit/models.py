"""The database store's table: one row per session, keyed by a hash of its id."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Session(models.Model):
    """A stored session. ``key_hash`` is SHA-256 of the id: the table holds no cookie.

    Times are ``DateTimeField`` (aware when ``USE_TZ``) so the admin and SQL read them as
    dates; the store keeps epoch floats in memory and converts here, at the table
    (:mod:`sessionkit.backends.db_time`). A duration (``age``) stays whole seconds.
    """

    key_hash = models.CharField(max_length=64, primary_key=True)
    #: The session dict as a JSON object (never pickle).
    data = models.TextField()
    created = models.DateTimeField()
    expires = models.DateTimeField(db_index=True)
    last_seen = models.DateTimeField()
    #: Seconds a touch extends the session by (``None``: a fixed expiry date).
    age = models.IntegerField(null=True)
    #: ``ABSOLUTE_TIMEOUT`` from creation: no touch goes past it.
    deadline = models.DateTimeField(null=True)
    #: The logged-in user; deleting the user deletes the row (ends the session). A session
    #: naming a user that does not exist (deleted meanwhile, or an id that is no valid
    #: key) is stored with no user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    user_agent = models.CharField(max_length=256, default="")
    ip = models.CharField(max_length=45, default="")

    class Meta:
        db_table = "sessionkit_session"
        verbose_name = "session"

    def __str__(self) -> str:
        return self.key_hash[:12]
