"""What patients (and caregivers) report and what the clinic agrees with them.

Every table here is **append-only** (the models refuse UPDATE and DELETE, and migration
``diary.0002`` adds database triggers): a diary day written twice keeps both rows and the
later one counts; a plan or a recovery template is changed by writing a new version; a red
flag is resolved by a :class:`RedFlagResolution` row.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from openidds.web.portal.models import Relation


class AppendOnlyError(Exception):
    """An attempt to change or delete a diary, check-in, plan or template record."""


class AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("diary records cannot be changed; write a new one")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("diary records cannot be deleted")


class AppendOnly(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("diary records cannot be changed; write a new one")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("diary records cannot be deleted")


class Written(AppendOnly):
    """Who wrote it: the patient or their caregiver (portal), or a clinician."""

    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    #: patient / caregiver (portal users); "clinician" for clinic staff
    relation = models.CharField(max_length=20)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    @property
    def written_by_text(self) -> str:
        who = str(self.written_by)
        if self.relation == Relation.CAREGIVER:
            return f"{who} (caregiver)"
        if self.relation == Relation.PATIENT:
            return f"{who} (patient)"
        return who


class DiaryEntry(Written):
    """One day of the diary. The latest entry of a day counts in trends."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="diary_entries"
    )
    day = models.DateField()
    pain_now = models.PositiveSmallIntegerField()
    pain_average = models.PositiveSmallIntegerField()
    pain_worst = models.PositiveSmallIntegerField()
    #: BPI interference item key → 0-10 (items not answered are absent)
    interference = models.JSONField(default=dict, blank=True)
    #: mean of the answered interference items if at least 4 of 7 (the BPI rule)
    interference_score = models.FloatField(null=True, blank=True)
    #: keys of diary/data/adl.toml done today
    adl_done = models.JSONField(default=list, blank=True)
    sleep_hours = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    sleep_quality = models.CharField(max_length=20, blank=True)
    ptm_uses = models.PositiveSmallIntegerField(null=True, blank=True)
    ptm_helped = models.CharField(max_length=20, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-day", "-recorded_at", "-id"]
        indexes = [models.Index(fields=["patient", "day"], name="diary_entry_patient_day")]

    @property
    def severity(self) -> float:
        return (self.pain_now + self.pain_average + self.pain_worst) / 3

    @property
    def sleep_quality_text(self) -> str:
        from openidds.web.diary import data

        return dict(data.sleep_quality_choices()).get(self.sleep_quality, self.sleep_quality)

    @property
    def ptm_helped_text(self) -> str:
        from openidds.web.diary import data

        return dict(data.ptm_helped_choices()).get(self.ptm_helped, self.ptm_helped)


class QuestionnaireKind(models.TextChoices):
    BPI = "bpi", "Brief Pain Inventory (short form)"
    ODI = "odi", "Oswestry Disability Index"


class Questionnaire(Written):
    """A weekly BPI short form or a monthly ODI, with its scores as computed when written."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="questionnaires"
    )
    kind = models.CharField(max_length=10, choices=QuestionnaireKind.choices)
    day = models.DateField()
    answers = models.JSONField(default=dict)
    bpi_severity = models.FloatField(null=True, blank=True)
    bpi_interference = models.FloatField(null=True, blank=True)
    odi_percent = models.FloatField(null=True, blank=True)
    answered = models.PositiveSmallIntegerField(default=0)
    #: the version of the data file the score was computed with
    rules_version = models.CharField(max_length=80)

    class Meta:
        ordering = ["-day", "-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["patient", "kind", "day"], name="questionnaire_patient_kind")
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=[k.value for k in QuestionnaireKind]),
                name="questionnaire_kind_known",
            )
        ]


class CheckIn(Written):
    """A daily recovery check-in: the red-flag answers, pain today, a note."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="recovery_checkins"
    )
    implant = models.ForeignKey(
        "implants.Implant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    day = models.DateField()
    #: red-flag key → True/False, every question of diary/data/red_flags.toml answered
    answers = models.JSONField(default=dict)
    #: the keys answered "yes"
    red_flags = models.JSONField(default=list, blank=True)
    pain_today = models.PositiveSmallIntegerField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["patient", "day"], name="checkin_patient_day")]

    @property
    def red_flag_labels(self) -> list[str]:
        from openidds.web.diary import data

        known = {f.key: f.label for f in data.red_flags()}
        return [known.get(key, key) for key in self.red_flags]


class RedFlag(AppendOnly):
    """The urgent worklist item a check-in with red-flag answers raised (one per check-in).

    Open until a clinician records a :class:`RedFlagResolution`."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="red_flags"
    )
    checkin = models.OneToOneField(CheckIn, on_delete=models.PROTECT, related_name="red_flag")
    flags = models.JSONField(default=list)
    #: at least one flag asks for emergency services (overdose signs)
    emergency = models.BooleanField(default=False)
    raised_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-raised_at", "-id"]

    @property
    def labels(self) -> list[str]:
        from openidds.web.diary import data

        known = {f.key: f.label for f in data.red_flags()}
        return [known.get(key, key) for key in self.flags]


class RedFlagResolution(AppendOnly):
    red_flag = models.OneToOneField(RedFlag, on_delete=models.PROTECT, related_name="resolution")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField()


class PainPlan(AppendOnly):
    """One version of the patient's pain management programme (the highest counts)."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="pain_plans"
    )
    version = models.PositiveIntegerField()
    #: [{"key", "text", "measure", "target", "unit", "direction": "at_least"|"at_most"}]
    goals = models.JSONField(default=list)
    #: [{"kind", "description", "schedule"}]
    therapies = models.JSONField(default=list)
    #: ISO dates
    review_dates = models.JSONField(default=list)
    agreed_on = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True)
    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    written_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "version"], name="one_plan_version")
        ]


class GoalProgress(Written):
    """Progress towards one goal of the plan: a value of the goal's measure on a day."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="goal_progress"
    )
    plan = models.ForeignKey(PainPlan, on_delete=models.PROTECT, related_name="progress")
    goal_key = models.CharField(max_length=40)
    goal_text = models.CharField(max_length=300)
    day = models.DateField()
    value = models.DecimalField(max_digits=10, decimal_places=2)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-day", "-recorded_at", "-id"]


class RecoveryTemplate(AppendOnly):
    """One version of a clinic's recovery programme (the highest counts; none: the default
    of ``diary/data/recovery.toml``)."""

    clinic = models.ForeignKey(
        "accounts.Clinic", on_delete=models.PROTECT, related_name="recovery_templates"
    )
    version = models.PositiveIntegerField()
    #: [{"week": 1, "title": ..., "instructions": [...]}, ...]
    weeks = models.JSONField()
    note = models.TextField(blank=True)
    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    written_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "version"], name="one_template_version")
        ]
