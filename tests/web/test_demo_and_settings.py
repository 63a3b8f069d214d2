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
    assert "60 patients" in text  # says what is not there yet
    call_command("demo", stdout=io.StringIO())
    assert Clinic.objects.count() == 1
    assert Patient.objects.count() == 6
    assert AuditEvent.objects.filter(action=Action.PATIENT_CREATED).count() == 6
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


def test_openidds_demo_cli(tmp_path, openidds_cli, monkeypatch):
    monkeypatch.setenv("OPENIDDS_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = openidds_cli("demo")
    assert result.returncode == 0, result.stderr
    assert "demo-physician" in result.stdout
    assert (tmp_path / "openidds.sqlite3").exists()
    again = openidds_cli("demo")
    assert again.returncode == 0, again.stderr
    assert "0 user(s), 0 patient(s) and 0 implant(s) created now" in again.stdout


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
