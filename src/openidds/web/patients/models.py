"""A patient of a clinic: identity and the facts every later check needs."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import date

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from openidds.web.accounts.models import Clinic


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    """An IANA time zone name such as Europe/Berlin."""
    if value not in _time_zones():
        raise ValidationError(
            "%(value)s is not an IANA time zone name (e.g. Europe/Berlin, America/New_York)",
            code="invalid_time_zone",
            params={"value": value},
        )


def validate_not_future(value: date | None) -> None:
    if value is not None and value > timezone.now().date():
        raise ValidationError("the date of birth is in the future", code="future_date")


class Indication(models.TextChoices):
    CANCER_PAIN = "cancer_pain", "Cancer pain"
    NONCANCER_PAIN = "noncancer_pain", "Non-cancer pain"
    SPASTICITY_SPINAL = "spasticity_spinal", "Spasticity of spinal origin"
    SPASTICITY_CEREBRAL = "spasticity_cerebral", "Spasticity of cerebral origin"


class OpioidTolerance(models.TextChoices):
    NAIVE = "naive", "Opioid naive"
    TOLERANT = "tolerant", "Opioid tolerant"


class PatientStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive (discharged or transferred)"
    DECEASED = "deceased", "Deceased"


class Patient(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    name = models.CharField("name", max_length=200)
    date_of_birth = models.DateField("date of birth", validators=[validate_not_future])
    mrn = models.CharField(
        "medical record number",
        max_length=64,
        help_text="Unique within the clinic.",
    )
    indication = models.CharField(max_length=30, choices=Indication.choices)
    opioid_tolerance = models.CharField(
        "opioid tolerance", max_length=10, choices=OpioidTolerance.choices
    )
    allergies = models.TextField(blank=True, help_text="Drugs and materials; empty if none known.")
    emergency_contact_name = models.CharField("emergency contact", max_length=200, blank=True)
    emergency_contact_phone = models.CharField("emergency contact phone", max_length=50, blank=True)
    time_zone = models.CharField(
        "time zone",
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA name, e.g. Europe/Berlin: the patient's (and pump clock's) zone.",
    )
    status = models.CharField(
        max_length=10, choices=PatientStatus.choices, default=PatientStatus.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "mrn"], name="patient_mrn_unique_in_clinic"),
        ]
        indexes = [models.Index(fields=["clinic", "name"], name="patient_clinic_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.mrn})"
