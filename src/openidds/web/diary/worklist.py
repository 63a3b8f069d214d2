"""The diary's sections of the clinic worklist (registered in ``DiaryConfig.ready``).

Each provider answers for one clinic with a constant number of queries, whatever the
number of patients: red flags in one query; diary silence in two (the clinic's recovery
template, then the patients with subqueries for the implant date and the last entries).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import DateTimeField, Exists, OuterRef, Q, Subquery
from django.urls import reverse

from openidds.web.accounts.models import Clinic
from openidds.web.diary import data
from openidds.web.diary.models import CheckIn, DiaryEntry, RecoveryTemplate, RedFlag
from openidds.web.implants.models import Implant, ImplantStatus
from openidds.web.patients.models import Patient, PatientStatus
from openidds.web.portal.models import PortalAccount
from openidds.web.worklists.registry import WorklistItem

RED_FLAGS_KEY = "diary-red-flags"
RED_FLAGS_TITLE = "Urgent: red flags reported by patients"
SILENCE_KEY = "diary-silence"


def _item(patient: Any, clinic: Clinic, **fields: Any) -> WorklistItem:
    url = reverse("patient-detail", args=[clinic.slug, patient.pk]) + "#diary"
    extra = {}
    if "time_zone" in WorklistItem.__dataclass_fields__:
        extra["time_zone"] = patient.time_zone
    return WorklistItem(
        patient_id=patient.pk,
        patient_name=patient.name,
        mrn=patient.mrn,
        url=url,
        **fields,
        **extra,
    )


def red_flag_items(clinic: Clinic, now: datetime) -> list[WorklistItem]:
    """Open red flags of the clinic's patients, oldest first (one query)."""
    flags = (
        RedFlag.objects.filter(patient__clinic=clinic, resolution__isnull=True)
        .select_related("patient")
        .order_by("raised_at", "id")
    )
    items = []
    for flag in flags:
        call = "emergency services advised; " if flag.emergency else ""
        items.append(
            _item(
                flag.patient,
                clinic,
                at=flag.raised_at,
                text=f"Red flag: {', '.join(flag.labels)}. {call}"
                "Call the patient now, then resolve it on the chart.",
                urgent=True,
            )
        )
    return items


def silence_days() -> int:
    return int(data.outcomes()["silence"]["days"])


def silence_items(clinic: Clinic, now: datetime) -> list[WorklistItem]:
    """Patients in recovery (active implant within the clinic's programme length) with a
    live portal account and no diary entry or check-in for more than the silence days."""
    template = RecoveryTemplate.objects.filter(clinic=clinic).order_by("-version").first()
    weeks = len(template.weeks) if template is not None else len(data.default_recovery_weeks())
    quiet = timedelta(days=silence_days())
    implanted = Subquery(
        Implant.objects.filter(patient=OuterRef("pk"), status=ImplantStatus.ACTIVE).values(
            "implanted_at"
        )[:1],
        output_field=DateTimeField(),
    )
    last_entry = Subquery(
        DiaryEntry.objects.filter(patient=OuterRef("pk"))
        .order_by("-recorded_at")
        .values("recorded_at")[:1],
        output_field=DateTimeField(),
    )
    last_checkin = Subquery(
        CheckIn.objects.filter(patient=OuterRef("pk"))
        .order_by("-recorded_at")
        .values("recorded_at")[:1],
        output_field=DateTimeField(),
    )
    patients = (
        Patient.objects.filter(clinic=clinic, status=PatientStatus.ACTIVE)
        .annotate(
            implanted=implanted,
            last_entry=last_entry,
            last_checkin=last_checkin,
            has_account=Exists(
                PortalAccount.objects.filter(patient=OuterRef("pk"), revoked_at__isnull=True)
            ),
        )
        .filter(
            has_account=True,
            implanted__gt=now - timedelta(weeks=weeks),
            implanted__lte=now - quiet,
        )
        .filter(Q(last_entry__isnull=True) | Q(last_entry__lt=now - quiet))
        .filter(Q(last_checkin__isnull=True) | Q(last_checkin__lt=now - quiet))
        .order_by("name", "pk")
    )
    items = []
    for patient in patients:
        since = max(
            t
            for t in (patient.implanted, patient.last_entry, patient.last_checkin)
            if t is not None
        )
        days = (now - since).days
        what = "since the implant" if since == patient.implanted else "since the last entry"
        items.append(
            _item(
                patient,
                clinic,
                at=since,
                text=f"No diary entry or check-in for {days} days ({what}), in recovery week "
                f"{(now - patient.implanted).days // 7 + 1}. Call the patient.",
                urgent=False,
            )
        )
    return items


def register_sections() -> None:
    from openidds.web.worklists.registry import register

    register(RED_FLAGS_KEY, RED_FLAGS_TITLE, red_flag_items, order=10)
    title = f"Diary silence: no entry for more than {silence_days()} days during recovery"
    register(SILENCE_KEY, title, silence_items, order=60)
