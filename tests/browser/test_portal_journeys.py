"""The patient portal in a real browser, on a phone screen (360 px) with large text.

(a) a patient accepts an invitation, sets a password, logs in and sees "My pump" with the
dose in words; (b) downloads the wallet card and the PDF's text is right (pypdf);
(c) cannot open another patient's page by changing the URL or the API id. Every step:
screenshot, axe-core, CSP (``ui.check``).
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from openidds.web.portal import services

PHONE = {"width": 360, "height": 780}
_TRIGGERS: list[str] = []


PORTAL_PASSWORD = "a long portal passphrase 42"


@pytest.fixture
def phone(ui: Any) -> Any:
    """A phone screen, 360 px wide."""
    ui.page.set_viewport_size(PHONE)
    return ui


def _zoomed(ui: Any, step: str) -> None:
    """The same page at 200 % zoom on the phone (CSS zoom 2 on the root: the layout gets
    180 CSS px, as the browser's own zoom would): it must reflow without sideways
    scrolling, and pass the checks."""
    ui.page.evaluate("() => { document.documentElement.style.zoom = '2'; }")
    wide = ui.page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 8).map(e => e.tagName + '.' + e.className)"""
    )
    fits = ui.page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert fits, f"{ui.path} scrolls sideways at 200 %: {wide}"
    ui.check(step)
    ui.page.evaluate("() => { document.documentElement.style.zoom = ''; }")


def _implant(clinics: dict[str, Any], patient: Any) -> Any:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))
    from test_portal_helpers import implant_with_morphine

    return implant_with_morphine(patient, clinics["own-physician"])


def _no_horizontal_scroll(ui: Any) -> None:
    width = ui.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{ui.path} scrolls sideways: {width}px"


def _accept_and_log_in(ui: Any, code: str, username: str) -> None:
    page = ui.page
    ui.goto("/portal/invitation/")
    ui.check("invitation-page")
    page.get_by_label("Invitation code").fill(code)
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(PORTAL_PASSWORD)
    page.get_by_label("Password again").fill(PORTAL_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", name="Your portal account is ready")).to_be_visible()
    ui.check("account-ready")
    with page.expect_navigation():
        page.get_by_role("link", name="Log in").click()
    ui.check("login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PORTAL_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def test_patient_accepts_the_invitation_and_sees_my_pump(phone: Any, clinics: dict[str, Any]):
    ui, page = phone, phone.page
    anna = clinics["anna"]
    _implant(clinics, anna)
    services.save_clinic_contact(
        by=clinics["own-clinic_admin"], clinic=clinics["own"], phone_24h="+49 30 555 0100"
    )
    issued = services.invite_patient(by=clinics["own-nurse"], patient=anna)

    _accept_and_log_in(ui, issued.code, "anna.becker")
    # One account: straight to her page.
    assert ui.path == f"/portal/p/{anna.pk}/"
    expect(page.get_by_role("heading", name="Hello, Anna Becker")).to_be_visible()
    expect(page.locator(".dose")).to_have_text("morphine, 5 mg a day")
    _no_horizontal_scroll(ui)
    ui.check("portal-home-360px")
    _zoomed(ui, "portal-home-360px-200pct")

    page.get_by_role("link", name="My pump").first.click()
    expect(page.get_by_role("heading", name="My pump", level=1)).to_be_visible()
    expect(page.locator(".dose")).to_have_text("morphine, 5 mg a day")
    # 10 days of 0.5 mL/day from 20 mL: 15.0 mL.
    expect(page.get_by_text("15.0 mL", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Two tones — urgent")).to_be_visible()
    expect(page.get_by_text("+49 30 555 0100").first).to_be_visible()
    _no_horizontal_scroll(ui)
    ui.check("my-pump-360px")
    _zoomed(ui, "my-pump-360px-200pct")


def test_patient_downloads_the_wallet_card(phone: Any, clinics: dict[str, Any]):
    ui, page = phone, phone.page
    anna = clinics["anna"]
    implant = _implant(clinics, anna)
    services.save_clinic_contact(
        by=clinics["own-clinic_admin"], clinic=clinics["own"], phone_24h="+49 30 555 0100"
    )
    issued = services.invite_patient(by=clinics["own-nurse"], patient=anna)
    _accept_and_log_in(ui, issued.code, "anna.becker")
    ui.goto(f"/portal/p/{anna.pk}/pump/")
    ui.check("my-pump")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Wallet card (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == "wallet-card.pdf"
    content = open(download.path(), "rb").read()  # noqa: SIM115
    (ui.folder / "wallet-card.pdf").write_bytes(content)
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) == 2
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))
    for expected in (
        "Anna Becker",
        "Medtronic SynchroMed II, 20 mL (8637-20)",
        f"Serial: {implant.serial}",
        "morphine 10 mg/mL: 5 mg a day",
        "24-hour number: +49 30 555 0100",
        "MR Conditional",
        "Two tones (3 s): URGENT",
    ):
        assert expected in text, expected


def test_patient_cannot_open_another_patients_page_or_api(phone: Any, clinics: dict[str, Any]):
    ui, page = phone, phone.page
    anna, bruno = clinics["anna"], clinics["bruno"]
    _implant(clinics, anna)
    issued = services.invite_patient(by=clinics["own-nurse"], patient=anna)
    _accept_and_log_in(ui, issued.code, "anna.becker")
    assert ui.path == f"/portal/p/{anna.pk}/"
    for path in (
        f"/portal/p/{bruno.pk}/",
        f"/portal/p/{bruno.pk}/pump/",
        f"/portal/p/{clinics['otto'].pk}/pump/",
    ):
        response = ui.goto(path)
        assert response.status == 404, path
        expect(page.locator("main")).not_to_contain_text("Bruno")
        ui.check("other-patient-not-found")
    response = ui.goto(f"/api/v1/portal/patients/{bruno.pk}/pump")
    assert response.status == 404
    assert "Bruno" not in page.content()
    response = ui.goto(f"/api/v1/portal/patients/{anna.pk}/pump")
    assert response.status == 200
    assert "morphine, 5 mg a day" in page.content()
    # Clinic pages: refused.
    response = ui.goto(f"/clinics/own/patients/{anna.pk}/")
    assert response.status == 403
    ui.check("clinic-chart-refused")
