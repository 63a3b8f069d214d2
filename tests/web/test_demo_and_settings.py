"""The demo command, the `openidds demo` CLI and DATABASE_URL parsing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from openidds.web.accounts.models import Clinic, Membership, Role
from openidds.web.audit.models import Action, AuditEvent
from openidds.web.implants.models import Implant, ImplantStatus, PumpEvent
from openidds.web.patients.models import Patient
from openidds.web.settings import database_from_url


@pytest.mark.django_db
def test_demo_is_idempotent_and_its_log_ins_work():
    out = io.StringIO()
    call_command("demo", stdout=out)
    text = out.getvalue()
    for name in ("demo-admin", "demo-physician", "demo-nurse", "demo-patient"):
        assert name in text
    assert "openidds-demo" in text
    assert "60 demo patients" in text
    events = PumpEvent.objects.count()
    again = io.StringIO()
    call_command("demo", stdout=again)
    assert "0 patient(s), 0 implant(s) and 0 pump record(s) created now" in again.getvalue()
    assert Clinic.objects.count() == 1
    assert Patient.objects.count() == 60
    assert PumpEvent.objects.count() == events
    assert AuditEvent.objects.filter(action=Action.PATIENT_CREATED).count() == 60
    _demo_is_varied_and_judged_by_the_twin()
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {
        "demo-admin": Role.CLINIC_ADMIN,
        "demo-physician": Role.PHYSICIAN,
        "demo-nurse": Role.NURSE,
        "demo-patient": Role.PATIENT,
    }
    _demo_shows_prescriptions_refill_visits_and_the_portal()
    request = RequestFactory().post("/accounts/login/")
    assert authenticate(request, username="demo-nurse", password="openidds-demo") is not None
    # A locked-out demo user is unlocked by the next `demo`.
    for _ in range(5):
        authenticate(RequestFactory().post("/"), username="demo-nurse", password="wrong")
    assert (
        authenticate(RequestFactory().post("/"), username="demo-nurse", password="openidds-demo")
        is None
    )
    call_command("demo", stdout=io.StringIO())
    assert (
        authenticate(RequestFactory().post("/"), username="demo-nurse", password="openidds-demo")
        is not None
    )


def _demo_is_varied_and_judged_by_the_twin():
    """What the demo promises: every record made through the services (an audit event for
    each), several pump models and drugs, refills with aspirations and a few discrepancies,
    dose changes, PTM use, a replaced pump, a pump near ERI, one past EOS, an overdue
    refill and some due this week; the worklist shows them."""
    from datetime import timedelta

    from django.utils import timezone

    from openidds.pump import simulate
    from openidds.web.implants.twin import scenario_for
    from openidds.web.worklists.models import PumpSnapshot
    from openidds.web.worklists.services import pump_sections

    events = PumpEvent.objects.count()
    assert AuditEvent.objects.filter(action=Action.PUMP_EVENT_RECORDED).count() == events
    models = set(Implant.objects.values_list("pump_model", flat=True))
    assert {"synchromed2-20", "synchromed2-40", "prometra2-40", "isomed-8472-35"} <= models
    fills = list(PumpEvent.objects.filter(kind="fill"))
    drugs = {d for f in fills for d in f.fields["drugs"]}
    assert {"morphine", "hydromorphone", "ziconotide", "baclofen", "bupivacaine"} <= drugs
    assert "clonidine" in drugs
    refills = [f for f in fills if "aspirated_ml" in f.fields]
    assert len(refills) > 10 * 59
    assert PumpEvent.objects.filter(kind="ptm_request").count() > 20
    assert PumpEvent.objects.filter(kind="program", fields__mode="flex").exists()
    assert Implant.objects.filter(status=ImplantStatus.REPLACED).count() == 1
    assert PumpSnapshot.objects.count() == Implant.objects.filter(status="active").count() == 60
    discrepancies = 0
    for implant in Implant.objects.filter(status="active").select_related("patient"):
        result = simulate(scenario_for(implant, timezone.now()))
        discrepancies += sum(1 for a in result.alarms if a.kind == "refill_discrepancy")
        # aspirated = the twin's expected residual + small noise, but for the discrepancies
        for outcome in result.events:
            if outcome.discrepancy_ml is not None:
                assert abs(outcome.discrepancy_ml) < 0.8 or abs(outcome.discrepancy_ml) > 2.5
    assert 3 <= discrepancies <= 12
    clinic = Clinic.objects.get(slug="demo")
    now = timezone.now()
    sections = {s.key: s.items for s in pump_sections(clinic, now)}
    assert any(i.mrn == "D-1013" and i.urgent for i in sections["refills"])  # overdue
    due_this_week = [
        i for i in sections["refills"] if not i.urgent and i.at and i.at <= now + timedelta(days=7)
    ]
    assert {"D-1014", "D-1015", "D-1016"} <= {i.mrn for i in due_this_week}
    assert any(i.mrn == "D-1010" for i in sections["eri"])
    assert [i.mrn for i in sections["eos"]] == ["D-1011"]


def _demo_shows_prescriptions_refill_visits_and_the_portal():
    """Every dose change is a signed prescription that verifies, every refill a completed
    refill visit; demo-patient opens Anna Becker's portal (the dose in words, her diary,
    plan, question and story); the worklist has an open red flag."""
    from django.test import Client
    from django.utils import timezone

    from openidds.web.community.models import Question, Story
    from openidds.web.diary.models import CheckIn, DiaryEntry, PainPlan, Questionnaire
    from openidds.web.diary.worklist import red_flag_items
    from openidds.web.portal.models import ClinicContact, PortalAccount, RefillAppointment
    from openidds.web.prescriptions.models import Prescription
    from openidds.web.prescriptions.services import verify_history
    from openidds.web.refills.models import RefillVisit, VisitStatus

    changes = PumpEvent.objects.filter(kind__in=["program", "priming_bolus", "ptm_settings"])
    assert changes.count() > 300
    assert not changes.filter(prescription__isnull=True).exists()  # all prescribed
    first_fills = PumpEvent.objects.filter(kind="fill").exclude(fields__has_key="aspirated_ml")
    assert first_fills.count() == Implant.objects.count() == 61
    assert not first_fills.filter(prescription__isnull=True).exists()
    prescriptions = Prescription.objects.all()
    assert prescriptions.count() > 61 + 200
    # soft findings were accepted with a written reason
    assert prescriptions.exclude(reasons={}).exists()
    for patient in Patient.objects.filter(mrn__in=["D-1001", "D-1002", "D-1006", "D-1012"]):
        checked = verify_history(patient)
        assert checked, patient.mrn
        assert all(v.ok for v in checked.values()), patient.mrn
    refills = PumpEvent.objects.filter(kind="fill", fields__has_key="aspirated_ml")
    visits = RefillVisit.objects.filter(status=VisitStatus.COMPLETED)
    assert visits.count() == refills.count() > 10 * 59
    assert set(visits.values_list("fill_event_id", flat=True)) == set(
        refills.values_list("pk", flat=True)
    )
    assert visits.filter(acknowledgements__isnull=False).count() >= 3  # the discrepancies
    assert not RefillVisit.objects.exclude(status=VisitStatus.COMPLETED).exists()

    anna = Patient.objects.get(mrn="D-1001")
    account = PortalAccount.objects.get(user__username="demo-patient", revoked_at__isnull=True)
    assert account.patient == anna
    assert account.relation == "patient"
    assert ClinicContact.objects.get().phone_24h
    assert RefillAppointment.objects.filter(patient=anna, starts_at__gt=timezone.now()).exists()
    implanted = Implant.objects.get(patient=anna).implanted_at.date()
    days = list(DiaryEntry.objects.filter(patient=anna).values_list("day", flat=True))
    assert min(days) < implanted < max(days)  # a baseline before the implant
    assert Questionnaire.objects.filter(patient=anna, kind="bpi").count() >= 6
    assert Questionnaire.objects.filter(patient=anna, kind="odi").count() >= 2
    assert CheckIn.objects.filter(patient=anna).exclude(red_flags=[]).count() == 2
    plan = PainPlan.objects.get(patient=anna)
    assert len(plan.goals) == 2
    assert Question.objects.filter(patient=anna, status="answered").exists()
    assert Story.objects.filter(patient=anna, status="published").exists()
    clinic = Clinic.objects.get(slug="demo")
    urgent = red_flag_items(clinic, timezone.now())
    assert [i.mrn for i in urgent] == ["D-1001"]

    client = Client()
    login = {"username": "demo-patient", "password": "openidds-demo"}
    assert client.post("/accounts/login/", login).status_code == 302
    home = client.get("/portal/", follow=True)
    assert home.status_code == 200
    assert "Anna Becker" in home.content.decode()
    pump = client.get(f"/portal/p/{anna.pk}/pump/")
    assert pump.status_code == 200
    assert "morphine, 4 mg a day" in pump.content.decode()
    nurse = Client()
    login = {"username": "demo-nurse", "password": "openidds-demo"}
    assert nurse.post("/accounts/login/", login).status_code == 302
    worklist = nurse.get("/clinics/demo/worklist/").content.decode()
    assert "Anna Becker" in worklist


def test_openidds_demo_cli(tmp_path, openidds_cli, monkeypatch):
    monkeypatch.setenv("OPENIDDS_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    # the whole demo is loaded in-process above; the command line with 8 of its patients
    monkeypatch.setenv("OPENIDDS_DEMO_PATIENTS", "8")
    result = openidds_cli("demo")
    assert result.returncode == 0, result.stderr
    assert "demo-physician" in result.stdout
    assert (tmp_path / "openidds.sqlite3").exists()
    again = openidds_cli("demo")
    assert again.returncode == 0, again.stderr
    assert "0 user(s), 0 patient(s), 0 implant(s) and 0 pump record(s) created now" in (
        again.stdout
    )


def test_database_url_parsing(tmp_path):
    sqlite = database_from_url(None, tmp_path)
    assert sqlite["ENGINE"] == "django.db.backends.sqlite3"
    assert sqlite["NAME"] == str(Path(tmp_path) / "openidds.sqlite3")
    assert "journal_mode=WAL" in sqlite["OPTIONS"]["init_command"]
    pg = database_from_url("postgres://app:s%40cret@db.example:6543/openidds")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "app",
        "s@cret",
        "db.example",
        "6543",
        "openidds",
    )
    assert database_from_url("sqlite:////tmp/x.sqlite3")["NAME"] == "/tmp/x.sqlite3"
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        database_from_url("mysql://x/y")


@pytest.mark.django_db
def test_sqlite_file_database_uses_wal(tmp_path):
    """The init_command puts a file database in WAL mode."""
    import sqlite3

    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    path = tmp_path / "wal.sqlite3"
    config = database_from_url(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    conn.executescript(config["OPTIONS"]["init_command"])
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_missing_secret_key_stops_the_app(tmp_path, openidds_cli, monkeypatch):
    """Outside development and tests an unset OPENIDDS_SECRET_KEY is a system-check error."""
    monkeypatch.setenv("OPENIDDS_VAR_DIR", str(tmp_path))
    for name in ("OPENIDDS_DEBUG", "OPENIDDS_SECRET_KEY", "DATABASE_URL", "PYTEST_VERSION"):
        monkeypatch.delenv(name, raising=False)
    result = openidds_cli("manage", "check")
    assert result.returncode == 1
    assert "openidds.E001" in result.stderr
    monkeypatch.setenv("OPENIDDS_SECRET_KEY", "x" * 60)
    assert openidds_cli("manage", "check").returncode == 0
