"""The admin: the db store's sessions, and every user's sessions on the User admin.

Sessions are ended through :mod:`sessionkit.users` (``end_session``,
``end_user_sessions``), never by a queryset delete, so whatever ending a session does
there (signals, the store's index) happens here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from sessionkit.backends.db import SessionStore as DbStore
from sessionkit.models import Session
from sessionkit.user_agents import device_label
from sessionkit.users import end_session, end_user_sessions, user_sessions

if TYPE_CHECKING:
    SessionModelAdmin = admin.ModelAdmin[Session]
else:  # ModelAdmin is generic only to the type checker
    SessionModelAdmin = admin.ModelAdmin


def db_store_in_use() -> bool:
    """Whether ``SESSION_ENGINE`` keeps sessions in the table this admin lists."""
    try:
        store = import_module(settings.SESSION_ENGINE).SessionStore
    except (ImportError, AttributeError):
        return False
    return isinstance(store, type) and issubclass(store, DbStore)


def _user_lookup_fields() -> tuple[str, ...]:
    """The user's fields an admin search matches: the username (and email, if any)."""
    user_model = get_user_model()
    names = [user_model.USERNAME_FIELD, user_model.get_email_field_name()]
    present = {field.name for field in user_model._meta.get_fields()}
    return tuple(dict.fromkeys(name for name in names if name in present))


class SessionAdmin(SessionModelAdmin):
    """The db store's live, logged-in sessions: read-only, ended by an action.

    Registered whatever the engine (registration happens once, at start-up, before any
    setting a test overrides), shown only while ``SESSION_ENGINE`` is the db store: with
    another store the table is not where sessions live. Anonymous sessions are not listed:
    nobody to show them for, and ``clearsessions`` ends them when they expire. The data
    column is never shown.
    """

    list_display = ("user", "device", "address", "created", "last_seen", "expires")
    list_filter = (("user", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("user",)
    ordering = ("-last_seen",)
    fields = ("user", "device", "user_agent", "ip", "created", "last_seen", "expires", "deadline")
    readonly_fields = fields
    actions = ("end_selected",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Session]:
        now = timezone.now()
        live = Q(expires__gt=now) & (Q(deadline__isnull=True) | Q(deadline__gt=now))
        return super().get_queryset(request).filter(live, user__isnull=False)

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return tuple(f"user__{name}" for name in _user_lookup_fields())

    @admin.display(description="device")
    def device(self, session: Session) -> str:
        return device_label(session.user_agent)

    @admin.display(description="IP", ordering="ip")
    def address(self, session: Session) -> str:
        return session.ip

    def has_module_permission(self, request: HttpRequest) -> bool:
        return db_store_in_use() and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return db_store_in_use() and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # ending goes through end_session(), not Django's delete

    def has_end_permission(self, request: HttpRequest) -> bool:
        """Ending a session is deleting its row: the model's delete permission."""
        return request.user.has_perm(f"{Session._meta.app_label}.delete_session")

    @admin.action(permissions=["end"], description="End the selected sessions")
    def end_selected(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        ended = sum(end_session(row.user, row.key_hash) for row in queryset)
        self.message_user(request, f"Ended {ended} session(s).", messages.SUCCESS)


@admin.action(description="End all sessions of the selected users", permissions=["change"])
def end_all_sessions(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> None:
    """The User admin's action: :func:`sessionkit.end_user_sessions` for each user."""
    try:
        ended = sum(end_user_sessions(user) for user in queryset)
    except ImproperlyConfigured as error:  # a store without an index
        modeladmin.message_user(request, str(error), messages.ERROR)
        return
    users = len(queryset)
    modeladmin.message_user(
        request, f"Ended {ended} session(s) of {users} user(s).", messages.SUCCESS
    )


class UserSessionsMixin:
    """What sessionkit adds to the ``ModelAdmin`` of ``AUTH_USER_MODEL``: the action
    :func:`end_all_sessions` and a read-only "sessions" section on the user's page.

    :meth:`sessionkit.apps.SessionKitConfig.ready` mixes it into the class registered on
    ``admin.site``; on another ``AdminSite``, put it first in your own class's bases.
    """

    admin_site: admin.AdminSite
    model: Any
    actions: Sequence[Any] | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An instance attribute, not a get_actions() override: that method's signature
        # differs across Django versions. A class that disables actions (None) stays so.
        actions = self.actions
        if actions is not None and end_all_sessions not in actions:
            self.actions = (*actions, end_all_sessions)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        fields = super().get_readonly_fields(request, obj)  # type: ignore[misc]
        return (*fields, "sessionkit_sessions") if obj is not None else fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))  # type: ignore[misc]
        if obj is not None:
            fieldsets.append(("Sessions", {"fields": ("sessionkit_sessions",)}))
        return fieldsets

    @admin.display(description="live sessions")
    def sessionkit_sessions(self, user: Any) -> SafeString | str:
        """The user's sessions on any store that keeps a per-user index."""
        try:
            sessions = user_sessions(user)
        except ImproperlyConfigured as error:  # a store without an index
            return str(error)
        if not sessions:
            return "No live sessions."

        def when(value: Any) -> str:
            return str(formats.localize(timezone.localtime(value)))

        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    s.label,
                    s.ip,
                    when(s.created),
                    when(s.last_seen),
                    when(s.expires),
                )
                for s in sessions
            ),
        )
        table = format_html(
            "<table><thead><tr><th>device</th><th>IP</th><th>created</th><th>last seen</th>"
            "<th>expires</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )
        return format_html("{}{}", table, self._sessions_link(user))

    def _sessions_link(self, user: Any) -> SafeString | str:
        """A link to the db store's session list for this user (where it is shown)."""
        if not db_store_in_use():
            return ""
        try:
            url = reverse(f"{self.admin_site.name}:sessionkit_session_changelist")
        except NoReverseMatch:
            return ""
        pk_name = cast(Any, self.model._meta.pk).name
        return format_html(
            '<p><a href="{}?user__{}__exact={}">End them one by one</a></p>', url, pk_name, user.pk
        )


def register(site: admin.AdminSite | None = None) -> None:
    """What :meth:`sessionkit.apps.SessionKitConfig.ready` does when the admin is installed
    (not importing this module: that has no side effect): register :class:`SessionAdmin`
    and extend the User admin on ``site`` (``admin.site``)."""
    site = admin.site if site is None else site
    if not site.is_registered(Session):
        site.register(Session, SessionAdmin)
    extend_user_admin(site)


def extend_user_admin(site: admin.AdminSite | None = None) -> bool:
    """Mix :class:`UserSessionsMixin` into the ``ModelAdmin`` registered for
    ``AUTH_USER_MODEL`` on ``site`` (``admin.site``), keeping the project's own class and
    everything it does; once. ``False`` when no admin is registered for the user model."""
    site = admin.site if site is None else site
    user_model = get_user_model()
    if not site.is_registered(user_model):
        return False
    registered = site.get_model_admin(user_model)
    if isinstance(registered, UserSessionsMixin):
        return True
    base = type(registered)
    extended = type(
        base.__name__,
        (UserSessionsMixin, base),
        {"__module__": base.__module__, "__qualname__": base.__qualname__},
    )
    site.unregister(user_model)
    site.register(user_model, extended)
    return True
