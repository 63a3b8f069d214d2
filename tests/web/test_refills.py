"""Refill visits: the services, with hand-computed discrepancies and the safety rules as
hypothesis properties.

The pump of every test (``test_refills_helpers.make_pump``): SynchroMed II 20 mL, 20 mL of
morphine 10 mg/mL at 5 mg/day = 0.5 mL/day from T0; at AT = T0 + 30 days the twin expects
20 − 0.5 × 30 = 5.0 mL; the catalog's threshold for a 20 mL pump is 1.0 mL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_refills_helpers import AT, T0, make_pump
from web_helpers import make_user, patient_fields

from openidds.web.accounts.models import Role
from openidds.web.audit.models import Action, AuditEvent
from openidds.web.implants import services as implant_services
from openidds.web.implants.models import PumpEvent
from openidds.web.patients.models import Patient
from openidds.web.refills import services
from openidds.web.refills.models import (
    AppendOnlyError,
    DiscrepancyAcknowledgement,
    RefillVisit,
    VisitStatus,
)

pytestmark = pytest.mark.django_db

ALL_ITEMS = ["port_located", "needle_confirmed", "volumes_read_back"]
GOOD_EXPIRY = date(2026, 6, 30)


@pytest.fixture
def implant(patient, physician):
    return make_pump(patient, physician)


def _start(nurse, patient, at=AT):
    return services.start_visit(by=nurse, patient=patient, at=at)


def _ready(nurse, patient, aspirated="4.50", left="0"):
    visit = _start(nurse, patient)
    visit = services.record_checklist(by=nurse, visit=visit, items=ALL_ITEMS)
    return services.record_aspiration(
        by=nurse, visit=visit, aspirated_ml=aspirated, residual_left_ml=left
    )


def _complete(user, visit, volume="20", conc="10 mg/mL", expiry=GOOD_EXPIRY, lot="LOT-7"):
    return services.complete_refill(
        by=user,
        visit=visit,
        volume_ml=volume,
        drugs={"morphine": conc},
        drug_lot=lot,
        drug_expiry=expiry,
    )


# -- start: the expected residual and what to draw up --------------------------------------


def test_start_gives_the_twins_expected_residual_and_the_order(nurse, patient, implant):
    visit = _start(nurse, patient)
    # 20 mL − 0.5 mL/day × 30 days = 5.0 mL
    assert visit.expected_residual_ml == pytest.approx(5.0, abs=1e-9)
    assert visit.threshold_ml == 1.0  # catalog: synchromed2-20 refill_discrepancy_ml
    assert visit.capacity_ml == 20.0
    assert visit.status == VisitStatus.STARTED
    assert visit.at == AT
    assert visit.order_drugs == {"morphine": "10 mg/mL"}
    # No prescription: the last fill's drug, the reservoir filled up: 20 − 0 left = 20 mL.
    assert visit.order_source == "last_fill"
    assert services.volume_to_draw(visit) == Decimal("20.00")
    lines = services.drug_lines(visit.order_drugs, services.volume_to_draw(visit))
    assert lines[0].numbers == "10 mg/mL"
    assert lines[0].words == "10 milligrams of morphine in each millilitre"
    assert lines[0].total == "200 mg in 20 mL"  # 20 mL × 10 mg/mL
    event = AuditEvent.objects.get(action=Action.REFILL_VISIT_STARTED)
    assert event.patient == patient
    assert event.actor == nurse
    assert event.details["expected_residual_ml"] == pytest.approx(5.0)


def test_ziconotide_concentration_reads_in_micrograms():
    lines = services.drug_lines({"ziconotide": "25 mcg/mL"}, Decimal("20"))
    assert lines[0].numbers == "25 mcg/mL (0.025 mg/mL)"
    assert lines[0].words == "25 micrograms of ziconotide in each millilitre"
    # 20 mL × 0.025 mg/mL = 0.5 mg = 500 mcg
    assert lines[0].total == "500 mcg (0.5 mg) in 20 mL"


def test_start_refuses_without_implant_fill_or_twice(nurse, physician, patient, implant, clinic):
    bare = Patient.objects.create(clinic=clinic, **patient_fields(mrn="M-2", name="Bare"))
    with pytest.raises(ValidationError, match="no active implant"):
        services.start_visit(by=nurse, patient=bare, at=AT)
    with pytest.raises(ValidationError, match="after the last fill"):
        services.start_visit(by=nurse, patient=patient, at=T0)
    with pytest.raises(ValidationError, match="future"):
        services.start_visit(by=nurse, patient=patient, at=datetime.now(UTC) + timedelta(days=1))
    _start(nurse, patient)
    with pytest.raises(ValidationError, match="already open"):
        _start(physician, patient)
    assert RefillVisit.objects.count() == 1


@pytest.mark.parametrize("role", [Role.CLINIC_ADMIN, Role.PATIENT])
def test_only_physicians_and_nurses_start(role, users, patient, implant):
    with pytest.raises(PermissionDenied):
        _start(users[role], patient)
    assert not RefillVisit.objects.exists()


# -- the discrepancy, by hand ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aspirated", "left", "discrepancy", "status"),
    [
        # 4.50 + 0 − 5.0 = −0.5: within 1 mL
        ("4.50", "0", -0.5, VisitStatus.READY_TO_FILL),
        # 3.00 + 0 − 5.0 = −2.0: 2 mL missing, more than 1 mL (pocket fill? needle outside?)
        ("3.00", "0", -2.0, VisitStatus.AWAITING_ACKNOWLEDGEMENT),
        # 4.00 + 0 − 5.0 = −1.0: exactly the threshold is not "more than" it
        ("4.00", "0", -1.0, VisitStatus.READY_TO_FILL),
        # 3.99 + 0 − 5.0 = −1.01: just over
        ("3.99", "0", -1.01, VisitStatus.AWAITING_ACKNOWLEDGEMENT),
        # 4.00 + 0.50 left − 5.0 = −0.5
        ("4.00", "0.50", -0.5, VisitStatus.READY_TO_FILL),
        # 6.50 + 0 − 5.0 = +1.5: more came out than the twin expected (under-infusion?)
        ("6.50", "0", 1.5, VisitStatus.AWAITING_ACKNOWLEDGEMENT),
        # 0 + 0 − 5.0 = −5.0: nothing aspirated from a pump that should hold 5 mL
        ("0", "0", -5.0, VisitStatus.AWAITING_ACKNOWLEDGEMENT),
    ],
)
def test_discrepancy_hand_computed(nurse, patient, implant, aspirated, left, discrepancy, status):
    visit = _ready(nurse, patient, aspirated, left)
    assert visit.expected_residual_ml == pytest.approx(5.0, abs=1e-9)
    assert visit.discrepancy_ml == pytest.approx(discrepancy, abs=1e-9)
    assert visit.status == status
    assert visit.over_threshold == (status == VisitStatus.AWAITING_ACKNOWLEDGEMENT)
    event = AuditEvent.objects.get(action=Action.REFILL_ASPIRATION_RECORDED)
    assert event.details["discrepancy_ml"] == pytest.approx(discrepancy, abs=1e-9)
    assert event.details["status"] == status


def test_40_ml_pump_has_a_2_ml_threshold(nurse, physician, patient):
    # 40 mL of 10 mg/mL at 10 mg/day = 1 mL/day; after 30 days 40 − 30 = 10.0 mL expected.
    make_pump(patient, physician, model="synchromed2-40", volume_ml=40, dose="10 mg/day")
    visit = _ready(nurse, patient, "8.50")  # 8.5 − 10 = −1.5: within 2 mL
    assert visit.threshold_ml == 2.0
    assert visit.expected_residual_ml == pytest.approx(10.0, abs=1e-9)
    assert visit.discrepancy_ml == pytest.approx(-1.5, abs=1e-9)
    assert visit.status == VisitStatus.READY_TO_FILL
    services.abandon_visit(by=nurse, visit=visit, reason="test")
    visit = _ready(nurse, patient, "7.50")  # 7.5 − 10 = −2.5: over 2 mL
    assert visit.discrepancy_ml == pytest.approx(-2.5, abs=1e-9)
    assert visit.status == VisitStatus.AWAITING_ACKNOWLEDGEMENT


def test_aspiration_is_recorded_once_and_validated(nurse, patient, implant):
    visit = _start(nurse, patient)
    for bad, field in (("-1", "aspirated_ml"), ("abc", "aspirated_ml"), ("4.555", "aspirated_ml")):
        with pytest.raises(ValidationError) as exc:
            services.record_aspiration(by=nurse, visit=visit, aspirated_ml=bad)
        assert field in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.record_aspiration(by=nurse, visit=visit, aspirated_ml="4", residual_left_ml="25")
    assert "residual_left_ml" in exc.value.message_dict
    assert RefillVisit.objects.get().aspirated_ml is None
    services.record_aspiration(by=nurse, visit=visit, aspirated_ml="3.00")
    with pytest.raises(ValidationError, match="already recorded"):
        services.record_aspiration(by=nurse, visit=visit, aspirated_ml="5.00")
    visit.refresh_from_db()
    assert visit.aspirated_ml == Decimal("3.00")
    assert visit.status == VisitStatus.AWAITING_ACKNOWLEDGEMENT


# -- completing, the checklist and the drug ------------------------------------------------


def test_complete_records_the_fill_and_the_new_forecast(nurse, patient, implant):
    visit = _ready(nurse, patient, "4.50")
    before = PumpEvent.objects.count()
    visit = _complete(nurse, visit)
    assert visit.status == VisitStatus.COMPLETED
    assert PumpEvent.objects.count() == before + 1
    fill = visit.fill_event
    assert fill.kind == "fill"
    assert fill.at == AT
    assert fill.recorded_by == nurse
    assert fill.fields["aspirated_ml"] == 4.5
    assert fill.fields["volume_ml"] == 20.0
    assert fill.fields["drugs"] == {"morphine": "10 mg/mL"}
    assert "residual_left_ml" not in fill.fields  # nothing left: the scenario's default 0
    assert "lot LOT-7" in fill.fields["note"]
    # After the fill the reservoir holds 0 + 20 = 20 mL at 0.5 mL/day.
    # Low-reservoir alarm at 2 mL: (20 − 2) / 0.5 = 36 days, nominal.
    assert visit.low_reservoir_at == AT + timedelta(days=36)
    # Empty: 20 / 0.5 = 40 days.
    assert visit.empty_at == AT + timedelta(days=40)
    # Recommended refill = the earliest low alarm: 18 mL / (0.5 × (1 + 0.145)) mL/day
    # = 31.4410... days (catalog accuracy ±14.5 %).
    days = 18 / (0.5 * 1.145)
    assert abs((visit.next_refill_at - AT).total_seconds() - days * 86400) < 1
    assert visit.next_refill_at.date() == date(2026, 3, 7)
    event = AuditEvent.objects.get(action=Action.REFILL_COMPLETED)
    assert event.details["fill_event"] == fill.pk
    assert event.details["drug_lot"] == "LOT-7"


def test_residual_left_goes_into_the_fill_and_the_volume_to_draw(nurse, patient, implant):
    visit = _ready(nurse, patient, "4.00", "0.50")  # 4.0 + 0.5 − 5.0 = −0.5
    assert services.volume_to_draw(visit) == Decimal("19.50")  # 20 − 0.5 left
    with pytest.raises(ValidationError) as exc:  # 0.5 + 20 = 20.5 > 20 mL
        _complete(nurse, visit, volume="20")
    assert "volume_ml" in exc.value.message_dict
    visit = _complete(nurse, visit, volume="19.50")
    assert visit.fill_event.fields["residual_left_ml"] == 0.5


def test_complete_needs_the_whole_checklist(nurse, patient, implant):
    visit = _start(nurse, patient)
    services.record_checklist(by=nurse, visit=visit, items=["port_located"])
    visit = services.record_aspiration(by=nurse, visit=visit, aspirated_ml="4.50")
    with pytest.raises(ValidationError) as exc:
        _complete(nurse, visit)
    message = " ".join(exc.value.message_dict["checklist"])
    assert "needle position" in message
    assert "volumes read back" in message
    assert "reservoir fill port" not in message  # that one is confirmed
    assert not PumpEvent.objects.filter(kind="fill", at=AT).exists()
    visit = services.record_checklist(
        by=nurse, visit=visit, items=["needle_confirmed", "volumes_read_back"]
    )
    assert [c["by"] for c in visit.checklist()] == [nurse, nurse, nurse]
    assert all(c["at"] is not None for c in visit.checklist())
    assert _complete(nurse, visit).status == VisitStatus.COMPLETED


def test_checklist_keeps_the_first_yes(nurse, physician, patient, implant):
    visit = _start(nurse, patient)
    visit = services.record_checklist(by=nurse, visit=visit, items=["port_located"])
    first = visit.port_located_at
    visit = services.record_checklist(by=physician, visit=visit, items=["port_located"])
    assert visit.port_located_by == nurse
    assert visit.port_located_at == first
    assert AuditEvent.objects.filter(action=Action.REFILL_CHECKLIST_RECORDED).count() == 1
    with pytest.raises(ValidationError):
        services.record_checklist(by=nurse, visit=visit, items=["sterile_gloves"])


@pytest.mark.parametrize(
    ("expiry", "message"),
    [
        # The visit is on 2026-02-04: expired the day before.
        (date(2026, 2, 3), "expired on 2026-02-03"),
        # The next refill is due 2026-03-07 (31.44 days after AT): 2026-03-06 is too early.
        (date(2026, 3, 6), "before the next refill date 2026-03-07"),
    ],
)
def test_expired_drug_is_refused(nurse, patient, implant, expiry, message):
    visit = _ready(nurse, patient, "4.50")
    with pytest.raises(ValidationError) as exc:
        _complete(nurse, visit, expiry=expiry)
    assert message in " ".join(exc.value.message_dict["drug_expiry"])
    visit.refresh_from_db()
    assert visit.status == VisitStatus.READY_TO_FILL
    assert not PumpEvent.objects.filter(at=AT).exists()


def test_a_drug_that_keeps_until_the_next_refill_day_is_accepted(nurse, patient, implant):
    visit = _ready(nurse, patient, "4.50")
    assert _complete(nurse, visit, expiry=date(2026, 3, 7)).status == VisitStatus.COMPLETED


def test_another_concentration_than_ordered_is_refused(nurse, patient, implant):
    visit = _ready(nurse, patient, "4.50")
    with pytest.raises(ValidationError) as exc:
        _complete(nurse, visit, conc="20 mg/mL")
    assert "not the ordered 10 mg/mL" in " ".join(exc.value.message_dict["drugs.morphine"])
    with pytest.raises(ValidationError) as exc:
        services.complete_refill(
            by=nurse,
            visit=visit,
            volume_ml="20",
            drugs={"baclofen": "2 mg/mL"},
            drug_lot="L",
            drug_expiry=GOOD_EXPIRY,
        )
    assert "fill what is ordered" in " ".join(exc.value.message_dict["drugs"])
    # The same concentration written another way is the same drug: 10000 mcg/mL = 10 mg/mL.
    assert _complete(nurse, visit, conc="10000 mcg/mL").status == VisitStatus.COMPLETED


def test_lot_and_expiry_are_required(nurse, patient, implant):
    visit = _ready(nurse, patient, "4.50")
    with pytest.raises(ValidationError) as exc:
        _complete(nurse, visit, lot="  ", expiry=None)
    assert set(exc.value.message_dict) >= {"drug_lot", "drug_expiry"}


# -- the discrepancy blocks until a physician acknowledges ---------------------------------


def test_discrepancy_blocks_until_a_physician_acknowledges(nurse, physician, patient, implant):
    # 2.5 − 5.0 = −2.5 mL: beyond the larger of 1 mL and 14.5 % of the 15 mL pumped (2.175)
    visit = _ready(nurse, patient, "2.50")
    before = PumpEvent.objects.count()
    with pytest.raises(ValidationError, match="do not fill until a physician"):
        _complete(nurse, visit)
    with pytest.raises(ValidationError, match="do not fill until a physician"):
        _complete(physician, visit)  # not even the physician, without the acknowledgement
    assert PumpEvent.objects.count() == before
    with pytest.raises(PermissionDenied):
        services.acknowledge_discrepancy(by=nurse, visit=visit, note="looks fine")
    with pytest.raises(ValidationError) as exc:
        services.acknowledge_discrepancy(by=physician, visit=visit, note="   ")
    assert "note" in exc.value.message_dict
    assert not DiscrepancyAcknowledgement.objects.exists()
    ack = services.acknowledge_discrepancy(
        by=physician,
        visit=visit,
        note="Pocket checked by ultrasound: no fluid; patient well. Refill under template.",
    )
    assert ack.physician == physician
    assert ack.discrepancy_ml == pytest.approx(-2.5)
    visit.refresh_from_db()
    assert visit.status == VisitStatus.READY_TO_FILL
    visit = _complete(nurse, visit)
    assert visit.status == VisitStatus.COMPLETED
    assert visit.fill_event.fields["aspirated_ml"] == 2.5
    override = visit.fill_event.fields["override"]
    assert override[0]["code"] == "refill_discrepancy"
    assert "Pocket checked by ultrasound" in override[0]["reason"]
    audit = AuditEvent.objects.get(action=Action.DISCREPANCY_ACKNOWLEDGED)
    assert audit.actor == physician
    assert "ultrasound" in audit.details["note"]
    # The dose checks saw the discrepancy and report it overridden by the physician's note.
    findings = AuditEvent.objects.get(
        action=Action.PUMP_EVENT_RECORDED, object_id=str(visit.fill_event.pk)
    ).details["findings"]
    assert any(f["code"] == "refill_discrepancy" for f in findings)


def test_physician_may_decide_not_to_fill(nurse, physician, patient, implant):
    visit = _ready(nurse, patient, "0")
    services.acknowledge_discrepancy(
        by=physician, visit=visit, note="Suspected pocket fill: admit", decision="do_not_fill"
    )
    visit.refresh_from_db()
    assert visit.status == VisitStatus.ABANDONED
    assert "Suspected pocket fill" in visit.abandon_reason
    with pytest.raises(ValidationError):
        _complete(nurse, visit)


def test_a_nurse_cannot_leave_a_discrepancy_behind_by_abandoning(
    nurse, physician, patient, implant
):
    visit = _ready(nurse, patient, "3.00")
    with pytest.raises(PermissionDenied):
        services.abandon_visit(by=nurse, visit=visit, reason="start over")
    visit.refresh_from_db()
    assert visit.status == VisitStatus.AWAITING_ACKNOWLEDGEMENT
    services.abandon_visit(by=physician, visit=visit, reason="pump to be interrogated first")
    visit.refresh_from_db()
    assert visit.status == VisitStatus.ABANDONED


def test_abandon_needs_a_reason_and_an_open_visit(nurse, patient, implant):
    visit = _start(nurse, patient)
    with pytest.raises(ValidationError) as exc:
        services.abandon_visit(by=nurse, visit=visit, reason="")
    assert "reason" in exc.value.message_dict
    services.abandon_visit(by=nurse, visit=visit, reason="patient unwell, rescheduled")
    with pytest.raises(ValidationError, match="Abandoned"):
        services.abandon_visit(by=nurse, visit=visit, reason="again")
    # A new visit may start once the old one is closed.
    assert _start(nurse, patient).status == VisitStatus.STARTED


def test_records_changed_since_the_aspiration_refuse_the_fill(nurse, physician, patient, implant):
    from openidds.web.implants import services as implant_services

    visit = _ready(nurse, patient, "4.50")
    # A back-dated program (10 days before the refill) changes what the twin expects.
    implant_services.record_pump_event(
        by=physician,
        implant=implant,
        kind="program",
        at=AT - timedelta(days=10),
        fields={"mode": "continuous", "dose": {"morphine": "4 mg/day"}},
    )
    with pytest.raises(ValidationError, match="records changed since the aspiration"):
        _complete(nurse, visit)


def test_acknowledgements_are_append_only(nurse, physician, patient, implant):
    visit = _ready(nurse, patient, "3.00")
    ack = services.acknowledge_discrepancy(by=physician, visit=visit, note="ok")
    ack.note = "changed"
    with pytest.raises(AppendOnlyError):
        ack.save()
    with pytest.raises(AppendOnlyError):
        ack.delete()
    with pytest.raises(AppendOnlyError):
        DiscrepancyAcknowledgement.objects.all().update(note="x")
    from django.db import DatabaseError, connection

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE refills_discrepancyacknowledgement SET note = 'x'")


def test_other_clinic_users_cannot_touch_a_visit(nurse, patient, implant, other_clinic):
    stranger = make_user("stranger", other_clinic, Role.NURSE)
    visit = _start(nurse, patient)
    with pytest.raises(PermissionDenied):
        services.record_aspiration(by=stranger, visit=visit, aspirated_ml="4.5")
    from django.http import Http404

    with pytest.raises(Http404):
        services.find_visit(by=stranger, visit_id=visit.pk)


# -- the safety rules as properties ---------------------------------------------------------


class _RollbackError(Exception):
    pass


VOLUMES = st.decimals(min_value=0, max_value=20, places=2)
LEFT = st.decimals(min_value=0, max_value=2, places=2)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(aspirated=VOLUMES, left=LEFT, nurse_fills=st.booleans())
def test_property_no_fill_over_threshold_without_acknowledgement(
    nurse, physician, patient, implant, aspirated, left, nurse_fills
):
    """|aspirated + left − 5.0| > 1.0 ⇒ the visit awaits a physician, nothing is filled and
    completing is refused; after the acknowledgement (or when within the threshold) the fill
    event carries exactly the recorded aspirated volume and what was left."""
    filler = nurse if nurse_fills else physician
    try:
        with transaction.atomic():
            visit = _ready(nurse, patient, str(aspirated), str(left))
            discrepancy = aspirated + left - Decimal(5)
            over = abs(discrepancy) > 1
            assert visit.discrepancy_ml == pytest.approx(float(discrepancy), abs=1e-9)
            assert visit.over_threshold == over
            fills = PumpEvent.objects.filter(kind="fill").count()
            if over:
                assert visit.status == VisitStatus.AWAITING_ACKNOWLEDGEMENT
                with pytest.raises(ValidationError):
                    _complete(filler, visit, volume=str(Decimal(20) - left))
                assert PumpEvent.objects.filter(kind="fill").count() == fills
                visit.refresh_from_db()
                assert visit.status == VisitStatus.AWAITING_ACKNOWLEDGEMENT
                assert visit.fill_event is None
                services.acknowledge_discrepancy(by=physician, visit=visit, note="checked")
            else:
                assert visit.status == VisitStatus.READY_TO_FILL
            visit = _complete(filler, visit, volume=str(Decimal(20) - left))
            assert PumpEvent.objects.filter(kind="fill").count() == fills + 1
            assert visit.fill_event.fields["aspirated_ml"] == float(aspirated)
            assert visit.fill_event.fields.get("residual_left_ml", 0.0) == float(left)
            assert Decimal(str(visit.fill_event.fields["aspirated_ml"])) == visit.aspirated_ml
            assert ("override" in visit.fill_event.fields) == over
            raise _RollbackError
    except _RollbackError:
        pass


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    aspirated=st.sampled_from([Decimal("0"), Decimal("3.00"), Decimal("3.99"), Decimal("7.5")]),
    steps=st.lists(
        st.sampled_from(["checklist", "complete", "abandon_nurse", "ack_nurse"]), max_size=6
    ),
)
def test_property_whatever_a_nurse_does_nothing_is_filled_while_awaiting(
    nurse, patient, implant, aspirated, steps
):
    """Over the threshold, no sequence of a nurse's actions fills the pump or leaves the
    awaiting state."""
    try:
        with transaction.atomic():
            visit = _ready(nurse, patient, str(aspirated))
            assert visit.status == VisitStatus.AWAITING_ACKNOWLEDGEMENT
            fills = PumpEvent.objects.filter(kind="fill").count()
            for step in steps:
                try:
                    if step == "checklist":
                        services.record_checklist(by=nurse, visit=visit, items=ALL_ITEMS)
                    elif step == "complete":
                        _complete(nurse, visit)
                    elif step == "abandon_nurse":
                        services.abandon_visit(by=nurse, visit=visit, reason="again")
                    else:
                        services.acknowledge_discrepancy(by=nurse, visit=visit, note="fine")
                except (ValidationError, PermissionDenied):
                    pass
                visit.refresh_from_db()
                assert visit.status == VisitStatus.AWAITING_ACKNOWLEDGEMENT
                assert PumpEvent.objects.filter(kind="fill").count() == fills
                assert not DiscrepancyAcknowledgement.objects.filter(visit=visit).exists()
            raise _RollbackError
    except _RollbackError:
        pass


# -- no way around the visit: a discrepant fill recorded anywhere else is refused ------------


@pytest.mark.parametrize("who", ["nurse", "physician"])
@pytest.mark.parametrize("override", [False, True])
def test_a_discrepant_refill_outside_a_visit_is_refused(
    who, override, nurse, physician, patient, implant
):
    """2.5 mL aspirated where the twin expects 5.0 mL: −2.5 mL, over the threshold (the larger
    of 1 mL and 14.5 % of the 15 mL pumped since the fill, 2.175 mL).
    Recorded straight as a fill (the chart's form, the API), even by a physician and even
    with a hand-written override, it is refused and nothing is written."""
    user = {"nurse": nurse, "physician": physician}[who]
    fields = {"aspirated_ml": 2.5, "volume_ml": 17, "drugs": {"morphine": "10 mg/mL"}}
    if override:
        fields["override"] = [{"code": "refill_discrepancy", "reason": "I say it is fine"}]
    before = (PumpEvent.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as exc:
        implant_services.record_pump_event(
            by=user, implant=implant, kind="fill", at=AT, fields=fields
        )
    assert "refill visit" in exc.value.message_dict["aspirated_ml"][0]
    assert (PumpEvent.objects.count(), AuditEvent.objects.count()) == before


def test_a_refill_within_the_threshold_outside_a_visit_is_recorded(nurse, patient, implant):
    """4.5 mL aspirated where 5.0 mL were expected: −0.5 mL, within 1 mL."""
    event = implant_services.record_pump_event(
        by=nurse,
        implant=implant,
        kind="fill",
        at=AT,
        fields={"aspirated_ml": 4.5, "volume_ml": 15, "drugs": {"morphine": "10 mg/mL"}},
    )
    assert event.fields["aspirated_ml"] == 4.5


def test_a_correction_cannot_bring_in_an_unacknowledged_discrepancy(nurse, patient, implant):
    event = implant_services.record_pump_event(
        by=nurse,
        implant=implant,
        kind="fill",
        at=AT,
        fields={"aspirated_ml": 4.5, "volume_ml": 15, "drugs": {"morphine": "10 mg/mL"}},
    )
    with pytest.raises(ValidationError) as exc:
        implant_services.correct_pump_event(
            by=nurse,
            event=event,
            reason="misread the syringe",
            fields={"aspirated_ml": 2.5, "volume_ml": 15, "drugs": {"morphine": "10 mg/mL"}},
        )
    assert "refill visit" in exc.value.message_dict["aspirated_ml"][0]
    assert not PumpEvent.objects.filter(supersedes=event).exists()
