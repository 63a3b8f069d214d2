"""Prescriptions, pump events, pump state and forecast: every page and API operation ×
every role × own clinic / other clinic (and anonymous), allowed or refused; a refused
write changes nothing (no prescription, no pump event)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone
from web_helpers import PASSWORD, ROLES, make_user

from openidds.web.accounts.models import Membership, Role
from openidds.web.implants import services as implant_services
from openidds.web.implants.models import PumpEvent
from openidds.web.patients.models import Patient
from openidds.web.prescriptions import services
from openidds.web.prescriptions.models import Prescription

pytestmark = pytest.mark.django_db

CLINICAL = frozenset({Role.PHYSICIAN, Role.NURSE})
PHYSICIAN = frozenset({Role.PHYSICIAN})


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: str  # {patient}, {prescription}, {fill} filled in per case
    allowed: frozenset[Role]
    ok: int
    body: dict[str, Any] | None = None
    api: bool = False
    changes: str = ""  # "prescriptions" or "pump events": what a success adds one of
    other_status: int = 404


BASE = "/clinics/{clinic}/patients/{patient}"
PROGRAM = {"program": "continuous", "dose_drug": "morphine", "dose": "5.5 mg/day"}
API_CHANGE = [
    {
        "kind": "program",
        "at": "{at_iso}",
        "fields": {"mode": "continuous", "dose": {"morphine": "5.5 mg/day"}},
    }
]
OPS = [
    Op("history", "GET", BASE + "/prescriptions/", CLINICAL, 200),
    Op("compose", "GET", BASE + "/prescriptions/new/", PHYSICIAN, 200),
    Op(
        "preview",
        "POST",
        BASE + "/prescriptions/new/",
        PHYSICIAN,
        200,
        body={"at": "{at_local}", **PROGRAM, "action": "preview"},
    ),
    Op(
        "sign",
        "POST",
        BASE + "/prescriptions/new/",
        PHYSICIAN,
        302,
        body={"at": "{at_local}", **PROGRAM, "action": "sign", "password": PASSWORD},
        changes="prescriptions",
    ),
    Op("version", "GET", BASE + "/prescriptions/{prescription}/", CLINICAL, 200),
    Op("mri form", "GET", BASE + "/pump/mri/new/", CLINICAL, 200),
    Op(
        "mri",
        "POST",
        BASE + "/pump/mri/new/",
        CLINICAL,
        302,
        body={"at": "{at_local}", "duration_minutes": "30"},
        changes="pump events",
    ),
    Op("correction form", "GET", BASE + "/pump/events/{fill}/correct/", CLINICAL, 200),
    Op(
        "correction",
        "POST",
        BASE + "/pump/events/{fill}/correct/",
        CLINICAL,
        302,
        body={"at": "{fill_local}", "fields_json": "", "reason": "typo", "void": ""},
        changes="pump events",
    ),
    Op("API list", "GET", "/api/v1/patients/{patient}/prescriptions", CLINICAL, 200, api=True),
    Op(
        "API preview",
        "POST",
        "/api/v1/patients/{patient}/prescriptions/preview",
        PHYSICIAN,
        200,
        body={"changes": API_CHANGE},
        api=True,
    ),
    Op(
        "API sign",
        "POST",
        "/api/v1/patients/{patient}/prescriptions",
        PHYSICIAN,
        201,
        body={"changes": API_CHANGE, "reasons": {}, "password": PASSWORD},
        api=True,
        changes="prescriptions",
    ),
    Op("API version", "GET", "/api/v1/prescriptions/{prescription}", CLINICAL, 200, api=True),
    Op("API pump events", "GET", "/api/v1/patients/{patient}/pump-events", CLINICAL, 200, api=True),
    Op(
        "API record MRI",
        "POST",
        "/api/v1/patients/{patient}/pump-events",
        CLINICAL,
        201,
        body={"kind": "mri", "at": "{at_iso}", "fields": {"duration": "PT30M"}},
        api=True,
        changes="pump events",
    ),
    Op("API pump state", "GET", "/api/v1/patients/{patient}/pump-state", CLINICAL, 200, api=True),
    Op(
        "API forecast",
        "GET",
        "/api/v1/patients/{patient}/forecast?days=14",
        CLINICAL,
        200,
        api=True,
    ),
]


def _physician_of(patient: Patient) -> Any:
    member = Membership.objects.filter(clinic=patient.clinic, role=Role.PHYSICIAN).first()
    if member is not None:
        return member.user
    return make_user(f"{patient.clinic.slug}-physician", patient.clinic, Role.PHYSICIAN)


def _arrange(patient: Patient) -> dict[str, Any]:
    """An implant ten days old with a fill and a program, and a signed prescription."""
    t0 = timezone.now().astimezone(UTC).replace(second=0, microsecond=0) - timedelta(days=10)
    doctor = _physician_of(patient)
    implant = implant_services.record_implant(
        by=doctor,
        patient=patient,
        pump_model="synchromed2-20",
        serial=f"A{patient.pk}",
        implanted_at=t0,
        fluid_path_initial="primed",
    )
    fill = implant_services.record_pump_event(
        by=doctor,
        implant=implant,
        kind="fill",
        at=t0,
        fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
    )
    at = t0 + timedelta(days=1)
    implant_services.record_pump_event(
        by=doctor,
        implant=implant,
        kind="program",
        at=t0,
        fields={"mode": "continuous", "dose": {"morphine": "5 mg/day"}},
    )
    prescription = services.prescribe(
        by=doctor,
        patient=patient,
        changes=[
            {
                "kind": "program",
                "at": at,
                "fields": {"mode": "continuous", "dose": {"morphine": "5 mg/day"}},
            }
        ],
        reasons={},
        password=PASSWORD,
    )
    now = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    zone = ZoneInfo(patient.time_zone)
    return {
        "patient": str(patient.pk),
        "prescription": str(prescription.pk),
        "fill": str(fill.pk),
        "at_iso": now.astimezone(UTC).isoformat(),
        "at_local": now.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "fill_local": fill.at.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
    }


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, text in names.items():
            value = value.replace("{" + key + "}", text)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
@pytest.mark.parametrize("role", [*ROLES, None], ids=[*(r.value for r in ROLES), "anonymous"])
@pytest.mark.parametrize("own", [True, False], ids=["own-clinic", "other-clinic"])
def test_access(op, role, own, users, patient, other_patient, clinic, other_clinic):
    target, target_clinic = (patient, clinic) if own else (other_patient, other_clinic)
    names = {**_arrange(target), "clinic": target_clinic.slug}
    client = Client()
    if role is not None:
        client.force_login(users[role], backend="django.contrib.auth.backends.ModelBackend")
    path, body = _fill(op.path, names), _fill(op.body, names)
    before = (Prescription.objects.count(), PumpEvent.objects.count())

    if op.method == "GET":
        response = client.get(path)
    elif op.api:
        response = client.post(path, data=json.dumps(body), content_type="application/json")
    else:
        response = client.post(path, data=body)

    if role is None:
        expected = 401 if op.api else 302
    elif not own:
        expected = op.other_status
    else:
        expected = op.ok if role in op.allowed else 403
    assert response.status_code == expected, (op.name, role, own, response.content[:400])
    if role is None and not op.api:
        assert response["Location"].startswith("/accounts/login/?next=")
    succeeded = role is not None and own and role in op.allowed
    after = (Prescription.objects.count(), PumpEvent.objects.count())
    if op.changes == "prescriptions":
        assert after == ((before[0] + 1, before[1] + 1) if succeeded else before)
    elif op.changes == "pump events":
        assert after == ((before[0], before[1] + 1) if succeeded else before)
    else:
        assert after == before
    if op.api and expected >= 400:
        assert "detail" in response.json()


COVERED_PAGES = {
    "prescription-list",
    "prescription-new",
    "prescription-detail",
    "pump-event-create",
    "pump-event-correct",
}
COVERED_API = {
    ("GET", "/patients/{patient_id}/prescriptions"),
    ("POST", "/patients/{patient_id}/prescriptions/preview"),
    ("POST", "/patients/{patient_id}/prescriptions"),
    ("GET", "/prescriptions/{prescription_id}"),
    ("GET", "/patients/{patient_id}/pump-events"),
    ("POST", "/patients/{patient_id}/pump-events"),
    ("GET", "/patients/{patient_id}/pump-state"),
    ("GET", "/patients/{patient_id}/forecast"),
}
