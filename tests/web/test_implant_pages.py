"""The patient chart with a pump, the implant and explant pages, and the implants API."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone

from openidds.web.audit.models import Action, AuditEvent
from openidds.web.implants import services
from openidds.web.implants.models import Implant, ImplantStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def pump(physician, nurse, patient) -> Implant:
    """Implanted 10 days ago: 20 mL morphine 10 mg/mL at 0.5 mL/day (5 mg a day)."""
    t0 = timezone.now() - timedelta(days=10)
    implant = services.record_implant(
        by=physician,
        patient=patient,
        pump_model="synchromed2-20",
        serial="NGP1",
        implanted_at=t0,
        fluid_path_initial="primed",
    )
    services.record_pump_event(
        by=nurse,
        implant=implant,
        kind="fill",
        at=t0,
        fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
    )
    services.record_pump_event(
        by=physician,
        implant=implant,
        kind="program",
        at=t0,
        fields={"mode": "continuous", "rate_ml_per_day": 0.5},
    )
    return implant


def _form_post(client, url, data):
    """GET the form (which sets the CSRF cookie), then POST it with the token."""
    client.get(url)
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def _detail(clinic, patient) -> str:
    return f"/clinics/{clinic.slug}/patients/{patient.pk}/"


def test_chart_shows_the_pump_today(client_for, nurse, clinic, patient, pump):
    response = client_for(nurse).get(_detail(clinic, patient))
    assert response.status_code == 200
    html = response.content.decode()
    assert "morphine, 5 mg a day" in html
    assert re.search(r"<strong>15\.00 mL</strong> of 20 mL", html)
    assert "NGP1" in html
    assert "continuous, 0.5 mL/day" in html
    # the refill: earliest low alarm, 13 mL at 0.5 × 1.145 mL/day from now
    assert "Next refill" in html
    # the plot: data as JSON, drawn by static files; no inline script
    data = json.loads(re.search(r'id="pump-plot-data"[^>]*>(.*?)</script>', html, re.S)[1])
    assert data["reservoir"]["y"][-1] == pytest.approx(15.0, abs=1e-3)
    assert list(data["daily"]) == ["morphine"]
    assert "/static/vendor/plotly/plotly.min.js" in html
    assert "/static/openidds/pump-chart.js" in html
    for script in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        assert "src=" in script[0] or 'type="application/json"' in script[0]
    # the view is still audited
    assert AuditEvent.objects.filter(action=Action.PATIENT_VIEWED, patient=patient).count() == 1
    # and its record list shows who recorded what
    assert "Fill or refill" in html
    assert "volume_ml: 20" in html  # (PostgreSQL's jsonb orders the keys its own way)
    assert "drugs: morphine 10 mg/mL" in html


def test_chart_says_when_the_reservoir_is_empty(client_for, physician, nurse, clinic, patient):
    t0 = timezone.now() - timedelta(days=45)
    implant = services.record_implant(
        by=physician,
        patient=patient,
        pump_model="synchromed2-20",
        serial="E1",
        implanted_at=t0,
        fluid_path_initial="primed",
    )
    services.record_pump_event(
        by=nurse,
        implant=implant,
        kind="fill",
        at=t0,
        fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
    )
    services.record_pump_event(
        by=physician,
        implant=implant,
        kind="program",
        at=t0,
        fields={"mode": "continuous", "rate_ml_per_day": 0.5},
    )
    html = client_for(nurse).get(_detail(clinic, patient)).content.decode()
    assert "the reservoir is empty, nothing is delivered" in html
    assert '<span class="error">empty reservoir</span>' in html
    assert "overdue" in html


def test_chart_without_implant(client_for, nurse, clinic, patient):
    html = client_for(nurse).get(_detail(clinic, patient)).content.decode()
    assert "No active implant." in html
    assert 'id="pump-plot"' not in html
    assert "pump-chart.js" not in html
    assert "Record an implant" not in html  # nurses do not record implants


def test_chart_names_a_replay_error(client_for, physician, clinic, patient, pump):
    """A record the twin cannot replay (e.g. written before a rule changed) is shown as an
    error naming the field, and no reservoir, dose or refill date is shown."""
    from openidds.web.implants.models import PumpEvent

    PumpEvent.objects.create(
        implant=pump,
        kind="fill",
        at=pump.implanted_at + timedelta(days=1),
        fields={"volum_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
        sequence=99,
        recorded_by=physician,
    )
    html = client_for(physician).get(_detail(clinic, patient)).content.decode()
    assert "The twin cannot replay this pump&#x27;s records" in html
    assert "volum_ml" in html
    assert "Next refill" not in html
    assert "pump-plot-data" not in html


def test_plotly_is_a_static_file():
    found = finders.find("vendor/plotly/plotly.min.js")
    assert found is not None
    assert found.endswith("src/openidds/static/vendor/plotly/plotly.min.js")


def test_implant_form_reads_the_time_in_the_patient_zone(client_for, physician, clinic, patient):
    url = f"/clinics/{clinic.slug}/patients/{patient.pk}/implants/new/"
    assert client_for(physician).get(url).status_code == 200
    response = _form_post(
        client_for(physician),
        url,
        {
            "pump_model": "synchromed2-40",
            "serial": "X1",
            "implanted_at": "2026-01-05T10:00",
            "catheter_model": "8781",
            "catheter_length_cm": "45.5",
            "fluid_path_ml": "0.262",
            "fluid_path_initial": "no-drug",
            "fixed_rate_ml_per_day": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    implant = Implant.objects.get()
    # 10:00 in Europe/Berlin (the patient's zone) in January is 09:00 UTC
    assert implant.implanted_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert str(implant.fluid_path_ml) == "0.2620"


def test_implant_form_shows_service_errors(client_for, physician, clinic, patient, pump):
    url = f"/clinics/{clinic.slug}/patients/{patient.pk}/implants/new/"
    response = _form_post(
        client_for(physician),
        url,
        {
            "pump_model": "isomed-8472-20",
            "serial": "X2",
            "implanted_at": "2026-01-05T10:00",
            "fluid_path_initial": "no-drug",
        },
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "already has an active implant" in html
    assert "constant-flow pump" in html
    assert Implant.objects.count() == 1


def test_replacement_through_the_form(client_for, physician, clinic, patient, pump):
    url = f"/clinics/{clinic.slug}/patients/{patient.pk}/implants/new/"
    when = timezone.localtime(timezone.now(), timezone=None).strftime("%Y-%m-%dT%H:%M")
    response = _form_post(
        client_for(physician),
        url,
        {
            "pump_model": "synchromed2-20",
            "serial": "NGP2",
            "implanted_at": when,
            "fluid_path_initial": "no-drug",
            "replaces": "yes",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    pump.refresh_from_db()
    assert pump.status == ImplantStatus.REPLACED
    html = client_for(physician).get(_detail(clinic, patient)).content.decode()
    assert "replaced NGP1" in html
    assert "No fill or program recorded yet." in html


def test_explant_page(client_for, physician, clinic, patient, pump):
    url = f"/clinics/{clinic.slug}/patients/{patient.pk}/implants/{pump.pk}/explant/"
    response = _form_post(client_for(physician), url, {"at": "2020-01-01T10:00", "reason": ""})
    assert response.status_code == 422
    assert "before the implant date" in response.content.decode()
    when = timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    response = _form_post(client_for(physician), url, {"at": when, "reason": "infection"})
    assert response.status_code == 302
    pump.refresh_from_db()
    assert pump.status == ImplantStatus.EXPLANTED
    assert pump.end_reason == "infection"


def test_explant_of_another_patients_implant_is_404(
    client_for, physician, clinic, patient, pump, other_patient
):
    from web_helpers import patient_fields

    from openidds.web.patients.models import Patient

    second = Patient.objects.create(clinic=clinic, **patient_fields(mrn="M-2"))
    url = f"/clinics/{clinic.slug}/patients/{second.pk}/implants/{pump.pk}/explant/"
    assert client_for(physician).get(url).status_code == 404


# -- API -----------------------------------------------------------------------------------


def _api(client, path, body=None):
    client.get("/")  # sets the CSRF cookie
    token = client.cookies.get("csrftoken")
    headers = {"X-CSRFToken": token.value} if token else {}
    if body is None:
        return client.get(path)
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=headers
    )


def test_api_lists_and_creates_implants(client_for, physician, nurse, patient, pump):
    listed = _api(client_for(nurse), f"/api/v1/patients/{patient.pk}/implants")
    assert listed.status_code == 200
    [row] = listed.json()
    assert row["serial"] == "NGP1"
    assert row["status"] == "active"
    assert row["patient"] == patient.pk
    assert AuditEvent.objects.filter(action=Action.IMPLANTS_LISTED).count() == 1
    body = {
        "pump_model": "synchromed2-20",
        "serial": "NGP2",
        "implanted_at": timezone.now().isoformat(),
        "replaces": pump.pk,
    }
    created = _api(client_for(physician), f"/api/v1/patients/{patient.pk}/implants", body)
    assert created.status_code == 201, created.content
    assert created.json()["supersedes"] == pump.pk


def test_api_implant_errors_name_the_field(client_for, physician, patient):
    path = f"/api/v1/patients/{patient.pk}/implants"
    response = _api(
        client_for(physician),
        path,
        {"pump_model": "nope", "serial": "S", "implanted_at": "2026-01-05T09:00:00"},
    )
    assert response.status_code == 422
    fields = {item["field"] for item in response.json()["detail"]}
    assert fields == {"pump_model", "implanted_at"}  # unknown model; no UTC offset
    response = _api(
        client_for(physician),
        path,
        {
            "pump_model": "synchromed2-20",
            "serial": "S",
            "implanted_at": "2026-01-05T09:00:00Z",
            "replaces": 999999,
        },
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "replaces"


# -- recording fills; programs through prescriptions -----------------------------------------


def _local(dt: datetime, patient) -> str:
    from zoneinfo import ZoneInfo

    return dt.astimezone(ZoneInfo(patient.time_zone)).strftime("%Y-%m-%dT%H:%M")


def test_nurse_records_a_refill_through_the_page(client_for, nurse, clinic, patient, pump):
    from openidds.web.implants.models import PumpEvent

    url = f"/clinics/{clinic.slug}/patients/{patient.pk}/pump/fill/new/"
    at = pump.implanted_at + timedelta(days=8)
    response = _form_post(
        client_for(nurse),
        url,
        {
            "at": _local(at, patient),
            "aspirated_ml": "16.0",
            "volume_ml": "20",
            "drug_1": "morphine",
            "concentration_1": "10 mg/mL",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    event = PumpEvent.objects.order_by("-id").first()
    assert event.kind == "fill"
    assert event.fields == {
        "aspirated_ml": 16.0,
        "volume_ml": 20.0,
        "drugs": {"morphine": "10 mg/mL"},
    }
    assert event.recorded_by == nurse
    audit = AuditEvent.objects.get(action=Action.PUMP_EVENT_RECORDED, object_id=str(event.pk))
    assert audit.details["kind"] == "fill"


def test_a_refill_with_a_discrepancy_is_refused_and_sent_to_a_refill_visit(
    client_for, nurse, clinic, patient, pump
):
    """Expected 16 mL after 8 days; 10 mL aspirated: −6 mL, over the 1 mL threshold. The
    plain fill form must not let the nurse fill past it: only a refill visit, with a
    physician's acknowledgement, may record it. Nothing is saved."""
    from openidds.web.implants.models import PumpEvent

    before = PumpEvent.objects.count()
    url = f"/clinics/{clinic.slug}/patients/{patient.pk}/pump/fill/new/"
    response = _form_post(
        client_for(nurse),
        url,
        {
            "at": _local(pump.implanted_at + timedelta(days=8), patient),
            "aspirated_ml": "10.0",
            "volume_ml": "20",
            "drug_1": "morphine",
            "concentration_1": "10 mg/mL",
        },
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "Do not fill: record this refill through a refill visit" in page
    assert PumpEvent.objects.count() == before


def _now_local(patient) -> str:
    return _local(timezone.now() - timedelta(minutes=1), patient)


def test_a_program_with_a_hard_finding_is_refused_and_named(
    client_for, physician, clinic, patient, pump
):
    """Programs go through a prescription now; the hard finding blocks signing."""
    from openidds.web.implants.models import PumpEvent

    before = PumpEvent.objects.count()
    url = f"/clinics/{clinic.slug}/patients/{patient.pk}/prescriptions/new/"
    response = _form_post(
        client_for(physician),
        url,
        {
            "at": _now_local(patient),
            "program": "continuous",
            "dose_drug": "morphine",
            "dose": "100 mg/day",
            "action": "sign",
            "password": "correct horse battery staple",
        },
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "daily_dose_above_max" in html or "dose_implausible_unit" in html
    assert "A hard finding blocks this change" in html
    assert PumpEvent.objects.count() == before


def test_a_program_the_pump_cannot_run_names_the_dose_field(
    client_for, physician, clinic, patient, pump
):
    url = f"/clinics/{clinic.slug}/patients/{patient.pk}/prescriptions/new/"
    response = _form_post(
        client_for(physician),
        url,
        {
            "at": _now_local(patient),
            "program": "continuous",
            "dose_drug": "baclofen",
            "dose": "100 mcg/day",
            "action": "preview",
        },
    )
    assert response.status_code == 422
    assert 'id="id_dose_error"' in response.content.decode()  # baclofen is not in the pump


def test_program_form_needs_a_dose_or_a_rate(client_for, physician, clinic, patient, pump):
    url = f"/clinics/{clinic.slug}/patients/{patient.pk}/prescriptions/new/"
    response = _form_post(
        client_for(physician),
        url,
        {"at": _now_local(patient), "program": "continuous", "action": "preview"},
    )
    assert response.status_code == 422
    assert "give either a drug and its daily dose, or a rate" in response.content.decode()


def test_no_pump_event_pages_without_an_active_implant(client_for, physician, clinic, patient):
    url = f"/clinics/{clinic.slug}/patients/{patient.pk}/pump/fill/new/"
    assert client_for(physician).get(url).status_code == 404
    url = f"/clinics/{clinic.slug}/patients/{patient.pk}/pump/bolus/new/"
    assert client_for(physician).get(url).status_code == 404
