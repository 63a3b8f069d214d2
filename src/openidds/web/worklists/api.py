"""API operations of worklists, mounted under ``/api/v1/`` by ``openidds.web.api``.

Declare every error status (``response={200: ..., **ERRORS}``), raise ``ValidationError``
by field, ``PermissionDenied`` or ``Http404``; the API turns them into JSON.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from openidds.web.api_common import ERRORS, clinic_for
from openidds.web.worklists import services

router = Router(tags=["worklists"])


class WorklistItemOut(Schema):
    patient_id: int
    patient_name: str
    mrn: str
    at: datetime | None = Field(description="when it is due or happened (UTC)")
    time_zone: str = Field(description="the patient's time zone, to show `at` in")
    text: str
    urgent: bool = Field(description="overdue or happening now (shown in red)")
    url: str = Field(description="the page where it is acted on")


class SectionOut(Schema):
    key: str
    title: str
    description: str
    items: list[WorklistItemOut]


class WorklistOut(Schema):
    clinic: str
    now: datetime = Field(description="the instant the forecast was computed for")
    sections: list[SectionOut]


class WorklistFilter(Schema):
    clinic: str = Field(description="slug of the clinic")


@router.get(
    "/worklist",
    response={200: WorklistOut, **ERRORS},
    summary="The clinic's worklist: refills due and overdue, low-reservoir alarms, ERI, "
    "past EOS and the registered sections (physician or nurse; audited)",
)
def get_worklist(request: HttpRequest, filters: Query[WorklistFilter]) -> WorklistOut:
    clinic = clinic_for(request, filters.clinic)
    result = services.worklist(by=request.auth, clinic=clinic)  # type: ignore[attr-defined]
    return WorklistOut(
        clinic=clinic.slug,
        now=result.now,
        sections=[
            SectionOut(
                key=s.key,
                title=s.title,
                description=s.description,
                items=[
                    WorklistItemOut(
                        patient_id=i.patient_id,
                        patient_name=i.patient_name,
                        mrn=i.mrn,
                        at=i.at,
                        time_zone=i.time_zone or "UTC",
                        text=i.text,
                        urgent=i.urgent,
                        url=i.url,
                    )
                    for i in s.items
                ],
            )
            for s in result.sections
        ],
    )
