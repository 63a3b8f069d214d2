"""Audit events cannot be changed or deleted: not by the model, not by a queryset, not by
SQL (database triggers). And the clinic admin's audit log page."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from web_helpers import patient_fields

from openidds.web.accounts.models import Role
from openidds.web.audit.models import Action, AuditEvent, AuditEventError
from openidds.web.audit.services import record
from openidds.web.patients import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(physician, clinic):
    return record(by=physician, action=Action.PATIENTS_LISTED, clinic=clinic)


def test_save_of_an_existing_event_is_refused(event):
    event.action = Action.LOGIN
    with pytest.raises(AuditEventError):
        event.save()
    assert AuditEvent.objects.get().action == Action.PATIENTS_LISTED


def test_delete_is_refused(event):
    with pytest.raises(AuditEventError):
        event.delete()
    with pytest.raises(AuditEventError):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditEventError):
        AuditEvent.objects.filter(pk=event.pk).update(action=Action.LOGIN)
    assert AuditEvent.objects.count() == 1


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET action = 'login'",
        "DELETE FROM audit_auditevent",
    ],
)
def test_the_database_refuses_update_and_delete(event, sql):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEvent.objects.get().action == Action.PATIENTS_LISTED


def test_audit_log_page_filters(client_for, users, clinic, other_clinic):
    physician = users[Role.PHYSICIAN]
    patient = services.create_patient(by=physician, clinic=clinic, **patient_fields())
    services.record_patient_view(by=physician, patient=patient)
    client_for(None).post("/accounts/login/", {"username": physician.username, "password": "x"})
    admin = client_for(users[Role.CLINIC_ADMIN])

    html = admin.get("/clinics/own/audit/?action=patient_viewed").content.decode()
    assert "Patient chart viewed" in html
    assert "Patient created</td>" not in html
    html = admin.get("/clinics/own/audit/").content.decode()
    assert "Patient created" in html
    assert "Failed log-in" in html  # a member's failed log-in is shown
    html = admin.get(f"/clinics/own/audit/?patient={patient.pk}&actor=own-phys").content.decode()
    assert "Patient chart viewed" in html
    response = admin.get("/clinics/own/audit/?since=not-a-date")
    assert response.status_code == 200
    assert "Enter a valid date" in response.content.decode()
    # Reading the audit log is itself audited.
    assert AuditEvent.objects.filter(action=Action.AUDIT_LOG_VIEWED).count() == 4


def test_other_clinics_events_are_not_shown(client_for, users, clinic, other_clinic):
    from web_helpers import make_user

    stranger = make_user("stranger", other_clinic, Role.PHYSICIAN)
    services.create_patient(by=stranger, clinic=other_clinic, **patient_fields(name="Zed Other"))
    html = client_for(users[Role.CLINIC_ADMIN]).get("/clinics/own/audit/").content.decode()
    assert "Zed Other" not in html
    assert "stranger" not in html
