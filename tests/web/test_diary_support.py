"""Helpers of the diary tests (imported by test_diary*.py and test_access_diary.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from web_helpers import make_user

from openidds.web.accounts.models import Membership, Role, User
from openidds.web.implants import services as implant_services
from openidds.web.implants.models import Implant
from openidds.web.patients.models import Patient
from openidds.web.portal.models import PortalAccount, Relation

ALL_NO = {
    "fever": False,
    "wound": False,
    "csf_leak": False,
    "overdose": False,
    "withdrawal": False,
    "pump_alarm": False,
}


def portal_user(username: str, patient: Patient, relation: str = Relation.PATIENT) -> User:
    """A portal user of the patient: a user, a membership (patient or caregiver) in the
    patient's clinic and a live portal account (the invitation flow is the portal's)."""
    role = Role.PATIENT if relation == Relation.PATIENT else Role.CAREGIVER
    user = make_user(username)
    Membership.objects.get_or_create(user=user, clinic=patient.clinic, defaults={"role": role})
    PortalAccount.objects.create(user=user, patient=patient, relation=relation)
    return user


def physician_of(patient: Patient) -> User:
    member = Membership.objects.filter(clinic=patient.clinic, role=Role.PHYSICIAN).first()
    if member is not None:
        return member.user
    return make_user(f"{patient.clinic.slug}-doc-{patient.pk}", patient.clinic, Role.PHYSICIAN)


def implant(patient: Patient, *, days_ago: float, pump: bool = False) -> Implant:
    """An active implant ``days_ago`` days ago, through the services (optionally with a fill,
    a morphine program and PTM settings, so the twin has PTM grants and denials)."""
    doctor = physician_of(patient)
    at = timezone.now() - timedelta(days=days_ago)
    result = implant_services.record_implant(
        by=doctor,
        patient=patient,
        pump_model="synchromed2-20",
        serial=f"S-{patient.pk}",
        implanted_at=at,
        fluid_path_initial="primed",
    )
    if pump:
        implant_services.record_pump_event(
            by=doctor,
            implant=result,
            kind="fill",
            at=at,
            fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
        )
        implant_services.record_pump_event(
            by=doctor,
            implant=result,
            kind="program",
            at=at,
            fields={"mode": "continuous", "dose": {"morphine": "3 mg/day"}},
        )
    return result


def aware(days_ago: float) -> datetime:
    return timezone.now() - timedelta(days=days_ago)


def diary_kwargs(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"pain_now": 5, "pain_average": 6, "pain_worst": 8}
    values.update(overrides)
    return values
