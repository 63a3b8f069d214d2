"""The clinic admin's API: members and the drug library, JSON errors by field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from test_clinicadmin import clinic_copy
from web_helpers import MODEL_BACKEND

from openidds.web.accounts.models import Role, User
from openidds.web.clinicadmin.library import library_for_clinic
from openidds.web.clinicadmin.models import ClinicDrugLibrary

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin: User) -> Any:
    client = Client()
    client.force_login(admin, backend=MODEL_BACKEND)

    def call(method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body) if body is not None else ""
        return client.generic(method, "/api/v1" + path, data, content_type="application/json")

    return call


def test_members_list(api, users):
    response = api("GET", "/clinics/own/members")
    assert response.status_code == 200
    rows = {r["username"]: r for r in response.json()}
    assert set(rows) == {"own-clinic_admin", "own-physician", "own-nurse", "own-patient"}
    assert rows["own-nurse"] == {
        "id": users[Role.NURSE].memberships.get().pk,
        "username": "own-nurse",
        "display_name": "",
        "role": "nurse",
        "is_active": True,
        "account_active": True,
        "last_login": None,
        "locked": False,
        "read_only": False,
    }
    assert rows["own-patient"]["read_only"] is True


def test_add_a_new_account_returns_its_password_once(api, clinic):
    response = api(
        "POST",
        "/clinics/own/members",
        {"username": "api-nurse", "role": "nurse", "new_account": True},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["member"]["username"] == "api-nurse"
    assert User.objects.get(username="api-nurse").check_password(body["initial_password"])
    listed = api("GET", "/clinics/own/members").content.decode()
    assert body["initial_password"] not in listed


def test_patient_role_is_not_given_here(api):
    response = api(
        "POST", "/clinics/own/members", {"username": "p", "role": "patient", "new_account": True}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "role"
    assert not User.objects.filter(username="p").exists()


def test_a_nul_character_is_refused_naming_the_field(api):
    response = api(
        "POST", "/clinics/own/members", {"username": "a\x00b", "role": "nurse", "new_account": True}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "field": "username",
            "message": "contains a NUL character (U+0000), which cannot be stored",
        }
    ]


def test_patch_role_and_deactivate_in_one_go(api, users, clinic):
    nurse = users[Role.NURSE].memberships.get()
    response = api(
        "PATCH", f"/clinics/own/members/{nurse.pk}", {"role": "physician", "is_active": False}
    )
    assert response.status_code == 200
    assert response.json()["role"] == "physician"
    assert response.json()["is_active"] is False


def test_patch_the_own_admin_role_is_refused_by_field(api, admin):
    own = admin.memberships.get()
    response = api("PATCH", f"/clinics/own/members/{own.pk}", {"role": "nurse"})
    assert response.status_code == 422
    [item] = response.json()["detail"]
    assert item["field"] == "role"
    own.refresh_from_db()
    assert own.role == "clinic_admin"
    assert api("PATCH", f"/clinics/own/members/{own.pk}", {"role": None}).status_code == 422


def test_patch_is_all_or_nothing(api, users):
    """The role change passes, the reactivation fails (the operators disabled the nurse's
    account): neither is saved."""
    nurse = users[Role.NURSE]
    User.objects.filter(pk=nurse.pk).update(is_active=False)
    membership = nurse.memberships.get()
    response = api(
        "PATCH", f"/clinics/own/members/{membership.pk}", {"role": "physician", "is_active": True}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "is_active"
    membership.refresh_from_db()
    assert membership.role == "nurse"


def test_a_member_of_another_clinic_is_404(api, other_clinic):
    from web_helpers import make_user

    stranger = make_user("stranger", other_clinic, Role.NURSE).memberships.get()
    response = api("PATCH", f"/clinics/own/members/{stranger.pk}", {"role": "physician"})
    assert response.status_code == 404
    assert api("GET", "/clinics/other/members").status_code == 404


def test_library_get_upload_and_set(api, clinic):
    response = api("GET", "/clinics/own/drug-library")
    assert response.status_code == 200
    body = response.json()
    assert (body["library"], body["version"], body["builtin"]) == (
        "openidds-drug-library",
        "2",
        True,
    )
    morphine_hard = next(
        r
        for r in body["limits"]
        if r["drug"] == "morphine" and r["parameter"] == "daily dose max, hard"
    )
    assert morphine_hard["value"] == "30 mg/day"
    assert morphine_hard["source"]

    bad = api("POST", "/clinics/own/drug-libraries", {"toml": "x = ", "note": "n"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "toml"

    uploaded = api("POST", "/clinics/own/drug-libraries", {"toml": clinic_copy(), "note": "n"})
    assert uploaded.status_code == 201
    upload_id = uploaded.json()["id"]
    assert uploaded.json()["library"] == "own-clinic-library"

    chosen = api("PUT", "/clinics/own/drug-library", {"upload": upload_id, "reason": "committee"})
    assert chosen.status_code == 200
    assert chosen.json()["upload"] == upload_id
    assert chosen.json()["reason"] == "committee"
    assert library_for_clinic(clinic).drugs["morphine"].daily_dose_max.hard == 40.0

    missing = api("PUT", "/clinics/own/drug-library", {"upload": 99999, "reason": "r"})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["field"] == "upload"
    assert ClinicDrugLibrary.objects.count() == 1
