"""What the clinic app has now, as its users meet it in a real browser.

Each step of each journey goes through ``ui.check(...)``: a screenshot under
``test-artifacts/browser/``, axe-core (no serious or critical violation) and no
Content-Security-Policy violation or script error (see conftest.py). The clinical journeys
of issue 4 (refills, dose changes) join when those pages exist.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from openidds.web.audit.models import Action, AuditEvent
from openidds.web.patients.models import Patient


def test_nurse_searches_by_mrn_opens_the_chart_and_sees_no_other_clinic(
    ui: Any, clinics: dict[str, Any]
) -> None:
    page = ui.page
    nurse, anna, otto = clinics["own-nurse"], clinics["anna"], clinics["otto"]

    ui.login(nurse.username)
    # A nurse of one clinic lands on its worklist; the home page lists her clinics.
    assert ui.path == "/clinics/own/worklist/"
    expect(page.get_by_role("heading", name="Worklist", level=1)).to_be_visible()
    ui.goto("/")
    expect(page.get_by_role("heading", name="Own Clinic")).to_be_visible()
    expect(page.get_by_text("Other Clinic")).to_have_count(0)
    ui.check("home")

    page.get_by_role("link", name="Patients").first.click()
    expect(page.get_by_role("heading", name="Patients of Own Clinic")).to_be_visible()
    table = page.locator("#results")
    expect(table).to_contain_text("Anna Becker")
    expect(table).to_contain_text("Bruno Costa")
    expect(table).not_to_contain_text("Anna Other")
    ui.check("patient-list")

    # Typing searches as you go (htmx swaps #results and pushes the URL).
    page.get_by_label("Name or MRN").fill("M-1001")
    expect(page).to_have_url(re.compile(r"\?q=M-1001$"))
    expect(table).to_contain_text("1 patient matching “M-1001”")
    expect(table).to_contain_text("Anna Becker")
    expect(table).not_to_contain_text("Bruno Costa")
    # The other clinic's M-1001X (and its Anna) stay out of every search.
    expect(table).not_to_contain_text("M-1001X")
    ui.check("search-by-mrn")

    page.get_by_label("Name or MRN").fill("anna")
    expect(table).to_contain_text("1 patient matching “anna”")
    expect(table).not_to_contain_text("Anna Other")
    ui.check("search-by-name")

    page.get_by_role("link", name="Anna Becker").click()
    expect(page.get_by_role("heading", name="Anna Becker", level=1)).to_be_visible()
    expect(page.locator("dl.facts").first).to_contain_text("M-1001")
    expect(page.get_by_text("This view is recorded in the audit log.")).to_be_visible()
    assert ui.path == f"/clinics/own/patients/{anna.pk}/"
    ui.check("chart")
    viewed = AuditEvent.objects.filter(action=Action.PATIENT_VIEWED, actor=nurse, patient=anna)
    assert viewed.count() == 1

    # The other clinic's patient: not found, under either clinic's address, and not audited.
    for path in (f"/clinics/own/patients/{otto.pk}/", f"/clinics/other/patients/{otto.pk}/"):
        response = ui.goto(path)
        assert response.status == 404, path
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        expect(page.locator("main")).not_to_contain_text("Anna Other")
        ui.check("other-clinic-patient-not-found")
    assert not AuditEvent.objects.filter(patient=otto).exists()

    # The audit log is the clinic admin's: a nurse is refused.
    response = ui.goto("/clinics/own/audit/")
    assert response.status == 403
    ui.check("audit-log-refused")

    ui.goto("/")
    ui.logout()
    assert ui.path.startswith("/accounts/login/")
    ui.check("logged-out")
    assert AuditEvent.objects.filter(action=Action.LOGOUT, actor=nurse).count() == 1


def test_physician_creates_a_patient_after_a_field_error(ui: Any, clinics: dict[str, Any]) -> None:
    page = ui.page
    physician = clinics["own-physician"]

    ui.login(physician.username)
    ui.goto("/")
    ui.check("home")
    page.get_by_role("link", name="Add a patient").click()
    expect(page.get_by_role("heading", name="New patient")).to_be_visible()
    ui.check("new-patient-form")

    # Bad input: a date of birth in the future, an MRN the clinic already has, a time zone
    # that does not exist.
    page.get_by_label("Name").fill("Carla Dias")
    page.get_by_label("Date of birth").fill("2999-01-01")
    page.get_by_label("Medical record number").fill("M-1001")
    page.get_by_label("Indication").select_option("noncancer_pain")
    page.get_by_label("Opioid tolerance").select_option("naive")
    page.get_by_label("Time zone").fill("Mars/Olympus_Mons")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Save patient").click()
    assert navigation.value.status == 422
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(page.locator("#id_mrn_error")).to_contain_text(
        "another patient of this clinic has the MRN M-1001"
    )
    expect(page.locator("#id_date_of_birth_error")).to_contain_text("in the future")
    expect(page.locator("#id_time_zone_error")).to_contain_text("not an IANA time zone")
    # Screen readers get the error with the field: aria-invalid and aria-describedby.
    mrn = page.get_by_label("Medical record number")
    expect(mrn).to_have_attribute("aria-invalid", "true")
    expect(mrn).to_have_accessible_description(re.compile("another patient of this clinic"))
    expect(page.get_by_label("Name")).not_to_have_attribute("aria-invalid", "true")
    # What was typed is kept.
    expect(page.get_by_label("Name")).to_have_value("Carla Dias")
    ui.check("field-errors")
    assert not Patient.objects.filter(name="Carla Dias").exists()

    page.get_by_label("Date of birth").fill("1980-02-29")
    page.get_by_label("Medical record number").fill("M-2001")
    page.get_by_label("Time zone").fill("Europe/Madrid")
    page.get_by_label("Allergies").fill("Penicillin")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Save patient").click()
    assert navigation.value.status == 200
    expect(page.get_by_role("heading", name="Carla Dias", level=1)).to_be_visible()
    expect(page.locator("dl.facts").first).to_contain_text("M-2001")
    expect(page.locator("dl.facts").first).to_contain_text("Europe/Madrid")
    ui.check("new-chart")

    carla = Patient.objects.get(name="Carla Dias")
    assert carla.clinic == clinics["own"]
    assert ui.path == f"/clinics/own/patients/{carla.pk}/"
    created = AuditEvent.objects.get(action=Action.PATIENT_CREATED, patient=carla)
    assert created.actor == physician


def test_clinic_admin_filters_the_audit_log(ui: Any, clinics: dict[str, Any]) -> None:
    from openidds.web.patients.services import record_patient_view

    page = ui.page
    nurse, physician = clinics["own-nurse"], clinics["own-physician"]
    bruno = clinics["bruno"]
    record_patient_view(by=nurse, patient=clinics["anna"])
    record_patient_view(by=nurse, patient=bruno)
    record_patient_view(by=physician, patient=bruno)
    record_patient_view(by=clinics["other-nurse"], patient=clinics["otto"])

    ui.login(clinics["own-clinic_admin"].username)
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log of Own Clinic")).to_be_visible()
    log = page.locator("table.audit")
    expect(log).to_contain_text("Bruno Costa")
    expect(log).not_to_contain_text("Anna Other")  # the other clinic's events
    expect(log).not_to_contain_text("other-nurse")
    ui.check("audit-log")

    page.get_by_label("Action").select_option(label="Patient chart viewed")
    page.get_by_label("User name contains").fill("nurse")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"action=patient_viewed"))
    expect(log.locator("caption")).to_contain_text("2 events")
    rows = log.locator("tbody tr")
    expect(rows).to_have_count(2)
    for index in range(2):
        expect(rows.nth(index)).to_contain_text("own-nurse")
        expect(rows.nth(index)).to_contain_text("Patient chart viewed")
    ui.check("filtered-by-action-and-user")

    page.get_by_label("User name contains").fill("")
    page.get_by_label("Patient id").fill(str(bruno.pk))
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    expect(log).to_contain_text("own-nurse")
    expect(log).to_contain_text("own-physician")
    expect(log).not_to_contain_text("Anna Becker")
    ui.check("filtered-by-patient")

    page.get_by_label("Patient id").fill("")
    page.get_by_label("Action").select_option(label="Logged in")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("own-clinic_admin")
    ui.check("filtered-by-login")
    assert AuditEvent.objects.filter(action=Action.AUDIT_LOG_VIEWED).count() >= 4


def test_five_failed_logins_lock_the_account_visibly(ui: Any, clinics: dict[str, Any]) -> None:
    page = ui.page
    nurse = clinics["own-nurse"]

    for attempt in range(1, 5):
        ui.login(nurse.username, "not the password", check=attempt == 1)
        expect(page.get_by_role("alert")).to_contain_text("did not match")
        assert ui.path.startswith("/accounts/login/")
        if attempt in (1, 4):
            ui.check(f"failed-login-{attempt}")

    # The fifth failure locks the user name: the locked page, not the form.
    ui.login(nurse.username, "still not the password", check=False)
    expect(page.get_by_role("heading", name="Account locked")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("locked for 15 minutes")
    ui.check("locked-after-5")

    # Now even the right password is refused...
    ui.login(nurse.username, check=False)
    expect(page.get_by_role("heading", name="Account locked")).to_be_visible()
    ui.check("right-password-still-locked")
    ui.goto("/")
    assert ui.path.startswith("/accounts/login/")
    assert AuditEvent.objects.filter(action=Action.LOGIN_FAILED, actor=nurse).count() >= 5
    assert not AuditEvent.objects.filter(action=Action.LOGIN, actor=nurse).exists()

    # ...while another user of the same clinic (the same address) still gets in.
    ui.login(clinics["own-physician"].username, check=False)
    assert ui.path == "/clinics/own/worklist/"
    ui.goto("/")
    expect(page.get_by_role("heading", name="Own Clinic")).to_be_visible()
    ui.check("other-user-logs-in")
