"""The audit log: one append-only row per write, per view of patient data, per log-in."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone


class Action(models.TextChoices):
    LOGIN = "login", "Logged in"
    LOGIN_FAILED = "login_failed", "Failed log-in"
    LOGOUT = "logout", "Logged out"
    PATIENT_CREATED = "patient_created", "Patient created"
    PATIENT_UPDATED = "patient_updated", "Patient updated"
    PATIENT_VIEWED = "patient_viewed", "Patient chart viewed"
    PATIENTS_LISTED = "patients_listed", "Patient list viewed"
    AUDIT_LOG_VIEWED = "audit_log_viewed", "Audit log viewed"
    IMPLANT_RECORDED = "implant_recorded", "Implant recorded"
    IMPLANT_ENDED = "implant_ended", "Implant explanted or replaced"
    IMPLANTS_LISTED = "implants_listed", "Implants listed"
    PUMP_EVENT_RECORDED = "pump_event_recorded", "Pump event recorded"
    PUMP_EVENT_CORRECTED = "pump_event_corrected", "Pump event corrected"


class AuditEventError(Exception):
    """An attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditEventError("audit events cannot be changed")

    def delete(self) -> NoReturn:
        raise AuditEventError("audit events cannot be deleted")


class AuditEvent(models.Model):
    """Who did what, to which clinic/patient/object, when (UTC) and from where.

    Append-only: ``save()`` of an existing row, ``delete()`` and the queryset's
    ``update()``/``delete()`` raise :class:`AuditEventError`, and database triggers
    (migration 0002) refuse UPDATE and DELETE from anywhere else.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # What the actor typed or was called at the time (kept for failed log-ins of unknown
    # names, and so the row reads the same if the user is renamed).
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True)
    clinic = models.ForeignKey(
        "accounts.Clinic", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=60, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "-at"], name="audit_clinic_at"),
            models.Index(fields=["patient", "-at"], name="audit_patient_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username or '-'} {self.action}"

    def details_text(self) -> str:
        """The details as ``key: value`` pairs for people (nested values as JSON)."""
        import json

        return "; ".join(
            f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
            for key, value in self.details.items()
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AuditEventError("audit events cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditEventError("audit events cannot be deleted")
