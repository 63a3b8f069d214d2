"""Spec semantics 1 (reservoir) and 3 (dose to rate), computed by hand.

Scenarios start 2026-01-01T00:00:00Z; event times are hours after the start (see conftest).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openidds.pump import ScenarioError, simulate

approx = pytest.approx

MORPHINE_10 = {"morphine": "10 mg/mL"}


def fill(at: float, volume: float, drugs: dict[str, str] | None = None, **extra: object) -> dict:
    return {"at": at, "kind": "fill", "volume_ml": volume, "drugs": drugs or MORPHINE_10, **extra}


def rate(at: float, ml_per_day: float) -> dict:
    return {"at": at, "kind": "program", "mode": "continuous", "rate_ml_per_day": ml_per_day}


# -- 1. Reservoir ------------------------------------------------------------------------


def test_reservoir_is_empty_until_the_first_fill(scenario):
    # Program 1 mL/day from 00:00 on day 1, but the first fill is only at 24 h:
    # day 1 moves nothing, day 2 moves 1 mL/day x 1 day.
    res = simulate(scenario(rate(0, 1.0), fill(24, 10), end=48)).to_dict()
    assert [row["pumped_ml"] for row in res["daily"]] == approx([0.0, 1.0], abs=1e-9)
    assert res["totals"]["pumped_ml"] == approx(1.0, abs=1e-9)
    assert res["end_state"]["reservoir_ml"] == approx(10 - 1.0, abs=1e-9)
    # Starting empty is not "reaching 0": no empty_reservoir alarm; 10 mL > 2 mL: no low alarm.
    assert res["alarms"] == []


def test_basal_rate_is_zero_before_the_first_program(scenario):
    # 20 mL filled, no program for 2 days: nothing moves.
    res = simulate(scenario(fill(0, 20), end=48)).to_dict()
    assert res["totals"]["pumped_ml"] == 0.0
    assert res["end_state"]["reservoir_ml"] == approx(20.0, abs=1e-9)
    assert res["end_state"]["reservoir_mg"] == {"morphine": approx(200.0, abs=1e-9)}


def test_boluses_run_before_the_first_program(scenario):
    # No program; a 1 mL clinician bolus over 2 h at 12:00 still runs.
    bolus = {"at": 12, "kind": "bolus", "volume_ml": 1.0, "duration": "PT2H"}
    res = simulate(scenario(fill(0, 20), bolus, end=48)).to_dict()
    assert [row["pumped_ml"] for row in res["daily"]] == approx([1.0, 0.0], abs=1e-9)
    assert res["end_state"]["reservoir_ml"] == approx(20 - 1.0, abs=1e-9)


def test_reservoir_is_well_mixed_at_a_refill(scenario):
    # 10 mL of 10 mg/mL, 1 mL/day for 5 days -> 5 mL (50 mg) left.
    # Refill: 3 mL aspirated, 2 mL (20 mg) left in, 18 mL of 20 mg/mL (360 mg) added:
    # 20 mL holding 20 + 360 = 380 mg, i.e. 19 mg/mL.
    refill = fill(120, 18, {"morphine": "20 mg/mL"}, aspirated_ml=3.0, residual_left_ml=2.0)
    res = simulate(scenario(fill(0, 10), rate(0, 1.0), refill, end=120)).to_dict()
    assert res["end_state"]["reservoir_ml"] == approx(2 + 18, abs=1e-9)
    assert res["end_state"]["reservoir_mg"]["morphine"] == approx(2 * 10 + 18 * 20, abs=1e-9)
    # 5 more days at 1 mL/day from the mixture: 15 mL x 19 mg/mL = 285 mg.
    res = simulate(scenario(fill(0, 10), rate(0, 1.0), refill, end=240)).to_dict()
    assert res["end_state"]["reservoir_ml"] == approx(20 - 5 * 1.0, abs=1e-9)
    assert res["end_state"]["reservoir_mg"]["morphine"] == approx(15 * 19, abs=1e-9)


def test_two_drugs_in_one_fill_leave_in_proportion(scenario):
    # 20 mL of morphine 10 mg/mL + bupivacaine 5 mg/mL; primed path; 1 mL/day for 10 days.
    drugs = {"morphine": "10 mg/mL", "bupivacaine": "5 mg/mL"}
    sc = scenario(fill(0, 20, drugs), rate(0, 1.0), end=240, fluid_path_initial="primed")
    res = simulate(sc).to_dict()
    assert res["totals"]["delivered_mg"] == {
        "morphine": approx(10 * 1.0 * 10, abs=1e-9),  # 10 days x 1 mL/day x 10 mg/mL
        "bupivacaine": approx(10 * 1.0 * 5, abs=1e-9),
    }
    assert res["end_state"]["reservoir_mg"] == {
        "morphine": approx(10 * 10, abs=1e-9),  # 10 mL left
        "bupivacaine": approx(10 * 5, abs=1e-9),
    }


def test_events_exactly_at_start_and_end_are_applied(scenario):
    # The fill at `end` is applied: the end state holds it.
    res = simulate(
        scenario(fill(0, 10), rate(0, 1.0), fill(240, 20, aspirated_ml=0.0), end=240)
    ).to_dict()
    assert [e["index"] for e in res["events"]] == [0, 1, 2]
    assert res["events"][2]["expected_ml"] == approx(10 - 10 * 1.0, abs=1e-9)
    assert res["end_state"]["reservoir_ml"] == approx(20.0, abs=1e-9)


@pytest.mark.parametrize(
    ("first", "second", "expected_day"),
    [
        (1.0, 2.0, 2.0),  # the later one in the file wins
        (2.0, 1.0, 1.0),
    ],
)
def test_events_at_one_instant_apply_in_file_order(scenario, first, second, expected_day):
    res = simulate(scenario(fill(0, 20), rate(0, first), rate(0, second), end=24)).to_dict()
    assert res["daily"][0]["pumped_ml"] == approx(expected_day, abs=1e-9)


def test_stop_then_program_at_one_instant_runs_and_program_then_stop_stops(scenario):
    stop = {"at": 0, "kind": "stop"}
    runs = simulate(scenario(fill(0, 20), stop, rate(0, 1.0), end=24)).to_dict()
    assert runs["totals"]["pumped_ml"] == approx(1.0, abs=1e-9)
    stops = simulate(scenario(fill(0, 20), rate(0, 1.0), stop, end=24)).to_dict()
    assert stops["totals"]["pumped_ml"] == 0.0


def test_events_are_applied_in_time_order_not_file_order(scenario):
    # File order: program 2 mL/day at 24 h, fill at 0, program 1 mL/day at 0.
    res = simulate(scenario(rate(24, 2.0), fill(0, 20), rate(0, 1.0), end=48)).to_dict()
    assert [row["pumped_ml"] for row in res["daily"]] == approx([1.0, 2.0], abs=1e-9)
    assert [e["index"] for e in res["events"]] == [0, 1, 2]
    assert res["events"][0]["at"] == "2026-01-02T00:00:00Z"


# -- 3. Dose to rate ---------------------------------------------------------------------


def test_dose_is_turned_into_a_rate_with_the_reservoir_concentration(scenario):
    # 5 mg/day at 10 mg/mL = 0.5 mL/day; 10 days -> 5 mL.
    program = {"at": 0, "kind": "program", "mode": "continuous", "dose": {"morphine": "5 mg/day"}}
    res = simulate(scenario(fill(0, 20), program, end=240)).to_dict()
    assert res["totals"]["pumped_ml"] == approx(5 / 10 * 10, abs=1e-9)
    assert res["end_state"]["reservoir_ml"] == approx(20 - 5.0, abs=1e-9)


def test_dose_uses_the_mixed_concentration_at_the_event(scenario):
    # After the well-mixed refill above the reservoir holds 19 mg/mL:
    # 9.5 mg/day / 19 mg/mL = 0.5 mL/day; 5 days -> 2.5 mL from 20 mL.
    refill = fill(120, 18, {"morphine": "20 mg/mL"}, aspirated_ml=3.0, residual_left_ml=2.0)
    program = {
        "at": 120,
        "kind": "program",
        "mode": "continuous",
        "dose": {"morphine": "9.5 mg/day"},
    }
    res = simulate(scenario(fill(0, 10), rate(0, 1.0), refill, program, end=240)).to_dict()
    assert res["end_state"]["reservoir_ml"] == approx(20 - 0.5 * 5, abs=1e-9)


def test_dose_is_not_recomputed_at_a_later_refill(scenario):
    # 5 mg/day at 10 mg/mL -> 0.5 mL/day, primed path (0.25 mL).
    # Day 10 at 00:00: aspirate the expected 20 - 10 x 0.5 = 15 mL, fill 20 mL of 20 mg/mL and
    # give no new program: the pump keeps 0.5 mL/day, so the patient now gets 10 mg/day.
    program = {"at": 0, "kind": "program", "mode": "continuous", "dose": {"morphine": "5 mg/day"}}
    refill = fill(240, 20, {"morphine": "20 mg/mL"}, aspirated_ml=15.0)
    sc = scenario(fill(0, 20), program, refill, end=288, fluid_path_initial="primed")
    res = simulate(sc).to_dict()
    assert res["events"][2]["expected_ml"] == approx(20 - 10 * 0.5, abs=1e-9)
    assert res["events"][2]["discrepancy_ml"] == approx(0.0, abs=1e-9)
    daily = [row["delivered_mg"]["morphine"] for row in res["daily"]]
    assert daily[:10] == approx([0.5 * 10] * 10, abs=1e-9)
    # Day 11: the 0.25 mL in the path still holds 10 mg/mL, then 0.25 mL of 20 mg/mL.
    assert daily[10] == approx(0.25 * 10 + 0.25 * 20, abs=1e-9)
    assert daily[11] == approx(0.5 * 20, abs=1e-9)
    assert [row["pumped_ml"] for row in res["daily"]] == approx([0.5] * 12, abs=1e-9)


def test_bolus_dose_is_turned_into_a_volume(scenario):
    # 2 mg at 10 mg/mL = 0.2 mL, no basal program.
    bolus = {"at": 1, "kind": "bolus", "dose": {"morphine": "2 mg"}, "duration": "PT1H"}
    res = simulate(scenario(fill(0, 20), bolus, end=24)).to_dict()
    assert res["totals"]["pumped_ml"] == approx(2 / 10, abs=1e-9)


def test_dose_of_a_drug_not_in_the_reservoir_is_an_error(scenario):
    program = {
        "at": 12,
        "kind": "program",
        "mode": "continuous",
        "dose": {"baclofen": "100 mcg/day"},
    }
    with pytest.raises(ScenarioError) as info:
        simulate(scenario(fill(0, 20), program, end=24))
    assert info.value.event_index == 1
    assert info.value.at == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert info.value.field == "dose.baclofen"


def test_bolus_dose_volume_is_fixed_at_the_event(scenario):
    # 2 mg at 10 mg/mL = 0.2 mL over 2 h from 00:00. At 01:00 the pump is refilled with
    # 20 mg/mL (aspirating the expected 20 - 0.1 = 19.9 mL): the bolus still moves 0.2 mL.
    bolus = {"at": 0, "kind": "bolus", "dose": {"morphine": "2 mg"}, "duration": "PT2H"}
    refill = fill(1, 20, {"morphine": "20 mg/mL"}, aspirated_ml=19.9)
    res = simulate(scenario(fill(0, 20), bolus, refill, end=24)).to_dict()
    assert res["events"][2]["expected_ml"] == approx(20 - 0.1, abs=1e-9)
    assert res["totals"]["pumped_ml"] == approx(0.2, abs=1e-9)
    assert res["end_state"]["reservoir_ml"] == approx(20 - 0.1, abs=1e-9)
