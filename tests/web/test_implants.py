"""Implants and pump events: the services (roles, validation, audit, one active implant),
the append-only timeline, the scenario built for the twin and the pump's state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.utils import DatabaseError

from openidds.web.audit.models import Action, AuditEvent
from openidds.web.implants import services
from openidds.web.implants.models import AppendOnlyError, Implant, ImplantStatus, PumpEvent
from openidds.web.implants.twin import pump_state, scenario_for

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def implant_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "pump_model": "synchromed2-20",
        "serial": "NGP123456H",
        "implanted_at": T0,
        "catheter_model": "8781",
        "catheter_length_cm": "45.5",
        "fluid_path_initial": "primed",
    }
    fields.update(overrides)
    return fields


@pytest.fixture
def implant(physician, patient) -> Implant:
    return services.record_implant(by=physician, patient=patient, **implant_fields())


def fill_and_program(by, implant, at=T0):
    fill = services.record_pump_event(
        by=by,
        implant=implant,
        kind="fill",
        at=at,
        fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
    )
    program = services.record_pump_event(
        by=by,
        implant=implant,
        kind="program",
        at=at,
        fields={"mode": "continuous", "rate_ml_per_day": 0.5},
    )
    return fill, program


# -- implants ------------------------------------------------------------------------------


def test_physician_records_an_implant_audited(physician, patient):
    implant = services.record_implant(by=physician, patient=patient, **implant_fields())
    assert implant.status == ImplantStatus.ACTIVE
    assert str(implant.catheter_length_cm) == "45.5"
    event = AuditEvent.objects.get(action=Action.IMPLANT_RECORDED)
    assert event.patient == patient
    assert event.actor == physician
    assert event.details["pump_model"] == "synchromed2-20"
    assert event.object_id == str(implant.pk)


@pytest.mark.parametrize("role", ["nurse", "admin"])
def test_only_a_physician_records_implants(role, request, patient):
    user = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied):
        services.record_implant(by=user, patient=patient, **implant_fields())
    assert not Implant.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.IMPLANT_RECORDED).exists()


def test_implant_validation_names_each_field(physician, patient):
    with pytest.raises(ValidationError) as exc:
        services.record_implant(
            by=physician,
            patient=patient,
            **implant_fields(
                pump_model="nope",
                serial=" ",
                implanted_at=datetime(2099, 1, 1, tzinfo=UTC),
                catheter_length_cm="-3",
                fluid_path_ml="50",
            ),
        )
    errors = exc.value.message_dict
    assert set(errors) == {
        "pump_model",
        "serial",
        "implanted_at",
        "catheter_length_cm",
        "fluid_path_ml",
    }
    assert "synchromed2-20" in errors["pump_model"][0]  # the catalog's models are named
    assert not Implant.objects.exists()


def test_naive_implant_date_is_refused(physician, patient):
    with pytest.raises(ValidationError) as exc:
        services.record_implant(
            by=physician,
            patient=patient,
            **implant_fields(implanted_at=datetime(2026, 1, 5)),  # noqa: DTZ001 (naive on purpose)
        )
    assert "implanted_at" in exc.value.message_dict


def test_constant_flow_pump_needs_its_rate(physician, patient):
    with pytest.raises(ValidationError) as exc:
        services.record_implant(
            by=physician, patient=patient, **implant_fields(pump_model="isomed-8472-20")
        )
    assert "fixed_rate_ml_per_day" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.record_implant(
            by=physician, patient=patient, **implant_fields(fixed_rate_ml_per_day="0.5")
        )
    assert "programmable" in exc.value.message_dict["fixed_rate_ml_per_day"][0]
    implant = services.record_implant(
        by=physician,
        patient=patient,
        **implant_fields(pump_model="isomed-8472-20", fixed_rate_ml_per_day="0.5"),
    )
    assert scenario_for(implant, T0)["pump"]["fixed_rate_ml_per_day"] == 0.5


def test_one_active_implant_per_patient_and_replacement_history(physician, patient, implant):
    with pytest.raises(ValidationError) as exc:
        services.record_implant(by=physician, patient=patient, **implant_fields(serial="2"))
    assert "already has an active implant" in exc.value.messages[0]
    later = T0 + timedelta(days=200)
    new = services.record_implant(
        by=physician,
        patient=patient,
        replaces=implant,
        **implant_fields(serial="2", implanted_at=later),
    )
    implant.refresh_from_db()
    assert implant.status == ImplantStatus.REPLACED
    assert implant.ended_at == later
    assert new.supersedes == implant
    assert implant.superseded_by == new
    assert AuditEvent.objects.filter(
        action=Action.IMPLANT_ENDED, object_id=str(implant.pk)
    ).exists()


def test_the_database_refuses_two_active_implants(physician, patient, implant):
    with pytest.raises(DatabaseError), transaction.atomic():
        Implant.objects.create(patient=patient, recorded_by=physician, **implant_fields(serial="X"))


def test_explant(physician, nurse, patient, implant):
    with pytest.raises(PermissionDenied):
        services.explant(by=nurse, implant=implant, at=T0 + timedelta(days=1))
    with pytest.raises(ValidationError) as exc:
        services.explant(by=physician, implant=implant, at=T0 - timedelta(days=1))
    assert "at" in exc.value.message_dict
    services.explant(by=physician, implant=implant, at=T0 + timedelta(days=1), reason="infection")
    implant.refresh_from_db()
    assert implant.status == ImplantStatus.EXPLANTED
    assert implant.end_reason == "infection"
    assert services.active_implant(patient) is None
    with pytest.raises(ValidationError):
        services.explant(by=physician, implant=implant, at=T0 + timedelta(days=2))


# -- pump events ---------------------------------------------------------------------------


def test_nurse_records_a_fill_but_not_a_program(nurse, implant):
    services.record_pump_event(
        by=nurse,
        implant=implant,
        kind="fill",
        at=T0,
        fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
    )
    with pytest.raises(PermissionDenied):
        services.record_pump_event(
            by=nurse,
            implant=implant,
            kind="program",
            at=T0,
            fields={"mode": "continuous", "rate_ml_per_day": 0.5},
        )
    assert PumpEvent.objects.count() == 1
    assert AuditEvent.objects.filter(action=Action.PUMP_EVENT_RECORDED).count() == 1


def test_an_event_the_twin_cannot_replay_is_refused_naming_the_field(physician, implant):
    with pytest.raises(ValidationError) as exc:
        services.record_pump_event(
            by=physician,
            implant=implant,
            kind="fill",
            at=T0,
            fields={"volume_ml": 25, "drugs": {"morphine": "10 mg/mL"}},
        )
    assert "overfill" in str(exc.value) or "capacity" in str(exc.value)
    with pytest.raises(ValidationError) as exc:
        services.record_pump_event(
            by=physician, implant=implant, kind="fill", at=T0, fields={"volum_ml": 20}
        )
    assert not PumpEvent.objects.exists()


def test_a_hard_dose_finding_blocks_and_is_named(physician, implant):
    services.record_pump_event(
        by=physician,
        implant=implant,
        kind="fill",
        at=T0,
        fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
    )
    with pytest.raises(ValidationError) as exc:
        services.record_pump_event(
            by=physician,
            implant=implant,
            kind="program",
            at=T0,
            fields={"mode": "continuous", "dose": {"morphine": "100 mg/day"}},
        )
    assert "dose_implausible_unit" in str(exc.value) or "daily_dose_above_max" in str(exc.value)
    assert PumpEvent.objects.count() == 1


def test_events_outside_the_implant_life_are_refused(physician, implant):
    with pytest.raises(ValidationError) as exc:
        services.record_pump_event(
            by=physician,
            implant=implant,
            kind="fill",
            at=T0 - timedelta(hours=1),
            fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
        )
    assert "at" in exc.value.message_dict


def test_pump_events_are_append_only(physician, implant):
    fill, _ = fill_and_program(physician, implant)
    fill.fields = {"volume_ml": 10, "drugs": {"morphine": "10 mg/mL"}}
    with pytest.raises(AppendOnlyError):
        fill.save()
    with pytest.raises(AppendOnlyError):
        fill.delete()
    with pytest.raises(AppendOnlyError):
        PumpEvent.objects.filter(pk=fill.pk).update(at=T0)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE implants_pumpevent SET void = %s", [True])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM implants_pumpevent")


def test_a_correction_supersedes_and_keeps_its_place(physician, implant):
    fill, _program = fill_and_program(physician, implant)
    with pytest.raises(ValidationError):
        services.correct_pump_event(by=physician, event=fill, reason="", fields={})
    corrected = services.correct_pump_event(
        by=physician,
        event=fill,
        reason="volume read back as 18 mL",
        fields={"volume_ml": 18, "drugs": {"morphine": "10 mg/mL"}},
    )
    assert corrected.supersedes == fill
    assert corrected.sequence == fill.sequence
    events = scenario_for(implant, T0 + timedelta(days=1))["event"]
    # The corrected fill still comes before the program at the same instant.
    assert [e["kind"] for e in events] == ["fill", "program"]
    assert events[0]["volume_ml"] == 18
    state = pump_state(implant, T0 + timedelta(days=10))
    assert state.reservoir_ml == pytest.approx(13.0)
    with pytest.raises(ValidationError):
        services.correct_pump_event(by=physician, event=fill, reason="again", fields={})
    audit = AuditEvent.objects.get(action=Action.PUMP_EVENT_CORRECTED)
    assert audit.details["old"]["fields"]["volume_ml"] == 20
    assert audit.details["reason"] == "volume read back as 18 mL"


def test_a_void_correction_withdraws_the_event(physician, implant):
    _fill, program = fill_and_program(physician, implant)
    services.correct_pump_event(by=physician, event=program, reason="entered twice", void=True)
    assert [e["kind"] for e in scenario_for(implant, T0 + timedelta(days=1))["event"]] == ["fill"]


# -- the twin ------------------------------------------------------------------------------


def test_scenario_for_builds_the_scenario_format(physician, patient, implant):
    fill_and_program(physician, implant)
    until = T0 + timedelta(days=10)
    scenario = scenario_for(implant, until)
    assert scenario["scenario"]["start"] == T0
    assert scenario["scenario"]["end"] == until
    assert scenario["scenario"]["timezone"] == "Europe/Berlin"
    assert scenario["pump"] == {"model": "synchromed2-20", "fluid_path_initial": "primed"}
    assert scenario["patient"] == {
        "opioid_tolerance": "tolerant",
        "indication": "cancer_pain",
        "age_years": scenario["patient"]["age_years"],
        "continuing": [],
    }
    # born 1958-03-14 (web_helpers): the age in whole years when the records end
    assert 60 <= scenario["patient"]["age_years"] <= 130
    assert scenario["event"] == [
        {"at": T0, "kind": "fill", "volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
        {"at": T0, "kind": "program", "mode": "continuous", "rate_ml_per_day": 0.5},
    ]
    # events after "until" are not in it
    assert scenario_for(implant, T0 - timedelta(seconds=0))["event"] != []
    assert len(scenario_for(implant, T0)["event"]) == 2


def test_pump_state_hand_computed(physician, implant):
    """20 mL of morphine 10 mg/mL at 0.5 mL/day: after 10 days 15 mL, 5 mg a day; the
    2 mL low-reservoir alarm at 18 mL pumped = day 36 nominal; empty at day 40."""
    fill_and_program(physician, implant)
    state = pump_state(implant, T0 + timedelta(days=10))
    assert state.error == ""
    assert state.reservoir_ml == pytest.approx(15.0)
    assert state.capacity_ml == 20.0
    assert state.rate_ml_per_day == pytest.approx(0.5)
    assert [d.words for d in state.drugs] == ["morphine, 5 mg a day"]
    assert state.drugs[0].daily_mg == pytest.approx(5.0)
    assert state.drugs[0].concentration_text == "10 mg/mL"
    assert state.forecast["low_reservoir_nominal"] == T0 + timedelta(days=36)
    assert state.forecast["empty_nominal"] == T0 + timedelta(days=40)
    # recommended refill = earliest low alarm: 13 mL at 0.5 × 1.145 mL/day after day 10
    expected = T0 + timedelta(days=10 + 13 / (0.5 * 1.145))
    assert abs(state.forecast["recommended_refill"] - expected) < timedelta(seconds=1)
    assert state.refill_overdue is False
    assert state.alarms == []
    assert state.plot["reservoir"]["y"][-1] == pytest.approx(15.0)
    assert state.plot["daily"]["morphine"]["y"][2] == pytest.approx(5.0)  # a whole local day


def test_pump_state_past_empty_shows_alarms_and_overdue(physician, implant):
    fill_and_program(physician, implant)
    state = pump_state(implant, T0 + timedelta(days=45))
    assert state.reservoir_ml == 0.0
    assert [a["kind"] for a in state.alarms] == ["low_reservoir", "empty_reservoir"]
    assert state.alarms[0]["at"] == T0 + timedelta(days=36)
    assert state.refill_overdue is True


def test_pump_state_without_events_and_before_implant(implant):
    state = pump_state(implant, T0 + timedelta(days=1))
    assert state.error == ""
    assert state.reservoir_ml == 0.0
    assert state.drugs == []
    assert "stopped or not programmed" in state.program_text
    assert "before the implant" in pump_state(implant, T0 - timedelta(days=1)).error


def test_mcg_drugs_are_read_in_micrograms(physician, implant):
    services.record_pump_event(
        by=physician,
        implant=implant,
        kind="fill",
        at=T0,
        fields={"volume_ml": 20, "drugs": {"ziconotide": "25 mcg/mL"}},
    )
    services.record_pump_event(
        by=physician,
        implant=implant,
        kind="program",
        at=T0,
        fields={"mode": "continuous", "dose": {"ziconotide": "1.2 mcg/day"}},
    )
    state = pump_state(implant, T0 + timedelta(days=3))
    assert state.drugs[0].words == "ziconotide, 1.2 mcg a day (0.0012 mg/day)"


def test_nul_characters_are_refused_not_a_database_error(physician, patient, implant):
    """PostgreSQL refuses NUL in text and jsonb: the services name the field instead."""
    with pytest.raises(ValidationError) as exc:
        services.record_implant(
            by=physician, patient=patient, replaces=implant, **implant_fields(serial="A\x00")
        )
    assert "serial" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.record_pump_event(
            by=physician,
            implant=implant,
            kind="fill",
            at=T0,
            fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}, "note": "a\x00"},
        )
    assert "fields" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.explant(by=physician, implant=implant, at=T0, reason="x\x00")
    assert "reason" in exc.value.message_dict
