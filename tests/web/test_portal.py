"""The patient portal: invitations and accounts, caregivers, "My pump", the calendar, the
wallet card, the clinic's contact details and refill appointments (services and pages)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar
from pypdf import PdfReader
from test_portal_helpers import (
    PORTAL_PASSWORD,
    book,
    implant_with_morphine,
    portal_user,
)

from openidds.web.accounts.models import Membership, Role, User
from openidds.web.audit.models import Action, AuditEvent
from openidds.web.portal import services, tokens
from openidds.web.portal.models import (
    CalendarFeed,
    Invitation,
    PortalAccount,
    RefillAppointment,
    Relation,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_user():
    """A test client logged in as the user (CSRF is tested in test_security.py)."""
    from django.test import Client
    from web_helpers import MODEL_BACKEND

    def make(user):
        client = Client()
        client.force_login(user, backend=MODEL_BACKEND)
        return client

    return make


def _pdf_text(content: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return reader, re.sub(r"\s+", " ", text)


# -- invitations -----------------------------------------------------------------------------


def test_clinic_invites_and_the_patient_accepts_with_the_code(patient, nurse, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    issued = services.invite_patient(by=nurse, patient=patient)
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", issued.code)
    invitation = Invitation.objects.get()
    # Only hashes are stored: neither the code nor the token appears in the row.
    stored = " ".join(str(v) for v in Invitation.objects.values().get().values())
    assert tokens.normalise_code(issued.code) not in stored
    assert issued.token not in stored
    # Valid for 14 days (data/patient_info.toml).
    assert abs((invitation.expires_at - invitation.created_at) - timedelta(days=14)) < timedelta(
        seconds=5
    )
    # Typed in lower case with spaces: the same code.
    account = services.accept_invitation(
        code=issued.code.lower().replace("-", " "),
        username="anna.b",
        password=PORTAL_PASSWORD,
        password_again=PORTAL_PASSWORD,
        email="anna@example.org",
    )
    user = account.user
    assert account.patient == patient
    assert account.relation == Relation.PATIENT
    assert user.password.startswith("argon2")
    assert Membership.objects.get(user=user).role == Role.PATIENT
    invitation.refresh_from_db()
    assert invitation.status == "accepted"
    assert invitation.account == account
    actions = list(
        AuditEvent.objects.filter(patient=patient)
        .order_by("at", "id")
        .values_list("action", "actor_username")
    )
    assert actions == [
        (Action.INVITATION_CREATED, nurse.username),
        (Action.INVITATION_ACCEPTED, "anna.b"),
    ]
    # Single use.
    with pytest.raises(ValidationError) as exc:
        services.accept_invitation(
            code=issued.code,
            username="someone.else",
            password=PORTAL_PASSWORD,
            password_again=PORTAL_PASSWORD,
        )
    assert "used already" in exc.value.message_dict["code"][0]
    assert User.objects.filter(username="someone.else").count() == 0


def test_wrong_expired_or_withdrawn_codes_and_bad_passwords_change_nothing(patient, nurse):
    issued = services.invite_patient(by=nurse, patient=patient)
    users_before = User.objects.count()

    def attempt(**kwargs):
        fields = {
            "code": issued.code,
            "username": "anna.b",
            "password": PORTAL_PASSWORD,
            "password_again": PORTAL_PASSWORD,
        }
        fields.update(kwargs)
        with pytest.raises(ValidationError) as exc:
            services.accept_invitation(**fields)
        return exc.value.message_dict

    assert "no invitation has this code" in attempt(code="AAAA-BBBB-CCCC")["code"][0]
    assert (
        "the two passwords differ"
        in attempt(password_again="something else 42")["password_again"][0]
    )
    assert any(
        "too short" in m for m in attempt(password="short1", password_again="short1")["password"]
    )
    assert any(
        "too common" in m
        for m in attempt(password="password1234", password_again="password1234")["password"]
    )
    assert "taken" in attempt(username=nurse.username.upper())["username"][0]
    assert User.objects.count() == users_before
    # Withdrawn, then a new one: the old code is refused.
    services.revoke_invitation(by=nurse, invitation=issued.invitation)
    assert "withdrawn" in attempt()["code"][0]
    # Expired.
    again = services.invite_patient(by=nurse, patient=patient)
    Invitation.objects.filter(pk=again.invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert "expired" in attempt(code=again.code)["code"][0]
    assert PortalAccount.objects.count() == 0
    assert User.objects.count() == users_before


def test_only_clinicians_of_the_clinic_invite(patient, users, other_clinic):
    from web_helpers import make_user

    for role in (Role.CLINIC_ADMIN, Role.PATIENT):
        with pytest.raises(PermissionDenied):
            services.invite_patient(by=users[role], patient=patient)
    stranger = make_user("other-nurse", other_clinic, Role.NURSE)
    with pytest.raises(PermissionDenied):
        services.invite_patient(by=stranger, patient=patient)
    assert Invitation.objects.count() == 0


def test_a_new_invitation_replaces_the_pending_one_and_an_account_blocks_it(patient, nurse):
    first = services.invite_patient(by=nurse, patient=patient)
    second = services.invite_patient(by=nurse, patient=patient)
    first.invitation.refresh_from_db()
    assert first.invitation.status == "withdrawn"
    services.accept_invitation(
        code=second.code, username="anna", password=PORTAL_PASSWORD, password_again=PORTAL_PASSWORD
    )
    with pytest.raises(ValidationError, match="already has a portal account"):
        services.invite_patient(by=nurse, patient=patient)


def test_accept_page_with_the_link_then_log_in_lands_in_the_portal(client, patient, nurse):
    issued = services.invite_patient(by=nurse, patient=patient)
    page = client.get(f"/portal/invitation/?t={issued.token}")
    assert page.status_code == 200
    assert "Own Clinic" in page.content.decode()
    response = client.post(
        "/portal/invitation/",
        {
            "token": issued.token,
            "code": "",
            "username": "anna",
            "email": "",
            "password": PORTAL_PASSWORD,
            "password_again": PORTAL_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/portal/invitation/?done=1"
    done = client.get(response["Location"]).content.decode()
    assert "Your portal account is ready" in done
    assert "/accounts/login/?next=/portal/" in done
    assert PortalAccount.objects.get().user.username == "anna"
    used = client.get(f"/portal/invitation/?t={issued.token}")
    assert "used already" in used.content.decode()


def test_accept_page_shows_field_errors_and_writes_nothing(client, patient, nurse):
    services.invite_patient(by=nurse, patient=patient)
    response = client.post(
        "/portal/invitation/",
        {
            "code": "WRONG-CODE",
            "username": "anna",
            "password": "123456789012",
            "password_again": "123456789012",
        },
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "no invitation has this code" in body
    assert User.objects.filter(username="anna").count() == 0


def test_the_clinic_revokes_an_account_and_the_portal_closes(patient, nurse, as_user):
    implant_with_morphine(patient, nurse_physician(patient))
    user, account = portal_user(patient, nurse, "anna")
    client = as_user(user)
    assert client.get(f"/portal/p/{patient.pk}/pump/").status_code == 200
    response = as_user(nurse).post(
        f"/clinics/own/portal/accounts/{account.pk}/revoke/", {"back": "admin"}
    )
    assert response.status_code == 302
    assert client.get(f"/portal/p/{patient.pk}/pump/").status_code == 404
    assert client.get("/portal/").status_code == 403
    assert not Membership.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(
        patient=patient, details__event="portal_access_revoked"
    ).exists()
    # A new invitation is possible again.
    services.invite_patient(by=nurse, patient=patient)


def nurse_physician(patient):
    return Membership.objects.get(clinic=patient.clinic, role=Role.PHYSICIAN).user


# -- caregivers ------------------------------------------------------------------------------


def test_patient_invites_one_caregiver_who_reads_but_cannot_invite(patient, nurse, as_user):
    user, _ = portal_user(patient, nurse, "anna", email="anna@example.org")
    response = as_user(user).post(f"/portal/p/{patient.pk}/caregiver/", {"name": "Carl"})
    assert response.status_code == 200
    body = response.content.decode()
    code = re.search(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", body).group(0)
    account = services.accept_invitation(
        code=code, username="carl", password=PORTAL_PASSWORD, password_again=PORTAL_PASSWORD
    )
    assert account.relation == Relation.CAREGIVER
    assert Membership.objects.get(user=account.user).role == Role.CAREGIVER
    assert str(account.user) == "Carl"
    carer = as_user(account.user)
    assert carer.get(f"/portal/p/{patient.pk}/pump/").status_code == 200
    assert "caregiver" in carer.get(f"/portal/p/{patient.pk}/").content.decode()
    # A caregiver cannot invite or manage caregivers: 403.
    assert carer.get(f"/portal/p/{patient.pk}/caregiver/").status_code == 403
    assert carer.post(f"/portal/p/{patient.pk}/caregiver/", {"name": "X"}).status_code == 403
    # One caregiver at a time.
    with pytest.raises(ValidationError, match="already have a caregiver"):
        services.invite_caregiver(by=user, patient_id=patient.pk, name="Second")
    assert AuditEvent.objects.filter(action=Action.CAREGIVER_INVITED, actor=user).count() == 1
    # The patient revokes it.
    response = as_user(user).post(
        f"/portal/p/{patient.pk}/caregiver/revoke/", {"account": account.pk}
    )
    assert response.status_code == 302
    assert carer.get(f"/portal/p/{patient.pk}/pump/").status_code == 404
    assert AuditEvent.objects.filter(action=Action.CAREGIVER_REVOKED, actor=user).count() == 1


def test_caregiver_name_is_required(patient, nurse):
    user, _ = portal_user(patient, nurse, "anna")
    with pytest.raises(ValidationError) as exc:
        services.invite_caregiver(by=user, patient_id=patient.pk, name="  ")
    assert exc.value.message_dict == {"name": ["give the caregiver's name"]}
    assert Invitation.objects.filter(relation=Relation.CAREGIVER).count() == 0


# -- my pump ---------------------------------------------------------------------------------


def test_my_pump_in_plain_words(patient, physician, nurse, admin, as_user):
    implant = implant_with_morphine(patient, physician, days_ago=10)
    services.save_clinic_contact(by=admin, clinic=patient.clinic, phone_24h="+49 30 555 0100")
    user, _ = portal_user(patient, nurse, "anna")
    page = as_user(user).get(f"/portal/p/{patient.pk}/pump/")
    assert page.status_code == 200
    body = page.content.decode()
    # 5 mg/day of 10 mg/mL is 0.5 mL/day; 10 days after 20 mL: 20 - 10 × 0.5 = 15.0 mL.
    assert "morphine, 5 mg a day" in body
    assert "<strong>15.0 mL</strong> of 20 mL" in body
    assert "10 mg/mL in the pump" in body
    assert implant.serial in body
    # Latest safe date: the low-reservoir alarm at 2 mL, earliest band (+14.5 % from now):
    # (15 - 2) mL / (0.5 × 1.145) mL/day = 22.707 days from now.
    latest = services.latest_safe_refill(patient)
    expected = timezone.now() + timedelta(days=13 / (0.5 * 1.145))
    assert abs(latest - expected) < timedelta(minutes=5)
    local = latest.astimezone(ZoneInfo_("Europe/Berlin"))
    assert f"Latest safe refill date: <strong>{local:%A} {local.day} {local:%B %Y}" in body
    # The two alarm sounds and the 24-hour number.
    assert "Two tones — urgent" in body
    assert "Single tone" in body
    assert "+49 30 555 0100" in body
    # Battery: EOS, and the replacement 182 days before it.
    assert "Battery and replacement" in body
    assert "MR Conditional" in body
    assert AuditEvent.objects.filter(
        action=Action.PORTAL_VIEWED, actor=user, details__page="pump"
    ).exists()


def ZoneInfo_(name):  # noqa: N802
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def test_unconfirmed_alarm_sounds_say_ask_your_clinic(patient, physician, nurse, as_user):
    from openidds.web.portal.info import alarms_for

    prometra = alarms_for("prometra2-20")
    assert prometra.sounds == ()
    assert not prometra.confirmed
    assert "Ask your clinic" in prometra.text
    assert alarms_for("synchromed2-40").confirmed


def test_no_implant_is_said_plainly(patient, nurse, as_user):
    user, _ = portal_user(patient, nurse, "anna")
    body = as_user(user).get(f"/portal/p/{patient.pk}/pump/").content.decode()
    assert "has not recorded an active pump" in body


# -- refill appointments ----------------------------------------------------------------------


def test_booking_after_the_latest_safe_date_needs_a_reason(patient, physician, nurse):
    implant_with_morphine(patient, physician)
    latest = services.latest_safe_refill(patient)
    with pytest.raises(ValidationError) as exc:
        book(patient, nurse, latest + timedelta(days=1))
    assert "latest safe refill date" in exc.value.message_dict["reason_after_latest_safe"][0]
    assert RefillAppointment.objects.count() == 0
    late = book(patient, nurse, latest + timedelta(days=1), reason_after_latest_safe="holiday")
    # The latest safe date moves with "now" (the earliest band starts now): within a minute.
    assert late.reason_after_latest_safe == "holiday"
    assert abs(late.latest_safe_at - latest) < timedelta(minutes=1)
    event = AuditEvent.objects.get(details__event="refill_appointment_scheduled")
    assert event.details["after_latest_safe"] is True
    assert event.details["reason"] == "holiday"
    ok = book(patient, nurse, latest - timedelta(days=1), reason_after_latest_safe="ignored")
    assert ok.reason_after_latest_safe == ""
    with pytest.raises(ValidationError, match="past"):
        book(patient, nurse, timezone.now() - timedelta(hours=1))
    with pytest.raises(PermissionDenied):
        book(patient, Membership.objects.get(role=Role.CLINIC_ADMIN).user, latest)


NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(
    offset_h=st.integers(min_value=-24 * 400, max_value=24 * 400),
    latest_h=st.one_of(st.none(), st.integers(min_value=-24 * 30, max_value=24 * 200)),
    reason=st.sampled_from(["", "  ", "patient abroad"]),
)
def test_property_no_refill_after_the_latest_safe_date_without_a_reason(offset_h, latest_h, reason):
    starts = NOW + timedelta(hours=offset_h)
    latest = None if latest_h is None else NOW + timedelta(hours=latest_h)
    errors = services.appointment_errors(
        starts_at=starts, now=NOW, latest_safe=latest, reason=reason
    )
    past = starts < NOW - services.CLOCK_SKEW
    too_far = starts > NOW + timedelta(days=366)
    after_latest = latest is not None and starts > latest
    assert ("starts_at" in errors) == (past or too_far)
    if not (past or too_far):
        assert ("reason_after_latest_safe" in errors) == (after_latest and not reason.strip())
    # Accepted only if in the future (within a year) and, after the latest safe date, with a
    # written reason.
    accepted = not errors
    assert accepted == (not past and not too_far and (not after_latest or bool(reason.strip())))


def test_chart_panel_books_and_cancels(patient, physician, nurse, as_user):
    implant_with_morphine(patient, physician)
    client = as_user(nurse)
    chart = client.get(f"/clinics/own/patients/{patient.pk}/").content.decode()
    assert "Invite to the portal" in chart
    assert "none booked" in chart
    when = (timezone.now() + timedelta(days=7)).astimezone(ZoneInfo_("Europe/Berlin"))
    response = client.post(
        f"/clinics/own/patients/{patient.pk}/refill-appointments/new/",
        {"starts_at": when.strftime("%Y-%m-%dT%H:%M"), "note": "bring your card"},
    )
    assert response.status_code == 302
    appointment = RefillAppointment.objects.get()
    assert appointment.starts_at.astimezone(ZoneInfo_("Europe/Berlin")).strftime(
        "%Y-%m-%d %H:%M"
    ) == when.strftime("%Y-%m-%d %H:%M")
    chart = client.get(f"/clinics/own/patients/{patient.pk}/").content.decode()
    assert when.strftime("%Y-%m-%d %H:%M") in chart
    response = client.post(
        f"/clinics/own/patients/{patient.pk}/refill-appointments/{appointment.pk}/status/",
        {"status": "cancelled"},
    )
    appointment.refresh_from_db()
    assert appointment.status == "cancelled"
    assert appointment.status_changed_by == nurse
    # Invite from the chart: the code is shown once.
    response = client.post(f"/clinics/own/patients/{patient.pk}/portal/invite/")
    assert response.status_code == 200
    assert re.search(
        r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", response.content.decode()
    )


# -- calendar ---------------------------------------------------------------------------------


def test_ics_download_and_private_feed(patient, physician, nurse, client, as_user):
    implant_with_morphine(patient, physician)
    starts = (timezone.now() + timedelta(days=5)).replace(microsecond=0)
    book(patient, nurse, starts, note="fasting not needed")
    user, _ = portal_user(patient, nurse, "anna")
    portal = as_user(user)
    response = portal.get(f"/portal/p/{patient.pk}/pump/refills.ics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert len(events) == 1
    assert events[0].decoded("dtstart") == starts
    assert "Pump refill at Own Clinic" in str(events[0]["summary"])
    # The feed: a long secret in the URL, only its hash stored, no log-in needed.
    page = portal.post(f"/portal/p/{patient.pk}/pump/calendar-feed/", {"action": "new"})
    url = re.search(r"http://testserver(/portal/calendar/[^<\s]+)", page.content.decode()).group(1)
    token = url.split("/")[3]
    assert len(token) >= 43
    assert CalendarFeed.objects.get().token_hash == tokens.hash_token(token)
    assert token not in str(list(CalendarFeed.objects.values()))
    feed = client.get(url)
    assert feed.status_code == 200
    assert Calendar.from_ical(feed.content).walk("VEVENT")[0].decoded("dtstart") == starts
    assert AuditEvent.objects.filter(
        action=Action.CALENDAR_DOWNLOADED, details__via="feed", patient=patient
    ).exists()
    # A new address replaces the old; revoking stops it.
    page = portal.post(f"/portal/p/{patient.pk}/pump/calendar-feed/", {"action": "new"})
    url2 = re.search(r"http://testserver(/portal/calendar/[^<\s]+)", page.content.decode()).group(1)
    assert client.get(url).status_code == 404
    assert client.get(url2).status_code == 200
    portal.post(f"/portal/p/{patient.pk}/pump/calendar-feed/", {"action": "revoke"})
    assert client.get(url2).status_code == 404
    assert client.get("/portal/calendar/not-a-token/refills.ics").status_code == 404


# -- wallet card -------------------------------------------------------------------------------


def test_wallet_card_pdf_is_card_sized_and_says_the_right_things(
    patient, physician, nurse, admin, as_user
):
    implant = implant_with_morphine(patient, physician)
    services.save_clinic_contact(by=admin, clinic=patient.clinic, phone_24h="+49 30 555 0100")
    user, _ = portal_user(patient, nurse, "anna")
    response = as_user(user).get(f"/portal/p/{patient.pk}/wallet-card.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    reader, text = _pdf_text(response.content)
    assert len(reader.pages) == 2
    for page in reader.pages:  # 85.6 × 54 mm in points (1 mm = 72 / 25.4 pt)
        assert float(page.mediabox.width) == pytest.approx(85.6 * 72 / 25.4, abs=0.01)
        assert float(page.mediabox.height) == pytest.approx(54 * 72 / 25.4, abs=0.01)
    implanted = implant.implanted_at.astimezone(ZoneInfo_("Europe/Berlin")).date().isoformat()
    for expected in (
        "Anna Becker",
        "Medtronic SynchroMed II, 20 mL (8637-20)",
        f"Serial: {implant.serial}",
        f"Implanted: {implanted}",
        "morphine 10 mg/mL: 5 mg a day",
        "24-hour number: +49 30 555 0100",
        "Two tones (3 s): URGENT",
        "MR Conditional",
        "NO DRUG is given during the scan",
    ):
        assert expected in text, expected
    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert any("DejaVu" in str(f.get_object()["/BaseFont"]) for f in fonts.values())
    assert AuditEvent.objects.filter(
        action=Action.WALLET_CARD_DOWNLOADED, actor=user, details__format="card"
    ).exists()
    summary = as_user(user).get(f"/portal/p/{patient.pk}/pump-summary.pdf")
    reader, text = _pdf_text(summary.content)
    assert float(reader.pages[0].mediabox.width) == pytest.approx(210 * 72 / 25.4, abs=0.01)
    assert "Estimated volume in the reservoir" in text
    assert "15.0 mL of 20 mL" in text
    assert "Sources:" in text
    assert "mri-guidelines" in text


def test_wallet_card_without_a_24_hour_number_says_ask_the_clinic(
    patient, physician, nurse, as_user
):
    implant_with_morphine(patient, physician)
    user, _ = portal_user(patient, nurse, "anna")
    _, text = _pdf_text(as_user(user).get(f"/portal/p/{patient.pk}/wallet-card.pdf").content)
    assert "24-hour number: not set - ask the clinic" in text


# -- the clinic's portal page ------------------------------------------------------------------


def test_clinic_admin_edits_the_contact_and_clinicians_list(clinic, admin, nurse, patient, as_user):
    services.invite_patient(by=nurse, patient=patient)
    response = as_user(admin).post(
        "/clinics/own/portal/",
        {
            "phone_24h": "+49 30 555 0100",
            "phone_office": "",
            "address": "Hauptstr. 1",
            "email": "pumps@example.org",
            "emergency_note": "",
        },
    )
    assert response.status_code == 302
    contact = services.clinic_contact(clinic)
    assert contact.phone_24h == "+49 30 555 0100"
    assert contact.updated_by == admin
    event = AuditEvent.objects.get(details__event="clinic_contact_updated")
    assert event.details["new"]["address"] == "Hauptstr. 1"
    bad = as_user(admin).post("/clinics/own/portal/", {"phone_24h": "call us"})
    assert bad.status_code == 422
    assert "not a phone number" in bad.content.decode()
    assert services.clinic_contact(clinic).phone_24h == "+49 30 555 0100"
    page = as_user(nurse).get("/clinics/own/portal/").content.decode()
    assert "Anna Becker" in page
    assert "pending" in page
    # Nurses see but do not edit the contact.
    assert as_user(nurse).post("/clinics/own/portal/", {"phone_24h": "1234"}).status_code == 403
