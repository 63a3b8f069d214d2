"""schemathesis against the API's own OpenAPI schema, in-process (the Django WSGI app).

Requests generated from ``/api/v1/openapi.json`` (valid and invalid ones) are sent as a
logged-in physician of the ``own`` clinic, with the CSRF cookie and header; each response
must not be a server error, must have a status code the schema documents for the operation
and must conform to the schema documented for that status. Bounded (a few examples per
operation) so that it runs in seconds; raise ``MAX_EXAMPLES`` locally to dig deeper.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from web_helpers import MODEL_BACKEND, patient_fields

from openidds.web.accounts.models import Role, User
from openidds.web.patients.models import Patient
from openidds.web.wsgi import application

MAX_EXAMPLES = 25
CSRF_TOKEN = "schemathesis" * 2 + "openidds"  # a CSRF secret: 32 letters
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture
def wsgi_keeps_the_test_connection() -> Iterator[None]:
    """Calling the WSGI app fires request_started/finished, whose close_old_connections
    would close the database connection in the middle of the test's transaction (on
    PostgreSQL; SQLite's in-memory connection is never closed). Django's test client
    disconnects it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def physician(
    users: dict[Role, User], other_clinic: Any, wsgi_keeps_the_test_connection: None
) -> dict[str, Any]:
    """How to call as a physician: session and CSRF cookies, the X-CSRFToken header; and
    patients of both clinics for the generated ids to find (or not)."""
    for n in range(3):
        Patient.objects.create(
            clinic=users[Role.PHYSICIAN].memberships.get().clinic,
            **patient_fields(mrn=f"S-{n}", name=f"Schema Patient {n}"),
        )
    Patient.objects.create(clinic=other_clinic, **patient_fields(mrn="S-X", name="Elsewhere"))
    KNOWN_IDS[:] = sorted(Patient.objects.values_list("pk", flat=True))
    client = Client()
    client.force_login(users[Role.PHYSICIAN], backend=MODEL_BACKEND)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    return {
        "cookies": {
            django_settings.SESSION_COOKIE_NAME: session,
            django_settings.CSRF_COOKIE_NAME: CSRF_TOKEN,
        },
        "headers": {"X-CSRFToken": CSRF_TOKEN},
    }


# Loaded once, at collection, from the app itself: GET /api/v1/openapi.json through the
# WSGI app (anonymous; the schema needs no database). (schemathesis.pytest.from_fixture
# would load it per test, but 4.32 breaks on pytest 9's nodes: no ``_nodeid``.)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
# The ids of the patients the fixture made (the own clinic's and one other clinic's).
KNOWN_IDS: list[int] = []

# Purely random values almost never name the caller's clinic, a real time zone or an
# existing patient, so only the 422 and 404 paths would be explored. These hooks let
# hypothesis also draw the generated value with such fields made real.


@schema.hook
def flatmap_query(context: Any, query: Any) -> Any:
    if isinstance(query, dict) and "clinic" in query:
        return st.sampled_from([query, {**query, "clinic": "own"}])
    return st.just(query)


@schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    if not isinstance(body, dict):
        return st.just(body)
    real = {**body, "time_zone": "Europe/Berlin"}
    if "clinic" in body:
        real["clinic"] = "own"
    return st.sampled_from([body, real])


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> Any:
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    if "clinic" in path_parameters:  # /clinics/{clinic}/...: also the caller's own clinic
        return st.sampled_from([path_parameters, {**path_parameters, "clinic": "own"}])
    if "patient_id" in path_parameters and KNOWN_IDS:
        known = st.sampled_from(KNOWN_IDS).map(lambda pk: {**path_parameters, "patient_id": pk})
        return st.one_of(st.just(path_parameters), known)
    return st.just(path_parameters)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
def test_api_conforms_to_its_openapi_schema(case: Any, physician: dict[str, Any]) -> None:
    case.call_and_validate(**physician, checks=CHECKS)


# -- formerly known defects, now regression tests ----------------------------------------------
#
# 1. A POST or PATCH whose body cannot be parsed (not JSON, not UTF-8, a multipart
#    Content-Type without a boundary, a body above DATA_UPLOAD_MAX_MEMORY_SIZE) was answered
#    400, which the schema did not document (ninja's "Cannot parse request body", and
#    Django's HTML "Bad Request (400)" page from the CSRF check reading request.POST). It is
#    now 422 with the field "__all__", like every other input error (docs/clinicadmin.md).
# 2. A NUL character (U+0000) in a text of the request reached PostgreSQL, which refuses it
#    (psycopg DataError), and the API answered 500. The API's parser now refuses it for
#    every router (query, form and JSON body; a path parameter in the exception path) as a
#    422 naming the field, on every database.


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"\xff{"),
        ("application/json", b"{not json"),
        ("multipart/form-data", b"x"),
        ("multipart/form-data; boundary=", b"x"),
    ],
    ids=["not-utf8", "not-json", "multipart-without-boundary", "multipart-empty-boundary"],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_an_unparseable_body_is_a_documented_json_422(
    physician: dict[str, Any], method: str, content_type: str, body: bytes
) -> None:
    client = Client(enforce_csrf_checks=True)
    for name, value in physician["cookies"].items():
        client.cookies[name] = value
    path = "/api/v1/patients" if method == "POST" else f"/api/v1/patients/{KNOWN_IDS[0]}"
    before = sorted(Patient.objects.values_list("pk", "name"))
    response = client.generic(
        method, path, body, content_type=content_type, headers=physician["headers"]
    )
    assert response.status_code == 422, response.content
    assert response["Content-Type"].startswith("application/json")
    [item] = response.json()["detail"]
    assert item["field"] == "__all__"
    assert "cannot be parsed" in item["message"] or "not valid JSON" in item["message"]
    assert sorted(Patient.objects.values_list("pk", "name")) == before
    # and 422 is what the schema documents for the operation
    template = "/api/v1/patients" if method == "POST" else "/api/v1/patients/{patient_id}"
    assert "422" in schema[template][method].definition.raw["responses"]


def test_a_body_above_the_upload_limit_is_a_json_422(
    physician: dict[str, Any], settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = Client(enforce_csrf_checks=True)
    for name, value in physician["cookies"].items():
        client.cookies[name] = value
    body = json.dumps({**_new_patient("N-2"), "allergies": "x" * 2000})
    response = client.post(
        "/api/v1/patients", body, content_type="application/json", headers=physician["headers"]
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["message"] == ("the request body is larger than 1000 bytes")


def _new_patient(mrn: str, **overrides: Any) -> dict[str, Any]:
    return {
        "clinic": "own",
        "name": "Nul Patient",
        "date_of_birth": "1960-01-01",
        "mrn": mrn,
        "indication": "cancer_pain",
        "opioid_tolerance": "naive",
        **overrides,
    }


def _client(physician: dict[str, Any]) -> Client:
    client = Client(raise_request_exception=False)
    for name, value in physician["cookies"].items():
        client.cookies[name] = value
    return client


NUL = "contains a NUL character (U+0000), which cannot be stored"


def test_a_nul_character_in_the_search_is_a_422_naming_the_field(
    physician: dict[str, Any],
) -> None:
    response = _client(physician).get("/api/v1/patients", {"clinic": "own", "q": "M\x00"})
    assert response.status_code == 422
    assert response.json() == {"detail": [{"field": "q", "message": NUL}]}


def test_a_nul_character_in_a_new_patient_is_a_422_naming_the_field(
    physician: dict[str, Any],
) -> None:
    before = Patient.objects.count()
    body = _new_patient("N-1", name="Nul\x00Patient")
    response = _client(physician).post(
        "/api/v1/patients",
        json.dumps(body),
        content_type="application/json",
        headers=physician["headers"],
    )
    assert response.status_code == 422
    assert response.json() == {"detail": [{"field": "name", "message": NUL}]}
    assert Patient.objects.count() == before


def test_every_field_with_a_nul_character_is_named_nested_ones_too(
    physician: dict[str, Any],
) -> None:
    body = {**_new_patient("N\x00"), "allergies": "a\x00", "extra": {"k": ["ok", "b\x00"]}}
    response = _client(physician).patch(
        f"/api/v1/patients/{KNOWN_IDS[0]}",
        json.dumps(body),
        content_type="application/json",
        headers=physician["headers"],
    )
    assert response.status_code == 422
    fields = [item["field"] for item in response.json()["detail"]]
    assert fields == ["allergies", "extra.k.1", "mrn"]


def test_a_nul_character_in_a_path_parameter_is_a_422_on_a_database_error(rf: Any) -> None:
    """The exception path: a DataError (PostgreSQL's refusal) while a path parameter holds
    NUL answers 422 naming it; any other DataError stays a server error."""
    from django.db import DataError
    from django.urls import ResolverMatch

    from openidds.web.api import _data_error

    request = rf.get("/api/v1/clinics/a%00b/members")
    request.resolver_match = ResolverMatch(lambda r: None, (), {"clinic": "a\x00b"})
    response = _data_error(request, DataError("PostgreSQL text fields cannot contain NUL"))
    assert response.status_code == 422
    assert json.loads(response.content) == {"detail": [{"field": "clinic", "message": NUL}]}
    request.resolver_match = ResolverMatch(lambda r: None, (), {"clinic": "ab"})
    with pytest.raises(DataError):
        _data_error(request, DataError("value too long"))


# 3. An integer beyond 64 bits (found by schemathesis in a path id): SQLite raised
#    OverflowError, PostgreSQL a DataError, both a 500. Now a 422 naming the field.

RANGE = "is out of range (an integer must lie between -9223372036854775808 and 9223372036854775807)"


def test_a_path_id_beyond_64_bits_is_never_a_server_error(physician: dict[str, Any]) -> None:
    """Not found (the database compares it) or refused by name: documented JSON either way."""
    client = _client(physician)
    for path in (f"/api/v1/patients/{2**80}", f"/api/v1/patients/{2**80}/implants"):
        response = client.get(path)
        assert response.status_code in {404, 422}, response.content
        assert "detail" in response.json()
    response = client.post(
        f"/api/v1/patients/{2**80}/prescriptions/preview",
        "{}",
        content_type="application/json",
        headers=physician["headers"],
    )
    assert response.status_code in {404, 422}, response.content
    # the largest id that fits is simply not found
    assert client.get(f"/api/v1/patients/{2**63 - 1}").status_code == 404


def test_a_body_integer_beyond_64_bits_is_a_422_naming_it(physician: dict[str, Any]) -> None:
    before = Patient.objects.count()
    body = {**_new_patient("N-2"), "extra": {"count": -(2**70)}}
    response = _client(physician).post(
        "/api/v1/patients",
        json.dumps(body),
        content_type="application/json",
        headers=physician["headers"],
    )
    assert response.status_code == 422
    assert response.json() == {"detail": [{"field": "extra.count", "message": RANGE}]}
    assert Patient.objects.count() == before


def test_a_path_id_beyond_64_bits_on_a_database_error_is_a_422(rf: Any) -> None:
    """PostgreSQL's refusal (DataError) and SQLite's (OverflowError) of a huge path id."""
    from django.db import DataError
    from django.urls import ResolverMatch

    from openidds.web.api import _data_error, _overflow

    request = rf.get("/api/v1/patients/99999999999999999999999")
    request.resolver_match = ResolverMatch(
        lambda r: None, (), {"patient_id": "99999999999999999999999"}
    )
    for handler, exc in ((_data_error, DataError("bigint out of range")), (_overflow, None)):
        response = handler(request, exc or OverflowError("Python int too large"))
        assert response.status_code == 422
        assert json.loads(response.content)["detail"][0]["field"] == "patient_id"
    request.resolver_match = ResolverMatch(lambda r: None, (), {"patient_id": "12"})
    with pytest.raises(OverflowError):
        _overflow(request, OverflowError("something else"))
