"""The JSON API: OpenAPI schema, the patient operations, errors that name the field."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from openidds.web.accounts.models import Role
from openidds.web.audit.models import Action, AuditEvent
from openidds.web.patients.models import Patient

pytestmark = pytest.mark.django_db


def test_openapi_schema_is_served_and_documents_every_error(db):
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.1")
    operations = {
        (method.upper(), path): op
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }
    # the foundation's operations (the apps' routers add theirs: their own tests)
    assert set(operations) >= {
        ("GET", "/api/v1/patients"),
        ("POST", "/api/v1/patients"),
        ("GET", "/api/v1/patients/{patient_id}"),
        ("PATCH", "/api/v1/patients/{patient_id}"),
        ("GET", "/api/v1/patients/{patient_id}/implants"),
        ("POST", "/api/v1/patients/{patient_id}/implants"),
    }
    for key, op in operations.items():
        # every error status of every operation is documented, 422 included (it is also
        # the answer to an unparseable body: docs/clinicadmin.md)
        assert {"401", "403", "404", "422"} <= set(op["responses"]), key
    assert "ValidationErrorOut" in schema["components"]["schemas"]


def test_openapi_schema_is_valid_openapi_3_1(db):
    """Checked against the JSON Schema of OpenAPI 3.1's top level with jsonschema."""
    import jsonschema

    schema = json.loads(Client().get("/api/v1/openapi.json").content)
    top = {
        "type": "object",
        "required": ["openapi", "info", "paths"],
        "properties": {
            "openapi": {"type": "string", "pattern": "^3\\.1\\.\\d+$"},
            "info": {
                "type": "object",
                "required": ["title", "version"],
            },
            "paths": {"type": "object", "patternProperties": {"^/": {"type": "object"}}},
        },
    }
    jsonschema.validate(schema, top)
    # Every $ref resolves inside the document.
    import re

    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(schema)))
    assert refs
    assert refs <= set(schema["components"]["schemas"])


def _post(client: Client, body: dict) -> object:
    return client.post(
        "/api/v1/patients",
        json.dumps(body),
        content_type="application/json",
    )


BODY = {
    "clinic": "own",
    "name": "Api Patient",
    "date_of_birth": "1960-05-05",
    "mrn": "A-1",
    "indication": "spasticity_spinal",
    "opioid_tolerance": "naive",
    "time_zone": "Europe/Vienna",
}


def test_create_list_and_get(users):
    client = Client()
    client.force_login(users[Role.NURSE], backend="django.contrib.auth.backends.ModelBackend")
    response = _post(client, BODY)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["clinic"] == "own"
    assert created["time_zone"] == "Europe/Vienna"
    assert created["status"] == "active"

    listed = client.get("/api/v1/patients?clinic=own&q=api").json()
    assert [p["mrn"] for p in listed] == ["A-1"]
    assert client.get("/api/v1/patients?clinic=own&q=nobody").json() == []

    one = client.get(f"/api/v1/patients/{created['id']}")
    assert one.status_code == 200
    assert one.json()["name"] == "Api Patient"
    assert AuditEvent.objects.filter(action=Action.PATIENT_VIEWED).count() == 1
    assert AuditEvent.objects.filter(action=Action.PATIENT_CREATED).count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_zone": "Middle/Earth"}, "time_zone"),
        ({"indication": "migraine"}, "indication"),
        ({"date_of_birth": "yesterday"}, "date_of_birth"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"mrn": ""}, "mrn"),
        ({"name": None}, "name"),
        ({"clinic": "nope"}, "clinic"),
    ],
)
def test_bad_input_is_422_naming_the_field(users, change, field):
    client = Client()
    client.force_login(users[Role.PHYSICIAN], backend="django.contrib.auth.backends.ModelBackend")
    response = _post(client, {**BODY, **change})
    assert response.status_code == 422, response.content
    fields = [item["field"] for item in response.json()["detail"]]
    assert field in fields
    assert not Patient.objects.exists()


def test_missing_field_is_named(users):
    client = Client()
    client.force_login(users[Role.PHYSICIAN], backend="django.contrib.auth.backends.ModelBackend")
    body = {k: v for k, v in BODY.items() if k != "mrn"}
    response = _post(client, body)
    assert response.status_code == 422
    assert [item["field"] for item in response.json()["detail"]] == ["mrn"]


def test_duplicate_mrn_is_422_on_mrn(users):
    client = Client()
    client.force_login(users[Role.PHYSICIAN], backend="django.contrib.auth.backends.ModelBackend")
    assert _post(client, BODY).status_code == 201
    response = _post(client, {**BODY, "name": "Someone Else"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "mrn"


def test_unknown_patient_is_404(users):
    client = Client()
    client.force_login(users[Role.PHYSICIAN], backend="django.contrib.auth.backends.ModelBackend")
    response = client.get("/api/v1/patients/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "no such patient"}


def test_patch_changes_only_the_fields_sent_and_audits_them(users, patient):
    client = Client()
    client.force_login(users[Role.NURSE], backend="django.contrib.auth.backends.ModelBackend")
    response = client.patch(
        f"/api/v1/patients/{patient.pk}",
        json.dumps({"allergies": "Latex", "status": "inactive"}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["allergies"], body["status"], body["name"]) == ("Latex", "inactive", "Anna Becker")
    event = AuditEvent.objects.get(action=Action.PATIENT_UPDATED)
    assert set(event.details["changes"]) == {"allergies", "status"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_zone": "Nowhere/Else"}, "time_zone"),
        ({"name": None}, "name"),
        ({"status": "gone"}, "status"),
    ],
)
def test_patch_bad_input_is_422_and_changes_nothing(users, patient, body, field):
    client = Client()
    client.force_login(users[Role.NURSE], backend="django.contrib.auth.backends.ModelBackend")
    response = client.patch(
        f"/api/v1/patients/{patient.pk}", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 422, response.content
    assert field in [item["field"] for item in response.json()["detail"]]
    patient.refresh_from_db()
    assert (patient.name, patient.time_zone, patient.status) == (
        "Anna Becker",
        "Europe/Berlin",
        "active",
    )
    assert not AuditEvent.objects.filter(action=Action.PATIENT_UPDATED).exists()
