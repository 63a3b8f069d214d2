"""The pump-state snapshot: one row per active implant, what the fleet forecast needs.

Derived data, never a clinical record: it is rebuilt from the implant's timeline by the
twin (``openidds.web.worklists.snapshots``) in the same transaction as every change of that
timeline, and can be rebuilt at any time (``openidds manage rebuild_snapshots``).
"""

from __future__ import annotations

from django.db import models

from openidds.web.accounts.models import Clinic
from openidds.web.implants.models import Implant
from openidds.web.patients.models import Patient


class ProgramPeriod(models.TextChoices):
    NONE = "", "No program (stopped or never programmed)"
    CONTINUOUS = "continuous", "Continuous"
    DAY = "day", "Flex by day"
    WEEK = "week", "Flex by week"


class PumpSnapshot(models.Model):
    """The state of an active implant at ``as_of`` as the twin replayed it.

    ``program_step_start_days`` / ``program_step_rate_ml_per_day``: the basal program in
    force in the form of ``openidds.pump.fleet.FleetPrograms`` (step starts in days from
    local midnight, or from Monday 00:00 for a weekly pattern, on the pump's clock in
    ``time_zone``; a continuous program is one step at 0).
    """

    implant = models.OneToOneField(Implant, on_delete=models.CASCADE, related_name="snapshot")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    as_of = models.DateTimeField()
    time_zone = models.CharField(max_length=64)
    #: the twin could not replay the timeline: its message, and no numbers
    error = models.TextField(blank=True)
    reservoir_ml = models.FloatField(null=True)
    capacity_ml = models.FloatField(null=True)
    program_period = models.CharField(max_length=10, choices=ProgramPeriod.choices, blank=True)
    program_step_start_days = models.JSONField(default=list)
    program_step_rate_ml_per_day = models.JSONField(default=list)
    program_text = models.CharField(max_length=200, blank=True)
    low_threshold_ml = models.FloatField(null=True)
    accuracy = models.FloatField(default=0.0)
    ptm_ml_per_day = models.FloatField(default=0.0)
    last_fill_at = models.DateTimeField(null=True)
    #: last fill + its stability_days (or None)
    stability_until = models.DateTimeField(null=True)
    eri_at = models.DateTimeField(null=True)
    eos_at = models.DateTimeField(null=True)
    #: the twin's own forecast at as_of (the fleet forecast recomputes them at any instant)
    recommended_refill_at = models.DateTimeField(null=True)
    #: the twin's recommended refill as forecast at the last record (the date a nurse sets
    #: at a refill visit); the worklist's refill date is never later than it
    planned_refill_at = models.DateTimeField(null=True)
    low_reservoir_at = models.DateTimeField(null=True)
    empty_at = models.DateTimeField(null=True)
    stopped = models.BooleanField(default=False)
    empty = models.BooleanField(default=False)
    past_eos = models.BooleanField(default=False)
    #: [{"drug", "concentration_mg_per_ml", "daily_mg", "words"}]
    drugs = models.JSONField(default=list)
    refreshed_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["clinic"], name="pumpsnapshot_clinic")]

    def __str__(self) -> str:
        return f"snapshot of implant {self.implant_id} at {self.as_of:%Y-%m-%d %H:%M}"
