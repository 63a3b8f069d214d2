"""The prescription pages: compose, preview (findings, old and new, forecast), sign with
reasons and password; history and versions; the chart panel; MRI and correction pages."""

from __future__ import annotations

import json
import re
from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from web_helpers import PASSWORD

from openidds.web.audit.models import Action, AuditEvent
from openidds.web.implants import services as implant_services
from openidds.web.implants.models import PumpEvent
from openidds.web.prescriptions import services
from openidds.web.prescriptions.models import Prescription

pytestmark = pytest.mark.django_db


@pytest.fixture
def t0():
    now = timezone.now().astimezone(UTC).replace(second=0, microsecond=0)
    return now - timedelta(days=10, hours=1)


@pytest.fixture
def pump(physician, nurse, patient, t0):
    """20 mL morphine 10 mg/mL at 5 mg/day (0.5 mL/day), ten days ago."""
    implant = implant_services.record_implant(
        by=physician,
        patient=patient,
        pump_model="synchromed2-20",
        serial="PG1",
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


def _local(t0, patient) -> str:
    from zoneinfo import ZoneInfo

    return (
        (t0 + timedelta(days=10)).astimezone(ZoneInfo(patient.time_zone)).strftime("%Y-%m-%dT%H:%M")
    )


def _post(client, url, data):
    client.get(url)
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def _url(clinic, patient, tail="prescriptions/new/"):
    return f"/clinics/{clinic.slug}/patients/{patient.pk}/{tail}"


def _compose(t0, patient, dose="6.5 mg/day", **extra):
    return {
        "at": _local(t0, patient),
        "program": "continuous",
        "dose_drug": "morphine",
        "dose": dose,
        **extra,
    }


def test_compose_preview_and_sign(client_for, physician, clinic, patient, pump, t0):
    client = client_for(physician)
    url = _url(clinic, patient)
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Prescribe a change for Anna Becker" in html
    # a SynchroMed II takes up to 10 flex steps
    assert 'name="step_10_start"' in html
    assert 'name="step_11_start"' not in html
    # Check: the preview, nothing saved
    response = _post(client, url, {**_compose(t0, patient), "action": "preview"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "dose_increase_too_large" in html
    assert "Source:" in html
    assert re.search(
        r"morphine: daily dose.*?</th><td>5 mg/day</td><td>6.5 mg/day</td>", html, re.S
    )
    assert 'id="forecast-data"' in html
    assert "/static/openidds/prescriptions.js" in html
    data = json.loads(re.search(r'id="forecast-data"[^>]*>(.*?)</script>', html, re.S)[1])
    assert data["daily"]["morphine"]["proposed"]["y"][0] == pytest.approx(6.5)
    assert data["daily"]["morphine"]["current"]["y"][0] == pytest.approx(5.0)
    assert 'name="reason_dose_increase_too_large"' in html
    assert 'name="password"' in html
    assert not Prescription.objects.exists()
    # Sign without a reason: refused, named
    response = _post(client, url, {**_compose(t0, patient), "action": "sign", "password": PASSWORD})
    assert response.status_code == 422
    assert "give a written reason" in response.content.decode()
    assert not Prescription.objects.exists()
    # wrong password
    response = _post(
        client,
        url,
        {
            **_compose(t0, patient),
            "action": "sign",
            "reason_dose_increase_too_large": "pain 8/10",
            "password": "wrong",
        },
    )
    assert response.status_code == 422
    assert "this is not your current password" in response.content.decode()
    assert not Prescription.objects.exists()
    assert AuditEvent.objects.filter(action=Action.REAUTHENTICATION_FAILED).count() == 1
    # right
    response = _post(
        client,
        url,
        {
            **_compose(t0, patient),
            "action": "sign",
            "reason_dose_increase_too_large": "pain 8/10",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302
    p = Prescription.objects.get()
    assert p.version == 1
    assert p.reasons == {"dose_increase_too_large": "pain 8/10"}
    assert response["Location"] == _url(clinic, patient, f"prescriptions/{p.pk}/?signed=1")
    signed = client.get(response["Location"]).content.decode()
    assert "Prescription version 1 signed and saved" in signed
    assert "<strong>verified</strong>" in signed
    chart = client.get(_url(clinic, patient, "")).content.decode()
    assert "morphine, 6.5 mg a day" in chart
    assert "version 1</a>, signed by own-physician" in chart
    assert "soft finding <code>dose_increase_too_large</code> accepted: pain 8/10" in chart


def test_a_hard_finding_shows_no_sign_button(client_for, physician, clinic, patient, pump, t0):
    client = client_for(physician)
    response = _post(
        client,
        _url(clinic, patient),
        {**_compose(t0, patient, dose="40 mg/day"), "action": "preview"},
    )
    html = response.content.decode()
    assert "daily_dose_above_max" in html
    assert "A hard finding blocks this change" in html
    assert 'value="sign"' not in html


def test_twin_errors_land_on_the_field(client_for, physician, clinic, patient, pump, t0):
    client = client_for(physician)
    response = _post(
        client,
        _url(clinic, patient),
        {**_compose(t0, patient, dose="6 MG/day"), "action": "preview"},
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert re.search(r'id="id_dose_error"', html)


def test_flex_program_through_the_form(client_for, physician, clinic, patient, pump, t0):
    client = client_for(physician)
    data = {
        "at": _local(t0, patient),
        "program": "flex",
        "flex_period": "day",
        "step_1_start": "08:00",
        "step_1_rate": "0.6",
        "step_2_start": "20:00",
        "step_2_drug": "morphine",
        "step_2_dose": "4 mg/day",
        "action": "preview",
    }
    html = _post(client, _url(clinic, patient), data).content.decode()
    # 12 h at 0.6 and 12 h at 0.4 mL/day (4 mg/day of 10 mg/mL): mean 0.5 mL/day
    assert "08:00 0.6 mL/day; 20:00 0.4 mL/day" in html
    assert "flex by day, 2 steps" in html


def test_nurse_cannot_prescribe_but_reads(client_for, physician, nurse, clinic, patient, pump, t0):
    services.prescribe(
        by=physician,
        patient=patient,
        changes=[
            {
                "kind": "program",
                "at": t0 + timedelta(days=10),
                "fields": {"mode": "continuous", "dose": {"morphine": "5.5 mg/day"}},
            }
        ],
        reasons={},
        password=PASSWORD,
    )
    client = client_for(nurse)
    assert client.get(_url(clinic, patient)).status_code == 403
    chart = client.get(_url(clinic, patient, "")).content.decode()
    assert "Prescribe a change" not in chart
    assert "version 1</a>" in chart
    listing = client.get(_url(clinic, patient, "prescriptions/")).content.decode()
    assert "Version 1" in listing
    assert "verified" in listing
    p = Prescription.objects.get()
    detail = client.get(_url(clinic, patient, f"prescriptions/{p.pk}/")).content.decode()
    assert "Prescription version 1" in detail
    assert "<strong>verified</strong>" in detail
    assert "5.5 mg/day" in detail


def test_the_program_form_is_gone(client_for, physician, clinic, patient, pump):
    response = client_for(physician).get(_url(clinic, patient, "pump/program/new/"))
    assert response.status_code == 404


def test_nurse_records_an_mri(client_for, nurse, clinic, patient, pump, t0):
    client = client_for(nurse)
    url = _url(clinic, patient, "pump/mri/new/")
    response = _post(
        client,
        url,
        {"at": _local(t0, patient), "duration_minutes": "45", "recovery_minutes": "120"},
    )
    assert response.status_code == 302
    event = PumpEvent.objects.get(kind="mri")
    assert event.fields == {"duration": "PT45M", "recovery": "PT120M"}


def test_correct_a_fill_from_the_chart(client_for, nurse, clinic, patient, pump):
    client = client_for(nurse)
    fill = PumpEvent.objects.get(kind="fill")
    chart = client.get(_url(clinic, patient, "")).content.decode()
    assert f"/pump/events/{fill.pk}/correct/" in chart
    program = PumpEvent.objects.get(kind="program")
    assert f"/pump/events/{program.pk}/correct/" not in chart  # the physician's
    url = _url(clinic, patient, f"pump/events/{fill.pk}/correct/")
    page = client.get(url).content.decode()
    assert "&quot;volume_ml&quot;: 20" in page
    response = _post(
        client,
        url,
        {
            "at": page and re.search(r'name="at" value="([^"]+)"', page)[1],
            "fields_json": '{"volume_ml": 18, "drugs": {"morphine": "10 mg/mL"}}',
            "reason": "misread the syringe",
        },
    )
    assert response.status_code == 302, re.findall(r"<p>(.*?)</p>", response.content.decode())
    correction = PumpEvent.objects.get(supersedes=fill)
    assert correction.fields["volume_ml"] == 18
    assert correction.reason == "misread the syringe"
    # a second correction of the same record is refused
    response = _post(client, url, {"at": "2020-01-01T00:00", "reason": "again", "void": "on"})
    assert response.status_code in (403, 422)
    assert PumpEvent.objects.filter(supersedes=fill).count() == 1
    # the nurse cannot correct the physician's program
    assert (
        client.get(_url(clinic, patient, f"pump/events/{program.pk}/correct/")).status_code == 403
    )


def test_a_wrong_programmed_concentration_is_hard_on_the_page(
    client_for, physician, clinic, patient, pump, t0
):
    """The pump holds morphine 10 mg/mL; the physician types 1 mg/mL into the programmer:
    5 mg/day would become 5 mL/day of 10 mg/mL, 50 mg/day (issue 9)."""
    client = client_for(physician)
    response = _post(
        client,
        _url(clinic, patient),
        {
            **_compose(t0, patient, dose="5 mg/day", programmed_concentration="1 mg/mL"),
            "action": "preview",
        },
    )
    html = response.content.decode()
    assert "programmed_concentration_mismatch" in html
    assert "the pump is told morphine 1 mg/mL but the reservoir holds 10 mg/mL" in html
    assert 'value="sign"' not in html
    ok = _post(
        client,
        _url(clinic, patient),
        {
            **_compose(t0, patient, dose="5.5 mg/day", programmed_concentration="10 mg/mL"),
            "action": "preview",
        },
    )
    assert "programmed_concentration_mismatch" not in ok.content.decode()
