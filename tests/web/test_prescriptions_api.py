"""The prescriptions API: preview, sign, read; pump events, pump state and forecast."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from web_helpers import PASSWORD

from openidds.web.implants import services as implant_services
from openidds.web.implants.models import PumpEvent
from openidds.web.prescriptions.models import Prescription

pytestmark = pytest.mark.django_db


@pytest.fixture
def t0() -> datetime:
    now = timezone.now().astimezone(UTC).replace(second=0, microsecond=0)
    return now - timedelta(days=10, hours=1)


@pytest.fixture
def pump(physician, nurse, patient, t0):
    """20 mL morphine 10 mg/mL at 5 mg/day (0.5 mL/day) from t0."""
    implant = implant_services.record_implant(
        by=physician,
        patient=patient,
        pump_model="synchromed2-20",
        serial="API1",
        implanted_at=t0,
        fluid_path_initial="primed",
    )
    implant_services.record_pump_event(
        by=nurse,
        implant=implant,
        kind="fill",
        at=t0,
        fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
    )
    implant_services.record_pump_event(
        by=physician,
        implant=implant,
        kind="program",
        at=t0,
        fields={"mode": "continuous", "dose": {"morphine": "5 mg/day"}},
    )
    return implant


def _api(client, method, path, body=None):
    """Through CSRF, as a browser would: the cookie from a page, the token in a header."""
    if method == "GET":
        return client.get("/api/v1" + path)
    client.get("/")
    token = client.cookies["csrftoken"].value
    return client.post(
        "/api/v1" + path,
        data=json.dumps(body),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )


def _change(at, dose):
    return [
        {
            "kind": "program",
            "at": at.isoformat(),
            "fields": {"mode": "continuous", "dose": {"morphine": dose}},
        }
    ]


def test_preview_then_sign_then_read(client_for, physician, nurse, patient, pump, t0):
    client = client_for(physician)
    at = t0 + timedelta(days=10)
    r = _api(
        client,
        "POST",
        f"/patients/{patient.pk}/prescriptions/preview",
        {"changes": _change(at, "6.5 mg/day")},
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["soft_codes"] == ["dose_increase_too_large"]
    assert body["blocked"] is False
    assert body["forecast"]["proposed"]["days"][0]["delivered_mg"]["morphine"] == pytest.approx(6.5)
    assert not Prescription.objects.exists()
    # without the reason: 422 on reasons.<code>; nothing written
    r = _api(
        client,
        "POST",
        f"/patients/{patient.pk}/prescriptions",
        {"changes": _change(at, "6.5 mg/day"), "reasons": {}, "password": PASSWORD},
    )
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["detail"]} == {"reasons.dose_increase_too_large"}
    # wrong password: 422 on password
    r = _api(
        client,
        "POST",
        f"/patients/{patient.pk}/prescriptions",
        {
            "changes": _change(at, "6.5 mg/day"),
            "reasons": {"dose_increase_too_large": "pain"},
            "password": "nope",
        },
    )
    assert [d["field"] for d in r.json()["detail"]] == ["password"]
    assert not Prescription.objects.exists()
    r = _api(
        client,
        "POST",
        f"/patients/{patient.pk}/prescriptions",
        {
            "changes": _change(at, "6.5 mg/day"),
            "reasons": {"dose_increase_too_large": "pain"},
            "password": PASSWORD,
        },
    )
    assert r.status_code == 201, r.content
    made = r.json()
    assert made["version"] == 1
    assert made["verified"] is True
    assert made["problems"] == []
    assert made["findings"][0]["overridden"] is True
    assert len(made["pump_events"]) == 1
    # the nurse reads it
    reader = client_for(nurse)
    listed = _api(reader, "GET", f"/patients/{patient.pk}/prescriptions").json()
    assert [p["version"] for p in listed] == [1]
    one = _api(reader, "GET", f"/prescriptions/{made['id']}").json()
    assert one["signature"] == made["signature"]
    assert one["signed_by"] == "own-physician"


def test_hard_finding_is_named(client_for, physician, patient, pump, t0):
    r = _api(
        client_for(physician),
        "POST",
        f"/patients/{patient.pk}/prescriptions",
        {
            "changes": _change(t0 + timedelta(days=10), "30 mg/day"),
            "reasons": {},
            "password": PASSWORD,
        },
    )
    assert r.status_code == 422
    assert any("daily_dose_above_max" in d["message"] for d in r.json()["detail"])


def test_pump_events_api(client_for, nurse, patient, pump, t0):
    client = client_for(nurse)
    events = _api(client, "GET", f"/patients/{patient.pk}/pump-events").json()
    assert [e["kind"] for e in events] == ["fill", "program"]
    assert all(e["in_force"] for e in events)
    at = (t0 + timedelta(days=10)).isoformat()
    r = _api(
        client,
        "POST",
        f"/patients/{patient.pk}/pump-events",
        {"kind": "program", "at": at, "fields": {"mode": "continuous", "rate_ml_per_day": 1}},
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "kind"
    r = _api(
        client,
        "POST",
        f"/patients/{patient.pk}/pump-events",
        {"kind": "ptm_request", "at": at, "fields": {}},
    )
    assert r.status_code == 201
    assert r.json()["kind"] == "ptm_request"
    assert PumpEvent.objects.filter(kind="ptm_request").count() == 1


def test_pump_state_and_forecast(client_for, nurse, patient, pump, t0):
    client = client_for(nurse)
    at = t0 + timedelta(days=10)
    state = _api(
        client,
        "GET",
        f"/patients/{patient.pk}/pump-state?at=" + at.isoformat().replace("+00:00", "Z"),
    ).json()
    # 20 - 10 days x 0.5 mL/day = 15 mL; 5 mg/day
    assert state["reservoir_ml"] == pytest.approx(15.0)
    assert state["drugs"][0]["words"] == "morphine, 5 mg a day"
    # empty at 20 / 0.5 = 40 days after t0
    assert state["forecast"]["empty_nominal"].startswith(
        (t0 + timedelta(days=40)).date().isoformat()
    )
    fc = _api(client, "GET", f"/patients/{patient.pk}/forecast?days=3").json()
    assert len(fc["days"]) == 3
    for day in fc["days"]:
        assert day["delivered_mg"]["morphine"] == pytest.approx(5.0, abs=1e-6)
    r = _api(client, "GET", f"/patients/{patient.pk}/forecast?days=0")
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "days"
    r = _api(client, "GET", f"/patients/{patient.pk}/pump-state?at=2026-01-01T00:00:00")
    assert r.status_code == 422


def test_no_implant_is_a_field_error(client_for, physician, patient):
    r = _api(client_for(physician), "GET", f"/patients/{patient.pk}/pump-state")
    assert r.status_code == 422
