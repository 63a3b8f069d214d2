"""The diary app: services, portal pages, the clinic's pages and chart panel, the API and
the worklist sections, as a patient, a caregiver and a nurse would meet them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from test_diary_support import ALL_NO, aware, diary_kwargs, implant, portal_user
from web_helpers import patient_fields

from openidds.web.audit.models import Action, AuditEvent
from openidds.web.diary import data, services, trends, worklist
from openidds.web.diary.models import (
    AppendOnlyError,
    CheckIn,
    DiaryEntry,
    PainPlan,
    Questionnaire,
    RecoveryTemplate,
    RedFlag,
)
from openidds.web.patients.models import Patient
from openidds.web.portal.models import Relation

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna(patient):
    return portal_user("anna", patient)


@pytest.fixture
def carer(patient):
    return portal_user("carer", patient, Relation.CAREGIVER)


# -- diary ---------------------------------------------------------------------------------


def test_patient_and_caregiver_write_the_diary_and_who_wrote_it_is_kept(patient, anna, carer):
    own = services.record_diary_entry(by=anna, patient=patient, **diary_kwargs())
    theirs = services.record_diary_entry(
        by=carer,
        patient=patient,
        **diary_kwargs(pain_now=3),
        interference={"mood": 4, "sleep": 6, "walking": 5, "general_activity": 3},
        adl_done=["dressing", "walking_outdoors"],
        sleep_hours="6.5",
        sleep_quality="fairly_good",
        ptm_uses=2,
        ptm_helped="a_little",
    )
    assert own.relation == "patient"
    assert theirs.relation == "caregiver"
    assert theirs.written_by_text == "carer (caregiver)"
    # interference (4 + 6 + 5 + 3) / 4 = 18 / 4 = 4.5 (four of seven answered: valid)
    assert theirs.interference_score == 4.5
    assert own.interference_score is None
    assert AuditEvent.objects.filter(action=Action.DIARY_ENTRY_RECORDED).count() == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pain_now": 11}, "pain_now"),
        ({"pain_worst": None}, "pain_worst"),
        ({"interference": {"mood": -1}}, "interference.mood"),
        ({"interference": {"appetite": 3}}, "interference.appetite"),
        ({"adl_done": ["flying"]}, "adl_done"),
        ({"sleep_hours": "25"}, "sleep_hours"),
        ({"sleep_quality": "superb"}, "sleep_quality"),
        ({"ptm_helped": "yes"}, "ptm_helped"),
        ({"day": timezone.now().date() + timedelta(days=3)}, "day"),
        ({"day": timezone.now().date() - timedelta(days=30)}, "day"),
    ],
)
def test_bad_diary_input_is_refused_by_field_and_nothing_is_written(patient, anna, change, field):
    with pytest.raises(ValidationError) as caught:
        services.record_diary_entry(by=anna, patient=patient, **(diary_kwargs() | change))
    assert field in caught.value.message_dict
    assert DiaryEntry.objects.count() == 0
    assert not AuditEvent.objects.filter(action=Action.DIARY_ENTRY_RECORDED).exists()


def test_clinic_staff_and_strangers_cannot_write_a_patients_diary(
    patient, other_patient, anna, nurse
):
    with pytest.raises(Http404):
        services.record_diary_entry(by=nurse, patient=patient, **diary_kwargs())
    with pytest.raises(Http404):
        services.record_diary_entry(by=anna, patient=other_patient, **diary_kwargs())
    assert DiaryEntry.objects.count() == 0


def test_revoked_access_ends_writing(patient, carer):
    account = carer.portal_accounts.get()
    account.revoked_at = timezone.now()
    account.save()
    with pytest.raises(Http404):
        services.record_diary_entry(by=carer, patient=patient, **diary_kwargs())


def test_diary_records_are_append_only(patient, anna):
    entry = services.record_diary_entry(by=anna, patient=patient, **diary_kwargs())
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        DiaryEntry.objects.filter(pk=entry.pk).update(pain_now=0)
    with pytest.raises(AppendOnlyError):
        entry.delete()


def test_questionnaires_are_scored_and_stored(patient, anna):
    bpi = services.record_questionnaire(
        by=anna,
        patient=patient,
        kind="bpi",
        answers={"worst": 8, "least": 3, "average": 6, "now": 5, "mood": 4, "sleep": 5}
        | {"walking": 6, "relations": 1},
    )
    # severity (8 + 3 + 6 + 5) / 4 = 5.5; interference (4 + 5 + 6 + 1) / 4 = 16 / 4 = 4.0
    assert (bpi.bpi_severity, bpi.bpi_interference) == (5.5, 4.0)
    odi = services.record_questionnaire(
        by=anna,
        patient=patient,
        kind="odi",
        answers=dict(zip(services.scoring.odi_section_keys()[:9], [2] * 9, strict=True)),
    )
    # 9 sections of 2 = 18; 18 / 45 x 100 = 40 %
    assert odi.odi_percent == pytest.approx(40.0)
    assert odi.rules_version == "ODI 2.0"
    with pytest.raises(ValidationError) as caught:
        services.record_questionnaire(
            by=anna, patient=patient, kind="odi", answers={"walking": 2, "sitting": 2}
        )
    assert "answers" in caught.value.message_dict
    with pytest.raises(ValidationError):
        services.record_questionnaire(by=anna, patient=patient, kind="bpi", answers={"worst": 12})
    assert Questionnaire.objects.count() == 2
    assert not services.questionnaire_due(patient, "bpi")


def test_baseline_is_the_mean_of_the_entries_before_the_implant(patient, anna):
    today = services.local_today(patient)
    # Entries 5 and 4 days ago (average pain 8 and 6), the implant 3 days ago, then 2, 1, 0
    # days ago average pain 5, 4, 3.
    for days, average in ((5, 8), (4, 6)):
        services.record_diary_entry(
            by=anna,
            patient=patient,
            day=today - timedelta(days=days),
            **diary_kwargs(pain_average=average),
        )
    implant(patient, days_ago=3)
    for days, average in ((2, 5), (1, 4), (0, 3)):
        services.record_diary_entry(
            by=anna,
            patient=patient,
            day=today - timedelta(days=days),
            **diary_kwargs(pain_average=average),
        )
    plot = trends.plot_data(patient)
    measure = plot["measures"]["pain_average"]
    # baseline (8 + 6) / 2 = 7.0; lines 7.0 x 0.8 = 5.6 and 7.0 x 0.7 = 4.9
    assert measure["baseline"] == 7.0
    assert [line["value"] for line in measure["lines"]] == [pytest.approx(5.6), pytest.approx(4.9)]
    summary = trends.summary(patient)
    # the last 7 days hold all five entries: (8 + 6 + 5 + 4 + 3) / 5 = 26 / 5 = 5.2
    # 5.2 against 7.0: (7.0 - 5.2) / 7.0 = 25.7 % better: past the 20 % line only
    assert summary["recent_mean"] == pytest.approx(5.2)
    assert summary["improvement_percent"] == pytest.approx(25.714, abs=1e-3)
    assert summary["passed"] == [20]
    assert "26 % better: past the 20 % line" in summary["text"]


def test_the_latest_entry_of_a_day_counts(patient, anna):
    services.record_diary_entry(by=anna, patient=patient, **diary_kwargs(pain_average=9))
    services.record_diary_entry(by=anna, patient=patient, **diary_kwargs(pain_average=2))
    plot = trends.plot_data(patient)
    assert plot["pain"]["average"] == [2]
    assert DiaryEntry.objects.count() == 2


def test_no_baseline_without_entries_before_the_implant(patient, anna):
    implant(patient, days_ago=3)
    services.record_diary_entry(by=anna, patient=patient, **diary_kwargs())
    plot = trends.plot_data(patient)
    assert plot["measures"]["pain_average"]["baseline"] is None
    assert plot["measures"]["pain_average"]["lines"] == []
    assert "no baseline yet" in trends.summary(patient)["text"]


def test_diary_page_saves_and_shows_the_plot_data(patient, anna, client_for):
    client = client_for(anna)
    url = reverse("portal-diary", args=[patient.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert b"No diary data to plot yet." in page.content
    assert b"Weekly pain questionnaire" in page.content
    token = page.cookies["csrftoken"].value
    response = client.post(
        url,
        {
            "csrfmiddlewaretoken": token,
            "pain_now": "4",
            "pain_average": "5",
            "pain_worst": "7",
            "int_mood": "3",
            "adl_done": ["dressing", "shopping"],
            "sleep_hours": "7",
            "sleep_quality": "very_good",
            "ptm_uses": "1",
            "ptm_helped": "yes",
            "note": "a good day",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"{url}?saved=entry"
    entry = DiaryEntry.objects.get()
    assert (entry.pain_now, entry.adl_done, entry.interference) == (
        4,
        ["dressing", "shopping"],
        {"mood": 3},
    )
    page = client.get(response["Location"])
    assert "Saved in your diary" in page.content.decode()
    assert 'id="diary-plot-data"' in page.content.decode()
    plot = json.loads(
        page.content.decode()
        .split('id="diary-plot-data" type="application/json">')[1]
        .split("</script>")[0]
    )
    assert plot["pain"]["average"] == [5]


def test_diary_page_with_errors_saves_nothing(patient, anna, client_for):
    client = client_for(anna)
    url = reverse("portal-diary", args=[patient.pk])
    token = client.get(url).cookies["csrftoken"].value
    response = client.post(url, {"csrfmiddlewaretoken": token, "pain_now": "4"})
    assert response.status_code == 422
    assert "Nothing was saved" in response.content.decode()
    assert DiaryEntry.objects.count() == 0


def test_bpi_and_odi_pages(patient, anna, client_for):
    client = client_for(anna)
    url = reverse("portal-diary-bpi", args=[patient.pk])
    token = client.get(url).cookies["csrftoken"].value
    form = {"csrfmiddlewaretoken": token, "worst": "8", "least": "3", "average": "6", "now": "5"}
    response = client.post(url, form, follow=True)
    assert "Pain severity 5.5 of 10" in response.content.decode()
    url = reverse("portal-diary-odi", args=[patient.pk])
    sections = services.scoring.odi_section_keys()
    form = {"csrfmiddlewaretoken": token} | {k: "1" for k in sections[:8]}
    response = client.post(url, form, follow=True)
    # 8 sections of 1: 8 / 40 x 100 = 20 %
    assert "Oswestry Disability Index 20.0 % (minimal disability)" in response.content.decode()
    form = {"csrfmiddlewaretoken": token} | {k: "1" for k in sections[:3]}
    response = client.post(url, form)
    assert response.status_code == 422
    assert "answer at least 8 of the 10 sections" in response.content.decode()


# -- recovery ------------------------------------------------------------------------------


def test_a_red_flag_raises_one_urgent_item_and_says_whom_to_call(patient, anna, client_for):
    implant(patient, days_ago=10)
    client = client_for(anna)
    url = reverse("portal-recovery", args=[patient.pk])
    page = client.get(url)
    assert "week 2" in page.content.decode()
    token = page.cookies["csrftoken"].value
    answers = {f"flag_{k}": "no" for k in ALL_NO} | {"flag_wound": "yes"}
    response = client.post(url, {"csrfmiddlewaretoken": token, **answers}, follow=True)
    text = response.content.decode()
    assert "Call your clinic now: Own Clinic" in text
    assert 'role="alert"' in text
    assert "redness or discharge at a wound" in text
    flag = RedFlag.objects.get()
    assert flag.flags == ["wound"]
    assert not flag.emergency
    assert AuditEvent.objects.filter(action=Action.RED_FLAG_RAISED).count() == 1


def test_overdose_signs_say_call_emergency_services_with_the_regions_number(patient, anna):
    checkin = services.record_checkin(
        by=anna, patient=patient, answers=ALL_NO | {"overdose": True, "fever": True}
    )
    from openidds.web.diary.instructions import call_instruction

    instruction = call_instruction(patient, checkin.red_flags)
    assert instruction is not None
    assert instruction.emergency
    # Europe/Berlin → 112 (data/emergency_numbers.toml)
    assert instruction.headline == "Call emergency services now: 112"
    assert RedFlag.objects.get().emergency


def test_emergency_numbers_by_time_zone():
    assert data.emergency_number("Europe/Lisbon").text == "112"
    assert data.emergency_number("Europe/London").text == "999"
    assert data.emergency_number("America/New_York").text == "911"
    assert data.emergency_number("Asia/Tokyo").text == "your local emergency number"


def test_no_red_flag_no_item(patient, anna):
    services.record_checkin(by=anna, patient=patient, answers=ALL_NO, pain_today=3)
    assert CheckIn.objects.count() == 1
    assert RedFlag.objects.count() == 0


def test_every_question_must_be_answered(patient, anna):
    with pytest.raises(ValidationError) as caught:
        services.record_checkin(by=anna, patient=patient, answers={"fever": True})
    assert "wound" in caught.value.message_dict
    assert CheckIn.objects.count() == 0
    assert RedFlag.objects.count() == 0


def test_nurse_resolves_a_red_flag_from_the_chart(patient, anna, nurse, client_for):
    services.record_checkin(by=anna, patient=patient, answers=ALL_NO | {"pump_alarm": True})
    flag = RedFlag.objects.get()
    client = client_for(nurse)
    chart = client.get(reverse("patient-detail", args=["own", patient.pk]))
    text = chart.content.decode()
    assert "Open red flags" in text
    assert "the pump is alarming" in text
    token = chart.cookies["csrftoken"].value
    url = reverse("diary-red-flag-resolve", args=["own", patient.pk, flag.pk])
    refused = client.post(url, {"csrfmiddlewaretoken": token, "note": ""}, follow=True)
    assert "Not resolved: say what was done" in refused.content.decode()
    client.post(url, {"csrfmiddlewaretoken": token, "note": "called, pump checked"})
    assert flag.resolution.note == "called, pump checked"
    event = AuditEvent.objects.get(action=Action.RED_FLAG_RESOLVED)
    assert event.actor == nurse
    assert event.patient == patient
    with pytest.raises(ValidationError):
        services.resolve_red_flag(by=nurse, red_flag=flag, note="again")
    assert worklist.red_flag_items(patient.clinic, timezone.now()) == []


def test_patients_cannot_resolve_red_flags(patient, anna):
    services.record_checkin(by=anna, patient=patient, answers=ALL_NO | {"fever": True})
    with pytest.raises(PermissionDenied):
        services.resolve_red_flag(by=anna, red_flag=RedFlag.objects.get(), note="fine")


def test_the_clinic_edits_its_recovery_programme_in_versions(patient, anna, nurse, client_for):
    implant(patient, days_ago=1)
    default = services.recovery_weeks(patient.clinic)
    assert len(default) == 8
    assert "5 lb (2.3 kg)" in " ".join(default[0]["instructions"])
    client = client_for(nurse)
    url = reverse("diary-recovery-template", args=["own"])
    page = client.get(url)
    assert "default programme" in page.content.decode()
    token = page.cookies["csrftoken"].value
    form = {"csrfmiddlewaretoken": token, "note": "our own wording"}
    for i, week in enumerate(default, start=1):
        form[f"week_{i}_title"] = week["title"]
        form[f"week_{i}_instructions"] = "\n".join(week["instructions"])
    form["week_1_instructions"] += "\nCall 555-0100 for the wound nurse."
    assert client.post(url, form).status_code == 302
    form["week_2_title"] = ""
    form["week_2_instructions"] = ""
    assert client.post(url, form).status_code == 302
    versions = list(RecoveryTemplate.objects.order_by("version"))
    assert [v.version for v in versions] == [1, 2]
    assert len(versions[1].weeks) == 7
    assert AuditEvent.objects.filter(action=Action.RECOVERY_TEMPLATE_UPDATED).count() == 2
    recovery = client_for(anna).get(reverse("portal-recovery", args=[patient.pk]))
    assert "Call 555-0100 for the wound nurse." in recovery.content.decode()
    bad = client.post(url, {"csrfmiddlewaretoken": token, "week_1_title": "Only a title"})
    assert bad.status_code == 422
    assert RecoveryTemplate.objects.count() == 2


# -- the plan ------------------------------------------------------------------------------


GOAL = {"text": "Walk 30 minutes without stopping", "measure": "minutes walked", "target": 30}


def test_plan_versions_keep_goal_progress(patient, anna, carer, physician):
    plan = services.write_plan(
        by=physician,
        patient=patient,
        goals=[GOAL | {"unit": "min"}],
        therapies=[{"kind": "physiotherapy", "description": "core", "schedule": "Tue and Fri"}],
        review_dates=[timezone.now().date() + timedelta(days=30)],
    )
    key = plan.goals[0]["key"]
    services.record_goal_progress(by=anna, patient=patient, goal_key=key, value="12")
    services.record_goal_progress(by=carer, patient=patient, goal_key=key, value=31)
    plan2 = services.write_plan(
        by=physician,
        patient=patient,
        goals=[
            GOAL | {"key": key, "target": 45},
            {"text": "Sleep 6 h", "measure": "hours", "target": 6},
        ],
        therapies=[],
    )
    assert plan2.version == 2
    goals = services.goals_with_progress(plan2)
    assert goals[0]["latest"].value == 31
    assert goals[0]["reached"] is False  # 31 < 45
    assert goals[1]["latest"] is None
    assert AuditEvent.objects.filter(action=Action.PLAN_UPDATED).count() == 2
    with pytest.raises(ValidationError):
        services.record_goal_progress(by=anna, patient=patient, goal_key="nope", value=1)
    with pytest.raises(ValidationError):
        services.write_plan(
            by=physician, patient=patient, goals=[GOAL | {"key": "forged"}], therapies=[]
        )
    with pytest.raises(PermissionDenied):
        services.write_plan(by=anna, patient=patient, goals=[GOAL], therapies=[])
    assert PainPlan.objects.count() == 2


def test_plan_pages(patient, anna, nurse, client_for):
    client = client_for(nurse)
    url = reverse("diary-plan-edit", args=["own", patient.pk])
    token = client.get(url).cookies["csrftoken"].value
    response = client.post(
        url,
        {
            "csrfmiddlewaretoken": token,
            "goal_1_text": "Walk 30 minutes without stopping",
            "goal_1_measure": "minutes walked without stopping",
            "goal_1_target": "30",
            "goal_1_unit": "minutes",
            "goal_1_direction": "at_least",
            "therapy_1_kind": "exercise",
            "therapy_1_schedule": "every morning",
            "review_1": "2030-01-01",
        },
    )
    assert response.status_code == 302
    portal = client_for(anna)
    page = portal.get(reverse("portal-plan", args=[patient.pk]))
    text = page.content.decode()
    assert "Walk 30 minutes without stopping" in text
    assert "every morning" in text
    key = PainPlan.objects.get().goals[0]["key"]
    token = page.cookies["csrftoken"].value
    response = portal.post(
        reverse("portal-plan", args=[patient.pk]),
        {"csrfmiddlewaretoken": token, "goal_key": key, "value": "30"},
        follow=True,
    )
    assert "target reached" in response.content.decode()
    chart = client.get(reverse("patient-detail", args=["own", patient.pk])).content.decode()
    assert "latest 30 on" in chart
    assert "Edit the plan" in chart


# -- chart panel and pump series ----------------------------------------------------------


def test_chart_panel_shows_ptm_denials_from_the_twin(patient, anna, physician, nurse, client_for):
    from openidds.web.implants import services as implant_services

    pump = implant(patient, days_ago=3, pump=True)
    at = aware(2)
    implant_services.record_pump_event(
        by=physician,
        implant=pump,
        kind="ptm_settings",
        at=at,
        fields={
            "dose": {"morphine": "0.1 mg"},
            "duration": "PT10M",
            "lockout": "PT3H",
            "max_per_24h": 4,
        },
    )
    for minutes in (60, 70):  # the second within the 3 h lockout: denied
        implant_services.record_pump_event(
            by=nurse,
            implant=pump,
            kind="ptm_request",
            at=at + timedelta(minutes=minutes),
            fields={},
        )
    series = trends.pump_series(patient, pump)
    assert sum(series["ptm"]["granted"]) == 1
    assert sum(series["ptm"]["denied"]) == 1
    assert [c["kind"] for c in series["changes"]] == ["fill", "program", "ptm_settings"]
    services.record_diary_entry(by=anna, patient=patient, **diary_kwargs(ptm_uses=2))
    chart = client_for(nurse).get(reverse("patient-detail", args=["own", patient.pk]))
    text = chart.content.decode()
    assert "What the patient reports" in text
    assert 'id="diary-plot-data"' in text
    assert "diary-chart.js" in text


# -- API -----------------------------------------------------------------------------------


def _post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_api_round_trip(patient, anna, nurse, client_for):
    client = client_for(anna)
    client.get(reverse("portal-diary", args=[patient.pk]))
    csrf = client.cookies["csrftoken"].value
    client.defaults["HTTP_X_CSRFTOKEN"] = csrf
    base = f"/api/v1/portal/patients/{patient.pk}"
    created = _post(client, f"{base}/diary-entries", diary_kwargs(interference={"mood": 2}))
    assert created.status_code == 201, created.content
    assert created.json()["written_by"] == "anna"
    bad = _post(client, f"{base}/diary-entries", diary_kwargs(pain_now=12))
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "pain_now"
    q = _post(
        client,
        f"{base}/questionnaires",
        {"kind": "bpi", "answers": {"worst": 8, "least": 3, "average": 6, "now": 5}},
    )
    assert q.status_code == 201
    assert q.json()["bpi_severity"] == 5.5
    c = _post(client, f"{base}/check-ins", {"answers": ALL_NO | {"csf_leak": True}})
    assert c.status_code == 201
    assert c.json()["call"]["headline"].startswith("Call your clinic now: Own Clinic")
    assert len(client.get(f"{base}/diary-entries").json()) == 1
    assert client.get(f"{base}/plan").json() == {"plan": None}
    staff = client_for(nurse)
    staff.get("/")
    staff.defaults["HTTP_X_CSRFTOKEN"] = staff.cookies["csrftoken"].value
    flags = staff.get(f"/api/v1/patients/{patient.pk}/red-flags").json()
    assert flags[0]["labels"] == ["clear fluid leak or a headache that worsens when upright"]
    resolved = _post(
        staff,
        f"/api/v1/patients/{patient.pk}/red-flags/{flags[0]['id']}/resolve",
        {"note": "seen in clinic"},
    )
    assert resolved.status_code == 200
    assert resolved.json()["resolved_by"] == "own-nurse"
    plan = _post(staff, f"/api/v1/patients/{patient.pk}/pain-plan", {"goals": [GOAL]})
    assert plan.status_code == 201
    key = plan.json()["plan"]["goals"][0]["key"]
    progress = _post(client, f"{base}/plan/progress", {"goal_key": key, "value": 10})
    assert progress.status_code == 201
    got = client.get(f"{base}/plan").json()["plan"]["goals"][0]
    assert got["latest"]["value"] == "10.00" or float(got["latest"]["value"]) == 10


# -- worklist ------------------------------------------------------------------------------


def test_worklist_sections_are_registered():
    from openidds.web.worklists.registry import registered

    keys = {s.key: s for s in registered()}
    assert keys["diary-red-flags"].title == "Urgent: red flags reported by patients"
    assert keys["diary-silence"].title.startswith("Diary silence")


def test_diary_silence(clinic, patient, anna):
    implant(patient, days_ago=20)
    now = timezone.now()
    items = worklist.silence_items(clinic, now)
    assert [i.patient_id for i in items] == [patient.pk]
    assert "No diary entry or check-in for 20 days (since the implant)" in items[0].text
    services.record_diary_entry(by=anna, patient=patient, **diary_kwargs())
    assert worklist.silence_items(clinic, now) == []
    # 15 days on, the entry is more than 14 days old: silent again
    later = worklist.silence_items(clinic, now + timedelta(days=15))
    assert len(later) == 1
    assert "since the last entry" in later[0].text


def test_no_silence_outside_recovery_or_without_an_account(clinic, patient, anna):
    implant(patient, days_ago=70)  # past the 8 weeks
    lonely = Patient.objects.create(clinic=clinic, **patient_fields(mrn="L-1", name="Lonely"))
    implant(lonely, days_ago=20)  # no portal account
    assert worklist.silence_items(clinic, timezone.now()) == []


def _crowd(clinic, n, start):
    for i in range(start, start + n):
        p = Patient.objects.create(clinic=clinic, **patient_fields(mrn=f"Q-{i}", name=f"P {i}"))
        user = portal_user(f"q-{i}", p)
        implant(p, days_ago=20)
        services.record_checkin(by=user, patient=p, answers=ALL_NO | {"fever": True})


def test_worklist_queries_do_not_grow_with_the_number_of_patients(clinic):
    _crowd(clinic, 2, 0)
    counts = []
    for extra in (0, 6):
        _crowd(clinic, extra, 100)
        now = timezone.now() + timedelta(days=15)  # make the check-ins old: all silent
        with CaptureQueriesContext(connection) as flags_q:
            flags = worklist.red_flag_items(clinic, now)
        with CaptureQueriesContext(connection) as silence_q:
            silent = worklist.silence_items(clinic, now)
        counts.append((len(flags_q), len(silence_q)))
        assert len(flags) == len(silent) == 2 + extra
        assert all(i.urgent for i in flags)
    assert counts[0] == counts[1]
    assert counts[0] == (1, 2)
