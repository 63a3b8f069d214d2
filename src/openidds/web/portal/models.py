"""Who may use the patient portal for which patient.

A :class:`PortalAccount` links a log-in (``accounts.User``) to one patient, as the patient
themself or as a caregiver the patient invited. The user also has a ``Membership`` of the
patient's clinic with the role ``patient`` or ``caregiver`` (so the clinic's role checks
keep them out of every clinic page). Access ends by setting ``revoked_at``; rows are kept
for the audit trail.
"""

from __future__ import annotations

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
