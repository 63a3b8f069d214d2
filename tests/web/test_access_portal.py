"""Access matrix of the patient portal: every portal page, portal API operation and clinic
page of the portal app × every kind of user.

Portal users (the patient, their caregiver, another patient of the same clinic) against
clinic staff (clinic admin, physician, nurse of the clinic, a nurse of another clinic) and
anonymous visitors. A patient who is not the user's is a 404 whatever the id (pages and
API); clinic staff get 404 on every portal page of a patient and portal users get 403 (their
own clinic) or 404 (another clinic) on every clinic page. A refused write changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from test_portal_helpers import book, caregiver_user, implant_with_morphine, portal_user
from web_helpers import MODEL_BACKEND, make_user, patient_fields

from openidds.web.accounts.models import Role
from openidds.web.patients.models import Patient
from openidds.web.portal import services
from openidds.web.portal.models import (
    CalendarFeed,
    ClinicContact,
    Invitation,
    PortalAccount,
    RefillAppointment,
)

pytestmark = pytest.mark.django_db

ACTORS = [
    "patient",
    "caregiver",
    "other_patient",
    "clinic_admin",
    "physician",
    "nurse",
    "other_clinic_nurse",
    "anonymous",
]
STAFF = {"clinic_admin", "physician", "nurse"}


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: str  # {patient}, {invitation}, {account}, {appointment}, {token} filled per case
    expect: dict[str, int]  # actor -> status; missing actors: see `default`
    default: int = 404
    body: dict[str, Any] = field(default_factory=dict)
    api: bool = False


def _portal(ok: int, caregiver: int | None = None) -> dict[str, int]:
    """A portal page of the patient: theirs (and the caregiver's); 404 for everyone else."""
    return {
        "patient": ok,
        "caregiver": ok if caregiver is None else caregiver,
        "anonymous": 302,
    }


def _clinic(ok: int, allowed: set[str], own_member_refused: int = 403) -> dict[str, int]:
    """A clinic page: the allowed staff; other members of the clinic (incl. portal users)
    403; a member of another clinic 404; anonymous to the log-in page."""
    result = {a: own_member_refused for a in ("patient", "caregiver", "other_patient", *STAFF)}
    result.update({a: ok for a in allowed})
    result["other_clinic_nurse"] = 404
    result["anonymous"] = 302
    return result


P = "/portal/p/{patient}"
OPS = [
    Op(
        "portal home",
        "GET",
        "/portal/",
        {
            "patient": 302,
            "caregiver": 302,
            "other_patient": 302,
            "anonymous": 302,
        },
        default=403,
    ),
    Op("patient home", "GET", P + "/", _portal(200)),
    Op("my pump", "GET", P + "/pump/", _portal(200)),
    Op("ics download", "GET", P + "/pump/refills.ics", _portal(200)),
    Op(
        "calendar feed new",
        "POST",
        P + "/pump/calendar-feed/",
        _portal(200),
        body={"action": "new"},
    ),
    Op(
        "calendar feed revoke",
        "POST",
        P + "/pump/calendar-feed/",
        _portal(302),
        body={"action": "revoke"},
    ),
    Op("wallet card", "GET", P + "/wallet-card.pdf", _portal(200)),
    Op("A4 summary", "GET", P + "/pump-summary.pdf", _portal(200)),
    Op("caregiver page", "GET", P + "/caregiver/", _portal(200, caregiver=403)),
    Op(
        "caregiver invite (one caregiver already: refused, 422)",
        "POST",
        P + "/caregiver/",
        _portal(422, caregiver=403),
        body={"name": "Second Carer"},
    ),
    Op(
        "caregiver revoke",
        "POST",
        P + "/caregiver/revoke/",
        _portal(302, caregiver=403),
        body={"account": "{account}"},
    ),
    Op("accept invitation", "GET", "/portal/invitation/", {"anonymous": 200}, default=409),
    Op(
        "calendar feed (secret URL)", "GET", "/portal/calendar/{token}/refills.ics", {}, default=200
    ),
    Op(
        "calendar feed (wrong token)",
        "GET",
        "/portal/calendar/x{token}/refills.ics",
        {},
        default=404,
    ),
    Op(
        "API my patients",
        "GET",
        "/api/v1/portal/patients",
        {"anonymous": 401},
        default=200,
        api=True,
    ),
    Op(
        "API pump",
        "GET",
        "/api/v1/portal/patients/{patient}/pump",
        {"patient": 200, "caregiver": 200, "anonymous": 401},
        api=True,
    ),
    Op(
        "API appointments",
        "GET",
        "/api/v1/portal/patients/{patient}/refill-appointments",
        {"patient": 200, "caregiver": 200, "anonymous": 401},
        api=True,
    ),
    Op(
        "API notifications",
        "GET",
        "/api/v1/portal/patients/{patient}/notifications",
        {"patient": 200, "caregiver": 200, "anonymous": 401},
        api=True,
    ),
    # clinic pages
    Op("clinic portal page", "GET", "/clinics/own/portal/", _clinic(200, STAFF)),
    Op(
        "clinic contact save",
        "POST",
        "/clinics/own/portal/",
        _clinic(302, {"clinic_admin"}),
        body={"phone_24h": "+49 30 999 0000"},
    ),
    Op(
        "invite",
        "POST",
        "/clinics/own/patients/{clara}/portal/invite/",
        _clinic(200, {"physician", "nurse"}),
    ),
    Op(
        "invitation revoke",
        "POST",
        "/clinics/own/portal/invitations/{invitation}/revoke/",
        _clinic(302, {"physician", "nurse"}),
    ),
    Op(
        "account revoke",
        "POST",
        "/clinics/own/portal/accounts/{account}/revoke/",
        _clinic(302, {"physician", "nurse"}),
    ),
    Op(
        "refill schedule form",
        "GET",
        "/clinics/own/patients/{patient}/refill-appointments/new/",
        _clinic(200, {"physician", "nurse"}),
    ),
    Op(
        "refill schedule",
        "POST",
        "/clinics/own/patients/{patient}/refill-appointments/new/",
        _clinic(302, {"physician", "nurse"}),
        body={"starts_at": "{in_3_days}"},
    ),
    Op(
        "refill status",
        "POST",
        "/clinics/own/patients/{patient}/refill-appointments/{appointment}/status/",
        _clinic(302, {"physician", "nurse"}),
        body={"status": "cancelled"},
    ),
]


@pytest.fixture
def world(clinic, other_clinic, users, patient):
    physician, nurse = users[Role.PHYSICIAN], users[Role.NURSE]
    implant_with_morphine(patient, physician)
    patient_user, _ = portal_user(patient, nurse, "anna")
    carer, carer_account = caregiver_user(patient_user, patient, "carl")
    bruno = Patient.objects.create(clinic=clinic, **patient_fields(mrn="M-2", name="Bruno"))
    bruno_user, _ = portal_user(bruno, nurse, "bruno")
    other_nurse = make_user("other-nurse", other_clinic, Role.NURSE)
    appointment = book(patient, nurse, timezone.now() + timedelta(days=5))
    # A pending caregiver invitation of another patient (for the revoke row).
    # A patient without an account, with a pending invitation (for the invite and
    # revoke rows).
    clara = Patient.objects.create(clinic=clinic, **patient_fields(mrn="M-3", name="Clara"))
    invitation = services.invite_patient(by=nurse, patient=clara).invitation
    token = services.new_calendar_feed(by=patient_user, patient_id=patient.pk)
    return {
        "actors": {
            "patient": patient_user,
            "caregiver": carer,
            "other_patient": bruno_user,
            "clinic_admin": users[Role.CLINIC_ADMIN],
            "physician": physician,
            "nurse": nurse,
            "other_clinic_nurse": other_nurse,
            "anonymous": None,
        },
        "patient": patient,
        "bruno": bruno,
        "fill": {
            "{patient}": str(patient.pk),
            "{clara}": str(clara.pk),
            "{account}": str(carer_account.pk),
            "{invitation}": str(invitation.pk),
            "{appointment}": str(appointment.pk),
            "{token}": token,
            "{in_3_days}": (timezone.now() + timedelta(days=3))
            .astimezone(__import__("zoneinfo").ZoneInfo(patient.time_zone))
            .strftime("%Y-%m-%dT%H:%M"),
        },
    }


def _fill(value: Any, fill: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, replacement in fill.items():
            value = value.replace(key, replacement)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, fill) for k, v in value.items()}
    return value


def _snapshot() -> Any:
    return (
        sorted(Invitation.objects.values_list("pk", "revoked_at", "accepted_at")),
        sorted(PortalAccount.objects.values_list("pk", "revoked_at")),
        sorted(RefillAppointment.objects.values_list("pk", "status")),
        sorted(CalendarFeed.objects.values_list("pk", "revoked_at")),
        sorted(ClinicContact.objects.values_list("pk", "phone_24h")),
    )


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
@pytest.mark.parametrize("actor", ACTORS)
def test_access(op, actor, world):
    client = Client()
    user = world["actors"][actor]
    if user is not None:
        client.force_login(user, backend=MODEL_BACKEND)
    path = _fill(op.path, world["fill"])
    before = _snapshot()
    if op.method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, data=_fill(op.body, world["fill"]))
    expected = op.expect.get(actor, op.default)
    assert response.status_code == expected, (op.name, actor, response.content[:300])
    if expected == 302 and user is None:
        assert response["Location"].startswith("/accounts/login/?next=")
    if op.method == "POST" and expected >= 400:
        assert _snapshot() == before, (op.name, actor)
    if op.api and expected >= 400:
        assert "detail" in response.json()
    if op.name == "API my patients" and actor in STAFF:
        assert response.json() == []


@pytest.mark.parametrize("actor", ["patient", "caregiver", "other_patient"])
def test_changing_the_id_never_reveals_another_patient(actor, world):
    """Every portal URL and API resource with another patient's id (or one that does not
    exist): 404, and nothing of that patient is in the answer."""
    client = Client()
    client.force_login(world["actors"][actor], backend=MODEL_BACKEND)
    own = world["patient"] if actor != "other_patient" else world["bruno"]
    others = [p for p in Patient.objects.all() if p.pk != own.pk] + [Patient(pk=999999)]
    for target in others:
        for op in OPS:
            if "{patient}" not in op.path or op.path.startswith("/clinics/"):
                continue
            path = _fill(op.path, {**world["fill"], "{patient}": str(target.pk)})
            if op.method == "GET":
                response = client.get(path)
            else:
                response = client.post(path, data=_fill(op.body, world["fill"]))
            assert response.status_code == 404, (op.name, actor, target.pk)
            if target.name:
                assert target.name.encode() not in response.content, (op.name, target.pk)


def test_own_staff_on_the_other_clinics_portal_pages_get_404(world, other_patient):
    client = Client()
    client.force_login(world["actors"]["nurse"], backend=MODEL_BACKEND)
    for path in (
        "/clinics/other/portal/",
        f"/clinics/other/patients/{other_patient.pk}/refill-appointments/new/",
    ):
        assert client.get(path).status_code == 404
    assert (
        client.post(f"/clinics/other/patients/{other_patient.pk}/portal/invite/").status_code == 404
    )
    assert (
        client.post(f"/clinics/own/patients/{other_patient.pk}/portal/invite/").status_code == 404
    )
    assert Invitation.objects.filter(patient=other_patient).count() == 0


CLINIC_PAGES = [
    "/",
    "/clinics/own/patients/",
    "/clinics/own/patients/new/",
    "/clinics/own/patients/{patient}/",
    "/clinics/own/patients/{patient}/edit/",
    "/clinics/own/patients/{patient}/implants/new/",
    "/clinics/own/patients/{patient}/pump/fill/new/",
    "/clinics/own/audit/",
    "/api/v1/patients?clinic=own",
    "/api/v1/patients/{patient}",
    "/api/v1/patients/{patient}/implants",
]


@pytest.mark.parametrize("actor", ["patient", "caregiver"])
def test_portal_users_are_refused_every_clinic_page(actor, world):
    """Portal users are members of the clinic (role patient or caregiver): 403 on the
    clinic's pages and API, their own chart included; the home page (/) only lists links."""
    client = Client()
    client.force_login(world["actors"][actor], backend=MODEL_BACKEND)
    for path in CLINIC_PAGES:
        response = client.get(_fill(path, world["fill"]))
        if path == "/":
            assert response.status_code == 200
            continue
        assert response.status_code == 403, path
    response = client.post(
        "/api/v1/patients",
        data=json.dumps({"clinic": "own", "name": "X"}),
        content_type="application/json",
    )
    assert response.status_code in (403, 422)
    assert Patient.objects.filter(name="X").count() == 0


#: What this file covers (tests/web/test_access_coverage.py).
COVERED_PAGES = {
    "portal-home",
    "portal-accept",
    "portal-calendar-feed",
    "portal-patient",
    "portal-pump",
    "portal-calendar",
    "portal-calendar-feed-manage",
    "portal-wallet-card",
    "portal-wallet-summary",
    "portal-caregiver",
    "portal-caregiver-revoke",
    "clinic-portal-admin",
    "portal-invite",
    "portal-invitation-revoke",
    "portal-account-revoke",
    "portal-refill-schedule",
    "portal-refill-status",
}
COVERED_API = {
    ("GET", "/portal/patients"),
    ("GET", "/portal/patients/{patient_id}/pump"),
    ("GET", "/portal/patients/{patient_id}/refill-appointments"),
    ("GET", "/portal/patients/{patient_id}/notifications"),
}
