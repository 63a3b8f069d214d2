"""Who may use the patient portal for which patient.

A :class:`PortalAccount` links a log-in (``accounts.User``) to one patient, as the patient
themself or as a caregiver the patient invited. The user also has a ``Membership`` of the
patient's clinic with the role ``patient`` or ``caregiver`` (so the clinic's role checks
keep them out of every clinic page). Access ends by setting ``revoked_at``; rows are kept
for the audit trail.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class Relation(models.TextChoices):
    PATIENT = "patient", "Patient"
    CAREGIVER = "caregiver", "Caregiver"


class PortalAccount(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="portal_accounts"
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="portal_accounts"
    )
    relation = models.CharField(max_length=20, choices=Relation.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One live patient account per patient; one live link per user and patient.
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(relation="patient", revoked_at__isnull=True),
                name="one_live_patient_account",
            ),
            models.UniqueConstraint(
                fields=["user", "patient"],
                condition=models.Q(revoked_at__isnull=True),
                name="one_live_link_per_user_and_patient",
            ),
        ]

    @property
    def is_caregiver(self) -> bool:
        return self.relation == Relation.CAREGIVER

    def __str__(self) -> str:
        return f"{self.user} — {self.get_relation_display()} of patient {self.patient_id}"


# -- invitations ---------------------------------------------------------------------------


class Invitation(models.Model):
    """A one-time invitation to the portal, for the patient (by the clinic) or for one
    caregiver (by the patient).

    Only keyed hashes of the short code and of the link's token are stored (see
    :mod:`openidds.web.portal.secrets`); the plain values are shown once, to whoever
    created the invitation. It expires, is used at most once and can be withdrawn.
    """

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="portal_invitations"
    )
    relation = models.CharField(max_length=20, choices=Relation.choices)
    #: the caregiver's name as the patient typed it (empty for the patient's own invitation)
    invitee_name = models.CharField(max_length=200, blank=True)
    code_hash = models.CharField(max_length=64, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    account = models.OneToOneField(
        PortalAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invitation",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def status_at(self, now: Any) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "withdrawn"
        if self.expires_at <= now:
            return "expired"
        return "pending"

    @property
    def status(self) -> str:
        from django.utils import timezone

        return self.status_at(timezone.now())

    def __str__(self) -> str:
        return f"{self.get_relation_display()} invitation for patient {self.patient_id}"


# -- refill appointments, reminders, notifications ------------------------------------------


class AppointmentStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class RefillAppointment(models.Model):
    """A refill visit the clinic booked for the patient (when, by whom, its status)."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="refill_appointments"
    )
    starts_at = models.DateTimeField("when")
    status = models.CharField(
        max_length=12, choices=AppointmentStatus.choices, default=AppointmentStatus.SCHEDULED
    )
    note = models.CharField(max_length=200, blank=True)
    #: the latest safe date the twin forecast when it was booked, and why a later one was
    #: accepted (a written reason is required for that)
    latest_safe_at = models.DateTimeField(null=True, blank=True)
    reason_after_latest_safe = models.CharField(max_length=500, blank=True)
    scheduled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["status", "starts_at"], name="portal_appt_status_at")]

    def __str__(self) -> str:
        return f"refill of patient {self.patient_id} at {self.starts_at:%Y-%m-%d %H:%M} UTC"


class ReminderKind(models.TextChoices):
    DAYS_7 = "7d", "7 days before"
    DAYS_1 = "1d", "1 day before"


class RefillReminder(models.Model):
    """One reminder sent for one appointment. The unique (appointment, kind) is the claim:
    whoever inserts the row sends, so no reminder goes out twice, whatever the race."""

    appointment = models.ForeignKey(
        RefillAppointment, on_delete=models.PROTECT, related_name="reminders"
    )
    kind = models.CharField(max_length=4, choices=ReminderKind.choices)
    sent_at = models.DateTimeField(auto_now_add=True)
    emails = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["appointment", "kind"], name="one_reminder_per_kind")
        ]


class PortalNotification(models.Model):
    """A message in the patient's portal (seen by the patient and their caregiver)."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="portal_notifications"
    )
    reminder = models.OneToOneField(
        RefillReminder, null=True, blank=True, on_delete=models.PROTECT, related_name="notification"
    )
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


# -- the private calendar feed --------------------------------------------------------------


class CalendarFeed(models.Model):
    """A secret address of the refill appointments for calendar apps (no log-in).

    The token (32 random bytes) is in the URL only; its SHA-256 is stored. It stops
    working when revoked, when a new one is made, or when the account is revoked.
    """

    account = models.ForeignKey(
        PortalAccount, on_delete=models.PROTECT, related_name="calendar_feeds"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(revoked_at__isnull=True),
                name="one_live_feed_per_account",
            )
        ]


# -- the clinic's contact details ------------------------------------------------------------


class ClinicContact(models.Model):
    """What the wallet card and the portal show of the clinic (the clinic admin edits it)."""

    clinic = models.OneToOneField(
        "accounts.Clinic", on_delete=models.CASCADE, related_name="portal_contact"
    )
    phone_24h = models.CharField("24-hour phone number", max_length=40)
    phone_office = models.CharField("office phone (opening hours)", max_length=40, blank=True)
    address = models.CharField(max_length=300, blank=True)
    email = models.EmailField(blank=True)
    emergency_note = models.CharField(
        "note for emergencies",
        max_length=200,
        blank=True,
        help_text="Shown on the wallet card, e.g. 'Pump team on call: ask for the pain service'.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"contact of {self.clinic}"
