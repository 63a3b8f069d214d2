"""Questions to the clinic or the manufacturer's support: what each side sees, the thread,
notifications (once per answer), the worklist section and the chart panel."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.http import Http404
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_community_helpers import SERIAL, implant_for, portal_user, support_user
from web_helpers import MODEL_BACKEND, patient_fields

from openidds.web.audit.models import Action, AuditEvent
from openidds.web.community import services
from openidds.web.community.models import (
    Message,
    Question,
    QuestionNotification,
    QuestionStatus,
)
from openidds.web.patients.models import Patient
from openidds.web.portal.models import PortalNotification, Relation
from openidds.web.worklists.registry import registered

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user, backend=MODEL_BACKEND)
    return client


@pytest.fixture
def anna(patient):
    return portal_user("anna", patient, email="anna@example.org")


@pytest.fixture
def carer(patient):
    return portal_user("carl", patient, Relation.CAREGIVER, email="carl@example.org")


@pytest.fixture
def support(clinic):
    return support_user("mdt-support", clinic)


# -- asking --------------------------------------------------------------------------------


def test_patient_asks_the_clinic_and_a_nurse_answers_from_the_clinic_page(
    patient, anna, nurse, django_capture_on_commit_callbacks
):
    client = login(anna)
    page = client.get(f"/portal/p/{patient.pk}/questions/")
    assert page.status_code == 200
    assert "Ask a question" in page.content.decode()
    response = client.post(
        f"/portal/p/{patient.pk}/questions/",
        {"recipient": "clinic", "subject": "Itching near the pump", "body": "Since Monday."},
    )
    question = Question.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/portal/p/{patient.pk}/questions/{question.pk}/"
    assert question.status == QuestionStatus.OPEN
    assert question.asked_as == "patient"
    assert question.shared == {}

    staff = login(nurse)
    listing = staff.get("/clinics/own/questions/").content.decode()
    assert "Itching near the pump" in listing
    assert "Anna Becker" in listing
    thread = staff.get(f"/clinics/own/questions/{question.pk}/").content.decode()
    assert "Since Monday." in thread
    with django_capture_on_commit_callbacks(execute=True):
        answer = staff.post(
            f"/clinics/own/questions/{question.pk}/", {"body": "Please come in tomorrow."}
        )
    assert answer.status_code == 302
    question.refresh_from_db()
    assert question.status == QuestionStatus.ANSWERED
    assert question.waiting_since is None

    # the patient: a notification in the portal and one e-mail without health content
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["anna@example.org"]
    assert "Itching" not in mail.outbox[0].body
    assert "tomorrow" not in mail.outbox[0].body
    page = client.get(f"/portal/p/{patient.pk}/questions/").content.decode()
    assert "New answers" in page
    assert PortalNotification.objects.filter(patient=patient).count() == 1
    thread = client.get(f"/portal/p/{patient.pk}/questions/{question.pk}/").content.decode()
    assert "Please come in tomorrow." in thread
    assert "own-nurse (nurse)" in thread
    # opening the thread marks the answer read
    assert "New answers" not in client.get(f"/portal/p/{patient.pk}/questions/").content.decode()

    actions = list(AuditEvent.objects.filter(patient=patient).values_list("action", flat=True))
    assert Action.QUESTION_ASKED in actions
    assert Action.QUESTION_ANSWERED in actions
    assert actions.count(Action.QUESTION_VIEWED) >= 2


def test_caregiver_asks_on_behalf_and_is_recorded_as_the_writer(
    patient, anna, carer, physician, django_capture_on_commit_callbacks
):
    question = services.ask_question(
        by=carer, patient=patient, recipient="clinic", subject="Dose", body="Is 5 mg right?"
    )
    assert question.asked_by == carer
    assert question.asked_as == "caregiver"
    first = question.messages.get()
    assert (first.author, first.author_role) == (carer, "caregiver")
    # the patient reads the caregiver's question, and the clinic sees who wrote it
    text = login(anna).get(f"/portal/p/{patient.pk}/questions/{question.pk}/").content.decode()
    assert "Is 5 mg right?" in text
    assert "(caregiver)" in text
    with django_capture_on_commit_callbacks(execute=True):
        services.write_message(by=physician, question=question, body="Yes.")
    # both portal users of the patient get the e-mail, in one message
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == ["anna@example.org", "carl@example.org"]


def test_notification_is_made_once_per_answer(
    patient, anna, nurse, django_capture_on_commit_callbacks
):
    question = services.ask_question(
        by=anna, patient=patient, recipient="clinic", subject="Q", body="?"
    )
    with django_capture_on_commit_callbacks(execute=True):
        first = services.write_message(by=nurse, question=question, body="A1")
        services.write_message(by=anna, question=question, body="and?")
        second = services.write_message(by=nurse, question=question, body="A2")
    # two answers: two notifications and two e-mails; the patient's follow-up notifies no one
    assert QuestionNotification.objects.count() == 2
    assert len(mail.outbox) == 2
    # a second notification of the same answer is refused by the database
    with pytest.raises(IntegrityError), transaction.atomic():
        QuestionNotification.objects.create(
            patient=patient, question=question, message=first, created_at=timezone.now()
        )
    assert {n.message_id for n in QuestionNotification.objects.all()} == {first.pk, second.pk}


def test_no_email_is_sent_when_the_transaction_fails(patient, anna, nurse):
    question = services.ask_question(
        by=anna, patient=patient, recipient="clinic", subject="Q", body="?"
    )

    def answer_then_fail() -> None:
        with transaction.atomic():
            services.write_message(by=nurse, question=question, body="A1")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        answer_then_fail()
    assert mail.outbox == []
    assert QuestionNotification.objects.count() == 0


def test_bad_input_changes_nothing(patient, anna, support):
    before = (Question.objects.count(), Message.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as exc:
        services.ask_question(by=anna, patient=patient, recipient="nobody", subject="", body="")
    assert set(exc.value.message_dict) == {"recipient", "subject", "body"}
    with pytest.raises(ValidationError) as exc:
        services.ask_question(
            by=anna, patient=patient, recipient="clinic", subject="x", body="y", share=["name"]
        )
    assert "share" in exc.value.message_dict
    # no implant: the pump cannot be shared
    with pytest.raises(ValidationError) as exc:
        services.ask_question(
            by=anna,
            patient=patient,
            recipient="support",
            subject="x",
            body="y",
            share=["pump_serial"],
        )
    assert "pump serial number" in exc.value.message_dict["share"][0]
    with pytest.raises(ValidationError):
        services.ask_question(
            by=anna, patient=patient, recipient="clinic", subject="x", body="y" * 5001
        )
    after = (Question.objects.count(), Message.objects.count(), AuditEvent.objects.count())
    assert after == before


def test_support_is_not_offered_when_no_support_serves_the_clinic(patient, anna):
    page = login(anna).get(f"/portal/p/{patient.pk}/questions/").content.decode()
    assert "No manufacturer support serves your clinic" in page
    with pytest.raises(ValidationError) as exc:
        services.ask_question(by=anna, patient=patient, recipient="support", subject="x", body="y")
    assert "no manufacturer support serves your clinic" in exc.value.message_dict["recipient"][0]


def test_a_closed_question_takes_no_more_messages(patient, anna, nurse):
    question = services.ask_question(
        by=anna, patient=patient, recipient="clinic", subject="Q", body="?"
    )
    services.close_question(by=anna, question=question)
    with pytest.raises(ValidationError) as exc:
        services.write_message(by=nurse, question=question, body="late")
    assert "closed" in exc.value.message_dict["body"][0]
    assert question.messages.count() == 1
    assert AuditEvent.objects.filter(action=Action.QUESTION_CLOSED).count() == 1


def test_portal_user_of_another_patient_gets_404(patient, anna, clinic):
    stranger_patient = Patient.objects.create(clinic=clinic, **patient_fields(mrn="M-2"))
    stranger = portal_user("bob", stranger_patient)
    question = services.ask_question(
        by=anna, patient=patient, recipient="clinic", subject="Q", body="secret"
    )
    client = login(stranger)
    assert client.get(f"/portal/p/{patient.pk}/questions/").status_code == 404
    # the right patient id in the URL but another patient's question: 404 too
    url = f"/portal/p/{stranger_patient.pk}/questions/{question.pk}/"
    assert client.get(url).status_code == 404
    with pytest.raises(Http404):
        services.write_message(by=stranger, question=question, body="x")


def test_revoked_caregiver_loses_access(patient, anna, carer):
    from openidds.web.portal.models import PortalAccount

    PortalAccount.objects.filter(user=carer).update(revoked_at=timezone.now())
    assert login(carer).get(f"/portal/p/{patient.pk}/questions/").status_code == 404


# -- the manufacturer's support --------------------------------------------------------------


def test_support_sees_only_routed_questions_and_what_was_shared(
    patient, anna, support, nurse, django_capture_on_commit_callbacks
):
    implant_for(patient)
    to_clinic = services.ask_question(
        by=anna, patient=patient, recipient="clinic", subject="For the clinic only", body="x"
    )
    to_support = services.ask_question(
        by=anna,
        patient=patient,
        recipient="support",
        subject="Programmer shows E12",
        body="What does it mean?",
        share=["pump_model", "pump_serial"],
    )
    assert to_support.shared == {
        "pump_model": "Medtronic SynchroMed II, 40 mL (8637-40)",
        "pump_serial": SERIAL,
    }
    client = login(support)
    home = client.get("/support/").content.decode()
    assert "Programmer shows E12" in home
    assert "For the clinic only" not in home
    page = client.get(f"/support/questions/{to_support.pk}/").content.decode()
    assert SERIAL in page
    assert "What does it mean?" in page
    for hidden in ("Anna Becker", patient.mrn, "1958-03-14", "morphine", "anna@example.org"):
        assert hidden not in page, hidden
    # the clinic's question is not revealed to the support, and support questions are not
    # the clinic's
    assert client.get(f"/support/questions/{to_clinic.pk}/").status_code == 404
    assert login(nurse).get(f"/clinics/own/questions/{to_support.pk}/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/support/questions/{to_support.pk}/", {"body": "E12 means: call us."})
    to_support.refresh_from_db()
    assert to_support.status == QuestionStatus.ANSWERED
    assert len(mail.outbox) == 1
    text = login(anna).get(f"/portal/p/{patient.pk}/questions/{to_support.pk}/").content.decode()
    assert "E12 means: call us." in text
    assert "(manufacturer support)" in text


def test_support_of_another_clinic_sees_nothing(patient, anna, support, other_clinic):
    implant_for(patient)
    services.ask_question(
        by=anna, patient=patient, recipient="support", subject="Zebra-Subject", body="x"
    )
    question = Question.objects.get()
    elsewhere = support_user("other-support", other_clinic)
    client = login(elsewhere)
    assert "Zebra-Subject" not in client.get("/support/").content.decode()
    assert client.get(f"/support/questions/{question.pk}/").status_code == 404
    assert client.get(f"/api/v1/support/questions/{question.pk}").status_code == 404


#: Each shareable item and a string that only it would put on the page
UNIQUE = {
    "name": "Anna Becker",
    "pump_model": "SynchroMed II, 40 mL",
    "pump_serial": SERIAL,
    "drugs": "morphine",
}


@pytest.fixture
def support_setup(patient, support):
    anna = portal_user("anna", patient, email="anna@example.org")
    implant_for(patient)
    return anna


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(choice=st.sets(st.sampled_from(services.SHARE_KEYS)), caregiver=st.booleans())
def test_property_support_sees_exactly_what_was_shared(
    support_setup, patient, support, choice, caregiver
):
    """Whatever the patient ticks, the support's page and API hold each ticked item and no
    trace of an item not ticked, nor the MRN, date of birth, patient id or e-mail."""
    asker = support_setup
    if caregiver:
        asker = portal_user(f"carer{Question.objects.count()}", patient, Relation.CAREGIVER)
    question = services.ask_question(
        by=asker,
        patient=patient,
        recipient="support",
        subject="Travel with the pump",
        body="Can I fly?",
        share=sorted(choice),
    )
    available = services.shareable(patient)
    assert question.shared == {k: available[k] for k in choice}
    client = login(support)
    page = client.get(f"/support/questions/{question.pk}/").content.decode()
    api = client.get(f"/api/v1/support/questions/{question.pk}")
    listing = client.get("/api/v1/support/questions")
    assert api.status_code == 200
    payload = api.json()
    summary = next(q for q in listing.json() if q["id"] == question.pk)
    assert payload["shared"] == {k: available[k] for k in choice}
    for text in (page, json.dumps(payload, ensure_ascii=False), json.dumps(summary)):
        for key, marker in UNIQUE.items():
            assert (marker in text) == (key in choice), (key, sorted(choice))
        if "implant_date" in choice:
            assert available["implant_date"] in text
        for never in (patient.mrn, "1958-03-14", "anna@example.org", asker.username):
            assert never not in text
        assert '"patient":' not in text  # no patient id key
    # the support API names the patient's side by role only
    assert [m["author"] for m in payload["messages"]] == ["Caregiver" if caregiver else "Patient"]


# -- worklist and chart panel --------------------------------------------------------------


def test_worklist_section_lists_unanswered_questions_oldest_first(
    patient, anna, nurse, clinic, django_assert_num_queries
):
    section = next(s for s in registered() if s.key == "community-questions")
    assert section.title == "Unanswered patient questions"
    old = services.ask_question(
        by=anna, patient=patient, recipient="clinic", subject="Old", body="x"
    )
    Question.objects.filter(pk=old.pk).update(waiting_since=timezone.now() - timedelta(days=3))
    services.ask_question(by=anna, patient=patient, recipient="clinic", subject="New", body="x")
    answered = services.ask_question(
        by=anna, patient=patient, recipient="clinic", subject="Answered", body="x"
    )
    services.write_message(by=nurse, question=answered, body="done")
    items = section.provider(clinic, timezone.now())
    assert [i.text.split("“")[1].split("”")[0] for i in items] == ["Old", "New"]
    assert "waiting 3 d" in items[0].text
    assert items[0].url == f"/clinics/own/questions/{old.pk}/"
    assert items[0].patient_name == "Anna Becker"
    assert items[0].mrn == "M-1"


def test_worklist_section_queries_do_not_grow_with_patients(clinic, django_assert_num_queries):
    section = next(s for s in registered() if s.key == "community-questions")
    for n in range(6):
        p = Patient.objects.create(clinic=clinic, **patient_fields(mrn=f"W-{n}", name=f"P {n}"))
        user = portal_user(f"w{n}", p)
        services.ask_question(by=user, patient=p, recipient="clinic", subject="S", body="x")
    with CaptureQueriesContext(connection) as six:
        assert len(section.provider(clinic, timezone.now())) == 6
    p = Patient.objects.create(clinic=clinic, **patient_fields(mrn="W-9", name="P 9"))
    services.ask_question(
        by=portal_user("w9", p), patient=p, recipient="clinic", subject="S", body="x"
    )
    with CaptureQueriesContext(connection) as seven:
        assert len(section.provider(clinic, timezone.now())) == 7
    assert len(six) == len(seven) == 1


def test_chart_panel_shows_questions_with_status_and_a_reply_form(patient, anna, physician):
    services.ask_question(
        by=anna, patient=patient, recipient="clinic", subject="Wound is red", body="x"
    )
    page = login(physician).get(f"/clinics/own/patients/{patient.pk}/").content.decode()
    assert "Patient questions" in page
    assert "Wound is red" in page
    assert "Open: waiting for an answer" in page
    assert "Reply to “Wound is red”" in page


def test_clinic_admin_may_not_read_patient_questions(patient, anna, admin):
    question = services.ask_question(
        by=anna, patient=patient, recipient="clinic", subject="Q", body="x"
    )
    with pytest.raises(PermissionDenied):
        services.side_of(admin, question)
    assert login(admin).get(f"/clinics/own/questions/{question.pk}/").status_code == 403
