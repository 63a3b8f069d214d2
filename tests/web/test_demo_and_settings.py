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
