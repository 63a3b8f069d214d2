"""The service functions: role checks, validation, and the audit event in the same
transaction as the change."""

from __future__ import annotations

from datetime import date, timedelta
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError
from django.utils import timezone
from web_helpers import make_user, patient_fields

from openidds.web.accounts.models import Role
from openidds.web.accounts.roles import role_in
from openidds.web.audit.models import Action, AuditEvent
from openidds.web.patients import services
from openidds.web.patients.models import Patient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", [Role.PHYSICIAN, Role.NURSE])
def test_create_patient_writes_the_patient_and_one_audit_event(users, clinic, role):
    by = users[role]
    patient = services.create_patient(by=by, clinic=clinic, **patient_fields())
    assert Patient.objects.get(pk=patient.pk).mrn == "M-1"
    event = AuditEvent.objects.get(action=Action.PATIENT_CREATED)
    assert event.actor == by
    assert event.actor_username == by.username
    assert event.clinic == clinic
    assert event.patient == patient
    assert event.object_type == "patients.Patient"
    assert event.object_id == str(patient.pk)
    assert event.details["fields"]["date_of_birth"] == "1958-03-14"
    assert timezone.is_aware(event.at)
    assert abs(event.at - timezone.now()) < timedelta(minutes=1)


def test_the_audit_event_is_in_the_same_transaction(physician, clinic):
    """If writing the audit event fails, the patient is not created either."""
    with (
        mock.patch(
            "openidds.web.patients.services.record", side_effect=DatabaseError("audit down")
        ),
        pytest.raises(DatabaseError),
    ):
        services.create_patient(by=physician, clinic=clinic, **patient_fields())
    assert not Patient.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("role", [Role.CLINIC_ADMIN, Role.PATIENT])
def test_create_patient_refused_for_non_clinical_roles(users, clinic, role):
    with pytest.raises(PermissionDenied):
        services.create_patient(by=users[role], clinic=clinic, **patient_fields())
    assert not Patient.objects.exists()
    assert not AuditEvent.objects.exists()


def test_create_patient_refused_in_another_clinic(physician, other_clinic):
    with pytest.raises(PermissionDenied):
        services.create_patient(by=physician, clinic=other_clinic, **patient_fields())
    assert not Patient.objects.exists()


def test_inactive_user_has_no_role(physician, clinic):
    physician.is_active = False
    physician.save()
    assert role_in(physician, clinic) is None
    with pytest.raises(PermissionDenied):
        services.create_patient(by=physician, clinic=clinic, **patient_fields())


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"mrn": "  "}, "mrn"),
        ({"date_of_birth": timezone.now().date() + timedelta(days=2)}, "date_of_birth"),
        ({"date_of_birth": "14.03.1958"}, "date_of_birth"),
        ({"indication": "headache"}, "indication"),
        ({"opioid_tolerance": "some"}, "opioid_tolerance"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "CEST"}, "time_zone"),
        ({"status": "gone"}, "status"),
        ({"clinic_id": 99}, "clinic_id"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(physician, clinic, overrides, field):
    with pytest.raises(ValidationError) as exc_info:
        services.create_patient(by=physician, clinic=clinic, **patient_fields(**overrides))
    assert field in exc_info.value.message_dict
    assert not Patient.objects.exists()
    assert not AuditEvent.objects.exists()


def test_mrn_is_unique_within_a_clinic_only(physician, clinic, other_clinic):
    services.create_patient(by=physician, clinic=clinic, **patient_fields())
    with pytest.raises(ValidationError) as exc_info:
        services.create_patient(by=physician, clinic=clinic, **patient_fields(name="Other"))
    assert "mrn" in exc_info.value.message_dict
    # The same MRN in another clinic is fine.
    other_physician = make_user("other-physician", other_clinic, Role.PHYSICIAN)
    services.create_patient(by=other_physician, clinic=other_clinic, **patient_fields())
    assert Patient.objects.filter(mrn="M-1").count() == 2


def test_update_patient_records_old_and_new_values(nurse, patient):
    updated = services.update_patient(
        by=nurse, patient=patient, allergies="Latex", date_of_birth="1958-03-15"
    )
    assert updated.allergies == "Latex"
    assert updated.date_of_birth == date(1958, 3, 15)
    event = AuditEvent.objects.get(action=Action.PATIENT_UPDATED)
    assert event.details["changes"] == {
        "allergies": {"old": "", "new": "Latex"},
        "date_of_birth": {"old": "1958-03-14", "new": "1958-03-15"},
    }
    assert event.actor == nurse


def test_update_patient_without_change_writes_nothing(nurse, patient):
    services.update_patient(by=nurse, patient=patient, name=patient.name)
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("field", ["clinic", "clinic_id", "id", "created_at"])
def test_update_patient_refuses_fields_outside_the_whitelist(nurse, patient, other_clinic, field):
    value = other_clinic if field == "clinic" else 1
    with pytest.raises(ValidationError) as exc_info:
        services.update_patient(by=nurse, patient=patient, **{field: value})
    assert field in exc_info.value.message_dict
    patient.refresh_from_db()
    assert patient.clinic_id != other_clinic.pk


def test_update_patient_bad_value_changes_nothing(nurse, patient):
    with pytest.raises(ValidationError) as exc_info:
        services.update_patient(by=nurse, patient=patient, name="New", time_zone="Nowhere")
    assert list(exc_info.value.message_dict) == ["time_zone"]
    patient.refresh_from_db()
    assert patient.name == "Anna Becker"
    assert not AuditEvent.objects.exists()


def test_update_patient_mrn_clash(nurse, clinic, patient):
    Patient.objects.create(clinic=clinic, **patient_fields(mrn="M-2", name="B"))
    with pytest.raises(ValidationError) as exc_info:
        services.update_patient(by=nurse, patient=patient, mrn="M-2")
    assert "mrn" in exc_info.value.message_dict


@pytest.mark.parametrize("role", [Role.CLINIC_ADMIN, Role.PATIENT])
def test_update_patient_refused_for_non_clinical_roles(users, patient, role):
    with pytest.raises(PermissionDenied):
        services.update_patient(by=users[role], patient=patient, name="X")
    patient.refresh_from_db()
    assert patient.name == "Anna Becker"


def test_update_patient_refused_in_another_clinic(physician, other_patient):
    with pytest.raises(PermissionDenied):
        services.update_patient(by=physician, patient=other_patient, name="X")


def test_record_patient_view_is_audited(physician, patient):
    services.record_patient_view(by=physician, patient=patient)
    event = AuditEvent.objects.get()
    assert (event.action, event.patient, event.actor) == (
        Action.PATIENT_VIEWED,
        patient,
        physician,
    )


@pytest.mark.parametrize("role", [Role.CLINIC_ADMIN, Role.PATIENT])
def test_record_patient_view_refused_for_non_clinical_roles(users, patient, role):
    with pytest.raises(PermissionDenied):
        services.record_patient_view(by=users[role], patient=patient)
    assert not AuditEvent.objects.exists()


def test_visible_patients_are_those_of_the_users_clinics(physician, patient, other_patient):
    assert list(services.visible_patients(physician)) == [patient]


def test_search_by_name_or_mrn(physician, clinic, patient):
    Patient.objects.create(clinic=clinic, **patient_fields(mrn="X-77", name="Zora Zed"))
    assert [p.name for p in services.search_patients(by=physician, clinic=clinic, query="zor")] == [
        "Zora Zed"
    ]
    assert [p.mrn for p in services.search_patients(by=physician, clinic=clinic, query="x-7")] == [
        "X-77"
    ]
    assert len(services.search_patients(by=physician, clinic=clinic)) == 2
    events = AuditEvent.objects.filter(action=Action.PATIENTS_LISTED)
    assert events.count() == 3
