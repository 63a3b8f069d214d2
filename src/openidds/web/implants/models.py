"""Implanted pumps and the append-only timeline of what was done to each (the twin's input)."""

from __future__ import annotations

import functools
from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from openidds.web.patients.models import Patient


@functools.cache
def pump_catalog() -> Any:
    from openidds.pump import load_catalog

    return load_catalog()


def pump_model_choices() -> list[tuple[str, str]]:
    return [(m.id, f"{m.name} ({m.id})") for m in pump_catalog().models.values()]


def validate_pump_model(value: str) -> None:
    if value not in pump_catalog().models:
        raise ValidationError(
            "%(value)s is not a pump model of the catalog (%(known)s)",
            code="unknown_pump_model",
            params={"value": value, "known": ", ".join(pump_catalog().models)},
        )


class ImplantStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPLANTED = "explanted", "Explanted"
    REPLACED = "replaced", "Replaced"


class FluidPathInitial(models.TextChoices):
    NO_DRUG = "no-drug", "New implant: the fluid path holds drug-free fluid"
    PRIMED = "primed", "Primed: the fluid path holds the first fill's fluid"


class Implant(models.Model):
    """One implanted pump of a patient. Made and ended only through the services."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="implants")
    pump_model = models.CharField(
        "pump model", max_length=60, validators=[validate_pump_model], help_text="Catalog id."
    )
    serial = models.CharField("serial number", max_length=64)
    implanted_at = models.DateTimeField("implanted at")
    catheter_model = models.CharField("catheter model", max_length=100, blank=True)
    catheter_length_cm = models.DecimalField(
        "catheter length (cm)", max_digits=5, decimal_places=1, null=True, blank=True
    )
    fluid_path_ml = models.DecimalField(
        "fluid path volume (mL)",
        max_digits=6,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Measured volume from reservoir outlet to catheter tip; empty: the "
        "catalog's value (a placeholder).",
    )
    fluid_path_initial = models.CharField(
        "fluid path at implant",
        max_length=10,
        choices=FluidPathInitial.choices,
        default=FluidPathInitial.NO_DRUG,
    )
    fixed_rate_ml_per_day = models.DecimalField(
        "fixed rate (mL/day)",
        max_digits=6,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="Constant-flow pumps (IsoMed) only, and required for them: the factory rate.",
    )
    status = models.CharField(
        max_length=10, choices=ImplantStatus.choices, default=ImplantStatus.ACTIVE
    )
    ended_at = models.DateTimeField("explanted or replaced at", null=True, blank=True)
    end_reason = models.TextField(blank=True)
    supersedes = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
        help_text="The implant this one replaced.",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-implanted_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(status="active"),
                name="one_active_implant_per_patient",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in ImplantStatus]),
                name="implant_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pump_model} #{self.serial} ({self.get_status_display()})"

    @property
    def catalog_model(self) -> Any:
        return pump_catalog().get(self.pump_model)


class PumpEventKind(models.TextChoices):
    FILL = "fill", "Fill or refill"
    PROGRAM = "program", "Program"
    STOP = "stop", "Stop"
    BOLUS = "bolus", "Clinician bolus"
    PRIMING_BOLUS = "priming_bolus", "Priming bolus"
    BRIDGE_BOLUS = "bridge_bolus", "Bridge bolus"
    PTM_SETTINGS = "ptm_settings", "PTM settings"
    PTM_REQUEST = "ptm_request", "PTM request"
    MRI = "mri", "MRI scan"
    CATHETER_REVISION = "catheter_revision", "Catheter revision"
    PUMP_REPLACEMENT = "pump_replacement", "Pump replacement"
    INTERROGATION = "interrogation", "Interrogation"


class AppendOnlyError(Exception):
    """An attempt to change or delete a pump event (record a correction instead)."""


class PumpEventQuerySet(models.QuerySet["PumpEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("pump events cannot be changed; record a correction")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("pump events cannot be deleted; record a correction")


class PumpEvent(models.Model):
    """One event of an implant's timeline, in the scenario format (``fields``).

    Append-only: a correction is a new record that ``supersedes`` the old one and takes
    its place (``sequence``) among events at the same instant. ``void`` corrections
    withdraw the superseded record without replacing it.
    """

    implant = models.ForeignKey(Implant, on_delete=models.PROTECT, related_name="pump_events")
    kind = models.CharField(max_length=20, choices=PumpEventKind.choices)
    at = models.DateTimeField()
    fields = models.JSONField(default=dict, blank=True)
    sequence = models.PositiveIntegerField(
        help_text="Order among events at the same instant (a correction keeps the original's)."
    )
    void = models.BooleanField(default=False)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    reason = models.TextField(blank=True, help_text="Why a correction was made.")
    prescription = models.ForeignKey(
        "prescriptions.Prescription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pump_events",
        help_text="The signed prescription this event carries out (programs, boluses, PTM "
        "settings, stops, and a physician's fill given with them).",
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = PumpEventQuerySet.as_manager()

    class Meta:
        ordering = ["at", "sequence", "id"]
        indexes = [models.Index(fields=["implant", "at"], name="pumpevent_implant_at")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in PumpEventKind]),
                name="pumpevent_kind_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.kind}"

    def fields_text(self) -> str:
        """The fields for people: ``volume_ml: 20; drugs: morphine 10 mg/mL``."""

        def show(value: Any) -> str:
            if isinstance(value, dict):
                return ", ".join(f"{k} {show(v)}" for k, v in value.items())
            if isinstance(value, list):
                return "; ".join(show(v) for v in value)
            if isinstance(value, float) and value.is_integer():
                return str(int(value))
            return str(value)

        return "; ".join(
            f"{k}: {show(v)}" for k, v in self.fields.items() if k not in {"override", "note"}
        )

    def overrides(self) -> list[dict[str, str]]:
        """The soft findings accepted with a written reason (``override`` field)."""
        value = self.fields.get("override", [])
        return [o for o in value if isinstance(o, dict)] if isinstance(value, list) else []

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("pump events cannot be changed; record a correction")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("pump events cannot be deleted; record a correction")
