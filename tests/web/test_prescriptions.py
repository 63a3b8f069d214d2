"""Prescriptions: preview (checks, diff, forecast), signing (reasons, re-authentication),
versions and signatures, refill orders. Hand-computed numbers carry their arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_helpers import PASSWORD, make_user

from openidds.web.accounts.models import Role
from openidds.web.audit.models import Action, AuditEvent
from openidds.web.implants import services as implant_services
from openidds.web.implants.models import Implant, PumpEvent
from openidds.web.implants.twin import scenario_for
from openidds.web.prescriptions import services
from openidds.web.prescriptions.models import AppendOnlyError, Prescription

pytestmark = pytest.mark.django_db


def _t0() -> datetime:
    """Ten days and an hour ago, to the minute: the change is made at t0 + 10 days."""
    now = timezone.now().astimezone(UTC).replace(second=0, microsecond=0)
    return now - timedelta(days=10, hours=1)


@pytest.fixture
def t0() -> datetime:
    return _t0()


@pytest.fixture
def pump(physician, nurse, patient, t0) -> Implant:
    """A primed SynchroMed II 20 mL: 20 mL morphine 10 mg/mL at 5 mg/day (0.5 mL/day)."""
    implant = implant_services.record_implant(
        by=physician,
        patient=patient,
        pump_model="synchromed2-20",
        serial="RX1",
        implanted_at=t0,
        fluid_path_initial="primed",
    )
    implant_services.record_pump_event(
        by=nurse,
        implant=implant,
        kind="fill",
        at=t0,
        fields={"volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}},
    )
    implant_services.record_pump_event(
        by=physician,
        implant=implant,
        kind="program",
        at=t0,
        fields={"mode": "continuous", "dose": {"morphine": "5 mg/day"}},
    )
    return implant


def program(at: datetime, dose: str = "6.5 mg/day") -> list[dict]:
    return [
        {
            "kind": "program",
            "at": at,
            "fields": {"mode": "continuous", "dose": {"morphine": dose}},
        }
    ]


def counts() -> tuple[int, int, int]:
    return (
        Prescription.objects.count(),
        PumpEvent.objects.count(),
        AuditEvent.objects.filter(action=Action.PRESCRIPTION_SIGNED).count(),
    )


# -- preview -------------------------------------------------------------------------------


def test_preview_shows_the_soft_finding_the_diff_and_the_forecast(physician, patient, pump, t0):
    at = t0 + timedelta(days=10)
    before = counts()
    p = services.preview(by=physician, patient=patient, changes=program(at))
    assert counts() == before  # nothing written but the audit of the reading
    assert AuditEvent.objects.filter(action=Action.PRESCRIPTION_PREVIEWED).count() == 1
    # 5 -> 6.5 mg/day is +30 %, above morphine's soft +20 % per change
    assert [f["code"] for f in p.soft] == ["dose_increase_too_large"]
    assert p.soft[0]["change"] == 0
    assert p.soft[0]["source"]
    assert not p.blocked
    rows = {r["field"]: r for r in p.diff}
    # 5 mg/day of 10 mg/mL = 0.5 mL/day; 6.5 mg/day = 0.65 mL/day
    assert (rows["Basal rate (mean)"]["old"], rows["Basal rate (mean)"]["new"]) == (
        "0.5 mL/day",
        "0.65 mL/day",
    )
    assert rows["morphine: daily dose"]["old"] == "5 mg/day"
    assert rows["morphine: daily dose"]["new"] == "6.5 mg/day"
    assert rows["morphine: in words"]["new"] == "morphine, 6.5 mg a day"
    assert rows["morphine: daily dose"]["changed"]
    assert not rows["morphine: concentration"]["changed"]
    assert rows["Mode"]["old"] == rows["Mode"]["new"] == "continuous"
    # reservoir at the change: 20 - 10 days x 0.5 mL/day = 15 mL
    assert rows["Reservoir"]["old"] == "15.00 mL"
    fc = p.forecast
    assert fc["days"] == 14
    assert len(fc["proposed"]["days"]) == 14
    for day in fc["current"]["days"]:
        assert day["delivered_mg"]["morphine"] == pytest.approx(5.0, abs=1e-6)
    for day in fc["proposed"]["days"]:
        assert day["delivered_mg"]["morphine"] == pytest.approx(6.5, abs=1e-6)
    # after 14 days: 15 - 14 x 0.5 = 8 mL now; 15 - 14 x 0.65 = 5.9 mL proposed
    assert fc["current"]["days"][-1]["reservoir_ml_at_end"] == pytest.approx(8.0, abs=1e-6)
    assert fc["proposed"]["days"][-1]["reservoir_ml_at_end"] == pytest.approx(5.9, abs=1e-6)
    assert fc["proposed"]["reservoir"]["y"][0] == pytest.approx(15.0, abs=1e-6)


def test_preview_is_the_physicians(nurse, users, patient, pump, t0):
    for user in (nurse, users[Role.CLINIC_ADMIN], users[Role.PATIENT]):
        with pytest.raises(PermissionDenied):
            services.preview(by=user, patient=patient, changes=program(t0 + timedelta(days=10)))


def test_preview_names_the_field_the_twin_refuses(physician, patient, pump, t0):
    changes = program(t0 + timedelta(days=10), dose="6.5 MG/day")
    with pytest.raises(ValidationError) as exc:
        services.preview(by=physician, patient=patient, changes=changes)
    assert any(k.startswith("changes.0.") for k in exc.value.message_dict)


def test_changes_before_the_last_record_are_refused(physician, patient, pump, t0):
    with pytest.raises(ValidationError) as exc:
        services.preview(by=physician, patient=patient, changes=program(t0 - timedelta(hours=1)))
    assert "changes.0.at" in exc.value.message_dict


def test_override_in_fields_and_unknown_kinds_are_refused(physician, patient, pump, t0):
    at = t0 + timedelta(days=10)
    bad = [
        {"kind": "ptm_request", "at": at, "fields": {}},
        {"kind": "program", "at": at, "fields": {"override": []}},
    ]
    with pytest.raises(ValidationError) as exc:
        services.preview(by=physician, patient=patient, changes=bad)
    assert set(exc.value.message_dict) == {"changes.0.kind", "changes.1.fields"}


# -- signing -------------------------------------------------------------------------------


def test_prescribe_with_reason_and_password_writes_everything(physician, patient, pump, t0):
    at = t0 + timedelta(days=10)
    reason = "pain 8/10 despite 5 mg; MDT agreed"
    p = services.prescribe(
        by=physician,
        patient=patient,
        changes=program(at),
        reasons={"dose_increase_too_large": reason},
        password=PASSWORD,
    )
    assert p.version == 1
    assert p.supersedes is None
    assert p.signed_by == physician
    assert p.reasons == {"dose_increase_too_large": reason}
    assert p.library_id
    assert p.library_version
    assert p.findings[0]["code"] == "dose_increase_too_large"
    assert p.findings[0]["overridden"] is True
    assert p.findings[0]["override_reason"] == reason
    (event,) = p.pump_events.all()
    assert event.kind == "program"
    assert event.prescription == p
    assert event.fields["override"] == [{"code": "dose_increase_too_large", "reason": reason}]
    # the dose checks now report the finding overridden, from the stored record itself
    from openidds.dosing import check

    found = check(scenario_for(pump, at))
    increase = [f for f in found if f.code == "dose_increase_too_large"]
    assert increase
    assert all(f.overridden for f in increase)
    signed = AuditEvent.objects.get(action=Action.PRESCRIPTION_SIGNED)
    assert signed.details["version"] == 1
    assert signed.details["reauthenticated"] is True
    assert services.verify(p).ok


def test_soft_finding_without_reason_writes_nothing(physician, patient, pump, t0):
    before = counts()
    with pytest.raises(ValidationError) as exc:
        services.prescribe(
            by=physician,
            patient=patient,
            changes=program(t0 + timedelta(days=10)),
            reasons={"dose_increase_too_large": "   "},
            password=PASSWORD,
        )
    assert "reasons.dose_increase_too_large" in exc.value.message_dict
    assert counts() == before


def test_hard_finding_blocks_and_is_named(physician, patient, pump, t0):
    before = counts()
    with pytest.raises(ValidationError) as exc:
        services.prescribe(
            by=physician,
            patient=patient,
            changes=program(t0 + timedelta(days=10), dose="500 mg/day"),
            reasons={},
            password=PASSWORD,
        )
    text = " ".join(exc.value.messages)
    assert "hard finding" in text
    assert "cannot be overridden" in text
    assert counts() == before


def test_wrong_password_writes_nothing_but_the_failure(physician, patient, pump, t0):
    before = counts()
    with pytest.raises(ValidationError) as exc:
        services.prescribe(
            by=physician,
            patient=patient,
            changes=program(t0 + timedelta(days=10), dose="5.5 mg/day"),
            reasons={},
            password="not it",
        )
    assert exc.value.message_dict == {"password": ["this is not your current password"]}
    assert counts() == before
    failed = AuditEvent.objects.get(action=Action.REAUTHENTICATION_FAILED)
    assert failed.actor == physician
    assert failed.patient == patient


def test_five_wrong_passwords_lock_signing_for_the_window(physician, patient, pump, t0):
    """After 5 wrong passwords within 15 minutes (data/prescriptions.toml, as the log-in's
    django-axes limit), even the right password does not sign; once the failures are older
    than the window, it does."""

    def sign(password):
        return services.prescribe(
            by=physician,
            patient=patient,
            changes=program(t0 + timedelta(days=10), dose="5.5 mg/day"),
            reasons={},
            password=password,
        )

    for _ in range(5):
        with pytest.raises(ValidationError):
            sign("not it")
    with pytest.raises(ValidationError) as exc:
        sign(PASSWORD)
    assert "too many wrong passwords" in exc.value.message_dict["password"][0]
    assert not Prescription.objects.exists()
    assert AuditEvent.objects.filter(action=Action.REAUTHENTICATION_FAILED).count() == 5
    # Sixteen minutes later the failures are outside the window.
    later = timezone.now() + timedelta(minutes=16)
    with mock.patch("openidds.web.prescriptions.services.timezone.now", return_value=later):
        assert not services.reauthentication_locked(physician)
    # Another physician is not locked by this one's failures.
    other = make_user("other-physician", patient.clinic, Role.PHYSICIAN)
    assert not services.reauthentication_locked(other)


def test_only_a_physician_prescribes(nurse, users, patient, pump, t0):
    for user in (nurse, users[Role.CLINIC_ADMIN], users[Role.PATIENT]):
        with pytest.raises(PermissionDenied):
            services.prescribe(
                by=user,
                patient=patient,
                changes=program(t0 + timedelta(days=10), dose="5.5 mg/day"),
                reasons={},
                password=PASSWORD,
            )
    assert not Prescription.objects.exists()


def test_versions_chain_and_verify(physician, patient, pump, t0):
    at = t0 + timedelta(days=10)
    # 5 -> 5.5 mg/day is +10 %: no soft finding
    first = services.prescribe(
        by=physician,
        patient=patient,
        changes=program(at, "5.5 mg/day"),
        reasons={},
        password=PASSWORD,
    )
    second = services.prescribe(
        by=physician,
        patient=patient,
        changes=[{"kind": "stop", "at": at + timedelta(minutes=5), "fields": {}}],
        reasons={"withdrawal_pump_stopped": "explant planned; oral morphine bridge"},
        password=PASSWORD,
    )
    assert (first.version, second.version) == (1, 2)
    assert second.supersedes == first
    assert second.previous_signature == first.signature
    second.refresh_from_db()
    assert services.verify(second).ok
    assert all(v.ok for v in services.verify_history(patient).values())
    rows = {r["field"]: r for r in services.diff_to_previous(second)}
    assert rows["Mode"]["old"] == "continuous"
    assert rows["Mode"]["new"].startswith("stopped")


def test_tampering_is_detected(physician, patient, pump, t0):
    at = t0 + timedelta(days=10)
    first = services.prescribe(
        by=physician,
        patient=patient,
        changes=program(at, "5.5 mg/day"),
        reasons={},
        password=PASSWORD,
    )
    second = services.prescribe(
        by=physician,
        patient=patient,
        changes=[{"kind": "stop", "at": at + timedelta(minutes=5), "fields": {}}],
        reasons={"withdrawal_pump_stopped": "explant planned; oral morphine bridge"},
        password=PASSWORD,
    )
    # a changed dose in the stored content no longer matches its signature
    tampered = Prescription.objects.get(pk=first.pk)
    tampered.changes[0]["fields"]["dose"]["morphine"] = "55 mg/day"
    assert not services.verify(tampered).ok
    # and the next version sees its predecessor was changed
    later = Prescription.objects.get(pk=second.pk)
    later.supersedes = tampered
    result = services.verify(later)
    assert not result.ok
    assert any("version 1 was changed" in p for p in result.problems)
    # a re-signed version 1 breaks the chain instead
    tampered.signature = tampered.compute_signature()
    later.supersedes = tampered
    assert any("chain is broken" in p for p in services.verify(later).problems)


def test_prescriptions_are_append_only(physician, patient, pump, t0):
    p = services.prescribe(
        by=physician,
        patient=patient,
        changes=program(t0 + timedelta(days=10), "5.5 mg/day"),
        reasons={},
        password=PASSWORD,
    )
    with pytest.raises(AppendOnlyError):
        p.save()
    with pytest.raises(AppendOnlyError):
        Prescription.objects.filter(pk=p.pk).update(version=7)
    with pytest.raises(AppendOnlyError):
        p.delete()
    # the database refuses raw SQL too (triggers of migration prescriptions.0002)
    with (
        pytest.raises(Exception, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE prescriptions_prescription SET version = 9 WHERE id = %s", [p.pk])


def test_fill_bridge_and_program_as_one_prescription(physician, patient, pump, t0):
    """A concentration change at a refill: fill 20 mg/mL, bridge bolus, program 6 mg/day,
    judged together (no concentration_change_without_bridge, no program_not_updated)."""
    at = t0 + timedelta(days=10)
    changes = [
        {
            "kind": "fill",
            "at": at,
            "fields": {"aspirated_ml": 15, "volume_ml": 5, "drugs": {"morphine": "20 mg/mL"}},
        },
        {"kind": "bridge_bolus", "at": at, "fields": {}},
        {
            "kind": "program",
            "at": at,
            "fields": {"mode": "continuous", "dose": {"morphine": "5.5 mg/day"}},
        },
    ]
    p = services.preview(by=physician, patient=patient, changes=changes)
    codes = {f["code"] for f in p.findings}
    assert "concentration_change_without_bridge" not in codes
    assert "program_not_updated_after_concentration_change" not in codes
    # 15 mL aspirated of 15 expected, nothing left: 5 mL of 20 mg/mL; 5.5 mg/day = 0.275 mL/day
    rows = {r["field"]: r for r in p.diff}
    assert rows["morphine: concentration"]["new"] == "20 mg/mL"
    assert rows["Basal rate (mean)"]["new"] == "0.275 mL/day"
    signed = services.prescribe(
        by=physician,
        patient=patient,
        changes=changes,
        reasons={f["code"]: "planned concentration change" for f in p.soft},
        password=PASSWORD,
    )
    assert [e.kind for e in signed.pump_events.order_by("sequence")] == [
        "fill",
        "bridge_bolus",
        "program",
    ]
    order = services.refill_order(pump)
    assert order["source"] == "prescription"
    assert order["version"] == 1
    assert order["drugs"] == {"morphine": "20 mg/mL"}
    assert order["concentrations_mg_per_ml"] == {"morphine": 20.0}
    assert order["volume_ml"] == 5


def test_refill_order_falls_back_to_the_last_fill(physician, patient, pump):
    order = services.refill_order(pump)
    assert order["source"] == "last fill"
    assert order["drugs"] == {"morphine": "10 mg/mL"}
    assert order["volume_ml"] == 20


def test_refill_order_without_any_fill(physician, patient, t0):
    implant = implant_services.record_implant(
        by=physician,
        patient=patient,
        pump_model="synchromed2-20",
        serial="E1",
        implanted_at=t0,
    )
    assert services.refill_order(implant) is None


def test_flex_program_and_ptm_settings_in_the_diff(physician, patient, pump, t0):
    at = t0 + timedelta(days=10)
    changes = [
        {
            "kind": "program",
            "at": at,
            "fields": {
                "mode": "flex",
                "period": "day",
                "steps": [
                    {"start": "08:00", "rate_ml_per_day": 0.6},
                    {"start": "20:00", "rate_ml_per_day": 0.4},
                ],
            },
        },
        {
            "kind": "ptm_settings",
            "at": at,
            "fields": {
                "dose": {"morphine": "0.2 mg"},
                "duration": "PT15M",
                "lockout": "PT4H",
                "max_per_24h": 3,
            },
        },
    ]
    p = services.preview(by=physician, patient=patient, changes=changes)
    rows = {r["field"]: r for r in p.diff}
    # mean of 12 h at 0.6 and 12 h at 0.4 = 0.5 mL/day, so 5 mg/day of morphine
    assert rows["Basal rate (mean)"]["new"] == "0.5 mL/day"
    assert rows["Flex steps"]["new"] == "08:00 0.6 mL/day; 20:00 0.4 mL/day"
    assert rows["Mode"]["new"] == "flex by day, 2 steps"
    # 0.2 mg of 10 mg/mL = 0.02 mL a bolus
    assert rows["PTM"]["old"] == "off"
    assert rows["PTM"]["new"].startswith("0.02 mL a bolus (morphine 0.2 mg) over 15 min")
    assert "lockout 4 h, at most 3 in 24 h" in rows["PTM"]["new"]
    assert p.after["steps"][0]["doses_mg_per_day"]["morphine"] == pytest.approx(6.0)


def test_nurse_lists_and_reads_prescriptions(physician, nurse, patient, pump, t0):
    p = services.prescribe(
        by=physician,
        patient=patient,
        changes=program(t0 + timedelta(days=10), "5.5 mg/day"),
        reasons={},
        password=PASSWORD,
    )
    assert services.list_prescriptions(by=nurse, patient=patient) == [p]
    assert services.get_prescription(by=nurse, prescription_id=p.pk) == p
    assert AuditEvent.objects.filter(action=Action.PRESCRIPTION_VIEWED).count() == 1


def test_another_clinics_prescription_is_not_found(physician, patient, pump, t0, other_clinic):
    p = services.prescribe(
        by=physician,
        patient=patient,
        changes=program(t0 + timedelta(days=10), "5.5 mg/day"),
        reasons={},
        password=PASSWORD,
    )
    stranger = make_user("stranger", other_clinic, Role.PHYSICIAN)
    from django.http import Http404

    with pytest.raises(Http404):
        services.get_prescription(by=stranger, prescription_id=p.pk)


# -- properties ----------------------------------------------------------------------------

PROPERTY = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class _RollbackError(Exception):
    pass


def _attempt(fn):
    """Run fn in a transaction that is always rolled back; return what it raised/returned."""
    outcome = {}
    try:
        with transaction.atomic():
            try:
                outcome["value"] = fn()
            except ValidationError as exc:
                outcome["error"] = exc
            outcome["counts"] = counts()
            raise _RollbackError
    except _RollbackError:
        pass
    return outcome


@PROPERTY
@given(dose=st.decimals(min_value="0.5", max_value="400", places=2))
def test_property_hard_findings_never_write(physician, patient, pump, t0, dose):
    at = t0 + timedelta(days=10)
    changes = program(at, f"{dose} mg/day")
    try:
        p = services.preview(by=physician, patient=patient, changes=changes)
    except ValidationError:
        return  # the pump cannot run it at all: nothing to sign
    before = counts()
    out = _attempt(
        lambda: services.prescribe(
            by=physician,
            patient=patient,
            changes=changes,
            reasons={c: "accepted by the MDT" for c in p.soft_codes},
            password=PASSWORD,
        )
    )
    if p.blocked:
        assert "error" in out
        assert out["counts"] == before
    else:
        assert "value" in out
        assert out["counts"][0] == before[0] + 1


@PROPERTY
@given(
    dose=st.decimals(min_value="5.01", max_value="19.9", places=2),
    blank=st.sampled_from(["", " ", "\t\n"]),
)
def test_property_soft_findings_without_reason_never_write(
    physician, patient, pump, t0, dose, blank
):
    changes = program(t0 + timedelta(days=10), f"{dose} mg/day")
    p = services.preview(by=physician, patient=patient, changes=changes)
    before = counts()
    out = _attempt(
        lambda: services.prescribe(
            by=physician,
            patient=patient,
            changes=changes,
            reasons={c: blank for c in p.soft_codes},
            password=PASSWORD,
        )
    )
    if p.soft_codes or p.blocked:
        assert "error" in out
        assert out["counts"] == before
        for code in p.soft_codes:
            assert f"reasons.{code}" in out["error"].message_dict
    else:  # up to +20 %: nothing to give a reason for
        assert "value" in out


@PROPERTY
@given(password=st.text(max_size=30).filter(lambda s: s != PASSWORD))
def test_property_wrong_password_never_writes(physician, patient, pump, t0, password):
    before = counts()
    out = _attempt(
        lambda: services.prescribe(
            by=physician,
            patient=patient,
            changes=program(t0 + timedelta(days=10), "5.5 mg/day"),
            reasons={},
            password=password,
        )
    )
    assert "password" in out["error"].message_dict
    assert out["counts"] == before


@PROPERTY
@given(steps=st.lists(st.sampled_from(["5.5", "5.2", "5.0", "4.8"]), min_size=1, max_size=4))
def test_property_versions_are_contiguous_and_verify(physician, patient, pump, t0, steps):
    def run():
        at = t0 + timedelta(days=10)
        made = []
        for i, dose in enumerate(steps):
            made.append(
                services.prescribe(
                    by=physician,
                    patient=patient,
                    changes=program(at + timedelta(minutes=i), f"{dose} mg/day"),
                    reasons={"dose_increase_too_large": "r", "dose_increase_too_soon": "r"},
                    password=PASSWORD,
                )
            )
        versions = list(
            Prescription.objects.filter(patient=patient)
            .order_by("version")
            .values_list("version", flat=True)
        )
        assert versions == list(range(1, len(steps) + 1))
        history = services.verify_history(patient)
        assert all(v.ok for v in history.values()), history
        return made

    out = _attempt(run)
    assert "value" in out, out.get("error")
