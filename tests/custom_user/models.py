"""User models whose key is not an integer, for the db store's foreign key (issue 11)."""

from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models


class UuidUser(AbstractBaseUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    username = models.CharField(max_length=40, unique=True)

    USERNAME_FIELD = "username"
    objects = BaseUserManager()  # type: ignore[var-annotated]


class NamedUser(AbstractBaseUser):
    username = models.CharField(max_length=40, primary_key=True)

    USERNAME_FIELD = "username"
    objects = BaseUserManager()  # type: ignore[var-annotated]
