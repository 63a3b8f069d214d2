"""Every refill page and API operation × every role × own clinic / other clinic / anonymous.

Physicians and nurses start, record and complete visits; only physicians acknowledge a
discrepancy. Refusals: 302 to the log-in page (pages, anonymous), 401 (API, anonymous),
403 (a member whose role does not allow it), 404 (another clinic's patient or visit),
422 (API: the clinic named in the input is not the user's). A refused write changes
nothing: no visit, checklist, aspiration, acknowledgement or pump event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from test_refills_helpers import AT, make_pump
from web_helpers import ROLES, make_user

from openidds.web.accounts.models import Membership, Role
from openidds.web.implants.models import PumpEvent
from openidds.web.refills import services
from openidds.web.refills.models import DiscrepancyAcknowledgement, RefillVisit

pytestmark = pytest.mark.django_db

CLINICAL = frozenset({Role.PHYSICIAN, Role.NURSE})
PHYSICIAN = frozenset({Role.PHYSICIAN})
ANON = None
ITEMS = ["port_located", "needle_confirmed", "volumes_read_back"]
FILL_FORM = {
    "volume_ml": "20",
    "conc_morphine": "10 mg/mL",
    "drug_lot": "L-1",
    "drug_expiry": "2026-06-30",
}
FILL_API = {
    "volume_ml": 20,
    "drugs": {"morphine": "10 mg/mL"},
    "drug_lot": "L-1",
    "drug_expiry": "2026-06-30",
}


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: str  # {clinic}, {patient} and {visit} are filled in per case
    allowed: frozenset[Role]
    ok: int
    other_status: int
    body: dict[str, Any] | None = None
    api: bool = False
    #: the visit the case needs: None, "started", "ready" (checklist and aspiration within
    #: the threshold) or "awaiting" (a discrepancy over the threshold)
    visit: str | None = "started"


P = "/clinics/{clinic}/patients/{patient}/refills/new/"
A = "/api/v1/refill-visits/{visit}"
V = "/clinics/{clinic}/patients/{patient}/refills/{visit}/"
OPS = [
    Op("start form", "GET", P, CLINICAL, 200, 404, visit=None),
    Op("start", "POST", P, CLINICAL, 302, 404, body={"at": ""}, visit=None),
    Op("visit page", "GET", V, CLINICAL, 200, 404),
    Op("checklist", "POST", V + "checklist/", CLINICAL, 302, 404, body={"items": ITEMS}),
    Op("aspiration", "POST", V + "aspiration/", CLINICAL, 302, 404, body={"aspirated_ml": "4.5"}),
    Op("complete", "POST", V + "complete/", CLINICAL, 302, 404, body=FILL_FORM, visit="ready"),
    Op("abandon", "POST", V + "abandon/", CLINICAL, 302, 404, body={"reason": "rescheduled"}),
    Op("acknowledge form", "GET", V + "acknowledge/", PHYSICIAN, 200, 404, visit="awaiting"),
    Op(
        "acknowledge",
        "POST",
        V + "acknowledge/",
        PHYSICIAN,
        302,
        404,
        body={"decision": "proceed", "note": "checked"},
        visit="awaiting",
    ),
    Op(
        "API list visits",
        "GET",
        "/api/v1/patients/{patient}/refill-visits",
        CLINICAL,
        200,
        404,
        api=True,
    ),
    Op(
        "API start",
        "POST",
        "/api/v1/patients/{patient}/refill-visits",
        CLINICAL,
        201,
        404,
        body={},
        api=True,
        visit=None,
    ),
    Op("API get visit", "GET", A, CLINICAL, 200, 404, api=True),
    Op(
        "API checklist",
        "POST",
        A + "/checklist",
        CLINICAL,
        200,
        404,
        body={"items": ITEMS},
        api=True,
    ),
    Op(
        "API aspiration",
        "POST",
        A + "/aspiration",
        CLINICAL,
        200,
        404,
        body={"aspirated_ml": 4.5},
        api=True,
    ),
    Op(
        "API acknowledge",
        "POST",
        A + "/acknowledgements",
        PHYSICIAN,
        200,
        404,
        body={"note": "checked"},
        api=True,
        visit="awaiting",
    ),
    Op(
        "API complete",
        "POST",
        A + "/complete",
        CLINICAL,
        200,
        404,
        body=FILL_API,
        api=True,
        visit="ready",
    ),
    Op(
        "API abandon",
        "POST",
        A + "/abandon",
        CLINICAL,
        200,
        404,
        body={"reason": "rescheduled"},
        api=True,
    ),
    Op(
        "API open discrepancies",
        "GET",
        "/api/v1/refill-discrepancies?clinic={clinic}",
        CLINICAL,
        200,
        422,
        api=True,
        visit="awaiting",
    ),
]


def _staff(clinic: Any, role: Role) -> Any:
    member = Membership.objects.filter(clinic=clinic, role=role).first()
    return member.user if member else make_user(f"{clinic.slug}-{role.value}", clinic, role)


def _arrange(patient: Any, state: str | None) -> RefillVisit | None:
    physician = _staff(patient.clinic, Role.PHYSICIAN)
    nurse = _staff(patient.clinic, Role.NURSE)
    make_pump(patient, physician)
    if state is None:
        return None
    visit = services.start_visit(by=nurse, patient=patient, at=AT)
    if state in ("ready", "awaiting"):
        services.record_checklist(by=nurse, visit=visit, items=ITEMS)
        # 4.5 − 5.0 = −0.5 (within 1 mL); 3.0 − 5.0 = −2.0 (over)
        aspirated = "4.50" if state == "ready" else "3.00"
        visit = services.record_aspiration(by=nurse, visit=visit, aspirated_ml=aspirated)
    return visit


def _fingerprint() -> tuple[Any, ...]:
    return (
        sorted(
            RefillVisit.objects.values_list(
                "pk",
                "status",
                "port_located_at",
                "needle_confirmed_at",
                "volumes_read_back_at",
                "aspirated_ml",
            )
        ),
        DiscrepancyAcknowledgement.objects.count(),
        PumpEvent.objects.count(),
    )


def _fill(value: Any, clinic: str, patient: int, visit: int) -> Any:
    if isinstance(value, str):
        return (
            value.replace("{clinic}", clinic)
            .replace("{patient}", str(patient))
            .replace("{visit}", str(visit))
        )
    if isinstance(value, dict):
        return {k: _fill(v, clinic, patient, visit) for k, v in value.items()}
    return value


def _expected(op: Op, role: Role | None, own: bool) -> int:
    if role is None:
        return 401 if op.api else 302
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
    visit = _arrange(target_patient, op.visit)
    before = _fingerprint()

    path = _fill(op.path, target_clinic.slug, target_patient.pk, visit.pk if visit else 0)
    body = _fill(op.body, target_clinic.slug, target_patient.pk, visit.pk if visit else 0)
    if op.method == "GET":
        response = client.get(path)
    elif op.api:
        response = client.post(path, data=json.dumps(body), content_type="application/json")
    else:
        response = client.post(path, data=body)

    expected = _expected(op, role, own)
    assert response.status_code == expected, (op.name, role, own, response.content[:400])
    if expected == 302 and role is None:
        assert response["Location"].startswith("/accounts/login/?next=")
    succeeded = role is not None and expected == op.ok and op.method != "GET"
    assert (_fingerprint() != before) == succeeded, (op.name, role, own)
    if op.api and expected >= 400:
        assert "detail" in response.json()


COVERED_PAGES = {
    "refill-visit-start",
    "refill-visit",
    "refill-visit-checklist",
    "refill-visit-aspiration",
    "refill-visit-complete",
    "refill-visit-abandon",
    "refill-visit-acknowledge",
}
COVERED_API = {
    ("GET", "/patients/{patient_id}/refill-visits"),
    ("POST", "/patients/{patient_id}/refill-visits"),
    ("GET", "/refill-visits/{visit_id}"),
    ("POST", "/refill-visits/{visit_id}/checklist"),
    ("POST", "/refill-visits/{visit_id}/aspiration"),
    ("POST", "/refill-visits/{visit_id}/acknowledgements"),
    ("POST", "/refill-visits/{visit_id}/complete"),
    ("POST", "/refill-visits/{visit_id}/abandon"),
    ("GET", "/refill-discrepancies"),
}
