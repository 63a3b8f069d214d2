"""API operations of refill visits, mounted under ``/api/v1/`` by ``openidds.web.api``.

The same service functions and role checks as the pages: physicians and nurses start a
visit, record the checklist and the aspiration, complete or abandon it; only a physician
acknowledges a discrepancy. Errors: 401 not logged in, 403 a role that may not, 404 a
patient or visit of a clinic that is not the user's, 422 input (by field; e.g. completing
a visit whose discrepancy awaits a physician is a 422 on ``__all__``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from openidds.web.api_common import ERRORS, clinic_for
from openidds.web.patients.services import find_patient
from openidds.web.refills import services
from openidds.web.refills.models import (
    AcknowledgementDecision,
    ChecklistItem,
    RefillVisit,
    VisitStatus,
)

router = Router(tags=["refills"])


class DrugLineOut(Schema):
    drug: str
    concentration: str = Field(description='as ordered, e.g. "10 mg/mL"')
    concentration_mg_per_ml: float
    numbers: str = Field(description='e.g. "25 mcg/mL (0.025 mg/mL)"')
    words: str = Field(description='e.g. "10 milligrams of morphine in each millilitre"')
    total: str = Field(description='amount in the volume to draw up, e.g. "200 mg in 20 mL"')


class OrderOut(Schema):
    drugs: dict[str, str]
    volume_ml: float = Field(description="the volume to draw up")
    stability_days: float | None
    source: str = Field(description="prescription, or last_fill when none is recorded")
    reference: str
    lines: list[DrugLineOut]


class ChecklistOut(Schema):
    item: ChecklistItem
    label: str
    confirmed: bool
    by: str | None
    at: datetime | None


class AcknowledgementOut(Schema):
    id: int
    physician: str
    at: datetime
    decision: AcknowledgementDecision
    note: str
    discrepancy_ml: float


class VisitOut(Schema):
    id: int
    patient: int
    implant: int
    status: VisitStatus
    at: datetime = Field(description="the instant of the aspiration and fill")
    started_by: str
    expected_residual_ml: float = Field(description="the twin's reservoir volume at `at`")
    capacity_ml: float
    threshold_ml: float = Field(description="the pump model's refill_discrepancy_ml")
    order: OrderOut
    checklist: list[ChecklistOut]
    aspirated_ml: float | None
    residual_left_ml: float
    discrepancy_ml: float | None = Field(description="aspirated + left − expected (mL)")
    over_threshold: bool
    acknowledgements: list[AcknowledgementOut]
    drug_lot: str
    drug_expiry: date | None
    filled_volume_ml: float | None
    filled_drugs: dict[str, str]
    fill_event: int | None
    completed_by: str | None
    completed_at: datetime | None
    next_refill_at: datetime | None = Field(description="the twin's recommended refill")
    low_reservoir_at: datetime | None
    low_reservoir_earliest_at: datetime | None
    empty_at: datetime | None
    abandoned_by: str | None
    abandoned_at: datetime | None
    abandon_reason: str


def _user(value: Any) -> str | None:
    return None if value is None else str(value.get_username())


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _out(visit: RefillVisit) -> dict[str, Any]:
    volume = services.volume_to_draw(visit)
    return {
        "id": visit.pk,
        "patient": visit.patient_id,
        "implant": visit.implant_id,
        "status": visit.status,
        "at": visit.at,
        "started_by": _user(visit.started_by),
        "expected_residual_ml": visit.expected_residual_ml,
        "capacity_ml": visit.capacity_ml,
        "threshold_ml": visit.threshold_ml,
        "order": {
            "drugs": visit.order_drugs,
            "volume_ml": float(volume),
            "stability_days": visit.order_stability_days,
            "source": visit.order_source,
            "reference": visit.order_reference,
            "lines": [line.__dict__ for line in services.drug_lines(visit.order_drugs, volume)],
        },
        "checklist": [
            {
                "item": c["item"],
                "label": c["label"],
                "confirmed": c["at"] is not None,
                "by": _user(c["by"]),
                "at": c["at"],
            }
            for c in visit.checklist()
        ],
        "aspirated_ml": _float(visit.aspirated_ml),
        "residual_left_ml": float(visit.residual_left_ml),
        "discrepancy_ml": visit.discrepancy_ml,
        "over_threshold": visit.over_threshold,
        "acknowledgements": [
            {
                "id": a.pk,
                "physician": _user(a.physician),
                "at": a.at,
                "decision": a.decision,
                "note": a.note,
                "discrepancy_ml": a.discrepancy_ml,
            }
            for a in visit.acknowledgements.select_related("physician")
        ],
        "drug_lot": visit.drug_lot,
        "drug_expiry": visit.drug_expiry,
        "filled_volume_ml": _float(visit.filled_volume_ml),
        "filled_drugs": visit.filled_drugs,
        "fill_event": visit.fill_event_id,
        "completed_by": _user(visit.completed_by),
        "completed_at": visit.completed_at,
        "next_refill_at": visit.next_refill_at,
        "low_reservoir_at": visit.low_reservoir_at,
        "low_reservoir_earliest_at": visit.low_reservoir_earliest_at,
        "empty_at": visit.empty_at,
        "abandoned_by": _user(visit.abandoned_by),
        "abandoned_at": visit.abandoned_at,
        "abandon_reason": visit.abandon_reason,
    }


class StartIn(Schema):
    at: datetime | None = Field(
        None, description="the refill's instant with its UTC offset; absent: now"
    )


class ChecklistIn(Schema):
    items: list[ChecklistItem] = Field(min_length=1, description="each item confirmed (a yes)")


class AspirationIn(Schema):
    aspirated_ml: float = Field(ge=0, le=100, description="measured volume withdrawn")
    residual_left_ml: float = Field(0, ge=0, le=100, description="left in the reservoir")


class AcknowledgeIn(Schema):
    note: str = Field(max_length=4000, description="what the physician checked and decided")
    decision: AcknowledgementDecision = AcknowledgementDecision.PROCEED


class CompleteIn(Schema):
    volume_ml: float = Field(gt=0, le=100, description="volume filled")
    drugs: dict[str, str] = Field(description='each drug filled: {"morphine": "10 mg/mL"}')
    drug_lot: str = Field(max_length=64)
    drug_expiry: date


class AbandonIn(Schema):
    reason: str = Field(max_length=2000)


class ClinicFilter(Schema):
    clinic: str = Field(description="slug of the clinic")


def _visit(request: HttpRequest, visit_id: int) -> RefillVisit:
    return services.find_visit(by=request.auth, visit_id=visit_id)  # type: ignore[attr-defined]


def _reload(visit: RefillVisit) -> RefillVisit:
    return RefillVisit.objects.select_related(
        "patient__clinic", "implant", "started_by", "completed_by", "abandoned_by"
    ).get(pk=visit.pk)


@router.get(
    "/patients/{patient_id}/refill-visits",
    response={200: list[VisitOut], **ERRORS},
    summary="The patient's refill visits, newest first (physician or nurse; audited)",
)
def list_visits(request: HttpRequest, patient_id: int) -> list[dict[str, Any]]:
    user = request.auth  # type: ignore[attr-defined]
    patient = find_patient(by=user, patient_id=patient_id)
    return [_out(v) for v in services.list_visits(by=user, patient=patient)]


@router.post(
    "/patients/{patient_id}/refill-visits",
    response={201: VisitOut, **ERRORS},
    summary="Start a refill visit of the patient's active implant (physician or nurse)",
)
def start_visit(request: HttpRequest, patient_id: int, payload: StartIn) -> Status[Any]:
    user = request.auth  # type: ignore[attr-defined]
    patient = find_patient(by=user, patient_id=patient_id)
    visit = services.start_visit(by=user, patient=patient, at=payload.at)
    return Status(201, _out(_reload(visit)))


@router.get(
    "/refill-visits/{visit_id}",
    response={200: VisitOut, **ERRORS},
    summary="One refill visit (physician or nurse; audited)",
)
def get_visit(request: HttpRequest, visit_id: int) -> dict[str, Any]:
    visit = services.view_visit(by=request.auth, visit=_visit(request, visit_id))  # type: ignore[attr-defined]
    return _out(visit)


@router.post(
    "/refill-visits/{visit_id}/checklist",
    response={200: VisitOut, **ERRORS},
    summary="Confirm checklist items (physician or nurse); each is recorded with who and when",
)
def record_checklist(request: HttpRequest, visit_id: int, payload: ChecklistIn) -> dict[str, Any]:
    visit = services.record_checklist(
        by=request.auth,  # type: ignore[attr-defined]
        visit=_visit(request, visit_id),
        items=[i.value for i in payload.items],
    )
    return _out(_reload(visit))


@router.post(
    "/refill-visits/{visit_id}/aspiration",
    response={200: VisitOut, **ERRORS},
    summary="Record the aspirated volume; the discrepancy check runs at once (physician or "
    "nurse). Over the threshold the visit awaits a physician's acknowledgement.",
)
def record_aspiration(request: HttpRequest, visit_id: int, payload: AspirationIn) -> dict[str, Any]:
    visit = services.record_aspiration(
        by=request.auth,  # type: ignore[attr-defined]
        visit=_visit(request, visit_id),
        aspirated_ml=payload.aspirated_ml,
        residual_left_ml=payload.residual_left_ml,
    )
    return _out(_reload(visit))


@router.post(
    "/refill-visits/{visit_id}/acknowledgements",
    response={200: VisitOut, **ERRORS},
    summary="Acknowledge the visit's refill discrepancy with a note (physician only)",
)
def acknowledge(request: HttpRequest, visit_id: int, payload: AcknowledgeIn) -> dict[str, Any]:
    ack = services.acknowledge_discrepancy(
        by=request.auth,  # type: ignore[attr-defined]
        visit=_visit(request, visit_id),
        note=payload.note,
        decision=payload.decision.value,
    )
    return _out(_reload(ack.visit))


@router.post(
    "/refill-visits/{visit_id}/complete",
    response={200: VisitOut, **ERRORS},
    summary="Record the fill (physician or nurse): refused while a discrepancy awaits a "
    "physician, before the checklist is complete, for an expired drug or a hard finding",
)
def complete(request: HttpRequest, visit_id: int, payload: CompleteIn) -> dict[str, Any]:
    visit = services.complete_refill(
        by=request.auth,  # type: ignore[attr-defined]
        visit=_visit(request, visit_id),
        volume_ml=payload.volume_ml,
        drugs=payload.drugs,
        drug_lot=payload.drug_lot,
        drug_expiry=payload.drug_expiry,
    )
    return _out(_reload(visit))


@router.post(
    "/refill-visits/{visit_id}/abandon",
    response={200: VisitOut, **ERRORS},
    summary="Abandon an open visit with a reason (physician or nurse; a visit awaiting a "
    "physician only by a physician)",
)
def abandon(request: HttpRequest, visit_id: int, payload: AbandonIn) -> dict[str, Any]:
    visit = services.abandon_visit(
        by=request.auth,  # type: ignore[attr-defined]
        visit=_visit(request, visit_id),
        reason=payload.reason,
    )
    return _out(_reload(visit))


@router.get(
    "/refill-discrepancies",
    response={200: list[VisitOut], **ERRORS},
    summary="The clinic's refill discrepancies awaiting a physician, oldest first "
    "(physician or nurse; audited)",
)
def open_discrepancies(request: HttpRequest, filters: Query[ClinicFilter]) -> list[dict[str, Any]]:
    clinic = clinic_for(request, filters.clinic)
    return [_out(v) for v in services.open_discrepancies(by=request.auth, clinic=clinic)]  # type: ignore[attr-defined]
