"""Security headers, the Content-Security-Policy and CSRF on forms and the API."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from openidds.web.accounts.models import Role
from openidds.web.patients.models import Patient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/accounts/login/", "/", "/clinics/own/patients/"])
def test_security_headers_and_csp(path, client_for, users):
    user = None if path == "/accounts/login/" else users[Role.NURSE]
    response = client_for(user).get(path)
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp


def test_pages_have_no_inline_script_or_style(client_for, users):
    pages = [
        (None, "/accounts/login/"),
        (users[Role.NURSE], "/"),
        (users[Role.NURSE], "/clinics/own/patients/"),
        (users[Role.NURSE], "/clinics/own/patients/new/"),
        (users[Role.CLINIC_ADMIN], "/clinics/own/audit/"),
    ]
    for user, path in pages:
        response = client_for(user).get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert "<script>" not in html
        assert "<style" not in html
        assert " style=" not in html
        assert " onclick=" not in html


def test_htmx_is_served_from_the_app(client_for, users):
    from django.contrib.staticfiles import finders

    html = client_for(users[Role.NURSE]).get("/").content.decode()
    assert 'src="/static/vendor/htmx/htmx.min.js"' in html
    assert finders.find("vendor/htmx/htmx.min.js")
    assert finders.find("openidds/app.css")


def test_form_post_without_csrf_token_is_refused(client_for, users):
    client = client_for(users[Role.NURSE])
    response = client.post(
        "/clinics/own/patients/new/",
        {
            "name": "X",
            "date_of_birth": "1970-01-01",
            "mrn": "C-1",
            "indication": "cancer_pain",
            "opioid_tolerance": "naive",
            "time_zone": "UTC",
            "status": "active",
        },
    )
    assert response.status_code == 403
    assert not Patient.objects.exists()


def _api_body() -> str:
    return json.dumps(
        {
            "clinic": "own",
            "name": "X",
            "date_of_birth": "1970-01-01",
            "mrn": "C-1",
            "indication": "cancer_pain",
            "opioid_tolerance": "naive",
        }
    )


def test_api_post_needs_the_csrf_header(client_for, users):
    client = client_for(users[Role.NURSE])
    response = client.post("/api/v1/patients", _api_body(), content_type="application/json")
    assert response.status_code == 403
    assert not Patient.objects.exists()
    client.get("/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/api/v1/patients",
        _api_body(),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201, response.content
    assert Patient.objects.count() == 1


def test_anonymous_api_is_401(db):
    response = Client().get("/api/v1/patients?clinic=own")
    assert response.status_code == 401
    assert response.json() == {"detail": "log in first"}
