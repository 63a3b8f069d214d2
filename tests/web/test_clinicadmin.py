"""The clinic admin's services and pages: members and roles (with the last-admin and
own-role rules), unlocking, and the clinic's drug library."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_helpers import PASSWORD, make_user

from openidds.dosing import check, load_library
from openidds.web.accounts.models import Membership, Role, User
from openidds.web.accounts.roles import role_in
from openidds.web.audit.models import Action, AuditEvent
from openidds.web.clinicadmin import services
from openidds.web.clinicadmin.library import library_for_clinic, limit_rows
from openidds.web.clinicadmin.models import (
    AppendOnlyError,
    ClinicDrugLibrary,
    DrugLibrarySelection,
)

pytestmark = pytest.mark.django_db

BUILTIN_TOML = (
    Path(__file__).resolve().parents[2] / "src/openidds/dosing/data/drug_library.toml"
).read_text(encoding="utf-8")


def clinic_copy(
    version: str = "1", morphine_soft: str = "35.0", morphine_hard: str = "40.0"
) -> str:
    """The shipped library as a clinic copy: its own id, a version, morphine's daily limits
    raised (soft 20 -> 35, hard 30 -> 40 mg/day)."""
    text = BUILTIN_TOML.replace('id = "openidds-drug-library"', 'id = "own-clinic-library"', 1)
    text = re.sub(r'(?m)^version = "\d+"', f'version = "{version}"', text, count=1)
    start = text.index("[drugs.morphine.daily_dose_max_mg_per_day]")
    end = text.index("\n[", start + 1)
    table = text[start:end]
    table = re.sub(r"(?m)^soft = 20\.0", f"soft = {morphine_soft}", table)
    table = re.sub(r"(?m)^hard = 30\.0", f"hard = {morphine_hard}", table)
    assert table != text[start:end], "the morphine table was not found as expected"
    return text[:start] + table + text[end:]


def _messages(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def _events(action: Action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


# -- members ------------------------------------------------------------------------------


def test_list_members_shows_every_member_with_role_and_is_audited(clinic, users, admin):
    rows = services.list_members(by=admin, clinic=clinic)
    assert [(r.membership.user.username, r.membership.role) for r in rows] == [
        ("own-clinic_admin", "clinic_admin"),
        ("own-physician", "physician"),
        ("own-nurse", "nurse"),
        ("own-patient", "patient"),
    ]
    # patients (and caregivers) are read-only here
    assert [r.read_only for r in rows] == [False, False, False, True]
    [event] = _events(Action.MEMBERS_LISTED)
    assert event.clinic == clinic
    assert event.actor == admin
    assert event.details == {"count": 4}


@pytest.mark.parametrize("role", [Role.PHYSICIAN, Role.NURSE, Role.PATIENT])
def test_only_clinic_admins_administer_members(clinic, users, role):
    with pytest.raises(PermissionDenied):
        services.list_members(by=users[role], clinic=clinic)
    with pytest.raises(PermissionDenied):
        services.add_member(
            by=users[role], clinic=clinic, username="x", role="nurse", new_account=True
        )
    assert not User.objects.filter(username="x").exists()


def test_admin_of_another_clinic_is_refused(clinic, other_clinic, users):
    other_admin = make_user("other-admin", other_clinic, Role.CLINIC_ADMIN)
    with pytest.raises(PermissionDenied):
        services.change_role(
            by=other_admin, membership=users[Role.NURSE].memberships.get(), role="physician"
        )
    assert users[Role.NURSE].memberships.get().role == "nurse"


def test_a_new_account_gets_a_password_shown_once_that_logs_in(clinic, admin):
    added = services.add_member(
        by=admin,
        clinic=clinic,
        username="new-nurse",
        role="nurse",
        new_account=True,
        display_name="Nora Nurse",
        email="nora@example.org",
    )
    password = added.initial_password
    assert password is not None
    assert re.fullmatch(r"([A-Za-z0-9]{4}-){3}[A-Za-z0-9]{4}", password)
    user = User.objects.get(username="new-nurse")
    assert user.display_name == "Nora Nurse"
    assert user.check_password(password)
    assert password not in user.password  # only the hash is stored
    assert role_in(user, clinic) == Role.NURSE
    [event] = _events(Action.MEMBER_ADDED)
    assert event.details == {
        "username": "new-nurse",
        "role": "nurse",
        "new_account": True,
        "via": "clinic admin",
    }
    assert password not in str(AuditEvent.objects.values_list("details", flat=True))
    response = Client().post("/accounts/login/", {"username": "new-nurse", "password": password})
    assert response.status_code == 302


def test_an_existing_user_is_added_without_a_new_password(clinic, other_clinic, admin):
    elsewhere = make_user("elsewhere-physician", other_clinic, Role.PHYSICIAN)
    added = services.add_member(
        by=admin,
        clinic=clinic,
        username="elsewhere-physician",
        role="physician",
        new_account=False,
    )
    assert added.initial_password is None
    assert role_in(elsewhere, clinic) == Role.PHYSICIAN
    assert role_in(elsewhere, other_clinic) == Role.PHYSICIAN
    elsewhere.refresh_from_db()
    assert elsewhere.check_password(PASSWORD)


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"username": "own-nurse", "new_account": True}, "username", "exists already"),
        ({"username": "OWN-NURSE", "new_account": True}, "username", "exists already"),
        ({"username": "bad name!", "new_account": True}, "username", "valid username"),
        ({"username": "", "new_account": True}, "username", "required"),
        ({"username": "nobody", "new_account": False}, "username", "no user has this name"),
        ({"username": "own-nurse", "new_account": False}, "username", "already a member"),
        ({"username": "x1", "new_account": True, "role": "patient"}, "role", "portal"),
        ({"username": "x2", "new_account": True, "role": "caregiver"}, "role", "portal"),
        ({"username": "x3", "new_account": True, "role": "support"}, "role", "one of"),
        ({"username": "x4", "new_account": True, "role": "king"}, "role", "one of"),
        ({"username": "x5", "new_account": True, "email": "no"}, "email", "valid email"),
        ({"username": "x\x006", "new_account": True}, "username", "NUL"),
    ],
)
def test_adding_refuses_bad_input_and_changes_nothing(clinic, users, admin, kwargs, field, message):
    before = (User.objects.count(), Membership.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as exc:
        services.add_member(by=admin, clinic=clinic, **{"role": "nurse", **kwargs})
    assert message in " ".join(_messages(exc)[field])
    assert (User.objects.count(), Membership.objects.count(), AuditEvent.objects.count()) == before


def test_a_deactivated_member_is_reactivated_not_added_again(clinic, users, admin, nurse):
    services.set_active(by=admin, membership=nurse.memberships.get(), active=False)
    with pytest.raises(ValidationError) as exc:
        services.add_member(
            by=admin, clinic=clinic, username="own-nurse", role="nurse", new_account=False
        )
    assert "reactivate them instead" in _messages(exc)["username"][0]


def test_changing_a_role_is_audited_with_old_and_new(clinic, users, admin, nurse):
    membership = services.change_role(
        by=admin, membership=nurse.memberships.get(), role="physician"
    )
    assert membership.role == "physician"
    assert role_in(nurse, clinic) == Role.PHYSICIAN
    [event] = _events(Action.MEMBER_ROLE_CHANGED)
    assert event.details == {"username": "own-nurse", "old": "nurse", "new": "physician"}
    # the same role again: nothing to record
    services.change_role(by=admin, membership=nurse.memberships.get(), role="physician")
    assert len(_events(Action.MEMBER_ROLE_CHANGED)) == 1


def test_patient_memberships_are_read_only(clinic, users, admin):
    patient_membership = users[Role.PATIENT].memberships.get()
    with pytest.raises(ValidationError) as exc:
        services.change_role(by=admin, membership=patient_membership, role="nurse")
    assert "patient portal manages it" in _messages(exc)["role"][0]
    with pytest.raises(ValidationError):
        services.set_active(by=admin, membership=patient_membership, active=False)
    patient_membership.refresh_from_db()
    assert patient_membership.role == "patient"
    assert patient_membership.is_active


def test_an_admin_cannot_demote_or_deactivate_themselves(clinic, users, admin):
    make_user("second-admin", clinic, Role.CLINIC_ADMIN)  # so it is not the last-admin rule
    own = admin.memberships.get()
    with pytest.raises(ValidationError) as exc:
        services.change_role(by=admin, membership=own, role="physician")
    assert "your own clinic admin role" in _messages(exc)["role"][0]
    with pytest.raises(ValidationError) as exc:
        services.set_active(by=admin, membership=own, active=False)
    assert "cannot deactivate yourself" in _messages(exc)["is_active"][0]
    assert role_in(admin, clinic) == Role.CLINIC_ADMIN


def test_the_last_clinic_admin_cannot_be_demoted_or_deactivated(clinic, users, admin):
    second = make_user("second-admin", clinic, Role.CLINIC_ADMIN)
    # the second admin demotes the first: allowed, two admins
    services.change_role(by=second, membership=admin.memberships.get(), role="physician")
    # now `second` is the last admin; the (former) admin is no admin any more, so only an
    # operator could try; the rule holds for operators too
    operator = User.objects.create_user(
        "operator", password=PASSWORD, is_staff=True, is_superuser=True
    )
    with pytest.raises(ValidationError) as exc:
        services.change_role(by=operator, membership=second.memberships.get(), role="nurse")
    assert "last clinic admin" in _messages(exc)["role"][0]
    with pytest.raises(ValidationError) as exc:
        services.set_active(by=operator, membership=second.memberships.get(), active=False)
    assert "last clinic admin" in _messages(exc)["is_active"][0]
    assert role_in(second, clinic) == Role.CLINIC_ADMIN


def test_a_deactivated_member_loses_every_right_and_keeps_the_history(
    clinic, users, admin, nurse, client_for
):
    client = client_for(nurse)
    assert client.get(f"/clinics/{clinic.slug}/patients/").status_code == 200
    services.set_active(by=admin, membership=nurse.memberships.get(), active=False)
    assert role_in(nurse, clinic) is None
    assert client.get(f"/clinics/{clinic.slug}/patients/").status_code == 404
    assert User.objects.filter(pk=nurse.pk).exists()  # never deleted
    [event] = _events(Action.MEMBER_DEACTIVATED)
    assert event.details == {"username": "own-nurse", "role": "nurse"}
    services.set_active(by=admin, membership=nurse.memberships.get(), active=True)
    assert role_in(nurse, clinic) == Role.NURSE
    assert len(_events(Action.MEMBER_REACTIVATED)) == 1


def test_unlock_clears_the_axes_lock_out(clinic, users, admin, nurse, settings):
    AccessAttempt.objects.create(
        username="own-nurse",
        ip_address="10.0.0.1",
        user_agent="test",
        failures_since_start=settings.AXES_FAILURE_LIMIT,
        attempt_time=timezone.now(),
    )
    rows = {r.membership.user.username: r for r in services.list_members(by=admin, clinic=clinic)}
    assert rows["own-nurse"].locked
    assert not rows["own-physician"].locked
    cleared = services.unlock_account(by=admin, membership=nurse.memberships.get())
    assert cleared == 1
    assert not AccessAttempt.objects.filter(username="own-nurse").exists()
    [event] = _events(Action.ACCOUNT_UNLOCKED)
    assert event.details == {"username": "own-nurse", "was_locked": True, "attempts_cleared": 1}


def test_five_failed_log_ins_lock_and_the_admin_unlocks(clinic, users, admin, nurse):
    client = Client()
    for _ in range(5):
        client.post("/accounts/login/", {"username": "own-nurse", "password": "wrong"})
    locked = client.post("/accounts/login/", {"username": "own-nurse", "password": PASSWORD})
    assert locked.status_code == 429
    services.unlock_account(by=admin, membership=nurse.memberships.get())
    response = client.post("/accounts/login/", {"username": "own-nurse", "password": PASSWORD})
    assert response.status_code == 302


# The safety rules as a property: whatever sequence of role changes and (de)activations the
# clinic's members and an operator (Django admin) try, the clinic keeps an active clinic
# admin, no clinic admin removes their own admin role, only admins and the operator
# succeed, and a refused operation changes nothing.

OPERATIONS = st.lists(
    st.tuples(
        st.integers(0, 4),  # who acts (one of four members, or 4: the operator)
        st.integers(0, 3),  # on whom
        st.sampled_from(["clinic_admin", "physician", "nurse", "deactivate", "reactivate"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operations=OPERATIONS)
def test_property_a_clinic_always_keeps_an_admin(clinic, operations):
    with transaction.atomic():
        people = [
            make_user(f"p{i}", clinic, r)
            for i, r in enumerate(
                [Role.CLINIC_ADMIN, Role.CLINIC_ADMIN, Role.PHYSICIAN, Role.NURSE]
            )
        ]
        operator = User.objects.create_user("op", is_staff=True, is_superuser=True)
        for actor_i, target_i, op in operations:
            actor = operator if actor_i == 4 else people[actor_i]
            target = people[target_i]
            membership = target.memberships.get()
            before = list(Membership.objects.order_by("pk").values_list("role", "is_active"))
            actor_was_admin = role_in(actor, clinic) == Role.CLINIC_ADMIN
            try:
                if op in {"deactivate", "reactivate"}:
                    services.set_active(by=actor, membership=membership, active=op == "reactivate")
                else:
                    services.change_role(by=actor, membership=membership, role=op)
            except (ValidationError, PermissionDenied):
                after = list(Membership.objects.order_by("pk").values_list("role", "is_active"))
                assert after == before  # a refusal changes nothing
            else:
                assert actor_was_admin or actor == operator  # only they succeed
                if actor == target and actor_was_admin:
                    assert role_in(actor, clinic) == Role.CLINIC_ADMIN  # own role kept
            assert Membership.objects.filter(
                clinic=clinic, role=Role.CLINIC_ADMIN, is_active=True
            ).exists()
        transaction.set_rollback(True)


# -- the drug library ---------------------------------------------------------------------


def _morphine_scenario() -> dict[str, Any]:
    """20 mL of morphine 25 mg/mL and a program of 33 mg/day."""
    at = datetime(2026, 2, 2, 10, tzinfo=UTC)
    return {
        "scenario": {
            "name": "clinic library",
            "start": at,
            "end": datetime(2026, 2, 9, 10, tzinfo=UTC),
            "timezone": "UTC",
        },
        "pump": {"model": "synchromed2-20", "fluid_path_initial": "primed"},
        "patient": {"opioid_tolerance": "tolerant", "indication": "cancer_pain"},
        "event": [
            {"at": at, "kind": "fill", "volume_ml": 20.0, "drugs": {"morphine": "25 mg/mL"}},
            {"at": at, "kind": "program", "mode": "continuous", "dose": {"morphine": "33 mg/day"}},
        ],
    }


def test_a_clinic_uses_the_builtin_library_until_it_chooses_another(clinic, admin):
    builtin = load_library()
    assert library_for_clinic(clinic) is builtin
    upload = services.upload_library(
        by=admin, clinic=clinic, toml=clinic_copy(), note="committee 2026-03-01: cancer ceilings"
    )
    # uploaded but not chosen: still the built-in one
    assert library_for_clinic(clinic).id == "openidds-drug-library"
    services.select_library(by=admin, clinic=clinic, library=upload, reason="committee decision")
    library = library_for_clinic(clinic)
    assert (library.id, library.version) == ("own-clinic-library", "1")
    assert library.drugs["morphine"].daily_dose_max.hard == 40.0
    # back to the built-in one
    services.select_library(by=admin, clinic=clinic, library=None, reason="audit finding")
    assert library_for_clinic(clinic).id == "openidds-drug-library"
    assert DrugLibrarySelection.objects.filter(clinic=clinic).count() == 2


def test_the_dose_checks_judge_with_the_clinics_library(clinic, admin):
    """33 mg/day of morphine: above the built-in hard maximum of 30 mg/day (a hard
    finding); under the clinic copy's 35 soft / 40 hard there is no daily-dose finding."""
    scenario = _morphine_scenario()
    before = check(scenario, library_for_clinic(clinic))
    daily = [f for f in before if f.code == "daily_dose_above_max"]
    assert [(f.severity, f.value, f.limit) for f in daily] == [("hard", 33.0, 30.0)]
    upload = services.upload_library(by=admin, clinic=clinic, toml=clinic_copy(), note="n")
    services.select_library(by=admin, clinic=clinic, library=upload, reason="r")
    after = check(scenario, library_for_clinic(clinic))
    assert [f for f in after if f.code == "daily_dose_above_max"] == []


def test_an_upload_is_audited_with_its_differences_from_the_library_in_use(clinic, admin):
    upload = services.upload_library(by=admin, clinic=clinic, toml=clinic_copy(), note="why")
    assert upload.uploaded_by == admin
    assert len(upload.sha256) == 64
    [event] = _events(Action.DRUG_LIBRARY_UPLOADED)
    assert event.details["library"] == "own-clinic-library"
    assert event.details["compared_with"] == "openidds-drug-library 2"
    assert event.details["changes"] == [
        {
            "drug": "morphine",
            "parameter": "daily dose max, soft",
            "old": "20 mg/day",
            "new": "35 mg/day",
        },
        {
            "drug": "morphine",
            "parameter": "daily dose max, hard",
            "old": "30 mg/day",
            "new": "40 mg/day",
        },
    ]
    services.select_library(by=admin, clinic=clinic, library=upload, reason="committee")
    [selected] = _events(Action.DRUG_LIBRARY_SELECTED)
    assert selected.details["old"] == {"library": "openidds-drug-library", "version": "2"}
    assert selected.details["new"] == {
        "library": "own-clinic-library",
        "version": "1",
        "upload": upload.pk,
    }
    assert selected.details["reason"] == "committee"
    assert len(selected.details["changes"]) == 2


@pytest.mark.parametrize(
    ("toml", "field", "message"),
    [
        ("", "toml", "required"),
        ("not = [toml", "toml", "not valid TOML"),
        (BUILTIN_TOML, "toml", "its own [library] id"),
        (clinic_copy(morphine_soft="50.0"), "toml", "needs 0 < soft <= hard"),
        (
            clinic_copy().replace(
                "[drugs.morphine.titration]", "[drugs.morphine.titration_typo]", 1
            ),
            "toml",
            "missing tables titration",
        ),
        (clinic_copy() + "\x00", "toml", "NUL"),
    ],
)
def test_an_upload_the_loader_refuses_is_refused_and_nothing_is_stored(
    clinic, admin, toml, field, message
):
    with pytest.raises(ValidationError) as exc:
        services.upload_library(by=admin, clinic=clinic, toml=toml, note="n")
    assert message in " ".join(_messages(exc)[field])
    assert ClinicDrugLibrary.objects.count() == 0
    assert not _events(Action.DRUG_LIBRARY_UPLOADED)


def test_the_same_version_twice_is_refused_a_new_version_is_not(clinic, admin):
    services.upload_library(by=admin, clinic=clinic, toml=clinic_copy(), note="n")
    with pytest.raises(ValidationError) as exc:
        services.upload_library(
            by=admin, clinic=clinic, toml=clinic_copy(morphine_hard="45.0"), note="n"
        )
    assert "bump [library] version" in _messages(exc)["toml"][0]
    services.upload_library(
        by=admin, clinic=clinic, toml=clinic_copy("2", morphine_hard="45.0"), note="n"
    )
    assert ClinicDrugLibrary.objects.count() == 2


def test_selecting_needs_a_reason_and_a_library_of_this_clinic(clinic, other_clinic, admin):
    other_admin = make_user("other-admin", other_clinic, Role.CLINIC_ADMIN)
    foreign = services.upload_library(
        by=other_admin, clinic=other_clinic, toml=clinic_copy(), note="n"
    )
    with pytest.raises(ValidationError) as exc:
        services.select_library(by=admin, clinic=clinic, library=foreign, reason=" ")
    assert set(_messages(exc)) == {"library", "reason"}
    with pytest.raises(ValidationError) as exc:
        services.select_library(by=admin, clinic=clinic, library=None, reason="again")
    assert "in use already" in _messages(exc)["library"][0]
    assert not DrugLibrarySelection.objects.filter(clinic=clinic).exists()


@pytest.mark.parametrize("role", [Role.PHYSICIAN, Role.NURSE, Role.PATIENT])
def test_only_clinic_admins_change_the_library(clinic, users, role):
    with pytest.raises(PermissionDenied):
        services.upload_library(by=users[role], clinic=clinic, toml=clinic_copy(), note="n")
    with pytest.raises(PermissionDenied):
        services.select_library(by=users[role], clinic=clinic, library=None, reason="r")
    assert ClinicDrugLibrary.objects.count() == 0


def test_library_records_are_append_only(clinic, admin):
    upload = services.upload_library(by=admin, clinic=clinic, toml=clinic_copy(), note="n")
    selection = services.select_library(by=admin, clinic=clinic, library=upload, reason="r")
    for obj in (upload, selection):
        with pytest.raises(AppendOnlyError):
            obj.save()
        with pytest.raises(AppendOnlyError):
            obj.delete()
        with pytest.raises(AppendOnlyError):
            type(obj).objects.all().delete()
        with pytest.raises(AppendOnlyError):
            type(obj).objects.update(clinic=clinic)
    # and the database refuses raw SQL (triggers of migration clinicadmin.0002)
    from django.db import DatabaseError, connection

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE clinicadmin_clinicdruglibrary SET note = 'x'")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM clinicadmin_druglibraryselection")


def test_limit_rows_carry_values_kinds_and_sources():
    rows = {(r.drug, r.parameter): r for r in limit_rows(load_library(), _raw_builtin())}
    hard = rows[("morphine", "daily dose max, hard")]
    assert hard.value == "30 mg/day"
    assert hard.kind == "clinic-policy"
    assert hard.confirmed is False
    assert "caution threshold" in hard.basis
    assert hard.source
    soft = rows[("morphine", "daily dose max, soft")]
    assert soft.value == "20 mg/day"
    assert soft.confirmed is True
    assert "Infumorph" in soft.basis
    # mcg drugs also in mcg: ziconotide 0.0192 mg/day = 19.2 mcg/day, EU 0.0216 = 21.6
    zic = rows[("ziconotide", "daily dose max, hard")]
    assert zic.value.startswith("19.2 mcg/day (0.0192 mg/day)")
    assert "EU 21.6 mcg/day (0.0216 mg/day)" in zic.value


def _raw_builtin() -> dict[str, Any]:
    import tomllib

    return tomllib.loads(BUILTIN_TOML)


# -- pages --------------------------------------------------------------------------------


def test_users_page_lists_members_with_last_log_in(clinic, users, admin, client_for):
    User.objects.filter(pk=users[Role.NURSE].pk).update(
        last_login=datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    )
    response = client_for(admin).get(f"/clinics/{clinic.slug}/users/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "own-nurse" in text
    assert "2026-03-01 09:30" in text
    assert "read-only" in text  # the patient's membership
    assert "no-store" in response["Cache-Control"]


def test_adding_a_user_on_the_page_shows_the_password_once(clinic, users, admin, client_for):
    client = client_for(admin)
    client.get(f"/clinics/{clinic.slug}/users/")
    response = client.post(
        f"/clinics/{clinic.slug}/users/",
        {
            "account": "new",
            "username": "page-nurse",
            "role": "nurse",
            "display_name": "P N",
            "email": "",
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 200
    password = re.search(r"<code>([^<]+)</code>", response.content.decode())
    assert password
    assert User.objects.get(username="page-nurse").check_password(password[1])
    again = client.get(f"/clinics/{clinic.slug}/users/")
    assert password[1] not in again.content.decode()


def test_a_refused_change_on_the_page_says_why(clinic, users, admin, client_for):
    client = client_for(admin)
    client.get(f"/clinics/{clinic.slug}/users/")
    response = client.post(
        f"/clinics/{clinic.slug}/users/{admin.memberships.get().pk}/",
        {
            "action": "role",
            "role": "nurse",
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 422
    assert "your own clinic admin role" in response.content.decode()
    assert role_in(admin, clinic) == Role.CLINIC_ADMIN


def test_library_page_shows_limits_with_sources(clinic, users, admin, client_for):
    response = client_for(admin).get(f"/clinics/{clinic.slug}/drug-library/")
    text = response.content.decode()
    assert response.status_code == 200
    assert "openidds-drug-library version 2" in text
    assert "Infumorph label: caution with doses above 20 mg/day" in text
    assert "UNCONFIRMED" in text
    # physicians and nurses read it too, without the forms
    physician_page = client_for(users[Role.PHYSICIAN]).get(f"/clinics/{clinic.slug}/drug-library/")
    assert physician_page.status_code == 200
    assert "Upload a clinic copy" not in physician_page.content.decode()


def test_uploading_and_choosing_on_the_page(clinic, admin, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(admin)
    client.get(f"/clinics/{clinic.slug}/drug-library/")
    token = client.cookies["csrftoken"].value
    upload = SimpleUploadedFile("lib.toml", clinic_copy().encode(), "application/toml")
    response = client.post(
        f"/clinics/{clinic.slug}/drug-library/",
        {"action": "upload", "file": upload, "note": "committee", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    stored = ClinicDrugLibrary.objects.get()
    shown = client.get(response["Location"]).content.decode()
    assert "2 differences from the library in use" in shown
    response = client.post(
        f"/clinics/{clinic.slug}/drug-library/",
        {
            "action": "select",
            "library": str(stored.pk),
            "reason": "committee",
            "csrfmiddlewaretoken": token,
        },
    )
    assert response.status_code == 302
    assert library_for_clinic(clinic).id == "own-clinic-library"
    page = client.get(f"/clinics/{clinic.slug}/drug-library/").content.decode()
    assert "own-clinic-library version 1" in page
    assert "40 mg/day" in page


def test_a_refused_upload_on_the_page_names_the_problem(clinic, admin, client_for):
    client = client_for(admin)
    client.get(f"/clinics/{clinic.slug}/drug-library/")
    response = client.post(
        f"/clinics/{clinic.slug}/drug-library/",
        {
            "action": "upload",
            "toml": BUILTIN_TOML,
            "note": "n",
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 422
    assert "its own [library] id" in response.content.decode()
    assert ClinicDrugLibrary.objects.count() == 0
