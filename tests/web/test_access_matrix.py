"""Every page and API operation × every role × own clinic / other clinic (and anonymous):
allowed or refused, as the roles of issue 4 say.

Refusals: 302 to the log-in page (pages, anonymous), 401 (API, anonymous), 403 (a member
of the clinic whose role does not allow it), 404 (a clinic or patient the user is no
member of: not revealed), 422 (API: the clinic named in the input is not the user's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from web_helpers import ROLES, make_user

from openidds.web.accounts.models import Role
from openidds.web.implants.models import Implant, PumpEvent
from openidds.web.patients.models import Patient

pytestmark = pytest.mark.django_db

CLINICAL = {Role.PHYSICIAN, Role.NURSE}
ANON = None


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: str  # {clinic} and {patient} are filled in per case
    allowed: frozenset[Role]
    ok: int
    other_status: int  # a member of the own clinic asking about the other clinic
    body: dict[str, Any] | None = None
    api: bool = False
    # what a successful write changes: "patients" (the default), "implants", "pump events"
    changes: str = "patients"
    # the target patient has an active implant ({implant} in the path is its id)
    with_implant: bool = False


def _patient_form(mrn: str) -> dict[str, Any]:
    return {
        "name": "New Patient",
        "date_of_birth": "1970-01-01",
        "mrn": mrn,
        "indication": "noncancer_pain",
        "opioid_tolerance": "naive",
        "time_zone": "UTC",
        "status": "active",
    }


def _implant_form() -> dict[str, Any]:
    return {
        "pump_model": "synchromed2-20",
        "serial": "S-NEW",
        "implanted_at": "2026-01-05T09:00",
        "catheter_model": "8781",
        "catheter_length_cm": "45",
        "fluid_path_ml": "",
        "fluid_path_initial": "no-drug",
        "fixed_rate_ml_per_day": "",
    }


PHYSICIAN = frozenset({Role.PHYSICIAN})
EVERYONE = frozenset(ROLES)
OPS = [
    Op("home", "GET", "/", EVERYONE, 200, 200),
    Op("patient list", "GET", "/clinics/{clinic}/patients/", frozenset(CLINICAL), 200, 404),
    Op("patient search", "GET", "/clinics/{clinic}/patients/?q=an", frozenset(CLINICAL), 200, 404),
    Op("patient form", "GET", "/clinics/{clinic}/patients/new/", frozenset(CLINICAL), 200, 404),
    Op(
        "patient create",
        "POST",
        "/clinics/{clinic}/patients/new/",
        frozenset(CLINICAL),
        302,
        404,
        body=_patient_form("NEW-1"),
    ),
    Op(
        "patient detail",
        "GET",
        "/clinics/{clinic}/patients/{patient}/",
        frozenset(CLINICAL),
        200,
        404,
    ),
    Op(
        "patient edit form",
        "GET",
        "/clinics/{clinic}/patients/{patient}/edit/",
        frozenset(CLINICAL),
        200,
        404,
    ),
    Op(
        "patient edit",
        "POST",
        "/clinics/{clinic}/patients/{patient}/edit/",
        frozenset(CLINICAL),
        302,
        404,
        body={**_patient_form("EDIT-1"), "name": "Edited Name"},
    ),
    Op(
        "implant form",
        "GET",
        "/clinics/{clinic}/patients/{patient}/implants/new/",
        PHYSICIAN,
        200,
        404,
    ),
    Op(
        "implant create",
        "POST",
        "/clinics/{clinic}/patients/{patient}/implants/new/",
        PHYSICIAN,
        302,
        404,
        body=_implant_form(),
        changes="implants",
    ),
    Op(
        "explant form",
        "GET",
        "/clinics/{clinic}/patients/{patient}/implants/{implant}/explant/",
        PHYSICIAN,
        200,
        404,
        with_implant=True,
    ),
    Op(
        "explant",
        "POST",
        "/clinics/{clinic}/patients/{patient}/implants/{implant}/explant/",
        PHYSICIAN,
        302,
        404,
        body={"at": "2026-02-01T10:00", "reason": "infection"},
        changes="implants",
        with_implant=True,
    ),
    Op(
        "fill form",
        "GET",
        "/clinics/{clinic}/patients/{patient}/pump/fill/new/",
        frozenset(CLINICAL),
        200,
        404,
        with_implant=True,
    ),
    Op(
        "fill",
        "POST",
        "/clinics/{clinic}/patients/{patient}/pump/fill/new/",
        frozenset(CLINICAL),
        302,
        404,
        body={
            "at": "2026-01-06T10:00",
            "aspirated_ml": "19.5",
            "volume_ml": "20",
            "drug_1": "morphine",
            "concentration_1": "10 mg/mL",
        },
        changes="pump events",
        with_implant=True,
    ),
    Op(
        "MRI form",
        "GET",
        "/clinics/{clinic}/patients/{patient}/pump/mri/new/",
        frozenset(CLINICAL),
        200,
        404,
        with_implant=True,
    ),
    Op(
        "the program form is gone (prescriptions)",
        "GET",
        "/clinics/{clinic}/patients/{patient}/pump/program/new/",
        frozenset(),
        404,
        404,
        with_implant=True,
    ),
    Op(
        "patient detail with a pump",
        "GET",
        "/clinics/{clinic}/patients/{patient}/",
        frozenset(CLINICAL),
        200,
        404,
        with_implant=True,
    ),
    Op(
        "audit log",
        "GET",
        "/clinics/{clinic}/audit/?action=login",
        frozenset({Role.CLINIC_ADMIN}),
        200,
        404,
    ),
    Op(
        "API list patients",
        "GET",
        "/api/v1/patients?clinic={clinic}",
        frozenset(CLINICAL),
        200,
        422,
        api=True,
    ),
    Op(
        "API create patient",
        "POST",
        "/api/v1/patients",
        frozenset(CLINICAL),
        201,
        422,
        body={"clinic": "{clinic}", **_patient_form("API-1")},
        api=True,
    ),
    Op(
        "API get patient",
        "GET",
        "/api/v1/patients/{patient}",
        frozenset(CLINICAL),
        200,
        404,
        api=True,
    ),
    Op(
        "API update patient",
        "PATCH",
        "/api/v1/patients/{patient}",
        frozenset(CLINICAL),
        200,
        404,
        body={"name": "Edited Name"},
        api=True,
    ),
    Op(
        "API list implants",
        "GET",
        "/api/v1/patients/{patient}/implants",
        frozenset(CLINICAL),
        200,
        404,
        api=True,
        with_implant=True,
    ),
    Op(
        "API create implant",
        "POST",
        "/api/v1/patients/{patient}/implants",
        PHYSICIAN,
        201,
        404,
        body={
            **_implant_form(),
            "implanted_at": "2026-01-05T09:00:00Z",
            "fluid_path_ml": None,
            "fixed_rate_ml_per_day": None,
        },
        api=True,
        changes="implants",
    ),
]


def _fill(value: Any, clinic: str, patient: int, implant: int = 0) -> Any:
    if isinstance(value, str):
        return (
            value.replace("{clinic}", clinic)
            .replace("{patient}", str(patient))
            .replace("{implant}", str(implant))
        )
    if isinstance(value, dict):
        return {k: _fill(v, clinic, patient, implant) for k, v in value.items()}
    return value


def _request(client: Client, op: Op, clinic: str, patient: int, implant: int = 0) -> Any:
    path = _fill(op.path, clinic, patient, implant)
    body = _fill(op.body, clinic, patient, implant)
    if op.method == "GET":
        return client.get(path)
    if op.method == "PATCH":
        return client.patch(path, data=json.dumps(body), content_type="application/json")
    if op.api:
        return client.post(path, data=json.dumps(body), content_type="application/json")
    return client.post(path, data=body)


def _expected(op: Op, role: Role | None, own: bool) -> int:
    if role is None:
        return 401 if op.api else 302
    if op.name == "home":
        return 200
    if op.ok == 404:  # a page that no longer exists, for every member
        return 404
    if not own:
        return op.other_status
    return op.ok if role in op.allowed else 403


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
@pytest.mark.parametrize("role", [*ROLES, ANON], ids=[*(r.value for r in ROLES), "anonymous"])
@pytest.mark.parametrize("own", [True, False], ids=["own-clinic", "other-clinic"])
def test_access(op, role, own, users, patient, other_patient, clinic, other_clinic):
    client = Client()  # CSRF is tested on its own (test_security.py)
    if role is not None:
        client.force_login(users[role], backend="django.contrib.auth.backends.ModelBackend")
    target_clinic, target_patient = (clinic, patient) if own else (other_clinic, other_patient)
    implant_id = 0
    if op.with_implant:
        implant_id = _implant_for(target_patient).pk
    before = Patient.objects.count()
    names_before = sorted(Patient.objects.values_list("name", flat=True))
    implants_before = sorted(Implant.objects.values_list("pk", "status"))
    events_before = PumpEvent.objects.count()

    response = _request(client, op, target_clinic.slug, target_patient.pk, implant_id)

    expected = _expected(op, role, own)
    assert response.status_code == expected, (op.name, role, own, response.content[:300])
    if expected == 302 and role is None:
        assert response["Location"].startswith("/accounts/login/?next=")
    succeeded = role is not None and expected == op.ok and op.method != "GET"
    implants_after = sorted(Implant.objects.values_list("pk", "status"))
    if op.changes == "pump events":
        assert (PumpEvent.objects.count() - events_before) == (1 if succeeded else 0)
        assert implants_after == implants_before
        return
    assert PumpEvent.objects.count() == events_before
    if op.changes == "implants":
        assert (implants_after != implants_before) == succeeded, (op.name, role, own)
        assert Patient.objects.count() == before
        return
    assert implants_after == implants_before
    created = Patient.objects.count() - before
    edited = "Edited Name" in Patient.objects.values_list("name", flat=True)
    if op.method == "POST" and "edit" not in op.name:
        assert created == (1 if succeeded else 0)
    elif op.method != "GET":
        assert created == 0
        assert edited == succeeded
    else:
        assert sorted(Patient.objects.values_list("name", flat=True)) == names_before
    if op.api and expected >= 400:
        assert "detail" in response.json()


def _implant_for(patient: Patient) -> Implant:
    """An active implant with a fill and a program, made through the services."""
    from datetime import UTC, datetime

    from openidds.web.accounts.models import Membership
    from openidds.web.implants import services

    member = Membership.objects.filter(clinic=patient.clinic, role=Role.PHYSICIAN).first()
    physician = (
        member.user
        if member is not None
        else make_user(f"{patient.clinic.slug}-physician", patient.clinic, Role.PHYSICIAN)
    )
    at = datetime(2026, 1, 5, 9, tzinfo=UTC)
    implant = services.record_implant(
        by=physician,
        patient=patient,
        pump_model="synchromed2-20",
        serial=f"S-{patient.pk}",
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


#: What this file's matrix covers; test_access_coverage.py checks that every page and API
#: operation is covered by some test_access*.py file.
COVERED_PAGES = {
    "home",
    "patient-list",
    "patient-create",
    "patient-detail",
    "patient-edit",
    "implant-create",
    "implant-explant",
    "pump-event-create",
    "audit-log",
}
COVERED_API = {
    ("GET", "/patients"),
    ("POST", "/patients"),
    ("GET", "/patients/{patient_id}"),
    ("PATCH", "/patients/{patient_id}"),
    ("GET", "/patients/{patient_id}/implants"),
    ("POST", "/patients/{patient_id}/implants"),
}
