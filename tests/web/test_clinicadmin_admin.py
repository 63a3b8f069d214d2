"""Django admin at /admin/: operators only, non-clinical objects only, every change
through the services or audited, and its pages under the strict CSP."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from web_helpers import MODEL_BACKEND, make_user

from openidds.web.accounts.models import Clinic, Membership, Role, User
from openidds.web.audit.models import Action, AuditEvent
from openidds.web.clinicadmin.admin import ALLOWED_ADMIN_MODELS

pytestmark = pytest.mark.django_db

CLINICAL_APPS = {
    "patients",
    "implants",
    "prescriptions",
    "refills",
    "worklists",
    "audit",
    "portal",
    "diary",
    "community",
}


@pytest.fixture
def operator(db: None) -> User:
    return User.objects.create_user("operator", password="x" * 12, is_staff=True, is_superuser=True)


@pytest.fixture
def op_client(operator: User) -> Client:
    client = Client()
    client.force_login(operator, backend=MODEL_BACKEND)
    return client


def test_no_clinical_model_is_registered():
    from openidds.web.audit.models import AuditEvent
    from openidds.web.implants.models import Implant, PumpEvent
    from openidds.web.patients.models import Patient

    registered = set(admin.site._registry)
    for model in (Patient, Implant, PumpEvent, AuditEvent):
        assert model not in registered
    assert {m._meta.app_label for m in registered}.isdisjoint(CLINICAL_APPS)
    # and nothing beyond the allow-list (a new registration must be a decision)
    assert registered <= ALLOWED_ADMIN_MODELS, registered - ALLOWED_ADMIN_MODELS
    assert {Clinic, User, Membership} <= registered


def _csrf(client: Client, path: str) -> str:
    client.get(path)
    return client.cookies["csrftoken"].value


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")


def _assert_csp_clean(response: Any) -> None:
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html)
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers


def test_admin_pages_work_under_the_csp(op_client, users, clinic):
    nurse = users[Role.NURSE]
    pages = [
        "/admin/",
        "/admin/login/",
        "/admin/accounts/clinic/",
        f"/admin/accounts/clinic/{clinic.pk}/change/",
        "/admin/accounts/clinic/add/",
        "/admin/accounts/user/",
        f"/admin/accounts/user/{nurse.pk}/change/",
        f"/admin/accounts/user/{nurse.pk}/password/",
        "/admin/accounts/user/add/",
        "/admin/accounts/membership/",
        f"/admin/accounts/membership/{nurse.memberships.get().pk}/change/",
        "/admin/accounts/membership/add/",
        "/admin/clinicadmin/clinicdruglibrary/",
        "/admin/clinicadmin/druglibraryselection/",
        "/admin/axes/accessattempt/",
    ]
    for path in pages:
        response = op_client.get(path)
        assert response.status_code in {200, 302}, path
        if response.status_code == 200:
            _assert_csp_clean(response)


def test_the_csp_check_catches_an_inline_script():
    class Fake(dict):
        content = b"<html><script>alert(1)</script></html>"

    fake = Fake({"Content-Security-Policy": "script-src 'self'; style-src 'self'"})
    with pytest.raises(AssertionError):
        _assert_csp_clean(fake)


def test_adding_a_membership_in_admin_goes_through_the_service(op_client, operator, clinic):
    person = make_user("admin-added")
    token = _csrf(op_client, "/admin/accounts/membership/add/")
    response = op_client.post(
        "/admin/accounts/membership/add/",
        {
            "user": person.pk,
            "clinic": clinic.pk,
            "role": "support",
            "is_active": "on",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    membership = Membership.objects.get(user=person)
    assert membership.role == "support"
    added = AuditEvent.objects.get(action=Action.MEMBER_ADDED)
    assert added.details["via"] == "operator"
    assert added.actor == operator
    change = AuditEvent.objects.get(action=Action.ADMIN_CHANGE)
    assert change.details["what"] == "added"
    assert change.clinic == clinic


def test_admin_refuses_a_patient_membership_and_the_last_admins_demotion(op_client, users, clinic):
    person = make_user("not-a-patient")
    token = _csrf(op_client, "/admin/accounts/membership/add/")
    response = op_client.post(
        "/admin/accounts/membership/add/",
        {
            "user": person.pk,
            "clinic": clinic.pk,
            "role": "patient",
            "is_active": "on",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 200
    assert "patient portal" in response.content.decode()
    assert not Membership.objects.filter(user=person).exists()

    admin_membership = users[Role.CLINIC_ADMIN].memberships.get()
    path = f"/admin/accounts/membership/{admin_membership.pk}/change/"
    response = op_client.post(
        path, {"role": "nurse", "is_active": "on", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 200
    assert "last clinic admin" in response.content.decode()
    admin_membership.refresh_from_db()
    assert admin_membership.role == "clinic_admin"
    assert not AuditEvent.objects.filter(action=Action.MEMBER_ROLE_CHANGED).exists()
    # the dry run's audit events were rolled back
    assert not AuditEvent.objects.filter(action=Action.MEMBER_ADDED).exists()


def test_changing_a_role_in_admin_is_the_services_change(op_client, users):
    nurse = users[Role.NURSE].memberships.get()
    token = _csrf(op_client, "/admin/")
    response = op_client.post(
        f"/admin/accounts/membership/{nurse.pk}/change/",
        {"role": "physician", "is_active": "on", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    nurse.refresh_from_db()
    assert nurse.role == "physician"
    event = AuditEvent.objects.get(action=Action.MEMBER_ROLE_CHANGED)
    assert event.details == {"username": "own-nurse", "old": "nurse", "new": "physician"}


def test_disabling_the_last_admins_account_is_refused(op_client, users):
    admin_user = users[Role.CLINIC_ADMIN]
    token = _csrf(op_client, "/admin/")
    response = op_client.post(
        f"/admin/accounts/user/{admin_user.pk}/change/",
        {
            "username": admin_user.username,
            "display_name": "",
            "first_name": "",
            "last_name": "",
            "email": "",
            "csrfmiddlewaretoken": token,
        },  # is_active unticked
    )
    assert response.status_code == 200
    assert "last active clinic admin" in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_user_changes_in_admin_are_audited_and_nothing_is_deleted(op_client, users):
    nurse = users[Role.NURSE]
    token = _csrf(op_client, "/admin/")
    response = op_client.post(
        f"/admin/accounts/user/{nurse.pk}/change/",
        {
            "username": nurse.username,
            "display_name": "Nina Nurse",
            "first_name": "",
            "last_name": "",
            "email": "",
            "is_active": "on",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=Action.ADMIN_CHANGE)
    assert event.details["what"] == "changed"
    assert event.details["model"] == "accounts.User"
    assert op_client.get(f"/admin/accounts/user/{nurse.pk}/delete/").status_code == 403
    member = nurse.memberships.get()
    assert op_client.get(f"/admin/accounts/membership/{member.pk}/delete/").status_code == 403


def test_drug_libraries_are_read_only_in_admin(op_client):
    assert op_client.get("/admin/clinicadmin/clinicdruglibrary/add/").status_code == 403
    assert op_client.get("/admin/clinicadmin/druglibraryselection/add/").status_code == 403
