"""The diary's pages and API operations × every actor × own patient / a patient of the own
clinic who is not theirs / a patient of another clinic (and anonymous).

Portal operations: only the patient's own portal users (patient and caregiver) get in; any
other patient is a 404 (not revealed), and clinic staff are not portal users (404).
Clinic operations (plan, recovery template, red flags): physician and nurse; a member of the
clinic without the role gets 403 (clinic admin, patient, caregiver); another clinic's
patient is a 404. Anonymous: 302 to the log-in page (pages) or 401 (API). A refused write
changes nothing; an allowed one adds exactly one diary record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from test_diary_support import ALL_NO, portal_user
from web_helpers import MODEL_BACKEND, make_user, patient_fields

from openidds.web.accounts.models import Role
from openidds.web.diary import services
from openidds.web.diary.models import (
    CheckIn,
    DiaryEntry,
    GoalProgress,
    PainPlan,
    Questionnaire,
    RecoveryTemplate,
    RedFlag,
    RedFlagResolution,
)
from openidds.web.patients.models import Patient
from openidds.web.portal.models import Relation

pytestmark = pytest.mark.django_db

ACTORS = ["clinic_admin", "physician", "nurse", "patient", "caregiver", None]
TARGETS = ["own", "sibling", "other"]
CLINICAL = frozenset({"physician", "nurse"})
PORTAL = frozenset({"patient", "caregiver"})


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: str  # {clinic} {patient} {checkin} {flag} {goal} filled per case
    kind: str  # "portal" or "clinic"
    ok: int
    body: dict[str, Any] | None = None
    api: bool = False


PORTAL_BASE = "/portal/p/{patient}"
API_PORTAL = "/api/v1/portal/patients/{patient}"
DIARY_FORM = {"pain_now": "4", "pain_average": "5", "pain_worst": "7"}
CHECKIN_FORM = {f"flag_{k}": "no" for k in ALL_NO}
GOAL = {"text": "Walk 30 minutes", "measure": "minutes", "target": 30}

OPS = [
    Op("diary page", "GET", f"{PORTAL_BASE}/diary/", "portal", 200),
    Op("diary write", "POST", f"{PORTAL_BASE}/diary/", "portal", 302, DIARY_FORM),
    Op("bpi page", "GET", f"{PORTAL_BASE}/diary/bpi/", "portal", 200),
    Op(
        "bpi write",
        "POST",
        f"{PORTAL_BASE}/diary/bpi/",
        "portal",
        302,
        {"worst": "8", "least": "3", "average": "6", "now": "5"},
    ),
    Op("odi page", "GET", f"{PORTAL_BASE}/diary/odi/", "portal", 200),
    Op(
        "odi write",
        "POST",
        f"{PORTAL_BASE}/diary/odi/",
        "portal",
        302,
        {k: "1" for k in services.scoring.odi_section_keys()},
    ),
    Op("recovery page", "GET", f"{PORTAL_BASE}/recovery/", "portal", 200),
    Op("check-in", "POST", f"{PORTAL_BASE}/recovery/", "portal", 302, CHECKIN_FORM),
    Op("check-in result", "GET", f"{PORTAL_BASE}/recovery/check-ins/{{checkin}}/", "portal", 200),
    Op("plan page", "GET", f"{PORTAL_BASE}/plan/", "portal", 200),
    Op(
        "progress write",
        "POST",
        f"{PORTAL_BASE}/plan/",
        "portal",
        302,
        {"goal_key": "{goal}", "value": "12"},
    ),
    Op("plan edit page", "GET", "/clinics/{clinic}/patients/{patient}/plan/", "clinic", 200),
    Op(
        "plan edit",
        "POST",
        "/clinics/{clinic}/patients/{patient}/plan/",
        "clinic",
        302,
        {"goal_1_text": "Walk", "goal_1_measure": "min", "goal_1_target": "30"},
    ),
    Op("template page", "GET", "/clinics/{clinic}/recovery-template/", "clinic", 200),
    Op(
        "template edit",
        "POST",
        "/clinics/{clinic}/recovery-template/",
        "clinic",
        302,
        {"week_1_title": "Week 1", "week_1_instructions": "Keep the wound dry."},
    ),
    Op(
        "resolve red flag",
        "POST",
        "/clinics/{clinic}/patients/{patient}/red-flags/{flag}/resolve/",
        "clinic",
        302,
        {"note": "called the patient"},
    ),
    # API, portal
    Op("API diary list", "GET", f"{API_PORTAL}/diary-entries", "portal", 200, api=True),
    Op(
        "API diary write",
        "POST",
        f"{API_PORTAL}/diary-entries",
        "portal",
        201,
        {"pain_now": 4, "pain_average": 5, "pain_worst": 7},
        api=True,
    ),
    Op("API questionnaires", "GET", f"{API_PORTAL}/questionnaires", "portal", 200, api=True),
    Op(
        "API questionnaire write",
        "POST",
        f"{API_PORTAL}/questionnaires",
        "portal",
        201,
        {"kind": "bpi", "answers": {"worst": 8, "least": 3, "average": 6, "now": 5}},
        api=True,
    ),
    Op("API check-ins", "GET", f"{API_PORTAL}/check-ins", "portal", 200, api=True),
    Op(
        "API check-in",
        "POST",
        f"{API_PORTAL}/check-ins",
        "portal",
        201,
        {"answers": ALL_NO},
        api=True,
    ),
    Op("API portal plan", "GET", f"{API_PORTAL}/plan", "portal", 200, api=True),
    Op(
        "API progress",
        "POST",
        f"{API_PORTAL}/plan/progress",
        "portal",
        201,
        {"goal_key": "{goal}", "value": 12},
        api=True,
    ),
    # API, clinic
    Op("API plan", "GET", "/api/v1/patients/{patient}/pain-plan", "clinic", 200, api=True),
    Op(
        "API plan write",
        "POST",
        "/api/v1/patients/{patient}/pain-plan",
        "clinic",
        201,
        {"goals": [GOAL]},
        api=True,
    ),
    Op("API red flags", "GET", "/api/v1/patients/{patient}/red-flags", "clinic", 200, api=True),
    Op(
        "API resolve",
        "POST",
        "/api/v1/patients/{patient}/red-flags/{flag}/resolve",
        "clinic",
        200,
        {"note": "called the patient"},
        api=True,
    ),
]

TABLES = [
    DiaryEntry,
    Questionnaire,
    CheckIn,
    RedFlag,
    RedFlagResolution,
    PainPlan,
    GoalProgress,
    RecoveryTemplate,
]


def _rows() -> int:
    return sum(model.objects.count() for model in TABLES)


@pytest.fixture
def world(clinic, other_clinic, users, patient, other_patient):
    """Own patient (with a patient and a caregiver account), a sibling patient of the own
    clinic with their own portal user, the other clinic's patient; each with a red flag
    and a plan."""
    sibling = Patient.objects.create(clinic=clinic, **patient_fields(mrn="S-1", name="Sibling"))
    make_user("other-physician", other_clinic, Role.PHYSICIAN)
    actors = {role.value: users[role] for role in (Role.CLINIC_ADMIN, Role.PHYSICIAN, Role.NURSE)}
    actors["patient"] = portal_user("anna-portal", patient)
    actors["caregiver"] = portal_user("anna-carer", patient, Relation.CAREGIVER)
    targets: dict[str, dict[str, Any]] = {}
    for name, target in (("own", patient), ("sibling", sibling), ("other", other_patient)):
        owner = actors["patient"] if name == "own" else portal_user(f"owner-{name}", target)
        checkin = services.record_checkin(
            by=owner, patient=target, answers=ALL_NO | {"fever": True}
        )
        doctor = (
            users[Role.PHYSICIAN]
            if target.clinic == clinic
            else target.clinic.memberships.get(role=Role.PHYSICIAN).user
        )
        plan = services.write_plan(by=doctor, patient=target, goals=[GOAL], therapies=[])
        targets[name] = {
            "clinic": target.clinic.slug,
            "patient": target.pk,
            "checkin": checkin.pk,
            "flag": checkin.red_flag.pk,
            "goal": plan.goals[0]["key"],
        }
    return actors, targets


def _fill(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, str):
        for key, replacement in names.items():
            value = value.replace("{" + key + "}", str(replacement))
        return value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


def _expected(op: Op, actor: str | None, target: str) -> int:
    if actor is None:
        return 401 if op.api else 302
    if op.kind == "portal":
        return op.ok if actor in PORTAL and target == "own" else 404
    if target == "other":
        return 404
    if "template" in op.name:  # the clinic's own page: any patient of the clinic is moot
        return op.ok if actor in CLINICAL else 403
    return op.ok if actor in CLINICAL else 403


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
@pytest.mark.parametrize("actor", ACTORS, ids=[a or "anonymous" for a in ACTORS])
@pytest.mark.parametrize("target", TARGETS)
def test_access(op, actor, target, world):
    actors, targets = world
    if "template" in op.name and target == "sibling":
        pytest.skip("the clinic's template has no patient: own and other clinic cover it")
    client = Client()
    if actor is not None:
        client.force_login(actors[actor], backend=MODEL_BACKEND)
    path = _fill(op.path, targets[target])
    body = _fill(op.body, targets[target])
    before = _rows()
    if op.method == "GET":
        response = client.get(path)
    elif op.api:
        response = client.post(path, data=json.dumps(body), content_type="application/json")
    else:
        response = client.post(path, data=body)
    expected = _expected(op, actor, target)
    assert response.status_code == expected, (op.name, actor, target, response.content[:400])
    if expected == 302 and actor is None:
        assert response["Location"].startswith("/accounts/login/?next=")
    written = _rows() - before
    succeeded = actor is not None and expected == op.ok and op.method == "POST"
    assert written == (1 if succeeded else 0), (op.name, actor, target, written)
    if op.api and expected >= 400:
        assert "detail" in response.json()
    if response.status_code == 200 and op.kind == "portal" and not op.api:
        # a portal page never shows another patient's name
        text = response.content.decode()
        assert "Sibling" not in text
        assert "Otto" not in text


COVERED_PAGES = {
    "portal-diary",
    "portal-diary-bpi",
    "portal-diary-odi",
    "portal-recovery",
    "portal-recovery-checkin",
    "portal-plan",
    "diary-plan-edit",
    "diary-recovery-template",
    "diary-red-flag-resolve",
}
COVERED_API = {
    ("GET", "/portal/patients/{patient_id}/diary-entries"),
    ("POST", "/portal/patients/{patient_id}/diary-entries"),
    ("GET", "/portal/patients/{patient_id}/questionnaires"),
    ("POST", "/portal/patients/{patient_id}/questionnaires"),
    ("GET", "/portal/patients/{patient_id}/check-ins"),
    ("POST", "/portal/patients/{patient_id}/check-ins"),
    ("GET", "/portal/patients/{patient_id}/plan"),
    ("POST", "/portal/patients/{patient_id}/plan/progress"),
    ("GET", "/patients/{patient_id}/pain-plan"),
    ("POST", "/patients/{patient_id}/pain-plan"),
    ("GET", "/patients/{patient_id}/red-flags"),
    ("POST", "/patients/{patient_id}/red-flags/{flag_id}/resolve"),
}
