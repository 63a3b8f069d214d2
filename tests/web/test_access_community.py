"""Questions, stories and learning pages: every page and API operation × every role ×
own clinic (and own patient) / other clinic, and anonymous.

- portal pages and operations: the patient and their caregiver of that patient only;
  anyone else (clinic staff included) 404, another patient 404; writing or withdrawing a
  story is the patient's own (caregiver 403);
- the support's pages: only the support role; a question not routed to the support of the
  user's clinics is 404 (not revealed), the list is 403 for other roles;
- clinic pages: questions physician and nurse, story moderation also the clinic admin,
  learning pages clinic admin and physician; another member 403, another clinic 404 (422
  for an API clinic named in the query);
- published stories and learning pages: everyone, anonymous included.

A refused write changes nothing; an allowed one changes something.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from test_community_helpers import portal_user, support_user
from web_helpers import MODEL_BACKEND, make_user

from openidds.web.accounts.models import Role
from openidds.web.community import services
from openidds.web.community.models import LearnPageVersion, Message, Question, Story
from openidds.web.portal.models import Relation

pytestmark = pytest.mark.django_db

ROLES = [Role.CLINIC_ADMIN, Role.PHYSICIAN, Role.NURSE, Role.PATIENT, Role.CAREGIVER, Role.SUPPORT]
CLINICAL = frozenset({Role.PHYSICIAN, Role.NURSE})
MODERATORS = frozenset({Role.PHYSICIAN, Role.NURSE, Role.CLINIC_ADMIN})
EDITORS = frozenset({Role.PHYSICIAN, Role.CLINIC_ADMIN})
NONE: frozenset[Role] = frozenset()


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: str  # {clinic} {patient} {q_clinic} {q_support} {story}
    kind: str  # portal, portal-self, support, support-list, clinic, public
    ok: int
    allowed: frozenset[Role] = NONE  # clinic kinds
    other_status: int = 404
    body: dict[str, Any] | None = None

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")


ASK = {"recipient": "clinic", "subject": "New one", "body": "Hello"}
STORY_FORM = {
    "title": "T",
    "body": "Para one.",
    "scope": "whole",
    "name_choice": "anonymous",
    "action": "draft",
}
STORY_API = {
    "title": "T",
    "body": "Para one.",
    "scope": "whole",
    "parts": [],
    "name_choice": "anonymous",
    "submit": False,
}
LEARN_FORM = {"title": "Edited", "body_markdown": "New text", "note": "", "action": "save"}
P = "/portal/p/{patient}"
A = "/api/v1"
OPS = [
    # portal pages
    Op("portal questions", "GET", P + "/questions/", "portal", 200),
    Op("portal ask", "POST", P + "/questions/", "portal", 302, body=ASK),
    Op("portal thread", "GET", P + "/questions/{q_clinic}/", "portal", 200),
    Op("portal write", "POST", P + "/questions/{q_clinic}/", "portal", 302, body={"body": "x"}),
    Op("portal close", "POST", P + "/questions/{q_clinic}/close/", "portal", 302),
    Op("portal stories", "GET", P + "/stories/", "portal", 200),
    Op("portal story create", "POST", P + "/stories/", "portal-self", 302, body=STORY_FORM),
    Op("portal story", "GET", P + "/stories/{story}/", "portal", 200),
    Op("portal story edit", "POST", P + "/stories/{story}/", "portal-self", 302, body=STORY_FORM),
    Op("portal story withdraw", "POST", P + "/stories/{story}/withdraw/", "portal-self", 302),
    # support pages
    Op("support home", "GET", "/support/", "support-list", 200),
    Op("support thread", "GET", "/support/questions/{q_support}/", "support", 200),
    Op(
        "support answer",
        "POST",
        "/support/questions/{q_support}/",
        "support",
        302,
        body={"body": "x"},
    ),
    Op("support close", "POST", "/support/questions/{q_support}/close/", "support", 302),
    # clinic pages
    Op("clinic questions", "GET", "/clinics/{clinic}/questions/", "clinic", 200, CLINICAL),
    Op(
        "clinic thread",
        "GET",
        "/clinics/{clinic}/questions/{q_clinic}/",
        "clinic",
        200,
        CLINICAL,
    ),
    Op(
        "clinic answer",
        "POST",
        "/clinics/{clinic}/questions/{q_clinic}/",
        "clinic",
        302,
        CLINICAL,
        body={"body": "x"},
    ),
    Op(
        "clinic close",
        "POST",
        "/clinics/{clinic}/questions/{q_clinic}/close/",
        "clinic",
        302,
        CLINICAL,
    ),
    Op("clinic stories", "GET", "/clinics/{clinic}/stories/", "clinic", 200, MODERATORS),
    Op("clinic story", "GET", "/clinics/{clinic}/stories/{story}/", "clinic", 200, MODERATORS),
    Op(
        "clinic moderate",
        "POST",
        "/clinics/{clinic}/stories/{story}/",
        "clinic",
        302,
        MODERATORS,
        body={"decision": "approve", "note": ""},
    ),
    Op("clinic learn", "GET", "/clinics/{clinic}/learn/", "clinic", 200, EDITORS),
    Op(
        "clinic learn form",
        "GET",
        "/clinics/{clinic}/learn/after-surgery/edit/",
        "clinic",
        200,
        EDITORS,
    ),
    Op(
        "clinic learn edit",
        "POST",
        "/clinics/{clinic}/learn/after-surgery/edit/",
        "clinic",
        302,
        EDITORS,
        body=LEARN_FORM,
    ),
    # public pages
    Op("public stories", "GET", "/stories/", "public", 200),
    Op("learn index", "GET", "/learn/", "public", 200),
    Op("learn page", "GET", "/learn/clinical-studies/", "public", 200),
    # API: portal
    Op("API portal questions", "GET", A + "/portal/patients/{patient}/questions", "portal", 200),
    Op("API ask", "POST", A + "/portal/patients/{patient}/questions", "portal", 201, body=ASK),
    Op(
        "API portal thread",
        "GET",
        A + "/portal/patients/{patient}/questions/{q_clinic}",
        "portal",
        200,
    ),
    Op(
        "API portal write",
        "POST",
        A + "/portal/patients/{patient}/questions/{q_clinic}/messages",
        "portal",
        201,
        body={"body": "x"},
    ),
    Op(
        "API portal close",
        "POST",
        A + "/portal/patients/{patient}/questions/{q_clinic}/close",
        "portal",
        200,
    ),
    Op("API portal stories", "GET", A + "/portal/patients/{patient}/stories", "portal", 200),
    Op(
        "API story create",
        "POST",
        A + "/portal/patients/{patient}/stories",
        "portal-self",
        201,
        body=STORY_API,
    ),
    Op(
        "API story update",
        "PUT",
        A + "/portal/patients/{patient}/stories/{story}",
        "portal-self",
        200,
        body=STORY_API,
    ),
    Op(
        "API story withdraw",
        "POST",
        A + "/portal/patients/{patient}/stories/{story}/withdraw",
        "portal-self",
        200,
    ),
    # API: clinic
    Op(
        "API clinic questions",
        "GET",
        A + "/clinic-questions?clinic={clinic}",
        "clinic",
        200,
        CLINICAL,
        other_status=422,
    ),
    Op(
        "API patient questions", "GET", A + "/patients/{patient}/questions", "clinic", 200, CLINICAL
    ),
    Op(
        "API clinic thread",
        "GET",
        A + "/patients/{patient}/questions/{q_clinic}",
        "clinic",
        200,
        CLINICAL,
    ),
    Op(
        "API clinic reply",
        "POST",
        A + "/patients/{patient}/questions/{q_clinic}/replies",
        "clinic",
        201,
        CLINICAL,
        body={"body": "x"},
    ),
    Op(
        "API clinic close",
        "POST",
        A + "/patients/{patient}/questions/{q_clinic}/close",
        "clinic",
        200,
        CLINICAL,
    ),
    Op(
        "API moderation queue",
        "GET",
        A + "/stories/moderation?clinic={clinic}",
        "clinic",
        200,
        MODERATORS,
        other_status=422,
    ),
    Op(
        "API moderate",
        "POST",
        A + "/stories/{story}/moderation",
        "clinic",
        200,
        MODERATORS,
        body={"decision": "approve", "note": ""},
    ),
    # API: support
    Op("API support questions", "GET", A + "/support/questions", "support-list", 200),
    Op("API support thread", "GET", A + "/support/questions/{q_support}", "support", 200),
    Op(
        "API support reply",
        "POST",
        A + "/support/questions/{q_support}/replies",
        "support",
        201,
        body={"body": "x"},
    ),
    Op("API support close", "POST", A + "/support/questions/{q_support}/close", "support", 200),
    # API: public
    Op("API published stories", "GET", A + "/stories/published", "public", 200),
    Op("API learn pages", "GET", A + "/learn/pages", "public", 200),
    Op("API learn page", "GET", A + "/learn/pages/clinical-studies", "public", 200),
]


def _expected(op: Op, role: Role | None, own: bool) -> int:
    if op.kind == "public":
        return op.ok
    if role is None:
        return 401 if op.api else 302
    if op.kind in {"portal", "portal-self"}:
        if not own or role not in {Role.PATIENT, Role.CAREGIVER}:
            return 404
        return 403 if op.kind == "portal-self" and role == Role.CAREGIVER else op.ok
    if op.kind == "support-list":
        return op.ok if role == Role.SUPPORT else 403
    if op.kind == "support":
        return op.ok if own and role == Role.SUPPORT else 404
    if not own:
        return op.other_status
    return op.ok if role in op.allowed else 403


def _objects(patient: Any, asker: Any) -> dict[str, int]:
    q_clinic = services.ask_question(
        by=asker, patient=patient, recipient="clinic", subject="C", body="c"
    )
    q_support = services.ask_question(
        by=asker, patient=patient, recipient="support", subject="S", body="s"
    )
    story = services.save_story(
        by=asker,
        patient=patient,
        title="Story",
        body="One.\n\nTwo.",
        scope="whole",
        name_choice="initials",
        submit=True,
    )
    return {"q_clinic": q_clinic.pk, "q_support": q_support.pk, "story": story.pk}


def _snapshot() -> Any:
    return (
        Question.objects.count(),
        Message.objects.count(),
        sorted(Question.objects.values_list("pk", "status")),
        sorted(Story.objects.values_list("pk", "status", "title")),
        LearnPageVersion.objects.count(),
    )


def _fill(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, str):
        for key, found in names.items():
            value = value.replace("{" + key + "}", str(found))
        return value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
@pytest.mark.parametrize("role", [*ROLES, None], ids=[*(r.value for r in ROLES), "anonymous"])
@pytest.mark.parametrize("own", [True, False], ids=["own-clinic", "other-clinic"])
def test_access(op, role, own, clinic, other_clinic, patient, other_patient):
    users = {
        Role.CLINIC_ADMIN: make_user("c-admin", clinic, Role.CLINIC_ADMIN),
        Role.PHYSICIAN: make_user("c-physician", clinic, Role.PHYSICIAN),
        Role.NURSE: make_user("c-nurse", clinic, Role.NURSE),
        Role.PATIENT: portal_user("c-patient", patient),
        Role.CAREGIVER: portal_user("c-caregiver", patient, Relation.CAREGIVER),
        Role.SUPPORT: support_user("c-support", clinic),
    }
    support_user("o-support", other_clinic)
    other_asker = portal_user("o-patient", other_patient)
    target_clinic, target_patient = (clinic, patient) if own else (other_clinic, other_patient)
    objects = _objects(target_patient, users[Role.PATIENT] if own else other_asker)
    names = {"clinic": target_clinic.slug, "patient": target_patient.pk, **objects}
    client = Client()
    if role is not None:
        client.force_login(users[role], backend=MODEL_BACKEND)
    before = _snapshot()

    path = _fill(op.path, names)
    body = _fill(op.body, names)
    if op.method == "GET":
        response = client.get(path)
    elif op.api:
        send = client.put if op.method == "PUT" else client.post
        response = send(path, data=json.dumps(body or {}), content_type="application/json")
    else:
        response = client.post(path, data=body or {})

    expected = _expected(op, role, own)
    assert response.status_code == expected, (op.name, role, own, response.content[:300])
    if expected == 302 and role is None:
        assert response["Location"].startswith("/accounts/login/?next=")
    if op.api and expected >= 400:
        assert "detail" in response.json()
    succeeded = role is not None and expected == op.ok and op.method != "GET"
    assert (_snapshot() != before) == succeeded, (op.name, role, own)


#: What this file's matrix covers (test_access_coverage.py checks every page and operation)
COVERED_PAGES = {
    "portal-questions",
    "portal-question",
    "portal-question-close",
    "portal-stories",
    "portal-story",
    "portal-story-withdraw",
    "support-home",
    "support-question",
    "support-question-close",
    "clinic-questions",
    "clinic-question",
    "clinic-question-close",
    "clinic-stories",
    "clinic-story",
    "clinic-learn",
    "clinic-learn-edit",
    "stories-public",
    "learn-index",
    "learn-page",
}
COVERED_API = {
    ("GET", "/portal/patients/{patient_id}/questions"),
    ("POST", "/portal/patients/{patient_id}/questions"),
    ("GET", "/portal/patients/{patient_id}/questions/{question_id}"),
    ("POST", "/portal/patients/{patient_id}/questions/{question_id}/messages"),
    ("POST", "/portal/patients/{patient_id}/questions/{question_id}/close"),
    ("GET", "/portal/patients/{patient_id}/stories"),
    ("POST", "/portal/patients/{patient_id}/stories"),
    ("PUT", "/portal/patients/{patient_id}/stories/{story_id}"),
    ("POST", "/portal/patients/{patient_id}/stories/{story_id}/withdraw"),
    ("GET", "/clinic-questions"),
    ("GET", "/patients/{patient_id}/questions"),
    ("GET", "/patients/{patient_id}/questions/{question_id}"),
    ("POST", "/patients/{patient_id}/questions/{question_id}/replies"),
    ("POST", "/patients/{patient_id}/questions/{question_id}/close"),
    ("GET", "/stories/moderation"),
    ("POST", "/stories/{story_id}/moderation"),
    ("GET", "/support/questions"),
    ("GET", "/support/questions/{question_id}"),
    ("POST", "/support/questions/{question_id}/replies"),
    ("POST", "/support/questions/{question_id}/close"),
    ("GET", "/stories/published"),
    ("GET", "/learn/pages"),
    ("GET", "/learn/pages/{slug}"),
}
