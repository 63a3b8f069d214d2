"""The physician's dose change (issue 4): open a patient on morphine, raise the dose by more
than +20 %, see old and new and the soft finding, give a reason, re-enter the password,
save; the chart shows the new dose. Every step: screenshot, axe-core, no CSP violation."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from django.utils import timezone
from playwright.sync_api import expect

from openidds.web.audit.models import Action, AuditEvent
from openidds.web.implants import services as implant_services
from openidds.web.prescriptions.models import Prescription

PASSWORD = "correct horse battery staple"


def _morphine_pump(clinics: dict[str, Any]) -> Any:
    """Anna: 20 mL morphine 10 mg/mL at 5 mg/day since ten days ago, through the services."""
    physician, nurse, anna = clinics["own-physician"], clinics["own-nurse"], clinics["anna"]
    t0 = timezone.now().astimezone(UTC).replace(second=0, microsecond=0) - timedelta(days=10)
    implant = implant_services.record_implant(
        by=physician,
        patient=anna,
        pump_model="synchromed2-20",
        serial="JRN-1",
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


def test_physician_raises_a_morphine_dose_with_a_reason_and_password(
    ui: Any, clinics: dict[str, Any]
) -> None:
    page = ui.page
    anna, physician = clinics["anna"], clinics["own-physician"]
    _morphine_pump(clinics)

    ui.login(physician.username)
    ui.goto(f"/clinics/own/patients/{anna.pk}/")
    expect(page.get_by_text("morphine, 5 mg a day")).to_be_visible()
    ui.check("chart-before")

    page.get_by_role("link", name="Prescribe a change").first.click()
    expect(page.get_by_role("heading", name="Prescribe a change for Anna Becker")).to_be_visible()
    ui.check("compose")

    # 5 -> 6.5 mg/day is +30 %: above morphine's +20 % per change (a soft finding)
    page.get_by_label("Program", exact=True).select_option("continuous")
    page.get_by_label("Drug dosed").select_option("morphine")
    page.get_by_label("Daily dose", exact=True).fill("6.5 mg/day")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("heading", name="What this change does")).to_be_visible()
    diff = page.locator("table.diff")
    dose_row = diff.locator("tr", has_text="morphine: daily dose")
    expect(dose_row).to_contain_text("5 mg/day")
    expect(dose_row).to_contain_text("6.5 mg/day")
    expect(page.locator(".finding.soft")).to_contain_text("dose_increase_too_large")
    expect(page.locator("#forecast-plot .main-svg").first).to_be_visible()
    assert not Prescription.objects.exists()
    ui.check("preview-with-soft-finding")

    # signing without the reason is refused, and says why
    page.get_by_label("Your password (re-authentication)").fill(PASSWORD)
    page.get_by_role("button", name="Sign and save").click()
    expect(page.get_by_text("give a written reason").first).to_be_visible()
    assert not Prescription.objects.exists()
    ui.check("reason-missing")

    page.get_by_label("Reason for accepting dose_increase_too_large").fill(
        "Pain 8/10 on 5 mg a day; agreed at the pain MDT"
    )
    page.get_by_label("Your password (re-authentication)").fill(PASSWORD)
    ui.check("reason-and-password")
    page.get_by_role("button", name="Sign and save").click()

    expect(page.get_by_text("Prescription version 1 signed and saved")).to_be_visible()
    expect(page.get_by_text("verified", exact=True)).to_be_visible()
    expect(page.locator("table.diff tr", has_text="morphine: daily dose")).to_contain_text(
        "6.5 mg/day"
    )
    ui.check("signed-version-1")

    page.get_by_role("link", name="Back to the chart").click()
    expect(page.get_by_role("heading", name="Anna Becker", level=1)).to_be_visible()
    expect(page.get_by_text("morphine, 6.5 mg a day")).to_be_visible()
    expect(page.locator("#prescriptions-heading")).to_be_visible()
    ui.check("chart-after")
    prescription = Prescription.objects.get()
    assert prescription.reasons == {
        "dose_increase_too_large": "Pain 8/10 on 5 mg a day; agreed at the pain MDT"
    }
    assert AuditEvent.objects.filter(action=Action.PRESCRIPTION_SIGNED).count() == 1

    page.get_by_role("link", name="All prescriptions").click()
    expect(page.get_by_role("link", name="Version 1")).to_be_visible()
    ui.check("prescription-history")
