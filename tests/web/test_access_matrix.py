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
from web_helpers import ROLES

from openidds.web.accounts.models import Role
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
]


def _fill(value: Any, clinic: str, patient: int) -> Any:
    if isinstance(value, str):
        return value.replace("{clinic}", clinic).replace("{patient}", str(patient))
    if isinstance(value, dict):
        return {k: _fill(v, clinic, patient) for k, v in value.items()}
    return value


def _request(client: Client, op: Op, clinic: str, patient: int) -> Any:
    path = _fill(op.path, clinic, patient)
    body = _fill(op.body, clinic, patient)
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
    before = Patient.objects.count()
    names_before = sorted(Patient.objects.values_list("name", flat=True))

    response = _request(client, op, target_clinic.slug, target_patient.pk)

    expected = _expected(op, role, own)
    assert response.status_code == expected, (op.name, role, own, response.content[:300])
    if expected == 302 and role is None:
        assert response["Location"].startswith("/accounts/login/?next=")
    succeeded = role is not None and expected == op.ok and op.method != "GET"
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


def test_matrix_covers_every_url_and_api_operation():
    """A new URL or API operation must be added to OPS (and so to the matrix)."""
    from django.urls import get_resolver

    from openidds.web.api import api

    page_names = {
        p.name for p in get_resolver().url_patterns if getattr(p, "name", None) is not None
    }
    covered = {
        "home",
        "patient-list",
        "patient-create",
        "patient-detail",
        "patient-edit",
        "audit-log",
    }
    # log-in and log-out are tested in test_auth.py
    assert page_names - {"login", "logout"} == covered
    operations = {
        (method, path)
        for path, path_view in api._routers[0][1].path_operations.items()
        for operation in path_view.operations
        for method in operation.methods
    }
    assert operations == {
        ("GET", "/patients"),
        ("POST", "/patients"),
        ("GET", "/patients/{patient_id}"),
        ("PATCH", "/patients/{patient_id}"),
    }
