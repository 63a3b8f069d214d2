"""The JSON API, ``/api/v1/`` (OpenAPI 3.1 at ``/api/v1/openapi.json``).

Session authentication with CSRF on unsafe methods, the same service functions and role
checks as the pages. Every error is ``{"detail": [{"field": ..., "message": ...}]}`` or
``{"detail": "..."}`` and every error status is in the schema.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    PermissionDenied,
    RequestDataTooBig,
    ValidationError,
)
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import Field, NinjaAPI, Query, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import SessionAuth

from openidds.web.accounts.roles import require_role
from openidds.web.api_common import (
    ERRORS,
    NUL_MESSAGE,
    RANGE_MESSAGE,
    RefusingParser,
    clinic_for,
    nul_fields,
    out_of_range_fields,
)
from openidds.web.implants import services as implant_services
from openidds.web.implants.models import FluidPathInitial, Implant, ImplantStatus
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
    description="Patients and their implants (prescriptions, refills and worklists "
    "follow). "
    "Log in at /accounts/login/ and send the session cookie; unsafe methods need the "
    "X-CSRFToken header.",
    urls_namespace="api-v1",
    auth=SessionAuth(csrf=True),
    docs_url=None,  # Swagger UI would load from a CDN; the schema is at openapi.json
    # Refuses a NUL character in any text of the query, the form or the JSON body (422
    # naming the field) before a schema or a view sees it: PostgreSQL cannot store it.
    parser=RefusingParser(),
)


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


@api.get(
    "/patients",
    response={200: list[PatientOut], **ERRORS},
    summary="Search the patients of a clinic",
    tags=["patients"],
)
def list_patients(request: HttpRequest, filters: Query[PatientFilter]) -> list[Patient]:
    clinic = clinic_for(request, filters.clinic)
    return services.search_patients(by=request.auth, clinic=clinic, query=filters.q)  # type: ignore[attr-defined]


@api.post(
    "/patients",
    response={201: PatientOut, **ERRORS},
    summary="Create a patient (physician or nurse of the clinic)",
    tags=["patients"],
)
def create_patient(request: HttpRequest, payload: PatientIn) -> Status[Patient]:
    data = payload.model_dump()
    clinic = clinic_for(request, data.pop("clinic"))
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


class ImplantIn(Schema):
    pump_model: str = Field(description="pump model id of the device catalog", max_length=60)
    serial: str = Field(max_length=64)
    implanted_at: datetime = Field(description="with its UTC offset, e.g. 2026-01-05T09:00:00Z")
    catheter_model: str = Field("", max_length=100)
    catheter_length_cm: Decimal | None = None
    fluid_path_ml: Decimal | None = Field(None, description="measured; absent: the catalog's value")
    fluid_path_initial: FluidPathInitial = FluidPathInitial.NO_DRUG
    fixed_rate_ml_per_day: Decimal | None = Field(
        None, description="constant-flow pumps only, and required for them"
    )
    replaces: int | None = Field(None, description="id of the active implant this one replaces")


class ImplantOut(Schema):
    id: int
    patient: int
    pump_model: str
    serial: str
    implanted_at: datetime
    catheter_model: str
    catheter_length_cm: Decimal | None
    fluid_path_ml: Decimal | None
    fluid_path_initial: FluidPathInitial
    fixed_rate_ml_per_day: Decimal | None
    status: ImplantStatus
    ended_at: datetime | None
    end_reason: str
    supersedes: int | None

    @staticmethod
    def resolve_patient(obj: Implant) -> int:
        return obj.patient_id

    @staticmethod
    def resolve_supersedes(obj: Implant) -> int | None:
        return obj.supersedes_id


@api.get(
    "/patients/{patient_id}/implants",
    response={200: list[ImplantOut], **ERRORS},
    summary="The patient's implants, newest first (physician or nurse; audited)",
    tags=["implants"],
)
def list_implants(request: HttpRequest, patient_id: int) -> list[Implant]:
    user = request.auth  # type: ignore[attr-defined]
    patient = services.find_patient(by=user, patient_id=patient_id)
    return implant_services.list_implants(by=user, patient=patient)


@api.post(
    "/patients/{patient_id}/implants",
    response={201: ImplantOut, **ERRORS},
    summary="Record an implant (physician); one active implant per patient",
    tags=["implants"],
)
def create_implant(request: HttpRequest, patient_id: int, payload: ImplantIn) -> Status[Implant]:
    user = request.auth  # type: ignore[attr-defined]
    patient = services.find_patient(by=user, patient_id=patient_id)
    require_role(user, patient.clinic, implant_services.PHYSICIAN)  # before looking at input
    data = payload.model_dump()
    replaces_id = data.pop("replaces")
    replaces = None
    if replaces_id is not None:
        replaces = Implant.objects.filter(pk=replaces_id, patient=patient).first()
        if replaces is None:
            raise ValidationError({"replaces": ["no such implant of this patient"]})
    data["fluid_path_initial"] = payload.fluid_path_initial.value
    implant = implant_services.record_implant(by=user, patient=patient, replaces=replaces, **data)
    return Status(201, implant)


# -- the apps' routers ---------------------------------------------------------------------

from openidds.web.clinicadmin.api import router as clinicadmin_router  # noqa: E402
from openidds.web.community.api import router as community_router  # noqa: E402
from openidds.web.diary.api import router as diary_router  # noqa: E402
from openidds.web.portal.api import router as portal_router  # noqa: E402
from openidds.web.prescriptions.api import router as prescriptions_router  # noqa: E402
from openidds.web.refills.api import router as refills_router  # noqa: E402
from openidds.web.worklists.api import router as worklists_router  # noqa: E402

for _router in (
    prescriptions_router,
    refills_router,
    worklists_router,
    clinicadmin_router,
    portal_router,
    diary_router,
    community_router,
):
    api.add_router("", _router)


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


def _body_error(request: HttpRequest, message: str) -> HttpResponse:
    """An unparseable request body: 422 like every other input error (docs/clinicadmin.md:
    one documented error status and shape for all bad input, as FastAPI answers a JSON
    decode error)."""
    item = {"field": NON_FIELD_ERRORS, "message": message}
    return api.create_response(request, {"detail": [item]}, status=422)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja's body model answers HttpError(400, "Cannot parse request body") for whatever
    # the parser raised; our parser's ValidationError (a NUL character) is the cause then.
    cause = exc.__cause__
    if isinstance(cause, ValidationError):
        return _validation_error(request, cause)
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        return _body_error(request, "the request body is not valid JSON (UTF-8)")
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


@api.exception_handler(MultiPartParserError)
def _multipart_error(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    # Raised where the CSRF check or a form model first reads request.POST, e.g. for a
    # multipart Content-Type without a boundary (Django would answer its HTML 400 page).
    return _body_error(request, f"the request body cannot be parsed: {exc}")


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return _body_error(request, f"the request body is larger than {limit} bytes")


@api.exception_handler(DataError)
def _data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
    """Last line for what the parser cannot see (a path parameter): a NUL character or an
    integer beyond 64 bits, which PostgreSQL refuses as a DataError; answer 422 naming the
    field. Anything else stays a 500."""
    return _path_error(request, exc)


@api.exception_handler(OverflowError)
def _overflow(request: HttpRequest, exc: OverflowError) -> HttpResponse:
    """SQLite's refusal of an integer beyond 64 bits in a path parameter: 422 naming it."""
    return _path_error(request, exc)


def _path_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    kwargs = dict(request.resolver_match.kwargs) if request.resolver_match else {}
    errors = {f: [NUL_MESSAGE] for f in nul_fields(kwargs)}
    errors |= {f: [RANGE_MESSAGE] for f in out_of_range_fields(kwargs)}
    if not errors:
        raise exc
    return _validation_error(request, ValidationError(errors))


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
