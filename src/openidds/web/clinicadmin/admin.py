"""Django admin at ``/admin/``: for operators (``is_staff``) only, and only for the
installation's non-clinical objects: clinics, users, memberships, the clinics' drug
libraries (read-only) and django-axes' log-in records.

Never patients, implants, pump events, prescriptions, refills or audit events: those change
only through their service functions, with their checks and audit events
(``tests/web/test_clinicadmin_admin.py`` fails if one is registered). Nothing is deleted
here. Every change made here is an audit event (``admin_change``, through the hooks that
write Django's own LogEntry), and memberships change through the same service functions as
the clinic admin's page (with their own audit events and the last-admin rule).
"""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from openidds.web.accounts.models import Clinic, Membership, Role, User
from openidds.web.audit.models import Action
from openidds.web.audit.services import record
from openidds.web.clinicadmin import services
from openidds.web.clinicadmin.models import ClinicDrugLibrary, DrugLibrarySelection

admin.site.site_header = "OpenIDDS operators"
admin.site.site_title = "OpenIDDS operators"
admin.site.index_title = "Clinics, users and memberships (no clinical records here)"

# Not used (roles are per clinic, in memberships), and task results may carry clinical
# arguments: neither belongs in this admin.
for _model in (Group,):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
try:
    from django_tasks_db.models import DBTaskResult

    if admin.site.is_registered(DBTaskResult):
        admin.site.unregister(DBTaskResult)
except ImportError:  # pragma: no cover
    pass


def _clinic_of(obj: Any) -> Clinic | None:
    if isinstance(obj, Clinic):
        return obj
    clinic = getattr(obj, "clinic", None)
    return clinic if isinstance(clinic, Clinic) else None


class AuditedAdmin(admin.ModelAdmin[Any]):
    """Writes an ``admin_change`` audit event wherever Django admin writes its LogEntry
    (in the same transaction as the change)."""

    def _audit(self, request: HttpRequest, obj: Any, what: str, message: Any) -> None:
        record(
            by=request.user,
            action=Action.ADMIN_CHANGE,
            clinic=_clinic_of(obj),
            obj=obj,
            details={
                "what": what,
                "model": obj._meta.label,
                "object": str(obj),
                "change": message if isinstance(message, str | list) else str(message),
            },
        )

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(request, obj, "added", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        self._audit(request, obj, "changed", message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            self._audit(request, obj, "deleted", "")
        return super().log_deletions(request, queryset)


class NoDeleteMixin:
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Clinic)
class ClinicAdmin(NoDeleteMixin, AuditedAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class OperatorUserChangeForm(forms.ModelForm[User]):
    """Refuses to disable the account of a clinic's last active clinic admin."""

    def clean_is_active(self) -> bool:
        active = bool(self.cleaned_data.get("is_active"))
        user = self.instance
        if user.pk and user.is_active and not active:
            for m in Membership.objects.filter(
                user=user, role=Role.CLINIC_ADMIN, is_active=True
            ).select_related("clinic"):
                others = (
                    Membership.objects.filter(
                        clinic=m.clinic, role=Role.CLINIC_ADMIN, is_active=True
                    )
                    .exclude(user=user)
                    .filter(user__is_active=True)
                )
                if not others.exists():
                    raise ValidationError(
                        f"the last active clinic admin of {m.clinic}: make another member "
                        "clinic admin there first"
                    )
        return active


@admin.register(User)
class UserAdmin(NoDeleteMixin, AuditedAdmin, DjangoUserAdmin[User]):
    """Operators create accounts, set passwords, disable accounts (never delete them:
    the audit log refers to them)."""

    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("display_name", "first_name", "last_name", "email")}),
        (
            "Operator rights and status",
            {
                "fields": ("is_active", "is_staff", "is_superuser", "user_permissions"),
                "description": "What a user may do in a clinic is their membership's role, "
                "not a permission here. Unset 'active' instead of deleting.",
            },
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = ["last_login", "date_joined"]
    list_display = ["username", "display_name", "email", "is_active", "is_staff", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            return form
        return type("UserChangeForm", (OperatorUserChangeForm, form), {})


class _DryRunDoneError(Exception):
    """Raised to roll the dry run back."""

    pass


class MembershipForm(forms.ModelForm[Membership]):
    """Validates by running the service function in a transaction that is rolled back,
    so that the admin's form shows exactly what the service would refuse."""

    request: HttpRequest

    class Meta:
        model = Membership
        fields = ["user", "clinic", "role", "is_active"]

    def apply(self, *, dry_run: bool) -> Membership:
        data = self.cleaned_data
        by = self.request.user
        if self.instance.pk is None:
            added = services.add_member(
                by=by,
                clinic=data["clinic"],
                username=data["user"].username,
                role=data["role"],
                new_account=False,
            )
            membership = added.membership
            if not data.get("is_active", True):
                membership = services.set_active(by=by, membership=membership, active=False)
        else:
            membership = Membership.objects.select_related("clinic", "user").get(
                pk=self.instance.pk
            )
            if data["role"] != membership.role:
                membership = services.change_role(by=by, membership=membership, role=data["role"])
            if data["is_active"] != membership.is_active:
                membership = services.set_active(
                    by=by, membership=membership, active=data["is_active"]
                )
        if dry_run:
            raise _DryRunDoneError
        return membership

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        needed = {"role"} if self.instance.pk else {"user", "clinic", "role"}
        if self.errors or not needed <= set(data):
            return data
        try:
            with transaction.atomic():
                self.apply(dry_run=True)
        except _DryRunDoneError:
            pass
        except ValidationError as exc:
            for field, found in exc.message_dict.items():
                target = field if field in self.fields else None
                if field == "username":
                    target = "user"
                self.add_error(target, found)
        return data

    def _post_clean(self) -> None:
        """Uniqueness and constraints are the service's (it says it in its words)."""


@admin.register(Membership)
class MembershipAdmin(NoDeleteMixin, AuditedAdmin):
    form = MembershipForm
    list_display = ["user", "clinic", "role", "is_active", "created_at"]
    list_filter = ["clinic", "role", "is_active"]
    search_fields = ["user__username", "user__display_name", "clinic__name"]
    autocomplete_fields = ["user", "clinic"]
    list_select_related = ["user", "clinic"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["user", "clinic", "created_at"] if obj is not None else ["created_at"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type("BoundMembershipForm", (form,), {"request": request})

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        membership = form.apply(dry_run=False)
        obj.pk = membership.pk
        obj.user = membership.user
        obj.clinic = membership.clinic
        obj.role = membership.role
        obj.is_active = membership.is_active
        obj.created_at = membership.created_at
        obj._state.adding = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user", "clinic")


class ReadOnlyAdmin(AuditedAdmin):
    """Append-only records: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ClinicDrugLibrary)
class ClinicDrugLibraryAdmin(ReadOnlyAdmin):
    list_display = ["library_name", "library_version", "clinic", "uploaded_by", "uploaded_at"]
    list_filter = ["clinic"]
    search_fields = ["library_name", "clinic__name"]
    readonly_fields = [f.name for f in ClinicDrugLibrary._meta.fields]


@admin.register(DrugLibrarySelection)
class DrugLibrarySelectionAdmin(ReadOnlyAdmin):
    list_display = ["clinic", "library_name", "library_version", "selected_by", "selected_at"]
    list_filter = ["clinic"]
    readonly_fields = [f.name for f in DrugLibrarySelection._meta.fields]


# django-axes' records, with the same audit hook (deleting an attempt unlocks a name).
for _model, _admin in (
    (AccessAttempt, AccessAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, type(f"Audited{_admin.__name__}", (AuditedAdmin, _admin), {}))

#: What may be registered at all: tests/web/test_clinicadmin_admin.py checks the registry.
ALLOWED_ADMIN_MODELS: frozenset[type[models.Model]] = frozenset(
    {
        Clinic,
        User,
        Membership,
        ClinicDrugLibrary,
        DrugLibrarySelection,
        AccessAttempt,
        AccessLog,
        AccessFailureLog,
    }
)
