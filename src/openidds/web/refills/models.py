"""Refill visits: what the nurse does at a refill, step by step, and the physician's word
on a discrepancy.

A :class:`RefillVisit` changes only through ``refills/services.py`` (each transition is one
transaction with its audit event). The fill itself is a pump event of the implant's
append-only timeline (``fill_event``); a physician's :class:`DiscrepancyAcknowledgement` is
append-only too (the model refuses changes and migration 0002 adds database triggers).
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from openidds.web.implants.models import Implant, PumpEvent
from openidds.web.patients.models import Patient


class VisitStatus(models.TextChoices):
    STARTED = "started", "Started"
    AWAITING_ACKNOWLEDGEMENT = (
        "awaiting_acknowledgement",
        "Discrepancy: awaiting a physician's acknowledgement",
    )
    READY_TO_FILL = "ready_to_fill", "Ready to fill"
    COMPLETED = "completed", "Completed"
    ABANDONED = "abandoned", "Abandoned"


#: A visit in one of these states is open: one open visit per implant.
OPEN_STATUSES = (
    VisitStatus.STARTED,
    VisitStatus.AWAITING_ACKNOWLEDGEMENT,
    VisitStatus.READY_TO_FILL,
)


class OrderSource(models.TextChoices):
    PRESCRIPTION = "prescription", "the signed prescription"
    LAST_FILL = "last_fill", "the last fill (no prescription recorded)"


class ChecklistItem(models.TextChoices):
    """The pocket-fill safety checklist; each a recorded yes, all required before the fill."""

    PORT_LOCATED = "port_located", "Reservoir fill port located (not the catheter access port)"
    NEEDLE_CONFIRMED = (
        "needle_confirmed",
        "Needle position in the reservoir confirmed by aspiration",
    )
    VOLUMES_READ_BACK = (
        "volumes_read_back",
        "Volumes read back: aspirated, left in the reservoir and to be filled",
    )


class RefillVisit(models.Model):
    """One refill visit of an implant, from the start to the fill (or abandoned)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="refill_visits")
    implant = models.ForeignKey(Implant, on_delete=models.PROTECT, related_name="refill_visits")
    status = models.CharField(
        max_length=30, choices=VisitStatus.choices, default=VisitStatus.STARTED
    )
    at = models.DateTimeField(
        "refill at", help_text="The instant of the aspiration and fill (the fill event's)."
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)

    # The twin's expectation and the pump's limits, at ``at``.
    expected_residual_ml = models.FloatField(help_text="The twin's reservoir volume at `at`.")
    capacity_ml = models.FloatField()
    threshold_ml = models.FloatField(help_text="The catalog's refill_discrepancy_ml.")

    # What to draw up.
    order_drugs = models.JSONField(
        default=dict, help_text='{"morphine": "10 mg/mL"}: drug id and concentration.'
    )
    order_volume_ml = models.DecimalField(max_digits=6, decimal_places=2)
    order_stability_days = models.FloatField(null=True, blank=True)
    order_source = models.CharField(max_length=20, choices=OrderSource.choices)
    order_reference = models.CharField(max_length=200, blank=True)

    # The checklist: who said yes, and when.
    port_located_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    port_located_at = models.DateTimeField(null=True, blank=True)
    needle_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    needle_confirmed_at = models.DateTimeField(null=True, blank=True)
    volumes_read_back_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    volumes_read_back_at = models.DateTimeField(null=True, blank=True)

    # The aspiration.
    aspirated_ml = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    residual_left_ml = models.DecimalField(max_digits=6, decimal_places=2, default=0)
    aspiration_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    aspiration_at = models.DateTimeField(null=True, blank=True)
    discrepancy_ml = models.FloatField(
        null=True, blank=True, help_text="aspirated + left in the reservoir − expected (mL)."
    )
    over_threshold = models.BooleanField(
        default=False,
        help_text="The twin raised refill_discrepancy: |discrepancy| > threshold (spec rule 9).",
    )

    # The fill.
    drug_lot = models.CharField(max_length=64, blank=True)
    drug_expiry = models.DateField(null=True, blank=True)
    filled_volume_ml = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    filled_drugs = models.JSONField(default=dict, blank=True)
    fill_event = models.OneToOneField(
        PumpEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="refill_visit"
    )
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    # The twin's forecast just after the fill (kept as it was said then).
    next_refill_at = models.DateTimeField(null=True, blank=True)
    low_reservoir_at = models.DateTimeField(null=True, blank=True)
    low_reservoir_earliest_at = models.DateTimeField(null=True, blank=True)
    empty_at = models.DateTimeField(null=True, blank=True)

    # Abandoned.
    abandoned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    abandoned_at = models.DateTimeField(null=True, blank=True)
    abandon_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["status"], name="refillvisit_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["implant"],
                condition=models.Q(status__in=[s.value for s in OPEN_STATUSES]),
                name="one_open_refill_visit_per_implant",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in VisitStatus]),
                name="refillvisit_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"refill visit #{self.pk} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def checklist(self) -> list[dict[str, Any]]:
        """Each item with who confirmed it and when (None: not yet)."""
        return [
            {
                "item": item.value,
                "label": item.label,
                "by": getattr(self, f"{item.value}_by"),
                "at": getattr(self, f"{item.value}_at"),
            }
            for item in ChecklistItem
        ]

    def checklist_missing(self) -> list[str]:
        return [i.value for i in ChecklistItem if getattr(self, f"{i.value}_at") is None]


class AcknowledgementDecision(models.TextChoices):
    PROCEED = "proceed", "Proceed with the refill"
    DO_NOT_FILL = "do_not_fill", "Do not fill: the visit is abandoned"


class AppendOnlyError(Exception):
    """An attempt to change or delete an acknowledgement."""


class AcknowledgementQuerySet(models.QuerySet["DiscrepancyAcknowledgement"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("acknowledgements cannot be changed")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("acknowledgements cannot be deleted")


class DiscrepancyAcknowledgement(models.Model):
    """A physician looked at a refill discrepancy and wrote what to do. Append-only."""

    visit = models.ForeignKey(
        RefillVisit, on_delete=models.PROTECT, related_name="acknowledgements"
    )
    physician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    decision = models.CharField(max_length=20, choices=AcknowledgementDecision.choices)
    note = models.TextField()
    discrepancy_ml = models.FloatField(help_text="The discrepancy the physician acknowledged.")

    objects = AcknowledgementQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(decision__in=[d.value for d in AcknowledgementDecision]),
                name="ack_decision_known",
            ),
        ]

    def __str__(self) -> str:
        return f"acknowledgement of visit #{self.visit_id} ({self.decision})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("acknowledgements cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("acknowledgements cannot be deleted")
