"""Browser journeys of the diary app (issue 5), on a phone-sized screen (360 px):

(a) a patient logs in, completes a recovery check-in with a red flag and sees the call
    instruction, while the clinic's worklist shows the urgent item to a nurse, who resolves
    it from the chart;
(b) a patient fills in the diary and sees the plot, with the baseline before the implant.

Every step: screenshot, axe-core (no serious or critical violation), no CSP violation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

PHONE = {"width": 360, "height": 800}
PASSWORD = "correct horse battery staple"  # the browser suite's (conftest.PASSWORD)


@pytest.fixture
def anna_portal(clinics: dict[str, Any]) -> dict[str, Any]:
    """Anna (own clinic) with a portal account and a pump implanted 10 days ago."""
    from django.utils import timezone

    from openidds.web.accounts.models import Membership, Role, User
    from openidds.web.implants import services as implant_services
    from openidds.web.portal.models import PortalAccount

    anna = clinics["anna"]
    user = User.objects.create_user(username="anna-portal", password=PASSWORD)
    Membership.objects.create(user=user, clinic=clinics["own"], role=Role.PATIENT)
    PortalAccount.objects.create(user=user, patient=anna, relation="patient")
    implant_services.record_implant(
        by=clinics["own-physician"],
        patient=anna,
        pump_model="synchromed2-20",
        serial="S-ANNA",
        implanted_at=timezone.now() - timedelta(days=10),
    )
    return {"patient": anna, "user": user}


def test_red_flag_check_in_tells_whom_to_call_and_reaches_the_worklist(
    ui: Any, clinics: dict[str, Any], anna_portal: dict[str, Any]
) -> None:
    from openidds.web.diary.models import RedFlag

    anna = anna_portal["patient"]
    page = ui.page
    page.set_viewport_size(PHONE)
    ui.login("anna-portal")
    ui.goto(f"/portal/p/{anna.pk}/recovery/")
    expect(page.get_by_role("heading", name="My recovery")).to_be_visible()
    expect(page.get_by_role("heading", name="Week 2 (this week)")).to_be_visible()
    ui.check("recovery-page-phone")

    for fieldset in page.locator("fieldset.yesno").all():
        fieldset.get_by_label("No", exact=True).check()
    page.get_by_role("group", name="Do you have a fever").get_by_label("Yes", exact=True).check()
    page.get_by_role("group", name="Your pain today").get_by_label("6", exact=True).check()
    page.get_by_label("Anything else today?").fill("Feeling hot since this morning")
    ui.shot("check-in-filled")
    with page.expect_navigation():
        page.get_by_role("button", name="Send today's check-in").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Call your clinic now: Own Clinic")
    expect(alert).to_contain_text("You reported: fever")
    ui.check("call-instruction")
    assert_fits_the_phone(page)
    assert RedFlag.objects.filter(patient=anna, resolution__isnull=True).count() == 1

    ui.logout()
    page.set_viewport_size({"width": 1280, "height": 900})
    ui.login("own-nurse", check=False)
    ui.goto("/clinics/own/worklist/")
    section = page.get_by_role("region", name="Urgent: red flags reported by patients")
    if section.count() == 0:  # the worklist may title sections with headings only
        section = page.locator("section", has_text="Urgent: red flags reported by patients")
    expect(section).to_contain_text("Anna Becker")
    expect(section).to_contain_text("fever")
    ui.check("worklist-urgent-item")

    section.get_by_role("link", name="Anna Becker").first.click()
    page.wait_for_load_state("load")
    panel = page.locator("#diary")
    expect(panel).to_contain_text("Feeling hot since this morning")
    panel.get_by_label("What was done").fill("Called Anna: seen in clinic today, wound fine")
    with page.expect_navigation():
        panel.get_by_role("button", name="Resolve this red flag").click()
    expect(page.get_by_text("Red flag resolved")).to_be_visible()
    ui.check("red-flag-resolved")
    assert RedFlag.objects.filter(patient=anna, resolution__isnull=True).count() == 0


def test_patient_fills_the_diary_and_sees_the_plot(
    ui: Any, clinics: dict[str, Any], anna_portal: dict[str, Any]
) -> None:
    from django.utils import timezone

    from openidds.web.diary import services
    from openidds.web.implants.models import Implant

    anna, user = anna_portal["patient"], anna_portal["user"]
    # The implant 3 days ago; 3 diary days before it set the baseline (average 8, 7, 8).
    Implant.objects.filter(patient=anna).update(implanted_at=timezone.now() - timedelta(days=3))
    today = services.local_today(anna)
    for days, average in ((6, 8), (5, 7), (4, 8)):
        services.record_diary_entry(
            by=user,
            patient=anna,
            day=today - timedelta(days=days),
            pain_now=average,
            pain_average=average,
            pain_worst=9,
        )
    page = ui.page
    page.set_viewport_size(PHONE)
    ui.login("anna-portal")
    ui.goto(f"/portal/p/{anna.pk}/diary/")
    expect(page.get_by_role("heading", name="My diary")).to_be_visible()
    ui.check("diary-before")

    for name, value in (
        ("Pain right now", "4"),
        ("Pain on average today", "5"),
        ("Pain at its worst today", "7"),
    ):
        page.get_by_role("group", name=name).get_by_label(value, exact=True).check()
    page.get_by_text("how much has pain interfered").click()
    page.get_by_role("group", name="Walking ability").get_by_label("3", exact=True).check()
    page.get_by_label("Got dressed").check()
    page.get_by_label("Walked outdoors").check()
    page.get_by_label("Hours of sleep last night").fill("6.5")
    page.get_by_role("group", name="How well did you sleep?").get_by_label("Fairly good").check()
    page.get_by_label("How many times did you use your PTM").fill("2")
    page.get_by_role("group", name="Did the PTM doses help?").get_by_label("A little").check()
    ui.shot("diary-filled")
    with page.expect_navigation():
        page.get_by_role("button", name="Save today's diary").click()
    expect(page.get_by_text("Saved in your diary")).to_be_visible()
    # The plot is drawn (plotly's SVG) and the summary compares with the baseline:
    # baseline (8 + 7 + 8) / 3 = 7.67; last 7 days (8 + 7 + 8 + 5) / 4 = 7.0.
    expect(page.locator("#diary-plot .main-svg").first).to_be_visible()
    expect(page.get_by_text("Before the implant it was 7.7.")).to_be_visible()
    expect(page.locator("#diary-plot")).to_contain_text("20 % better")
    page.locator("#diary-plot").scroll_into_view_if_needed()
    ui.check("diary-with-plot")
    assert_fits_the_phone(page)


def assert_fits_the_phone(page: Any) -> None:
    """Nothing in the page's content (``main``) reaches past the 360 px screen; wide tables
    scroll inside their own region. (The site header of base.html is not checked here: it
    does not wrap its links on a phone yet, see the report.)"""
    wide = page.evaluate(
        """(limit) => Array.from(document.querySelectorAll('main *'))
            .filter(e => !e.closest('.table-scroll'))
            .map(e => [e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className,
                       Math.round(e.getBoundingClientRect().right)])
            .filter(p => p[1] > limit)
            .slice(0, 5)""",
        PHONE["width"],
    )
    assert not wide, f"content wider than the phone screen: {wide}"
