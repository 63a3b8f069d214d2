"""Spec semantics 5 (boluses), computed by hand. Times are hours after 2026-01-01T00:00Z."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openidds.pump import ScenarioError, simulate

approx = pytest.approx

START = datetime(2026, 1, 1, tzinfo=UTC)
H = 1 / 24  # days per hour


def fill(at: float, volume: float = 20, **extra: object) -> dict:
    return {
        "at": at,
        "kind": "fill",
        "volume_ml": volume,
        "drugs": {"morphine": "10 mg/mL"},
        **extra,
    }


def rate(at: float, ml_per_day: float) -> dict:
    return {"at": at, "kind": "program", "mode": "continuous", "rate_ml_per_day": ml_per_day}


def bolus(at: float, volume: float, duration: str) -> dict:
    return {"at": at, "kind": "bolus", "volume_ml": volume, "duration": duration}


def priming(at: float, **fields: object) -> dict:
    return {"at": at, "kind": "priming_bolus", **fields}


def day_pumped(res, day: int = 0) -> float:
    return res.to_dict()["daily"][day]["pumped_ml"]


def hours(h: float) -> datetime:
    return START + timedelta(hours=h)


# -- clinician bolus --------------------------------------------------------------------------


def test_bolus_adds_volume_over_duration_to_the_basal_rate(scenario):
    # 1 mL/day basal; 0.5 mL over 12 h from 06:00 adds 1 mL/day for 12 h.
    res = simulate(scenario(fill(0), rate(0, 1.0), bolus(6, 0.5, "PT12H"), end=24))
    assert day_pumped(res) == approx(1.0 + 0.5, abs=1e-9)
    assert res.pumped_ml_between(hours(0), hours(6)) == approx(6 * H * 1.0, abs=1e-12)
    assert res.pumped_ml_between(hours(6), hours(18)) == approx(12 * H * 1.0 + 0.5, abs=1e-12)


def test_overlapping_boluses_add(scenario):
    # Two 0.25 mL boluses over 6 h, overlapping 03:00-06:00, on 1 mL/day.
    res = simulate(
        scenario(fill(0), rate(0, 1.0), bolus(0, 0.25, "PT6H"), bolus(3, 0.25, "PT6H"), end=24)
    )
    assert day_pumped(res) == approx(1.0 + 0.25 + 0.25, abs=1e-9)
    # 03:00-06:00: basal 1 + 2 x (0.25 mL / 0.25 day) = 3 mL/day for 3 h.
    assert res.pumped_ml_between(hours(3), hours(6)) == approx(3 * H * 3.0, abs=1e-12)


def test_bolus_window_is_lost_during_a_stop(scenario):
    # Basal 1 mL/day; bolus 0.5 mL over 12 h (1 mL/day) from 00:00; stop 06:00-09:00.
    # 00-06: (1+1) x 6/24 = 0.5; 06-09: 0; 09-12: (1+1) x 3/24 = 0.25; 12-24: 1 x 12/24 = 0.5.
    # The 3 h of bolus lost (0.125 mL) are not made up.
    res = simulate(
        scenario(
            fill(0),
            rate(0, 1.0),
            bolus(0, 0.5, "PT12H"),
            {"at": 6, "kind": "stop"},
            rate(9, 1.0),
            end=24,
        )
    )
    assert day_pumped(res) == approx(0.5 + 0.0 + 0.25 + 0.5, abs=1e-9)


def test_bolus_window_is_lost_during_a_motor_stall(scenario):
    # Same as above with an MRI stall 06:00-09:00 instead of a stop.
    mri = {"at": 6, "kind": "mri", "duration": "PT3H"}
    res = simulate(scenario(fill(0), rate(0, 1.0), bolus(0, 0.5, "PT12H"), mri, end=24))
    assert day_pumped(res) == approx(0.5 + 0.0 + 0.25 + 0.5, abs=1e-9)


def test_bolus_window_is_lost_while_the_reservoir_is_empty(scenario):
    # 2.5 mL at 2 mL/day basal + a 1 mL bolus over 1 day (1 mL/day): 3 mL/day empties the
    # reservoir at 2.5 / 3 days = 20:00. Refill 10 mL at 22:00; 22-24 at 3 mL/day = 0.25 mL.
    # The bolus ends at 24:00 as planned: day 2 pumps only the basal 2 mL.
    refill = fill(22, 10, aspirated_ml=0.0)
    res = simulate(scenario(fill(0, 2.5), rate(0, 2.0), bolus(0, 1.0, "P1D"), refill, end=48))
    assert day_pumped(res, 0) == approx(2.5 + 2 * H * 3.0, abs=1e-9)
    assert day_pumped(res, 1) == approx(2.0, abs=1e-9)
    alarms = res.to_dict()["alarms"]
    assert alarms == [
        {"at": "2026-01-01T04:00:00Z", "kind": "low_reservoir"},  # (2.5 - 2) / 3 days = 4 h
        {"at": "2026-01-01T20:00:00Z", "kind": "empty_reservoir"},
    ]


def test_bolus_dose_at_the_maximum_bolus_rate_is_accepted(scenario):
    # 1 mL over 1 h = 24 mL/day = the catalog maximum (synchromed2-40): accepted.
    res = simulate(scenario(fill(0), bolus(1, 1.0, "PT1H"), end=24))
    assert day_pumped(res) == approx(1.0, abs=1e-9)


def test_bolus_faster_than_the_maximum_bolus_rate_is_an_error(scenario):
    # 1.01 mL over 1 h = 24.24 mL/day > 24 mL/day.
    with pytest.raises(ScenarioError) as info:
        simulate(scenario(fill(0), bolus(1, 1.01, "PT1H"), end=24))
    assert (info.value.event_index, info.value.at) == (1, hours(1))
    assert info.value.field == "duration"


def test_bolus_dose_faster_than_the_maximum_bolus_rate_is_an_error(scenario):
    # 20 mg at 10 mg/mL = 2 mL over 1 h = 48 mL/day > 24 mL/day.
    event = {"at": 2, "kind": "bolus", "dose": {"morphine": "20 mg"}, "duration": "PT1H"}
    with pytest.raises(ScenarioError) as info:
        simulate(scenario(fill(0), event, end=24))
    assert (info.value.event_index, info.value.at) == (1, hours(2))
    assert info.value.field == "duration"


def test_priming_bolus_faster_than_the_maximum_bolus_rate_is_an_error(scenario):
    # 0.5 mL over 15 min = 48 mL/day.
    with pytest.raises(ScenarioError) as info:
        simulate(scenario(fill(0), priming(0, volume_ml=0.5, duration="PT15M"), end=24))
    assert (info.value.event_index, info.value.at) == (1, START)
    assert info.value.field == "duration"


# -- priming bolus ----------------------------------------------------------------------------


def test_priming_bolus_replaces_the_basal_rate(scenario):
    # Basal 0.5 mL/day; priming 0.25 mL over 6 h: 0.25 + 18 h x 0.5/24 (not 0.25 + 0.5).
    res = simulate(
        scenario(fill(0), rate(0, 0.5), priming(0, volume_ml=0.25, duration="PT6H"), end=24)
    )
    assert day_pumped(res) == approx(0.25 + 18 * H * 0.5, abs=1e-9)  # 0.625 mL


def test_priming_bolus_defaults_to_the_path_volume_at_the_catalog_rate(scenario):
    # Default volume = fluid path 0.25 mL, default duration = 0.25 / 24 mL/day = 15 min.
    res = simulate(scenario(fill(0), rate(0, 1.0), priming(0), end=24))
    assert day_pumped(res) == approx(0.25 + (1 - 0.25 / 24) * 1.0, abs=1e-9)
    # With a 0.5 mL path: 0.5 mL over 0.5 / 24 days = 30 min.
    res = simulate(scenario(fill(0), rate(0, 1.0), priming(0), end=24, fluid_path_ml=0.5))
    assert day_pumped(res) == approx(0.5 + (1 - 0.5 / 24) * 1.0, abs=1e-9)


def test_program_during_priming_takes_effect_at_its_end(scenario):
    # 0.5 mL/day, priming 0.25 mL over 00:00-06:00, new program 2 mL/day at 03:00:
    # the priming runs to 06:00, then 2 mL/day for 18 h.
    res = simulate(
        scenario(
            fill(0), rate(0, 0.5), priming(0, volume_ml=0.25, duration="PT6H"), rate(3, 2.0), end=24
        )
    )
    assert day_pumped(res) == approx(0.25 + 18 * H * 2.0, abs=1e-9)  # 1.75 mL


def test_stop_ends_a_priming_bolus_at_once(scenario):
    # Priming 0.25 mL over 6 h (1 mL/day) from 00:00, stop at 03:00 (0.125 mL moved),
    # program 1 mL/day at 12:00: the rest of the priming is not resumed.
    res = simulate(
        scenario(
            fill(0),
            rate(0, 1.0),
            priming(0, volume_ml=0.25, duration="PT6H"),
            {"at": 3, "kind": "stop"},
            rate(12, 1.0),
            end=24,
        )
    )
    assert day_pumped(res) == approx(3 * H * 1.0 + 12 * H * 1.0, abs=1e-9)  # 0.625 mL


def test_priming_window_is_lost_during_a_stall(scenario):
    # Basal 0.5; priming 0.25 mL over 00:00-06:00 (1 mL/day); stall 02:00-04:00.
    # Priming moves 4 h x 1 mL/day; it still ends at 06:00; then 18 h of basal 0.5.
    mri = {"at": 2, "kind": "mri", "duration": "PT2H"}
    res = simulate(
        scenario(fill(0), rate(0, 0.5), priming(0, volume_ml=0.25, duration="PT6H"), mri, end=24)
    )
    assert day_pumped(res) == approx(4 * H * 1.0 + 18 * H * 0.5, abs=1e-9)  # 0.541667 mL


def test_bolus_adds_on_top_of_a_priming_bolus(scenario):
    # Priming 0.25 mL over 6 h (1 mL/day) replaces basal 0.5; a clinician bolus of 0.125 mL
    # over 3 h from 00:00 adds 1 mL/day on top.
    res = simulate(
        scenario(
            fill(0),
            rate(0, 0.5),
            priming(0, volume_ml=0.25, duration="PT6H"),
            bolus(0, 0.125, "PT3H"),
            end=24,
        )
    )
    assert day_pumped(res) == approx(0.25 + 0.125 + 18 * H * 0.5, abs=1e-9)
