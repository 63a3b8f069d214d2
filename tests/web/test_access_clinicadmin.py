"""The clinic admin's pages and API operations × every role × own clinic / other clinic
(and anonymous), and Django admin at /admin/ (operators only: a clinic admin without
``is_staff`` is refused). A refused write changes nothing; an allowed one changes what it
says.

Refusals: 302 to the log-in page (pages, anonymous), 401 (API, anonymous), 403 (a member
whose role does not allow it), 404 (a clinic the user is no member of).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone
from test_clinicadmin import clinic_copy
from web_helpers import MODEL_BACKEND, ROLES, make_user

from openidds.web.accounts.models import Clinic, Membership, Role, User
from openidds.web.clinicadmin.models import ClinicDrugLibrary, DrugLibrarySelection

pytestmark = pytest.mark.django_db

ADMIN = frozenset({Role.CLINIC_ADMIN})
READERS = frozenset({Role.CLINIC_ADMIN, Role.PHYSICIAN, Role.NURSE})


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: str  # {clinic}, {member} (the target clinic's nurse), {upload} are filled in
    allowed: frozenset[Role]
    ok: int
    body: dict[str, Any] | None = None
    api: bool = False
    multipart: bool = False


OPS = [
    Op("users page", "GET", "/clinics/{clinic}/users/", ADMIN, 200),
    Op(
        "add user",
        "POST",
        "/clinics/{clinic}/users/",
        ADMIN,
        200,  # the page with the new account's initial password
        body={"account": "new", "username": "matrix-new", "role": "nurse"},
    ),
    Op(
        "change role",
        "POST",
        "/clinics/{clinic}/users/{member}/",
        ADMIN,
        302,
        body={"action": "role", "role": "physician"},
    ),
    Op(
        "deactivate",
        "POST",
        "/clinics/{clinic}/users/{member}/",
        ADMIN,
        302,
        body={"action": "deactivate"},
    ),
    Op("unlock", "POST", "/clinics/{clinic}/users/{member}/", ADMIN, 302, {"action": "unlock"}),
    Op("drug library page", "GET", "/clinics/{clinic}/drug-library/", READERS, 200),
    Op(
        "drug library page, an upload",
        "GET",
        "/clinics/{clinic}/drug-library/?show={upload}",
        READERS,
        200,
    ),
    Op(
        "upload library",
        "POST",
        "/clinics/{clinic}/drug-library/",
        ADMIN,
        302,
        body={"action": "upload", "toml": "{toml}", "note": "matrix"},
        multipart=True,
    ),
    Op(
        "select library",
        "POST",
        "/clinics/{clinic}/drug-library/",
        ADMIN,
        302,
        body={"action": "select", "library": "{upload}", "reason": "matrix"},
    ),
    Op("API list members", "GET", "/api/v1/clinics/{clinic}/members", ADMIN, 200, api=True),
    Op(
        "API add member",
        "POST",
        "/api/v1/clinics/{clinic}/members",
        ADMIN,
        201,
        body={"username": "matrix-api", "role": "nurse", "new_account": True},
        api=True,
    ),
    Op(
        "API change member",
        "PATCH",
        "/api/v1/clinics/{clinic}/members/{member}",
        ADMIN,
        200,
        body={"role": "physician", "is_active": False},
        api=True,
    ),
    Op(
        "API unlock member",
        "POST",
        "/api/v1/clinics/{clinic}/members/{member}/unlock",
        ADMIN,
        200,
        api=True,
    ),
    Op("API get library", "GET", "/api/v1/clinics/{clinic}/drug-library", READERS, 200, api=True),
    Op(
        "API set library",
        "PUT",
        "/api/v1/clinics/{clinic}/drug-library",
        ADMIN,
        200,
        body={"upload": "{upload}", "reason": "matrix"},
        api=True,
    ),
    Op(
        "API upload library",
        "POST",
        "/api/v1/clinics/{clinic}/drug-libraries",
        ADMIN,
        201,
        body={"toml": "{toml}", "note": "matrix"},
        api=True,
    ),
]


def _fill(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if value in {"{upload}"} and isinstance(names["upload"], int):
            return names["upload"]
        for key, replacement in names.items():
            value = value.replace("{" + key + "}", str(replacement))
        return value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def _state() -> tuple[Any, ...]:
    return (
        sorted(Membership.objects.values_list("pk", "role", "is_active")),
        User.objects.count(),
        ClinicDrugLibrary.objects.count(),
        DrugLibrarySelection.objects.count(),
        AccessAttempt.objects.count(),
    )


def _setup(clinic: Clinic) -> dict[str, Any]:
    """The target clinic's nurse (locked out, so that unlocking changes something) and an
    uploaded library of the clinic (to show and to choose)."""
    nurse = Membership.objects.get(clinic=clinic, role=Role.NURSE)
    AccessAttempt.objects.create(
        username=nurse.user.username,
        ip_address="10.0.0.1",
        user_agent="t",
        failures_since_start=5,
        attempt_time=timezone.now(),
    )
    admin = Membership.objects.get(clinic=clinic, role=Role.CLINIC_ADMIN).user
    upload = ClinicDrugLibrary.objects.create(
        clinic=clinic,
        library_name="own-clinic-library",
        library_version="0",
        toml=clinic_copy("0"),
        sha256="0" * 64,
        note="setup",
        uploaded_by=admin,
    )
    return {"member": nurse.pk, "upload": upload.pk, "toml": clinic_copy("7")}


def _request(client: Client, op: Op, names: dict[str, Any]) -> Any:
    path = _fill(op.path, names)
    body = _fill(op.body, names) if op.body is not None else None
    if op.method == "GET":
        return client.get(path)
    if op.api:
        data = json.dumps(body) if body is not None else ""
        return client.generic(op.method, path, data, content_type="application/json")
    return client.post(path, data=body)


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
@pytest.mark.parametrize("role", [*ROLES, None], ids=[*(r.value for r in ROLES), "anonymous"])
@pytest.mark.parametrize("own", [True, False], ids=["own-clinic", "other-clinic"])
def test_access(op, role, own, users, clinic, other_clinic):
    make_user("other-admin", other_clinic, Role.CLINIC_ADMIN)
    make_user("other-nurse", other_clinic, Role.NURSE)
    target = clinic if own else other_clinic
    names = {"clinic": target.slug, **_setup(target)}
    client = Client()
    if role is not None:
        client.force_login(users[role], backend=MODEL_BACKEND)
    before = _state()

    response = _request(client, op, names)

    if role is None:
        expected = 401 if op.api else 302
    elif not own:
        expected = 404
    else:
        expected = op.ok if role in op.allowed else 403
    assert response.status_code == expected, (op.name, role, own, response.content[:300])
    if role is None and not op.api:
        assert response["Location"].startswith("/accounts/login/?next=")
    if op.api and expected >= 400:
        assert "detail" in response.json()
    succeeded = expected == op.ok and role is not None and op.method != "GET"
    if succeeded:
        assert _state() != before, op.name
    elif True:
        # refused writes change nothing; reads change nothing either (audit aside)
        assert _state() == before, (op.name, role, own)


# -- Django admin: operators only ------------------------------------------------------------

ADMIN_PAGES = [
    "/admin/",
    "/admin/accounts/membership/",
    "/admin/accounts/membership/add/",
    "/admin/accounts/user/",
    "/admin/accounts/clinic/",
    "/admin/clinicadmin/clinicdruglibrary/",
]


@pytest.mark.parametrize("path", ADMIN_PAGES)
@pytest.mark.parametrize("role", [*ROLES, None], ids=[*(r.value for r in ROLES), "anonymous"])
def test_django_admin_refuses_every_clinic_role(path, role, users):
    """A clinic admin (or any clinic role) without is_staff is sent to the admin's log-in
    page, as anonymous is."""
    client = Client()
    if role is not None:
        client.force_login(users[role], backend=MODEL_BACKEND)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_a_clinic_admin_cannot_post_a_membership_through_django_admin(users, clinic):
    client = Client()
    client.force_login(users[Role.CLINIC_ADMIN], backend=MODEL_BACKEND)
    nurse = users[Role.NURSE].memberships.get()
    before = _state()
    response = client.post(
        f"/admin/accounts/membership/{nurse.pk}/change/", {"role": "clinic_admin"}
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert _state() == before


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_django_admin_serves_operators(path, users):
    operator = User.objects.create_user(
        "operator", password="x" * 12, is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(operator, backend=MODEL_BACKEND)
    assert client.get(path).status_code == 200


COVERED_PAGES = {"clinic-users", "clinic-member", "clinic-drug-library"}
COVERED_API = {
    ("GET", "/clinics/{clinic}/members"),
    ("POST", "/clinics/{clinic}/members"),
    ("PATCH", "/clinics/{clinic}/members/{member_id}"),
    ("POST", "/clinics/{clinic}/members/{member_id}/unlock"),
    ("GET", "/clinics/{clinic}/drug-library"),
    ("PUT", "/clinics/{clinic}/drug-library"),
    ("POST", "/clinics/{clinic}/drug-libraries"),
}
