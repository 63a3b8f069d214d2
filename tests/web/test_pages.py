"""The pages as a user meets them: search, the create form, the chart, the landing page."""

from __future__ import annotations

import pytest

from openidds.web.accounts.models import Role
from openidds.web.audit.models import Action, AuditEvent
from openidds.web.patients.models import Patient

pytestmark = pytest.mark.django_db


def test_landing_page_shows_the_users_clinics_and_links(client_for, users):
    html = client_for(users[Role.NURSE]).get("/").content.decode()
    assert "Own Clinic" in html
    assert "/clinics/own/patients/" in html
    assert "/clinics/own/audit/" not in html
    html = client_for(users[Role.CLINIC_ADMIN]).get("/").content.decode()
    assert "/clinics/own/audit/" in html
    assert "/clinics/own/patients/" not in html


def test_patient_search_by_name_and_mrn(client_for, users, patient, clinic):
    Patient.objects.create(
        clinic=clinic,
        name="Zora Zed",
        date_of_birth="1970-01-01",
        mrn="Z-9",
        indication="noncancer_pain",
        opioid_tolerance="naive",
    )
    client = client_for(users[Role.PHYSICIAN])
    html = client.get("/clinics/own/patients/?q=zora").content.decode()
    assert "Zora Zed" in html
    assert "Anna Becker" not in html
    html = client.get("/clinics/own/patients/?q=m-1").content.decode()
    assert "Anna Becker" in html
    assert "Zora Zed" not in html
    # htmx asks for the results only.
    partial = client.get("/clinics/own/patients/?q=zed", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    text = partial.content.decode()
    assert "Zora Zed" in text
    assert "<html" not in text


def test_create_form_saves_and_redirects_to_the_chart(client_for, users):
    client = client_for(users[Role.NURSE])
    form = client.get("/clinics/own/patients/new/")
    token = form.cookies["csrftoken"].value if "csrftoken" in form.cookies else None
    token = token or client.cookies["csrftoken"].value
    response = client.post(
        "/clinics/own/patients/new/",
        {
            "csrfmiddlewaretoken": token,
            "name": "Form Patient",
            "date_of_birth": "1975-07-07",
            "mrn": "F-1",
            "indication": "cancer_pain",
            "opioid_tolerance": "tolerant",
            "allergies": "",
            "time_zone": "Europe/Madrid",
            "status": "active",
        },
    )
    patient = Patient.objects.get(mrn="F-1")
    assert response.status_code == 302
    assert response["Location"] == f"/clinics/own/patients/{patient.pk}/"
    chart = client.get(response["Location"])
    assert "Form Patient" in chart.content.decode()
    assert AuditEvent.objects.filter(action=Action.PATIENT_VIEWED, patient=patient).count() == 1


def test_create_form_errors_name_the_field_and_save_nothing(client_for, users, patient):
    client = client_for(users[Role.NURSE])
    client.get("/clinics/own/patients/new/")
    response = client.post(
        "/clinics/own/patients/new/",
        {
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
            "name": "Dup",
            "date_of_birth": "1975-07-07",
            "mrn": patient.mrn,
            "indication": "cancer_pain",
            "opioid_tolerance": "tolerant",
            "time_zone": "Europe/Nowhere",
            "status": "active",
        },
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="id_time_zone_error"' in html
    assert "not an IANA time zone name" in html
    # The MRN clash (the service's rule) is reported at the same time.
    assert 'id="id_mrn_error"' in html
    assert 'aria-describedby="id_mrn_helptext id_mrn_error"' in html
    assert 'aria-invalid="true"' in html
    assert Patient.objects.count() == 1
    # With only the MRN wrong, the MRN clash is still reported on the MRN field.
    response = client.post(
        "/clinics/own/patients/new/",
        {
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
            "name": "Dup",
            "date_of_birth": "1975-07-07",
            "mrn": patient.mrn,
            "indication": "cancer_pain",
            "opioid_tolerance": "tolerant",
            "time_zone": "UTC",
            "status": "active",
        },
    )
    assert response.status_code == 422
    assert 'id="id_mrn_error"' in response.content.decode()
    assert Patient.objects.count() == 1


def test_patient_detail_shows_identity_and_is_audited(client_for, users, patient):
    html = client_for(users[Role.PHYSICIAN]).get(f"/clinics/own/patients/{patient.pk}/")
    text = html.content.decode()
    assert "Anna Becker" in text
    assert "Europe/Berlin" in text
    assert "Opioid tolerant" in text
    event = AuditEvent.objects.get(action=Action.PATIENT_VIEWED)
    assert event.patient == patient
    assert event.ip_address == "127.0.0.1"


def test_patient_of_own_clinic_under_other_slug_is_404(client_for, users, patient, other_clinic):
    from web_helpers import make_user

    both = make_user("both", other_clinic, Role.PHYSICIAN)
    response = client_for(both).get(f"/clinics/other/patients/{patient.pk}/")
    assert response.status_code == 404


def test_edit_form_changes_the_patient_through_the_service(client_for, users, patient):
    client = client_for(users[Role.PHYSICIAN])
    form = client.get(f"/clinics/own/patients/{patient.pk}/edit/")
    assert form.status_code == 200
    assert 'value="Anna Becker"' in form.content.decode()
    data = {
        "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        "name": "Anna Becker-Schmidt",
        "date_of_birth": "1958-03-14",
        "mrn": "M-1",
        "indication": "cancer_pain",
        "opioid_tolerance": "tolerant",
        "time_zone": "Europe/Berlin",
        "status": "active",
    }
    response = client.post(f"/clinics/own/patients/{patient.pk}/edit/", data)
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.name == "Anna Becker-Schmidt"
    event = AuditEvent.objects.get(action=Action.PATIENT_UPDATED)
    assert event.details["changes"] == {
        "name": {"old": "Anna Becker", "new": "Anna Becker-Schmidt"}
    }
    chart = client.get(response["Location"]).content.decode()
    assert "Saved. The change is in the audit log." in chart


def test_edit_form_bad_input_changes_nothing(client_for, users, patient, clinic):
    Patient.objects.create(
        clinic=clinic,
        name="Other",
        date_of_birth="1970-01-01",
        mrn="M-2",
        indication="noncancer_pain",
        opioid_tolerance="naive",
    )
    client = client_for(users[Role.NURSE])
    client.get(f"/clinics/own/patients/{patient.pk}/edit/")
    response = client.post(
        f"/clinics/own/patients/{patient.pk}/edit/",
        {
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
            "name": "Changed",
            "date_of_birth": "3000-01-01",
            "mrn": "M-2",
            "indication": "cancer_pain",
            "opioid_tolerance": "tolerant",
            "time_zone": "Europe/Berlin",
            "status": "active",
        },
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert 'id="id_date_of_birth_error"' in html
    assert 'id="id_mrn_error"' in html  # the clash with the other patient, at the same time
    patient.refresh_from_db()
    assert patient.name == "Anna Becker"
    assert not AuditEvent.objects.filter(action=Action.PATIENT_UPDATED).exists()
