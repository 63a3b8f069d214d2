"""The JSON API, ``/api/v1/`` (OpenAPI 3.1 at ``/api/v1/openapi.json``).

Session authentication with CSRF on unsafe methods, the same service functions and role
checks as the pages. Every error is ``{"detail": [{"field": ..., "message": ...}]}`` or
``{"detail": "..."}`` and every error status is in the schema.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Field, NinjaAPI, Query, Schema, Status
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import SessionAuth

from openidds.web.accounts.models import Clinic
from openidds.web.accounts.roles import role_in
from openidds.web.patients import services
from openidds.web.patients.models import (
    Indication,
    OpioidTolerance,
    Patient,
    PatientStatus,
)

api = NinjaAPI(
    title="OpenIDDS clinic API",
    version="1",
    description="Patients (implants, prescriptions, refills and worklists follow). "
    "Log in at /accounts/login/ and send the session cookie; unsafe methods need the "
    "X-CSRFToken header.",
    urls_namespace="api-v1",
    auth=SessionAuth(csrf=True),
    docs_url=None,  # Swagger UI would load from a CDN; the schema is at openapi.json
)


class FieldError(Schema):
    field: str = Field(description="the input field at fault, or __all__")
    message: str


class ErrorOut(Schema):
    detail: str


class ValidationErrorOut(Schema):
    detail: list[FieldError]


ERRORS: dict[int, Any] = {
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    422: ValidationErrorOut,
}


class PatientIn(Schema):
    clinic: str = Field(description="slug of the clinic")
    name: str
    date_of_birth: date
    mrn: str = Field(description="medical record number, unique within the clinic")
    indication: Indication
    opioid_tolerance: OpioidTolerance
    allergies: str = ""
    emergency_contact_name: str = ""
    emergency_contact_phone: str = ""
    time_zone: str = Field("UTC", description="IANA time zone name")
    status: PatientStatus = PatientStatus.ACTIVE


class PatientUpdate(Schema):
    """Only the fields sent are changed."""

    name: str | None = None
    date_of_birth: date | None = None
    mrn: str | None = None
    indication: Indication | None = None
    opioid_tolerance: OpioidTolerance | None = None
    allergies: str | None = None
    emergency_contact_name: str | None = None
    emergency_contact_phone: str | None = None
    time_zone: str | None = None
    status: PatientStatus | None = None


class PatientOut(Schema):
    id: int
    clinic: str
    name: str
    date_of_birth: date
    mrn: str
    indication: Indication
    opioid_tolerance: OpioidTolerance
    allergies: str
    emergency_contact_name: str
    emergency_contact_phone: str
    time_zone: str
    status: PatientStatus

    @staticmethod
    def resolve_clinic(obj: Patient) -> str:
        return obj.clinic.slug


class PatientFilter(Schema):
    clinic: str = Field(description="slug of the clinic")
    q: str = Field("", description="part of the name or MRN", max_length=100)


def _clinic_for(request: HttpRequest, slug: str) -> Clinic:
    clinic = Clinic.objects.filter(slug=slug).first()
    if clinic is None or role_in(request.auth, clinic) is None:  # type: ignore[attr-defined]
        raise ValidationError({"clinic": ["no such clinic among yours"]})
    return clinic


@api.get(
    "/patients",
    response={200: list[PatientOut], **ERRORS},
    summary="Search the patients of a clinic",
    tags=["patients"],
)
def list_patients(request: HttpRequest, filters: Query[PatientFilter]) -> list[Patient]:
    clinic = _clinic_for(request, filters.clinic)
    return services.search_patients(by=request.auth, clinic=clinic, query=filters.q)  # type: ignore[attr-defined]


@api.post(
    "/patients",
    response={201: PatientOut, **ERRORS},
    summary="Create a patient (physician or nurse of the clinic)",
    tags=["patients"],
)
def create_patient(request: HttpRequest, payload: PatientIn) -> Status[Patient]:
    data = payload.model_dump()
    clinic = _clinic_for(request, data.pop("clinic"))
    data = {k: v.value if hasattr(v, "value") else v for k, v in data.items()}
    patient = services.create_patient(by=request.auth, clinic=clinic, **data)  # type: ignore[attr-defined]
    return Status(201, patient)


@api.get(
    "/patients/{patient_id}",
    response={200: PatientOut, **ERRORS},
    summary="One patient (the reading is audited)",
    tags=["patients"],
)
def get_patient(request: HttpRequest, patient_id: int) -> Patient:
    user = request.auth  # type: ignore[attr-defined]
    patient = services.find_patient(by=user, patient_id=patient_id)
    return services.record_patient_view(by=user, patient=patient)


@api.patch(
    "/patients/{patient_id}",
    response={200: PatientOut, **ERRORS},
    summary="Change a patient's identity fields (physician or nurse; old and new values "
    "are audited)",
    tags=["patients"],
)
def update_patient(request: HttpRequest, patient_id: int, payload: PatientUpdate) -> Patient:
    user = request.auth  # type: ignore[attr-defined]
    patient = services.find_patient(by=user, patient_id=patient_id)
    data = payload.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in data.items() if v is None)
    if nulls:
        raise ValidationError({k: ["may not be null"] for k in nulls})
    data = {k: v.value if hasattr(v, "value") else v for k, v in data.items()}
    return services.update_patient(by=user, patient=patient, **data)


# -- errors --------------------------------------------------------------------------------


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    if hasattr(exc, "error_dict"):
        items = [
            {"field": field, "message": str(message)}
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    else:
        items = [{"field": NON_FIELD_ERRORS, "message": str(m)} for m in exc.messages]
    return api.create_response(request, {"detail": items}, status=422)


@api.exception_handler(NinjaValidationError)
def _input_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    items = []
    for error in exc.errors:
        loc = [str(part) for part in error.get("loc", ())]
        # ("body", "payload", "mrn") -> "mrn"; ("query", "clinic") -> "clinic"
        field = ".".join(p for p in loc if p not in {"body", "query", "path", "payload"})
        items.append({"field": field or NON_FIELD_ERRORS, "message": str(error.get("msg", ""))})
    return api.create_response(request, {"detail": items}, status=422)


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "forbidden"}, status=403)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "not found"}, status=404)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(request, {"detail": "log in first"}, status=401)


__all__ = ["api"]
