"""Helpers of the portal tests (imported as ``test_portal_helpers``; it holds no tests)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from openidds.web.accounts.models import User
from openidds.web.implants import services as implant_services
from openidds.web.implants.models import Implant
from openidds.web.patients.models import Patient
from openidds.web.portal import services
from openidds.web.portal.models import PortalAccount

PORTAL_PASSWORD = "a long portal passphrase 42"


def implant_with_morphine(
    patient: Patient, physician: User, *, days_ago: float = 10, model: str = "synchromed2-20"
) -> Implant:
    """SynchroMed II implanted ``days_ago`` days ago, primed, with 20 mL of morphine
    10 mg/mL and 5 mg a day (0.5 mL/day): after 10 days 20 - 10 × 0.5 = 15 mL are left."""
    at = timezone.now() - timedelta(days=days_ago)
    implant = implant_services.record_implant(
        by=physician,
        patient=patient,
        pump_model=model,
        serial=f"NGP{patient.pk:06d}",
        implanted_at=at,
        fluid_path_initial="primed",
    )
    implant_services.record_pump_event(
        by=physician,
        implant=implant,
        kind="fill",
        at=at,
        fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
    )
    implant_services.record_pump_event(
        by=physician,
        implant=implant,
        kind="program",
        at=at,
        fields={"mode": "continuous", "dose": {"morphine": "5 mg/day"}},
    )
    return implant


def portal_user(
    patient: Patient,
    clinician: User,
    username: str,
    *,
    email: str = "",
) -> tuple[User, PortalAccount]:
    """The patient's own portal log-in, made through the invitation services."""
    issued = services.invite_patient(by=clinician, patient=patient)
    account = services.accept_invitation(
        code=issued.code,
        username=username,
        password=PORTAL_PASSWORD,
        password_again=PORTAL_PASSWORD,
        email=email,
    )
    return account.user, account


def caregiver_user(
    patient_user: User, patient: Patient, username: str, *, email: str = ""
) -> tuple[User, PortalAccount]:
    issued = services.invite_caregiver(by=patient_user, patient_id=patient.pk, name="Carl Carer")
    account = services.accept_invitation(
        token=issued.token,
        username=username,
        password=PORTAL_PASSWORD,
        password_again=PORTAL_PASSWORD,
        email=email,
    )
    return account.user, account


def book(patient: Patient, clinician: User, starts_at: datetime, **kwargs: Any) -> Any:
    return services.schedule_refill(by=clinician, patient=patient, starts_at=starts_at, **kwargs)
