"""API operations of prescriptions, pump events, pump state and forecast, mounted under
``/api/v1/`` by ``openidds.web.api``.

Every error status is declared (``**ERRORS``); ``ValidationError`` by field (``changes.0.at``,
``reasons.<code>``, ``password``), ``PermissionDenied`` and ``Http404`` become JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from openidds.web.accounts.roles import require_role
from openidds.web.api_common import ERRORS
from openidds.web.implants import services as implant_services
from openidds.web.implants.models import PumpEvent
from openidds.web.patients import services as patient_services
from openidds.web.prescriptions import services
from openidds.web.prescriptions.models import Prescription

router = Router(tags=["prescriptions"])

PrescribableKind = Literal[
    "fill", "program", "bolus", "priming_bolus", "bridge_bolus", "ptm_settings", "stop", "mri"
]


class ChangeIn(Schema):
    kind: PrescribableKind
    at: datetime = Field(description="with its UTC offset; not before the pump's last record")
    fields: dict[str, Any] = Field(
        default_factory=dict,
        description='the event\'s fields in the scenario format, e.g. {"mode": "continuous", '
        '"dose": {"morphine": "6 mg/day"}}',
    )


class PreviewIn(Schema):
    changes: list[ChangeIn] = Field(min_length=1, max_length=20)


class PrescribeIn(PreviewIn):
    reasons: dict[str, str] = Field(
        default_factory=dict, description="a written reason per soft finding code"
    )
    password: str = Field(description="the physician's current password (re-authentication)")


class FindingOut(Schema):
    change: int | None = Field(description="position of the change the finding is at")
    at: str
    code: str
    severity: str
    drug: str | None
    value: float | None
    limit: float | None
    unit: str
    message: str
    source: str
    overridden: bool
    override_reason: str | None


class DiffRow(Schema):
    field: str
    old: str
    new: str
    changed: bool


class ForecastDay(Schema):
    day: int
    start: str
    end: str
    delivered_mg: dict[str, float]
    reservoir_ml_at_end: float


class Series(Schema):
    x: list[str]
    y: list[float]


class ForecastSeries(Schema):
    days: list[ForecastDay]
    reservoir: Series
    drugs: list[str]


class PreviewForecast(Schema):
    days: int
    start: str
    current: ForecastSeries
    proposed: ForecastSeries


class LibraryOut(Schema):
    id: str
    version: str


class ChangeOut(Schema):
    kind: str
    at: str
    fields: dict[str, Any]


class PreviewOut(Schema):
    patient: int
    implant: int
    changes: list[ChangeOut]
    findings: list[FindingOut]
    blocked: bool = Field(description="a hard finding: the change cannot be signed")
    soft_codes: list[str] = Field(description="each needs a written reason to sign")
    before: dict[str, Any]
    after: dict[str, Any]
    diff: list[DiffRow]
    forecast: PreviewForecast
    library: LibraryOut


class PrescriptionOut(Schema):
    id: int
    patient: int
    implant: int
    version: int
    supersedes: int | None
    changes: list[ChangeOut]
    findings: list[FindingOut]
    reasons: dict[str, str]
    library: LibraryOut
    program_before: dict[str, Any]
    program_after: dict[str, Any]
    signed_by: str
    signed_at: datetime
    reauthenticated_at: datetime
    previous_signature: str
    signature: str = Field(description="SHA-256 of the content and the previous signature")
    verified: bool
    problems: list[str]
    pump_events: list[int]

    @staticmethod
    def resolve_patient(obj: Prescription) -> int:
        return obj.patient_id

    @staticmethod
    def resolve_implant(obj: Prescription) -> int:
        return obj.implant_id

    @staticmethod
    def resolve_supersedes(obj: Prescription) -> int | None:
        return obj.supersedes_id

    @staticmethod
    def resolve_library(obj: Prescription) -> dict[str, str]:
        return {"id": obj.library_id, "version": obj.library_version}

    @staticmethod
    def resolve_signed_by(obj: Prescription) -> str:
        return obj.signed_by_username

    @staticmethod
    def resolve_verified(obj: Prescription) -> bool:
        return services.verify(obj).ok

    @staticmethod
    def resolve_problems(obj: Prescription) -> list[str]:
        return list(services.verify(obj).problems)

    @staticmethod
    def resolve_pump_events(obj: Prescription) -> list[int]:
        return list(obj.pump_events.order_by("sequence").values_list("pk", flat=True))


def _patient(request: HttpRequest, patient_id: int) -> Any:
    return patient_services.find_patient(by=request.auth, patient_id=patient_id)  # type: ignore[attr-defined]


def _changes(payload: PreviewIn) -> list[dict[str, Any]]:
    return [{"kind": c.kind, "at": c.at, "fields": c.fields} for c in payload.changes]


@router.get(
    "/patients/{patient_id}/prescriptions",
    response={200: list[PrescriptionOut], **ERRORS},
    summary="The patient's prescriptions, newest first (physician or nurse; audited)",
)
def list_prescriptions(request: HttpRequest, patient_id: int) -> list[Prescription]:
    patient = _patient(request, patient_id)
    return services.list_prescriptions(by=request.auth, patient=patient)  # type: ignore[attr-defined]


@router.post(
    "/patients/{patient_id}/prescriptions/preview",
    response={200: PreviewOut, **ERRORS},
    summary="Check a proposed change: findings, program diff and 14-day forecast "
    "(physician; writes no clinical record)",
)
def preview(request: HttpRequest, patient_id: int, payload: PreviewIn) -> dict[str, Any]:
    user = request.auth  # type: ignore[attr-defined]
    patient = _patient(request, patient_id)
    require_role(user, patient.clinic, services.PHYSICIAN)
    return services.preview(by=user, patient=patient, changes=_changes(payload)).as_json()


@router.post(
    "/patients/{patient_id}/prescriptions",
    response={201: PrescriptionOut, **ERRORS},
    summary="Sign a prescription (physician): hard findings block (422 naming them), each "
    "soft finding needs reasons.<code>, password is re-authentication",
)
def prescribe(request: HttpRequest, patient_id: int, payload: PrescribeIn) -> Status[Prescription]:
    user = request.auth  # type: ignore[attr-defined]
    patient = _patient(request, patient_id)
    require_role(user, patient.clinic, services.PHYSICIAN)
    prescription = services.prescribe(
        by=user,
        patient=patient,
        changes=_changes(payload),
        reasons=payload.reasons,
        password=payload.password,
    )
    return Status(201, prescription)


@router.get(
    "/prescriptions/{prescription_id}",
    response={200: PrescriptionOut, **ERRORS},
    summary="One prescription with its signature check (physician or nurse; audited)",
)
def get_prescription(request: HttpRequest, prescription_id: int) -> Prescription:
    return services.get_prescription(by=request.auth, prescription_id=prescription_id)  # type: ignore[attr-defined]


# -- pump events -----------------------------------------------------------------------------


class PumpEventOut(Schema):
    id: int
    implant: int
    kind: str
    at: datetime
    fields: dict[str, Any]
    sequence: int
    void: bool
    supersedes: int | None
    reason: str
    prescription: int | None
    recorded_by: str
    recorded_at: datetime
    in_force: bool = Field(description="not superseded by a correction and not withdrawn")

    @staticmethod
    def resolve_implant(obj: PumpEvent) -> int:
        return obj.implant_id

    @staticmethod
    def resolve_supersedes(obj: PumpEvent) -> int | None:
        return obj.supersedes_id

    @staticmethod
    def resolve_prescription(obj: PumpEvent) -> int | None:
        return obj.prescription_id

    @staticmethod
    def resolve_recorded_by(obj: PumpEvent) -> str:
        return obj.recorded_by.get_username()

    @staticmethod
    def resolve_in_force(obj: PumpEvent) -> bool:
        return not obj.void and not hasattr(obj, "superseded_by")


class PumpEventIn(Schema):
    kind: Literal["fill", "mri", "ptm_request", "interrogation", "catheter_revision"] = Field(
        description="what a nurse or physician records; programs, boluses, PTM settings "
        "and stops are prescribed (POST /patients/{patient_id}/prescriptions)"
    )
    at: datetime = Field(description="with its UTC offset")
    fields: dict[str, Any] = Field(
        default_factory=dict,
        description='scenario format, e.g. {"aspirated_ml": 7.2, "volume_ml": 20, '
        '"drugs": {"morphine": "10 mg/mL"}}',
    )


class PumpEventCreated(PumpEventOut):
    findings: list[dict[str, Any]] = Field(description="soft and info findings at the record")

    @staticmethod
    def resolve_findings(obj: PumpEvent) -> list[dict[str, Any]]:
        return [f.to_dict() for f in getattr(obj, "findings", [])]


@router.get(
    "/patients/{patient_id}/pump-events",
    response={200: list[PumpEventOut], **ERRORS},
    summary="Every record of the active implant, oldest first, corrections included "
    "(physician or nurse; audited)",
)
def list_pump_events(request: HttpRequest, patient_id: int) -> list[PumpEvent]:
    patient = _patient(request, patient_id)
    return services.list_pump_events(by=request.auth, patient=patient)  # type: ignore[attr-defined]


@router.post(
    "/patients/{patient_id}/pump-events",
    response={201: PumpEventCreated, **ERRORS},
    summary="Record a fill, an MRI scan or a PTM request (physician or nurse); the twin and "
    "the dose checks judge it first",
)
def create_pump_event(
    request: HttpRequest, patient_id: int, payload: PumpEventIn
) -> Status[PumpEvent]:
    user = request.auth  # type: ignore[attr-defined]
    patient = _patient(request, patient_id)
    require_role(user, patient.clinic, implant_services.EVENT_ROLES[payload.kind])
    implant = implant_services.active_implant(patient)
    if implant is None:
        raise ValidationError({"__all__": ["the patient has no active implant"]})
    event = implant_services.record_pump_event(
        by=user, implant=implant, kind=payload.kind, at=payload.at, fields=payload.fields
    )
    return Status(201, event)


# -- pump state and forecast ----------------------------------------------------------------


class DrugOut(Schema):
    drug: str
    concentration_mg_per_ml: float
    daily_mg: float | None
    concentration_text: str
    daily_text: str
    words: str


class AlarmOut(Schema):
    at: datetime
    kind: str


class StateForecastOut(Schema):
    recommended_refill: datetime | None = Field(description="the next refill")
    low_reservoir_nominal: datetime | None
    low_reservoir_earliest: datetime | None
    empty_nominal: datetime | None
    eri: datetime | None = Field(description="elective replacement indicator (battery)")
    eos: datetime | None = Field(description="end of service: the pump stops")


class PumpStateOut(Schema):
    implant: int
    at: datetime
    error: str = Field(description="the twin's message when it cannot replay the records")
    reservoir_ml: float | None
    capacity_ml: float | None
    rate_ml_per_day: float | None
    program_text: str
    drugs: list[DrugOut]
    alarms: list[AlarmOut]
    forecast: StateForecastOut | None
    refill_overdue: bool


class StateQuery(Schema):
    at: datetime | None = Field(None, description="with its UTC offset; default now")


@router.get(
    "/patients/{patient_id}/pump-state",
    response={200: PumpStateOut, **ERRORS},
    summary="The pump's state at an instant: reservoir, doses, alarms and the forecast "
    "(next refill, low reservoir, empty, ERI, EOS) (physician or nurse; audited)",
)
def pump_state(request: HttpRequest, patient_id: int, query: Query[StateQuery]) -> dict[str, Any]:
    patient = _patient(request, patient_id)
    implant, state = services.pump_state_for(by=request.auth, patient=patient, at=query.at)  # type: ignore[attr-defined]
    return {
        "implant": implant.pk,
        "at": state.at,
        "error": state.error,
        "reservoir_ml": state.reservoir_ml,
        "capacity_ml": state.capacity_ml,
        "rate_ml_per_day": state.rate_ml_per_day,
        "program_text": state.program_text,
        "drugs": [d.__dict__ for d in state.drugs],
        "alarms": [{"at": a["at"], "kind": a["kind"]} for a in state.alarms],
        "forecast": state.forecast or None,
        "refill_overdue": state.refill_overdue,
    }


class ForecastQuery(Schema):
    days: int = Field(
        services.forecast_days(),
        ge=1,
        le=services.max_forecast_days(),
        description="how many days of 24 h from now",
    )


class ForecastOut(ForecastSeries):
    implant: int
    start: str


@router.get(
    "/patients/{patient_id}/forecast",
    response={200: ForecastOut, **ERRORS},
    summary="The dose per drug the patient receives in each 24 h from now, and the "
    "reservoir, under the records in force (physician or nurse; audited)",
)
def forecast(request: HttpRequest, patient_id: int, query: Query[ForecastQuery]) -> dict[str, Any]:
    patient = _patient(request, patient_id)
    return services.forecast(by=request.auth, patient=patient, days=query.days)  # type: ignore[attr-defined]
