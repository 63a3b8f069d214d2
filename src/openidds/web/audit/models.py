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
    PUMP_EVENTS_LISTED = "pump_events_listed", "Pump events listed"
    PUMP_STATE_VIEWED = "pump_state_viewed", "Pump state or forecast viewed"
    # prescriptions
    PRESCRIPTION_PREVIEWED = "prescription_previewed", "Prescription previewed"
    PRESCRIPTION_SIGNED = "prescription_signed", "Prescription signed"
    PRESCRIPTIONS_LISTED = "prescriptions_listed", "Prescriptions listed"
    PRESCRIPTION_VIEWED = "prescription_viewed", "Prescription viewed"
    REAUTHENTICATION_FAILED = "reauthentication_failed", "Re-authentication failed"
    # refill visits
    REFILL_VISIT_STARTED = "refill_visit_started", "Refill visit started"
    REFILL_CHECKLIST_RECORDED = "refill_checklist_recorded", "Refill checklist recorded"
    REFILL_ASPIRATION_RECORDED = "refill_aspiration_recorded", "Aspirated volume recorded"
    DISCREPANCY_ACKNOWLEDGED = "discrepancy_acknowledged", "Refill discrepancy acknowledged"
    REFILL_COMPLETED = "refill_completed", "Refill completed"
    REFILL_VISIT_ABANDONED = "refill_visit_abandoned", "Refill visit abandoned"
    REFILL_VISITS_LISTED = "refill_visits_listed", "Refill visits listed"
    # worklists
    WORKLIST_VIEWED = "worklist_viewed", "Worklist viewed"
    # clinic administration
    MEMBERS_LISTED = "members_listed", "Clinic members listed"
    MEMBER_ADDED = "member_added", "Member added"
    MEMBER_ROLE_CHANGED = "member_role_changed", "Member's role changed"
    MEMBER_DEACTIVATED = "member_deactivated", "Member deactivated"
    MEMBER_REACTIVATED = "member_reactivated", "Member reactivated"
    ACCOUNT_UNLOCKED = "account_unlocked", "Locked account unlocked"
    DRUG_LIBRARY_UPLOADED = "drug_library_uploaded", "Drug library uploaded"
    DRUG_LIBRARY_SELECTED = "drug_library_selected", "Drug library selected"
    ADMIN_CHANGE = "admin_change", "Changed in Django admin"
    # patient portal
    INVITATION_CREATED = "invitation_created", "Portal invitation created"
    INVITATION_ACCEPTED = "invitation_accepted", "Portal invitation accepted"
    INVITATION_REVOKED = "invitation_revoked", "Portal invitation revoked"
    CAREGIVER_INVITED = "caregiver_invited", "Caregiver invited"
    CAREGIVER_REVOKED = "caregiver_revoked", "Caregiver access revoked"
    PORTAL_VIEWED = "portal_viewed", "Portal page viewed"
    WALLET_CARD_DOWNLOADED = "wallet_card_downloaded", "Wallet card downloaded"
    CALENDAR_DOWNLOADED = "calendar_downloaded", "Calendar downloaded"
    REMINDER_SENT = "reminder_sent", "Refill reminder sent"
    # diary, recovery, plan
    DIARY_ENTRY_RECORDED = "diary_entry_recorded", "Diary entry recorded"
    QUESTIONNAIRE_RECORDED = "questionnaire_recorded", "Questionnaire recorded"
    CHECKIN_RECORDED = "checkin_recorded", "Recovery check-in recorded"
    RED_FLAG_RAISED = "red_flag_raised", "Red flag raised"
    RED_FLAG_RESOLVED = "red_flag_resolved", "Red flag resolved"
    PLAN_UPDATED = "plan_updated", "Pain management plan updated"
    GOAL_PROGRESS_RECORDED = "goal_progress_recorded", "Goal progress recorded"
    RECOVERY_TEMPLATE_UPDATED = "recovery_template_updated", "Recovery template updated"
    # questions, stories, learning pages
    QUESTION_ASKED = "question_asked", "Question asked"
    QUESTION_ANSWERED = "question_answered", "Question answered"
    QUESTION_VIEWED = "question_viewed", "Question viewed"
    QUESTION_CLOSED = "question_closed", "Question closed"
    STORY_SUBMITTED = "story_submitted", "Story submitted"
    STORY_MODERATED = "story_moderated", "Story moderated"
    LEARN_PAGE_UPDATED = "learn_page_updated", "Learning page updated"
    STORY_WITHDRAWN = "story_withdrawn", "Story withdrawn"
    # refill visits and appointments, the portal's calendar and contacts
    REFILL_VISIT_VIEWED = "refill_visit_viewed", "Refill visit viewed"
    REFILL_APPOINTMENT_SCHEDULED = "refill_appointment_scheduled", "Refill appointment scheduled"
    REFILL_APPOINTMENT_CHANGED = "refill_appointment_changed", "Refill appointment changed"
    CALENDAR_FEED_CREATED = "calendar_feed_created", "Calendar feed created"
    CALENDAR_FEED_REVOKED = "calendar_feed_revoked", "Calendar feed revoked"
    CLINIC_CONTACT_UPDATED = "clinic_contact_updated", "Clinic contact details updated"
    PORTAL_ACCESS_REVOKED = "portal_access_revoked", "Portal access revoked"


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
