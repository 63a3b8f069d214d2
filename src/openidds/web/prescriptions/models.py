"""Signed, versioned prescriptions: a physician's change to the pump, never edited in place.

A prescription records the changes (pump events in the scenario format), the dose checks'
findings at the time with the written reason for every soft one, the drug library used,
the program before and after, who signed it and when, and that they re-entered their
password. Its ``signature`` is the SHA-256 of a canonical JSON of all that and of the
previous version's signature, so a change to any version (or to the chain) is detectable.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from openidds.web.implants.models import Implant
from openidds.web.patients.models import Patient

SIGNATURE_FORMAT = "openidds.prescription/1"


class AppendOnlyError(Exception):
    """An attempt to change or delete a prescription (sign a new version instead)."""


class PrescriptionQuerySet(models.QuerySet["Prescription"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("prescriptions cannot be changed; sign a new version")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("prescriptions cannot be deleted; sign a new version")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Prescription(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="prescriptions")
    implant = models.ForeignKey(Implant, on_delete=models.PROTECT, related_name="prescriptions")
    version = models.PositiveIntegerField(help_text="1, 2, 3 ... per patient, without gaps.")
    supersedes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
        help_text="The previous version.",
    )
    changes = models.JSONField(
        help_text='Pump events in the scenario format: [{"kind", "at", "fields"}].'
    )
    findings = models.JSONField(
        default=list, help_text="The dose checks' findings at the changes when signed."
    )
    reasons = models.JSONField(
        default=dict, help_text="The written reason for each soft finding, by code."
    )
    library_id = models.CharField(max_length=100)
    library_version = models.CharField(max_length=40)
    program_before = models.JSONField(default=dict)
    program_after = models.JSONField(default=dict)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_by_username = models.CharField(max_length=150)
    signed_at = models.DateTimeField()
    reauthenticated_at = models.DateTimeField(
        help_text="When the physician re-entered their password to sign."
    )
    previous_signature = models.CharField(max_length=64, blank=True)
    signature = models.CharField(max_length=64)

    objects = PrescriptionQuerySet.as_manager()

    class Meta:
        ordering = ["patient", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "version"], name="one_prescription_per_version"
            ),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="version_from_one"),
        ]

    def __str__(self) -> str:
        return f"prescription v{self.version} of {self.patient}"

    def content(self) -> dict[str, Any]:
        """What the signature covers."""
        return {
            "format": SIGNATURE_FORMAT,
            "patient": self.patient_id,
            "implant": self.implant_id,
            "version": self.version,
            "supersedes": self.supersedes_id,
            "changes": self.changes,
            "findings": self.findings,
            "reasons": self.reasons,
            "library": {"id": self.library_id, "version": self.library_version},
            "program_before": self.program_before,
            "program_after": self.program_after,
            "signed_by": {"id": self.signed_by_id, "username": self.signed_by_username},
            "signed_at": self.signed_at.astimezone(UTC).isoformat(),
            "reauthenticated_at": self.reauthenticated_at.astimezone(UTC).isoformat(),
            "previous_signature": self.previous_signature,
        }

    def compute_signature(self) -> str:
        return hashlib.sha256(canonical_json(self.content()).encode("utf-8")).hexdigest()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("prescriptions cannot be changed; sign a new version")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("prescriptions cannot be deleted; sign a new version")
