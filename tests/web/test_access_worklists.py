"""The worklist page and API × every role × own clinic / other clinic / anonymous.

Physicians and nurses of the clinic: allowed. Clinic admins and patients of the clinic:
403. The other clinic: 404 (page) or 422 (API: the clinic named is not among yours).
Anonymous: the log-in page (page) or 401 (API). A refused reading writes no audit event.
"""

from __future__ import annotations

import pytest
from django.test import Client
from web_helpers import MODEL_BACKEND, ROLES

from openidds.web.accounts.models import Role
from openidds.web.audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db

ALLOWED = {Role.PHYSICIAN, Role.NURSE}
PAGE = "/clinics/{clinic}/worklist/"
API = "/api/v1/worklist?clinic={clinic}"


def _expected(api: bool, role: Role | None, own: bool) -> int:
    if role is None:
        return 401 if api else 302
    if not own:
        return 422 if api else 404
    return 200 if role in ALLOWED else 403


@pytest.mark.parametrize("api", [False, True], ids=["page", "api"])
@pytest.mark.parametrize("role", [*ROLES, None], ids=[*(r.value for r in ROLES), "anonymous"])
@pytest.mark.parametrize("own", [True, False], ids=["own-clinic", "other-clinic"])
def test_worklist_access(api, role, own, users, clinic, other_clinic):
    client = Client()
    if role is not None:
        client.force_login(users[role], backend=MODEL_BACKEND)
    target = clinic if own else other_clinic
    response = client.get((API if api else PAGE).format(clinic=target.slug))
    expected = _expected(api, role, own)
    assert response.status_code == expected, (api, role, own, response.content[:200])
    if expected == 302:
        assert response["Location"].startswith("/accounts/login/?next=")
    if api and expected >= 400:
        assert "detail" in response.json()
    viewed = AuditEvent.objects.filter(action=Action.WORKLIST_VIEWED).count()
    assert viewed == (1 if expected == 200 else 0)


def test_unknown_clinic_is_404(users):
    client = Client()
    client.force_login(users[Role.NURSE], backend=MODEL_BACKEND)
    assert client.get("/clinics/no-such-clinic/worklist/").status_code == 404


def test_post_is_refused(users, clinic):
    client = Client()
    client.force_login(users[Role.NURSE], backend=MODEL_BACKEND)
    assert client.post(PAGE.format(clinic=clinic.slug)).status_code == 405


COVERED_PAGES = {"worklist"}
COVERED_API = {("GET", "/worklist")}
