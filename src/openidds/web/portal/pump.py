"""What "My pump", the wallet card and the portal API tell the patient (reads only).

Everything comes from the twin (``implants.twin.pump_state``: drugs and daily doses in
words, reservoir today, the latest safe refill date, ERI/EOS), the device catalog (model
name, MRI conditions), the portal's data file (alarm sounds, replacement lead time) and the
clinic's bookings and contact details.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from openidds.web.implants.models import Implant, ImplantStatus
from openidds.web.implants.twin import DrugDose, pump_state
from openidds.web.patients.models import Patient
from openidds.web.portal import info
from openidds.web.portal.models import ClinicContact, RefillAppointment
from openidds.web.portal.services import clinic_contact, upcoming_appointments


@dataclass(frozen=True)
class PumpSummary:
    """The patient's pump in plain words. ``implant`` None: no active implant;
    ``error``: the twin cannot replay the records (no numbers are shown then)."""

    patient: Patient
    at: datetime
    implant: Implant | None = None
    model_name: str = ""
    manufacturer: str = ""
    error: str = ""
    drugs: list[DrugDose] = field(default_factory=list)
    reservoir_ml: float | None = None
    capacity_ml: float | None = None
    latest_safe_refill: datetime | None = None
    refill_overdue: bool = False
    next_appointment: RefillAppointment | None = None
    appointments: list[RefillAppointment] = field(default_factory=list)
    appointment_after_latest_safe: bool = False
    eri: datetime | None = None
    eos: datetime | None = None
    replacement_by: datetime | None = None
    alarms: info.AlarmInfo | None = None
    mri_conditions: str = ""
    mri_sources: str = ""
    contact: ClinicContact | None = None

    @property
    def dose_words(self) -> str:
        """``morphine, 5 mg a day; clonidine, 0.1 mg a day``."""
        return "; ".join(d.words for d in self.drugs)


def pump_summary(patient: Patient, at: datetime | None = None) -> PumpSummary:
    now = at or timezone.now()
    contact = clinic_contact(patient.clinic)
    appointments = upcoming_appointments(patient, now)
    implant = (
        Implant.objects.filter(patient=patient, status=ImplantStatus.ACTIVE)
        .select_related("patient")
        .first()
    )
    if implant is None:
        return PumpSummary(
            patient=patient,
            at=now,
            contact=contact,
            appointments=appointments,
            next_appointment=appointments[0] if appointments else None,
        )
    model = implant.catalog_model
    conditions, sources = info.mri_text(model.mri)
    base: dict[str, Any] = {
        "patient": patient,
        "at": now,
        "implant": implant,
        "model_name": model.name,
        "manufacturer": model.manufacturer,
        "contact": contact,
        "appointments": appointments,
        "next_appointment": appointments[0] if appointments else None,
        "alarms": info.alarms_for(implant.pump_model),
        "mri_conditions": conditions,
        "mri_sources": sources,
    }
    state = pump_state(implant, max(now, implant.implanted_at))
    if state.error:
        return PumpSummary(**base, error=state.error)
    latest = state.forecast.get("recommended_refill")
    eos = state.forecast.get("eos")
    nxt = base["next_appointment"]
    return PumpSummary(
        **base,
        drugs=list(state.drugs),
        reservoir_ml=state.reservoir_ml,
        capacity_ml=state.capacity_ml,
        latest_safe_refill=latest,
        refill_overdue=state.refill_overdue,
        appointment_after_latest_safe=bool(nxt and latest and nxt.starts_at > latest),
        eri=state.forecast.get("eri"),
        eos=eos,
        replacement_by=None if eos is None else eos - timedelta(days=info.replacement_lead_days()),
    )
