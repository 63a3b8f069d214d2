"""The nurse's refill journey of issue 4, in a real browser.

A nurse opens the worklist, opens the patient, starts the refill visit, ticks the pocket-fill
checklist and records an aspirated volume 2 mL short of what the twin expects: the block
shows in red and the refill cannot be completed. A physician (a second browser context)
acknowledges the discrepancy with a note; the nurse then completes the refill and sees the
new next refill date. Every step: screenshot, axe-core, no CSP violation (``ui.check``).

The pump: SynchroMed II 20 mL, primed, filled 30 days ago with 20 mL of morphine 10 mg/mL
at 5 mg/day (0.5 mL/day), so the twin expects 20 − 0.5 × 30 = 5.0 mL now (a few seconds
less by the time the visit starts: the test's clock runs).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from openidds.web.implants import services as implant_services
from openidds.web.implants.models import PumpEvent
from openidds.web.refills.models import DiscrepancyAcknowledgement, RefillVisit, VisitStatus

#: Recorded in the physician's browser context as conftest records it in the nurse's.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI});
});
"""


def check_chart(ui: Any, step: str) -> None:
    """The chart step: the same checks as every step (plotly's styles come from the app)."""
    ui.check(step)


def check(ui: Any, step: str) -> None:
    ui.check(step)


@pytest.fixture
def pump(clinics: dict[str, Any]) -> Any:
    physician, anna = clinics["own-physician"], clinics["anna"]
    start = timezone.now() - timedelta(days=30)
    implant = implant_services.record_implant(
        by=physician,
        patient=anna,
        pump_model="synchromed2-20",
        serial="SM2-7781",
        implanted_at=start,
        fluid_path_initial="primed",
    )
    implant_services.record_pump_event(
        by=physician,
        implant=implant,
        kind="fill",
        at=start,
        fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
    )
    implant_services.record_pump_event(
        by=physician,
        implant=implant,
        kind="program",
        at=start,
        fields={"mode": "continuous", "dose": {"morphine": "5 mg/day"}},
    )
    return implant


def test_nurse_refill_with_a_discrepancy_is_blocked_until_a_physician_acknowledges(
    ui: Any, browser: Any, live_server: Any, clinics: dict[str, Any], pump: Any
) -> None:
    page = ui.page
    nurse, anna = clinics["own-nurse"], clinics["anna"]

    ui.login(nurse.username)
    page.get_by_role("link", name="Worklist").first.click()
    expect(page.get_by_role("heading", name="Worklist", level=1)).to_be_visible()
    expect(
        page.get_by_role("heading", name=re.compile("Refill discrepancies awaiting"))
    ).to_be_visible()
    check(ui, "worklist")

    page.get_by_role("link", name="Anna Becker").first.click()
    expect(page.get_by_role("heading", name="Anna Becker", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Refill visits")).to_be_visible()
    check_chart(ui, "chart-before-refill")

    with page.expect_navigation():
        page.get_by_role("button", name="Start refill visit").click()
    visit = RefillVisit.objects.get(patient=anna)
    assert ui.path == f"/clinics/own/patients/{anna.pk}/refills/{visit.pk}/"
    expected = page.locator("#expected")
    expect(expected).to_contain_text("The twin expects 5.00 mL")
    expect(page.get_by_text("10 milligrams of morphine in each millilitre")).to_be_visible()
    expect(page.locator(".refill-draw")).to_contain_text("20.00 mL")
    check(ui, "visit-started")

    # The checklist: three recorded yeses (htmx swaps the working part of the page).
    for label in ("Reservoir fill port located", "Needle position", "Volumes read back"):
        page.get_by_label(re.compile(label)).check()
    page.get_by_role("button", name="Record the ticked items").click()
    expect(page.locator(".refill-checklist")).to_contain_text("yes, own-nurse at", timeout=10_000)
    expect(page.locator(".refill-yes")).to_have_count(3)
    check(ui, "checklist-recorded")

    # 3.00 mL aspirated where the twin expects 5.00: −2.00 mL, more than the 1 mL threshold.
    page.get_by_label("Aspirated volume (mL)").fill("3.00")
    page.get_by_role("button", name="Record and check").click()
    result = page.locator("#discrepancy")
    expect(result).to_contain_text("2 mL less than expected")
    expect(result).to_contain_text("1 mL for this pump")
    block = page.locator("#fill-blocked")
    expect(block).to_contain_text("Do not fill.")
    color = block.evaluate("el => getComputedStyle(el).color")
    assert color == "rgb(164, 22, 26)", color  # the app's red (--bad)
    complete = page.get_by_role("button", name="Complete the refill")
    expect(complete).to_be_disabled()
    visit.refresh_from_db()
    assert visit.status == VisitStatus.AWAITING_ACKNOWLEDGEMENT
    check(ui, "discrepancy-blocked")
    fills_before = PumpEvent.objects.filter(kind="fill").count()

    # The physician, in a browser of their own, finds it on the worklist and acknowledges.
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 1280, "height": 900},
        locale="en-GB",
        timezone_id="UTC",
    )
    context.add_init_script(CSP_LISTENER)
    try:
        doctor = type(ui)(context.new_page(), live_server.url, ui.folder)
        doctor.steps = ui.steps
        doctor.login(clinics["own-physician"].username, check=False)
        doctor.goto("/clinics/own/worklist/")
        section = doctor.page.locator("#wl-open_discrepancies")
        expect(section).to_contain_text("Anna Becker")
        expect(section).to_contain_text("Refill discrepancy: 2 mL less than the twin expected")
        check(doctor, "physician-worklist")
        section.get_by_role("link", name="Anna Becker").click()
        doctor.page.get_by_role("link", name="Review and acknowledge the discrepancy").click()
        expect(doctor.page.get_by_role("heading", level=1)).to_contain_text("Refill discrepancy")
        check(doctor, "physician-acknowledge-page")
        doctor.page.get_by_label("Your note").fill(
            "Pocket soft, no swelling; ultrasound shows no fluid. Refill under the template."
        )
        with doctor.page.expect_navigation():
            doctor.page.get_by_role("button", name="Record my acknowledgement").click()
        expect(
            doctor.page.get_by_role("heading", name="Physician acknowledgements")
        ).to_be_visible()
        expect(doctor.page.locator("#fill-blocked")).to_have_count(0)
        check(doctor, "physician-acknowledged")
        ui.steps = doctor.steps
    finally:
        context.close()
    assert DiscrepancyAcknowledgement.objects.filter(visit=visit).count() == 1
    assert PumpEvent.objects.filter(kind="fill").count() == fills_before

    # The nurse reloads: the block is gone, the acknowledgement is shown; she fills.
    page.reload()
    expect(page.locator("#fill-blocked")).to_have_count(0)
    expect(page.get_by_text("ultrasound shows no fluid")).to_be_visible()
    check(ui, "acknowledged-ready-to-fill")
    page.get_by_label("Drug lot").fill("MO-24-118")
    page.get_by_label("Drug expiry date").fill(
        (timezone.now() + timedelta(days=180)).date().isoformat()
    )
    with page.expect_navigation():
        page.get_by_role("button", name="Complete the refill").click()
    expect(page.get_by_role("heading", name="Refill completed")).to_be_visible()
    visit.refresh_from_db()
    assert visit.status == VisitStatus.COMPLETED
    assert visit.fill_event is not None
    assert visit.fill_event.fields["aspirated_ml"] == 3.0
    # 20 mL at 0.5 mL/day: the earliest low-reservoir alarm (2 mL) after
    # 18 / (0.5 × 1.145) = 31.44 days is the next refill.
    days = (visit.next_refill_at - visit.at).total_seconds() / 86400
    assert abs(days - 18 / (0.5 * 1.145)) < 1e-4
    expect(page.locator("#next-refill")).to_have_text(
        re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2} CES?T$")
    )
    check(ui, "refill-completed")

    page.get_by_role("link", name="Back to the chart").click()
    expect(page.locator("#refills-heading")).to_be_visible()
    check_chart(ui, "chart-after-refill")
