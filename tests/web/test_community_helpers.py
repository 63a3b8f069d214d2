"""Helpers of the community tests (questions, stories, learning): portal users made
directly, a support user, an implant with a fill and a program made through the services.
No tests here."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from web_helpers import make_user

from openidds.web.accounts.models import Clinic, Membership, Role, User
from openidds.web.patients.models import Patient
from openidds.web.portal.models import PortalAccount, Relation

SERIAL = "SN-7781-QX"
#: what the twin says of 20 mL morphine 10 mg/mL programmed at 5 mg a day, 5 days later
DRUG_WORDS = "morphine, 5 mg a day (10 mg/mL)"


def portal_user(
    username: str, patient: Patient, relation: str = Relation.PATIENT, email: str = ""
) -> User:
    role = Role.PATIENT if relation == Relation.PATIENT else Role.CAREGIVER
    user = make_user(username, patient.clinic, role)
    user.email = email
    user.first_name = username.capitalize()
    user.save()
    PortalAccount.objects.create(user=user, patient=patient, relation=relation)
    return user


def support_user(username: str, clinic: Clinic) -> User:
    return make_user(username, clinic, Role.SUPPORT)


def physician_of(clinic: Clinic) -> User:
    member = Membership.objects.filter(clinic=clinic, role=Role.PHYSICIAN).first()
    if member is not None:
        return member.user
    return make_user(f"{clinic.slug}-physician", clinic, Role.PHYSICIAN)


def implant_for(patient: Patient, days_ago: int = 5) -> Any:
    """A SynchroMed II 40 mL (serial SERIAL) implanted ``days_ago`` days ago, filled with
    20 mL morphine 10 mg/mL and programmed at 5 mg a day (0.5 mL/day), via the services."""
    from openidds.web.implants import services

    physician = physician_of(patient.clinic)
    at = (timezone.now() - timedelta(days=days_ago)).replace(microsecond=0)
    implant = services.record_implant(
        by=physician,
        patient=patient,
        pump_model="synchromed2-40",
        serial=SERIAL,
        implanted_at=at,
        fluid_path_initial="primed",
    )
    services.record_pump_event(
        by=physician,
        implant=implant,
        kind="fill",
        at=at,
        fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
    )
    services.record_pump_event(
        by=physician,
        implant=implant,
        kind="program",
        at=at,
        fields={"mode": "continuous", "dose": {"morphine": "5 mg/day"}},
    )
    return implant
