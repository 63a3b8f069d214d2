"""API operations of the patient portal, mounted under ``/api/v1/`` by ``openidds.web.api``.

For portal users (patients and the caregivers they invited) only, through the same gate as
the portal's pages (``access.portal_account``): a patient who is not the user's is a 404,
whatever the id. Every reading is an audit event (``portal_viewed``).
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema

from openidds.web.api_common import ERRORS
from openidds.web.portal import services
from openidds.web.portal.access import live_accounts, portal_account
from openidds.web.portal.models import PortalNotification
from openidds.web.portal.pump import pump_summary

router = Router(tags=["portal"])


class PortalPatientOut(Schema):
    patient_id: int
    name: str
    clinic: str
    relation: str = Field(description="patient or caregiver")


class DrugOut(Schema):
    drug: str
    concentration_mg_per_ml: float
    daily_mg: float | None = Field(description="None: the pump is stopped")
    words: str = Field(description='in plain words, e.g. "morphine, 5 mg a day"')


class AppointmentOut(Schema):
    id: int
    starts_at: datetime
    note: str


class AlarmSoundOut(Schema):
    name: str
    critical: bool
    sound: str
    means: str
    todo: str


class PumpOut(Schema):
    patient_id: int
    at: datetime
    has_implant: bool
    error: str = Field(description="non-empty: the records cannot be replayed; no numbers")
    pump_model: str | None
    model_name: str
    serial: str | None
    implanted_at: datetime | None
    drugs: list[DrugOut]
    reservoir_ml: float | None = Field(description="estimated volume in the reservoir now")
    capacity_ml: float | None
    latest_safe_refill: datetime | None
    refill_overdue: bool
    next_appointment: AppointmentOut | None
    eri: datetime | None
    eos: datetime | None
    replacement_expected: datetime | None
    alarm_sounds: list[AlarmSoundOut]
    alarm_text: str = Field(description="when the sounds are not confirmed: ask your clinic")
    mri_conditions: str
    clinic_phone_24h: str


class NotificationOut(Schema):
    id: int
    created_at: datetime
    text: str


@router.get(
    "/portal/patients",
    response={200: list[PortalPatientOut], **ERRORS},
    summary="The patients the portal user may see (their own, or as caregiver)",
)
def my_patients(request: HttpRequest) -> list[PortalPatientOut]:
    return [
        PortalPatientOut(
            patient_id=a.patient_id,
            name=a.patient.name,
            clinic=a.patient.clinic.slug,
            relation=a.relation,
        )
        for a in live_accounts(request.auth)  # type: ignore[attr-defined]
    ]


@router.get(
    "/portal/patients/{patient_id}/pump",
    response={200: PumpOut, **ERRORS},
    summary="My pump: drugs and daily dose in words, reservoir today, next refill, alarms, "
    "battery (portal users; audited)",
)
def pump(request: HttpRequest, patient_id: int) -> PumpOut:
    user = request.auth  # type: ignore[attr-defined]
    account = portal_account(user, patient_id)
    services.record_portal_view(by=user, account=account, page="api:pump")
    s = pump_summary(account.patient)
    nxt = s.next_appointment
    return PumpOut(
        patient_id=account.patient_id,
        at=s.at,
        has_implant=s.implant is not None,
        error=s.error,
        pump_model=s.implant.pump_model if s.implant else None,
        model_name=s.model_name,
        serial=s.implant.serial if s.implant else None,
        implanted_at=s.implant.implanted_at if s.implant else None,
        drugs=[
            DrugOut(
                drug=d.drug,
                concentration_mg_per_ml=d.concentration_mg_per_ml,
                daily_mg=d.daily_mg,
                words=d.words,
            )
            for d in s.drugs
        ],
        reservoir_ml=s.reservoir_ml,
        capacity_ml=s.capacity_ml,
        latest_safe_refill=s.latest_safe_refill,
        refill_overdue=s.refill_overdue,
        next_appointment=AppointmentOut(id=nxt.pk, starts_at=nxt.starts_at, note=nxt.note)
        if nxt
        else None,
        eri=s.eri,
        eos=s.eos,
        replacement_expected=s.replacement_by,
        alarm_sounds=[
            AlarmSoundOut(
                name=a.name, critical=a.critical, sound=a.sound, means=a.means, todo=a.todo
            )
            for a in (s.alarms.sounds if s.alarms else ())
        ],
        alarm_text=s.alarms.text if s.alarms else "",
        mri_conditions=s.mri_conditions,
        clinic_phone_24h=s.contact.phone_24h if s.contact else "",
    )


@router.get(
    "/portal/patients/{patient_id}/refill-appointments",
    response={200: list[AppointmentOut], **ERRORS},
    summary="Booked refill appointments from now on (portal users; audited)",
)
def appointments(request: HttpRequest, patient_id: int) -> list[AppointmentOut]:
    user = request.auth  # type: ignore[attr-defined]
    account = portal_account(user, patient_id)
    services.record_portal_view(by=user, account=account, page="api:appointments")
    return [
        AppointmentOut(id=a.pk, starts_at=a.starts_at, note=a.note)
        for a in services.upcoming_appointments(account.patient)
    ]


@router.get(
    "/portal/patients/{patient_id}/notifications",
    response={200: list[NotificationOut], **ERRORS},
    summary="Messages in the portal, newest first (refill reminders; portal users; audited)",
)
def notifications(request: HttpRequest, patient_id: int) -> list[NotificationOut]:
    user = request.auth  # type: ignore[attr-defined]
    account = portal_account(user, patient_id)
    services.record_portal_view(by=user, account=account, page="api:notifications")
    return [
        NotificationOut(id=n.pk, created_at=n.created_at, text=n.text)
        for n in PortalNotification.objects.filter(patient=account.patient)[:100]
    ]
