"""Every change to a patient, and every read of one, goes through these functions.

Each takes the acting user as keyword-only ``by``, checks the role in the patient's clinic
(PermissionDenied), validates (ValidationError naming the field; nothing is written) and
writes the change and its audit event in one transaction.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import Http404

from openidds.web.accounts.models import Clinic
from openidds.web.accounts.roles import CLINICAL, clinics_with_role, require_role
from openidds.web.audit.models import Action
from openidds.web.audit.services import record
from openidds.web.patients.models import Patient

#: The fields a caller may set; everything else (clinic, timestamps) is not theirs to set.
EDITABLE_FIELDS = frozenset(
    {
        "name",
        "date_of_birth",
        "mrn",
        "indication",
        "opioid_tolerance",
        "allergies",
        "emergency_contact_name",
        "emergency_contact_phone",
        "time_zone",
        "status",
    }
)
REQUIRED_FIELDS = frozenset({"name", "date_of_birth", "mrn", "indication", "opioid_tolerance"})


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _validate(patient: Patient) -> None:
    """Full validation with every message under its field (MRN clash included)."""
    errors: dict[str, list[str]] = {}
    try:
        patient.full_clean(exclude=["clinic"], validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    mrn = (patient.mrn or "").strip()
    if mrn and "mrn" not in errors:
        clash = Patient.objects.filter(clinic_id=patient.clinic_id, mrn=mrn)
        if patient.pk is not None:
            clash = clash.exclude(pk=patient.pk)
        if clash.exists():
            errors["mrn"] = [f"another patient of this clinic has the MRN {mrn}"]
    if errors:
        raise ValidationError(errors)


def field_errors(
    *, clinic: Clinic, fields: dict[str, Any], patient: Patient | None = None
) -> dict[str, list[str]]:
    """What create_patient (or update_patient of ``patient``) would refuse in these
    fields, by field; writes nothing.

    For forms, to show every problem at once (a clashing MRN next to a bad date)."""
    unknown = sorted(set(fields) - EDITABLE_FIELDS)
    if unknown:
        return {name: ["this field cannot be set"] for name in unknown}
    candidate = Patient(clinic=clinic) if patient is None else Patient.objects.get(pk=patient.pk)
    for name, value in _clean_strings(fields).items():
        setattr(candidate, name, value)
    try:
        _validate(candidate)
    except ValidationError as exc:
        return dict(exc.message_dict)
    return {}


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["this field cannot be set"] for name in unknown})


def _save(patient: Patient) -> None:
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:  # a concurrent insert of the same MRN
        if "mrn" in str(exc).lower():
            raise ValidationError({"mrn": ["another patient of this clinic has this MRN"]}) from exc
        raise ValidationError({NON_FIELD_ERRORS: [str(exc)]}) from exc


def _clean_strings(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v.strip() if isinstance(v, str) else v for k, v in fields.items()}


@transaction.atomic
def create_patient(*, by: Any, clinic: Clinic, **fields: Any) -> Patient:
    """Create a patient of the clinic (physician or nurse of that clinic)."""
    require_role(by, clinic, CLINICAL)
    _check_fields(fields)
    missing = sorted(REQUIRED_FIELDS - {k for k, v in fields.items() if v not in (None, "")})
    if missing:
        raise ValidationError({name: ["this field is required"] for name in missing})
    patient = Patient(clinic=clinic, **_clean_strings(fields))
    _validate(patient)
    _save(patient)
    record(
        by=by,
        action=Action.PATIENT_CREATED,
        clinic=clinic,
        patient=patient,
        obj=patient,
        details={"fields": {k: _json_value(getattr(patient, k)) for k in sorted(fields)}},
    )
    return patient


@transaction.atomic
def update_patient(*, by: Any, patient: Patient, **fields: Any) -> Patient:
    """Change identity fields of a patient; the audit event keeps old and new values."""
    require_role(by, patient.clinic, CLINICAL)
    _check_fields(fields)
    fields = _clean_strings(fields)
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    before = {name: getattr(locked, name) for name in fields}
    for name, value in fields.items():
        setattr(locked, name, value)
    _validate(locked)  # also turns e.g. "1950-02-01" into a date
    changes = {
        name: {"old": _json_value(old), "new": _json_value(getattr(locked, name))}
        for name, old in before.items()
        if getattr(locked, name) != old
    }
    if not changes:
        return locked
    _save(locked)
    record(
        by=by,
        action=Action.PATIENT_UPDATED,
        clinic=locked.clinic,
        patient=locked,
        obj=locked,
        details={"changes": changes},
    )
    return locked


@transaction.atomic
def record_patient_view(*, by: Any, patient: Patient) -> Patient:
    """Check that the user may read the patient's chart and audit the reading."""
    require_role(by, patient.clinic, CLINICAL)
    record(by=by, action=Action.PATIENT_VIEWED, clinic=patient.clinic, patient=patient, obj=patient)
    return patient


def visible_patients(user: Any) -> QuerySet[Patient]:
    """The patients of every clinic in which the user is a physician or nurse."""
    return Patient.objects.filter(clinic__in=clinics_with_role(user, CLINICAL)).select_related(
        "clinic"
    )


def find_patient(*, by: Any, patient_id: int, clinic: Clinic | None = None) -> Patient:
    """The patient, if it belongs to a clinic the user is a member of (and to ``clinic``
    when given); Http404 otherwise, so that other clinics' patients stay unknown.

    Membership is not permission: read the patient through :func:`record_patient_view`,
    which checks the role and audits the reading.
    """
    if by is None or not getattr(by, "is_authenticated", False) or not by.is_active:
        raise Http404("no such patient")
    # One filter() call: the same membership row must be the user's and active.
    patients = Patient.objects.filter(
        pk=patient_id, clinic__memberships__user_id=by.pk, clinic__memberships__is_active=True
    )
    if clinic is not None:
        patients = patients.filter(clinic=clinic)
    patient = patients.select_related("clinic").first()
    if patient is None:
        raise Http404("no such patient")
    return patient


@transaction.atomic
def search_patients(*, by: Any, clinic: Clinic, query: str = "", limit: int = 200) -> list[Patient]:
    """Patients of the clinic whose name or MRN contains the query; the search is audited."""
    require_role(by, clinic, CLINICAL)
    query = query.strip()
    patients = Patient.objects.filter(clinic=clinic)
    if query:
        patients = patients.filter(Q(name__icontains=query) | Q(mrn__icontains=query))
    found = list(patients.order_by("name", "id")[:limit])
    record(
        by=by,
        action=Action.PATIENTS_LISTED,
        clinic=clinic,
        details={"query": query, "count": len(found)},
    )
    return found


__all__ = [
    "EDITABLE_FIELDS",
    "PermissionDenied",
    "ValidationError",
    "create_patient",
    "field_errors",
    "find_patient",
    "record_patient_view",
    "search_patients",
    "update_patient",
    "visible_patients",
]
