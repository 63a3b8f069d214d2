"""Refill visits as users meet them: the pages (htmx and plain posts), the chart panel, the
API and the worklist section. Numbers: see test_refills.py (expected 5.0 mL at AT,
threshold 1 mL)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from test_refills_helpers import AT, make_pump
from web_helpers import patient_fields

from openidds.web.audit.models import Action, AuditEvent
from openidds.web.implants.models import PumpEvent
from openidds.web.patients.models import Patient
from openidds.web.refills import services
from openidds.web.refills.models import RefillVisit, VisitStatus
from openidds.web.refills.worklist import open_discrepancies_provider
from openidds.web.worklists.registry import registered

pytestmark = pytest.mark.django_db
ALL_ITEMS = ["port_located", "needle_confirmed", "volumes_read_back"]


@pytest.fixture
def implant(patient, physician):
    return make_pump(patient, physician)


@pytest.fixture
def visit(nurse, patient, implant):
    return services.start_visit(by=nurse, patient=patient, at=AT)


def _url(visit, suffix=""):
    return f"/clinics/own/patients/{visit.patient_id}/refills/{visit.pk}/{suffix}"


def _text(response):
    return re.sub(r"\s+", " ", response.content.decode())


def _csrf(client):
    client.get("/")
    return client.cookies["csrftoken"].value


def test_chart_panel_starts_a_visit(client_for, nurse, patient, implant):
    client = client_for(nurse)
    chart = client.get(f"/clinics/own/patients/{patient.pk}/")
    assert chart.status_code == 200
    assert "Start refill visit" in _text(chart)
    client = client_for(nurse)
    client.get(f"/clinics/own/patients/{patient.pk}/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        f"/clinics/own/patients/{patient.pk}/refills/new/",
        {"at": "2026-02-04T10:00", "csrfmiddlewaretoken": token},  # 09:00 UTC in Berlin
    )
    visit = RefillVisit.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _url(visit)
    assert visit.at == AT
    page = client.get(_url(visit))
    text = _text(page)
    assert "The twin expects <strong>5.00 mL</strong>" in text
    assert "2026-02-04 10:00 CET" in text  # the instant, in the patient's time zone
    assert "10 milligrams of morphine in each millilitre" in text
    assert "Morphine (preservative-free) 10 mg/mL" in text
    assert "<strong>20.00 mL</strong>" in text  # the volume to draw up
    assert "That is 200 mg in 20 mL" in text
    chart = client.get(f"/clinics/own/patients/{patient.pk}/")
    assert "Open the refill visit" in _text(chart)
    assert "Start refill visit" not in _text(chart)


def test_start_page_shows_why_it_cannot_start(client_for, nurse, clinic):
    bare = Patient.objects.create(clinic=clinic, **patient_fields(mrn="M-9", name="Bare"))
    client = client_for(nurse)
    client.get(f"/clinics/own/patients/{bare.pk}/refills/new/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        f"/clinics/own/patients/{bare.pk}/refills/new/", {"csrfmiddlewaretoken": token}
    )
    assert response.status_code == 422
    assert "the patient has no active implant" in _text(response)
    assert not RefillVisit.objects.exists()


def test_htmx_aspiration_shows_the_discrepancy_at_once_and_blocks(
    client_for, nurse, physician, visit
):
    client = client_for(nurse)
    token = _csrf(client)
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_X_CSRFTOKEN": token}
    response = client.post(_url(visit, "checklist/"), {"items": ALL_ITEMS}, **htmx)
    assert response.status_code == 200
    text = _text(response)
    assert text.startswith('<div id="visit-work">')  # the fragment, not the page
    assert text.count("yes, own-nurse at") == 3
    response = client.post(_url(visit, "aspiration/"), {"aspirated_ml": "3.00"}, **htmx)
    text = _text(response)
    assert response.status_code == 200
    # Expected 5.00, measured 3.00 + 0.00 = 3.00, difference −2.00 (2 mL less), threshold 1.
    assert "Expected in the reservoir</dt><dd>5.00 mL" in text
    assert "3.00 mL aspirated + 0.00 mL left = 3.00 mL" in text
    assert "<strong>-2.00 mL</strong>: 2 mL less than expected" in text
    assert "Threshold</dt><dd>1 mL for this pump" in text
    assert 'id="fill-blocked" class="refill-block" role="alert"' in text
    assert "Do not fill." in text
    assert "<fieldset disabled>" in text
    # Posting the fill anyway is refused, and nothing is filled.
    events = PumpEvent.objects.count()
    response = client.post(
        _url(visit, "complete/"),
        {
            "volume_ml": "20",
            "conc_morphine": "10 mg/mL",
            "drug_lot": "L1",
            "drug_expiry": "2026-06-30",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 422
    assert "do not fill until a physician has acknowledged it" in _text(response)
    assert PumpEvent.objects.count() == events
    # A nurse sees no acknowledgement button; the acknowledgement page refuses her.
    page = client.get(_url(visit))
    assert "Review and acknowledge" not in _text(page)
    assert "Ask a physician" in _text(page)
    assert client.get(_url(visit, "acknowledge/")).status_code == 403

    doctor = client_for(physician)
    page = doctor.get(_url(visit))
    assert "Review and acknowledge the discrepancy" in _text(page)
    ack_page = doctor.get(_url(visit, "acknowledge/"))
    assert ack_page.status_code == 200
    assert "2 mL less than expected" in _text(ack_page)
    token = doctor.cookies["csrftoken"].value
    refused = doctor.post(
        _url(visit, "acknowledge/"),
        {"decision": "proceed", "note": "", "csrfmiddlewaretoken": token},
    )
    assert refused.status_code == 422
    assert "This field is required" in _text(refused)
    done = doctor.post(
        _url(visit, "acknowledge/"),
        {
            "decision": "proceed",
            "note": "No pocket swelling; refill.",
            "csrfmiddlewaretoken": token,
        },
    )
    assert done.status_code == 302

    response = client.post(
        _url(visit, "complete/"),
        {
            "volume_ml": "20",
            "conc_morphine": "10 mg/mL",
            "drug_lot": "L1",
            "drug_expiry": "2026-06-30",
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302
    page = _text(client.get(_url(visit)))
    assert "Refill completed" in page
    # Next refill 31.44 days after 2026-02-04 09:00 UTC = 2026-03-07 19:35 UTC = 20:35 CET.
    assert '<strong id="next-refill">2026-03-07 20:35 CET</strong>' in page
    # Low-reservoir alarm 36 days after (2026-03-12 10:00 CET), empty 40 days after.
    assert "2026-03-12 10:00 CET expected" in page
    assert "Empty</dt><dd>2026-03-16 10:00 CET" in page
    assert "No pocket swelling; refill." in page


def test_plain_post_errors_keep_the_input(client_for, nurse, visit):
    client = client_for(nurse)
    token = _csrf(client)
    response = client.post(
        _url(visit, "aspiration/"), {"aspirated_ml": "-1", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 422
    assert "Ensure this value is greater than or equal to 0" in _text(response)
    response = client.post(
        _url(visit, "aspiration/"), {"aspirated_ml": "4.50", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    response = client.post(
        _url(visit, "complete/"),
        {
            "volume_ml": "20",
            "conc_morphine": "20 mg/mL",
            "drug_lot": "L1",
            "drug_expiry": "2026-02-01",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 422
    text = _text(response)
    assert "confirm before the fill" in text  # the checklist is not done
    assert 'value="20 mg/mL"' in text
    visit.refresh_from_db()
    assert visit.status == VisitStatus.READY_TO_FILL


def test_abandon_from_the_page(client_for, nurse, visit):
    client = client_for(nurse)
    token = _csrf(client)
    response = client.post(
        _url(visit, "abandon/"), {"reason": "patient declined", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.status == VisitStatus.ABANDONED
    assert "patient declined" in _text(client.get(_url(visit)))


def test_chart_lists_visits_with_discrepancies_in_red(client_for, nurse, physician, visit):
    visit = services.record_aspiration(by=nurse, visit=visit, aspirated_ml="3.00")
    chart = _text(client_for(physician).get(f"/clinics/own/patients/{visit.patient_id}/"))
    assert 'class="error">-2.00 mL (over 1 mL)' in chart
    assert '<span class="error">awaiting</span>' in chart
    assert "Discrepancy: awaiting a physician" in chart


def test_visit_page_is_audited(client_for, nurse, visit):
    client_for(nurse).get(_url(visit))
    event = AuditEvent.objects.filter(action=Action.REFILL_VISIT_VIEWED).last()
    assert event.details["visit"] == visit.pk
    assert event.patient_id == visit.patient_id


# -- API --------------------------------------------------------------------------------------


def _api(client, method, path, body=None):
    token = _csrf(client)
    call = getattr(client, method)
    if body is None:
        return call(f"/api/v1{path}", HTTP_X_CSRFTOKEN=token)
    return call(
        f"/api/v1{path}",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )


def test_api_whole_visit(client_for, nurse, physician, patient, implant):
    nurse_client, doctor = client_for(nurse), client_for(physician)
    started = _api(
        nurse_client, "post", f"/patients/{patient.pk}/refill-visits", {"at": AT.isoformat()}
    )
    assert started.status_code == 201, started.content
    body = started.json()
    vid = body["id"]
    assert body["expected_residual_ml"] == pytest.approx(5.0)
    assert body["threshold_ml"] == 1.0
    assert body["order"]["drugs"] == {"morphine": "10 mg/mL"}
    assert body["order"]["volume_ml"] == 20.0
    assert body["order"]["lines"][0]["words"] == "10 milligrams of morphine in each millilitre"
    again = _api(nurse_client, "post", f"/patients/{patient.pk}/refill-visits", {})
    assert again.status_code == 422
    assert again.json()["detail"][0]["field"] == "__all__"
    checklist = _api(nurse_client, "post", f"/refill-visits/{vid}/checklist", {"items": ALL_ITEMS})
    assert all(c["confirmed"] and c["by"] == "own-nurse" for c in checklist.json()["checklist"])
    bad = _api(nurse_client, "post", f"/refill-visits/{vid}/checklist", {"items": ["gloves"]})
    assert bad.status_code == 422
    asp = _api(nurse_client, "post", f"/refill-visits/{vid}/aspiration", {"aspirated_ml": 2.5})
    assert asp.status_code == 200
    # 2.5 − 5.0 = −2.5 mL, over 1 mL
    assert asp.json()["discrepancy_ml"] == pytest.approx(-2.5)
    assert asp.json()["status"] == "awaiting_acknowledgement"
    fill = {"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}, "drug_lot": "A1"}
    fill["drug_expiry"] = "2026-06-30"
    blocked = _api(nurse_client, "post", f"/refill-visits/{vid}/complete", fill)
    assert blocked.status_code == 422
    assert "do not fill until a physician" in blocked.json()["detail"][0]["message"]
    listed = _api(nurse_client, "get", "/refill-discrepancies?clinic=own")
    assert [v["id"] for v in listed.json()] == [vid]
    assert _api(nurse_client, "get", "/refill-discrepancies?clinic=other").status_code == 422
    refused = _api(nurse_client, "post", f"/refill-visits/{vid}/acknowledgements", {"note": "x"})
    assert refused.status_code == 403
    ack = _api(doctor, "post", f"/refill-visits/{vid}/acknowledgements", {"note": "Checked."})
    assert ack.status_code == 200
    assert ack.json()["status"] == "ready_to_fill"
    assert ack.json()["acknowledgements"][0]["physician"] == "own-physician"
    done = _api(nurse_client, "post", f"/refill-visits/{vid}/complete", fill)
    assert done.status_code == 200, done.content
    body = done.json()
    assert body["status"] == "completed"
    assert body["next_refill_at"].startswith("2026-03-07T19:35")
    assert PumpEvent.objects.get(pk=body["fill_event"]).fields["aspirated_ml"] == 2.5
    one = _api(nurse_client, "get", f"/refill-visits/{vid}")
    assert one.json()["drug_expiry"] == "2026-06-30"
    history = _api(nurse_client, "get", f"/patients/{patient.pk}/refill-visits")
    assert [v["id"] for v in history.json()] == [vid]
    assert _api(nurse_client, "get", "/refill-discrepancies?clinic=own").json() == []


def test_api_abandon_and_errors(client_for, nurse, visit):
    client = client_for(nurse)
    missing = _api(client, "post", f"/refill-visits/{visit.pk}/abandon", {"reason": ""})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["field"] == "reason"
    done = _api(client, "post", f"/refill-visits/{visit.pk}/abandon", {"reason": "rescheduled"})
    assert done.json()["status"] == "abandoned"
    assert _api(client, "get", "/refill-visits/999999").status_code == 404


def test_schema_documents_every_error():
    from openidds.web.api import api

    schema = api.get_openapi_schema()
    for path, item in schema["paths"].items():
        if "refill" not in path:
            continue
        for operation in item.values():
            assert {"401", "403", "404", "422"} <= {str(k) for k in operation["responses"]}, path


# -- worklist ---------------------------------------------------------------------------------


def test_worklist_section_is_registered_and_answers_in_constant_queries(
    nurse, physician, clinic, other_clinic
):
    assert "open_discrepancies" in [s.key for s in registered()]
    section = next(s for s in registered() if s.key == "open_discrepancies")
    assert section.title == "Refill discrepancies awaiting a physician"

    def add(n: int) -> None:
        for i in range(n):
            p = Patient.objects.create(
                clinic=clinic, **patient_fields(mrn=f"W-{n}-{i}", name=f"Pat {n}-{i}")
            )
            make_pump(p, physician)
            v = services.start_visit(by=nurse, patient=p, at=AT)
            services.record_aspiration(by=nurse, visit=v, aspirated_ml="3.00")

    add(1)
    with CaptureQueriesContext(connection) as one:
        items = open_discrepancies_provider(clinic, datetime.now(UTC))
    assert len(items) == 1
    add(4)
    with CaptureQueriesContext(connection) as five:
        items = open_discrepancies_provider(clinic, datetime.now(UTC))
    assert len(items) == 5
    assert len(one.captured_queries) == len(five.captured_queries) == 1
    item = items[0]
    assert item.urgent
    assert item.text.startswith("Refill discrepancy: 2 mL less than the twin expected")
    assert item.url.startswith("/clinics/own/patients/")
    assert open_discrepancies_provider(other_clinic, datetime.now(UTC)) == []


def test_worklist_says_when_more_came_out(nurse, patient, implant):
    visit = services.start_visit(by=nurse, patient=patient, at=AT)
    visit = services.record_aspiration(by=nurse, visit=visit, aspirated_ml="6.50")
    assert visit.discrepancy_ml == pytest.approx(1.5)  # 6.5 − 5.0
    items = open_discrepancies_provider(patient.clinic, datetime.now(UTC))
    assert "1.5 mL more than the twin expected" in items[0].text
