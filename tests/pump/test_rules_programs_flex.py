"""Programs: continuous, stop, and spec semantics 4 (flex on the wall clock, DST, weekly,
joining the cycle), computed by hand.

Rates are chosen as 0.24 mL/day (0.01 mL/h), 0.48 (0.02 mL/h) and 0.72 (0.03 mL/h) so that
hours on the clock turn into round volumes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openidds.pump import simulate

approx = pytest.approx

A, B, C = 0.24, 0.48, 0.72  # mL/day = 0.01, 0.02, 0.03 mL/h
PER_H = 1 / 24  # days per hour


def fill(at: float | datetime, volume: float = 20, **extra: object) -> dict:
    return {
        "at": at,
        "kind": "fill",
        "volume_ml": volume,
        "drugs": {"morphine": "10 mg/mL"},
        **extra,
    }


def rate(at: float | datetime, ml_per_day: float) -> dict:
    return {"at": at, "kind": "program", "mode": "continuous", "rate_ml_per_day": ml_per_day}


def flex(at: float | datetime, steps: list[tuple[str, float]], period: str = "day") -> dict:
    return {
        "at": at,
        "kind": "program",
        "mode": "flex",
        "period": period,
        "steps": [{"start": s, "rate_ml_per_day": r} for s, r in steps],
    }


def pumped(res) -> list[float]:
    return [row["pumped_ml"] for row in res.to_dict()["daily"]]


def dates(res) -> list[str]:
    return [row["date"] for row in res.to_dict()["daily"]]


# -- continuous and stop --------------------------------------------------------------------


def test_continuous_program_pumps_its_rate(scenario):
    res = simulate(scenario(fill(0), rate(0, 0.5), end=240))
    assert pumped(res) == approx([0.5] * 10, abs=1e-9)
    assert res.to_dict()["end_state"]["reservoir_ml"] == approx(20 - 10 * 0.5, abs=1e-9)


def test_new_program_takes_effect_at_its_instant(scenario):
    # 1 mL/day for 12 h, then 2 mL/day for 12 h.
    res = simulate(scenario(fill(0), rate(0, 1.0), rate(12, 2.0), end=24))
    assert pumped(res) == approx([12 * PER_H * 1.0 + 12 * PER_H * 2.0], abs=1e-9)  # 1.5


def test_stop_moves_nothing_until_the_next_program(scenario):
    # 1 mL/day 00:00-12:00, stopped 12:00 to 12:00 next day, then 1 mL/day for 12 h.
    stop = {"at": 12, "kind": "stop"}
    res = simulate(scenario(fill(0), rate(0, 1.0), stop, rate(36, 1.0), end=48))
    assert pumped(res) == approx([0.5, 0.5], abs=1e-9)


def test_stopped_pump_gives_no_bolus(scenario):
    stop = {"at": 1, "kind": "stop"}
    bolus = {"at": 6, "kind": "bolus", "volume_ml": 1.0, "duration": "PT2H"}
    res = simulate(scenario(fill(0), rate(0, 1.0), stop, bolus, end=24))
    assert pumped(res) == approx([1 * PER_H * 1.0], abs=1e-9)  # only the first hour


# -- flex in UTC ------------------------------------------------------------------------------


def test_daily_flex_each_rate_holds_until_the_next_step(scenario):
    # 00:00 0.3, 08:00 0.6, 20:00 0.9 mL/day: 8 h x 0.3 + 12 h x 0.6 + 4 h x 0.9 per day.
    res = simulate(
        scenario(fill(0), flex(0, [("00:00", 0.3), ("08:00", 0.6), ("20:00", 0.9)]), end=48)
    )
    day = 8 * PER_H * 0.3 + 12 * PER_H * 0.6 + 4 * PER_H * 0.9  # 0.55 mL
    assert pumped(res) == approx([day, day], abs=1e-9)


def test_flex_steps_are_cyclic_before_the_first_step_of_the_day(scenario):
    # 06:00 0.48, 18:00 0.24: from 00:00 to 06:00 yesterday's 18:00 step is in force.
    res = simulate(scenario(fill(0), flex(0, [("06:00", B), ("18:00", A)]), end=24))
    assert pumped(res) == approx([6 * 0.01 + 12 * 0.02 + 6 * 0.01], abs=1e-9)  # 0.36 mL


def test_flex_step_given_as_a_dose(scenario):
    # Spec example: 20:00 step of 3 mg/day at 10 mg/mL = 0.3 mL/day.
    program = flex(0, [("00:00", 0.3), ("08:00", 0.6)])
    program["steps"].append({"start": "20:00", "dose": {"morphine": "3 mg/day"}})
    res = simulate(scenario(fill(0), program, end=24))
    assert pumped(res) == approx(
        [8 * PER_H * 0.3 + 12 * PER_H * 0.6 + 4 * PER_H * 0.3], abs=1e-9
    )  # 0.45 mL


def test_new_flex_program_joins_the_cycle_at_its_instant(scenario):
    # Continuous 0.24 until 10:00; the flex program (00:00 0.3, 08:00 0.6, 20:00 0.9) starts
    # at 10:00 in its 08:00 step: 10 h x 0.01 + 10 h x 0.6/24 + 4 h x 0.9/24.
    program = flex(10, [("00:00", 0.3), ("08:00", 0.6), ("20:00", 0.9)])
    res = simulate(scenario(fill(0), rate(0, A), program, end=24))
    assert pumped(res) == approx([10 * 0.01 + 10 * PER_H * 0.6 + 4 * PER_H * 0.9], abs=1e-9)


def test_weekly_flex(scenario):
    # Monday 2026-01-05 00:00Z to the next Monday. Mon 08:00 0.48, Fri 20:00 0.24.
    start = datetime(2026, 1, 5, tzinfo=UTC)
    program = flex(start, [("Mon 08:00", B), ("Fri 20:00", A)], period="week")
    res = simulate(scenario(fill(start), program, start=start, end=168))
    assert dates(res)[0] == "2026-01-05"
    assert pumped(res) == approx(
        [
            8 * 0.01 + 16 * 0.02,  # Mon: Fri's step until 08:00 (cyclic), then 0.02 mL/h
            0.48,  # Tue
            0.48,  # Wed
            0.48,  # Thu
            20 * 0.02 + 4 * 0.01,  # Fri
            0.24,  # Sat
            0.24,  # Sun
        ],
        abs=1e-9,
    )
    assert res.to_dict()["totals"]["pumped_ml"] == approx(
        8 * 0.01 + 108 * 0.02 + 52 * 0.01, abs=1e-9
    )  # 2.76 mL


def test_weekly_flex_joins_the_cycle_mid_week(scenario):
    # Continuous 0.72 until Wed 2026-01-07 12:00Z, then the weekly program: its Mon 08:00
    # step (0.48) is in force on Wednesday noon.
    start = datetime(2026, 1, 5, tzinfo=UTC)
    program = flex(60, [("Mon 08:00", B), ("Fri 20:00", A)], period="week")
    res = simulate(scenario(fill(start), rate(start, C), program, start=start, end=72))
    assert pumped(res) == approx([0.72, 0.72, 12 * 0.03 + 12 * 0.02], abs=1e-9)


# -- flex across daylight-saving changes -----------------------------------------------------


def test_berlin_spring_forward_step_in_the_gap_starts_after_the_gap(scenario):
    # Europe/Berlin, 2026-03-29: 02:00 CET (01:00Z) jumps to 03:00 CEST. A step at 02:30 does
    # not exist that day and takes effect at 03:00 CEST = 01:00Z.
    start = datetime(2026, 3, 27, 23, tzinfo=UTC)  # 2026-03-28 00:00 CET
    sc = scenario(
        fill(start),
        flex(start, [("00:00", A), ("02:30", B)]),
        start=start,
        end=datetime(2026, 3, 30, 22, tzinfo=UTC),  # 2026-03-31 00:00 CEST
        timezone="Europe/Berlin",
    )
    res = simulate(sc)
    assert dates(res) == ["2026-03-28", "2026-03-29", "2026-03-30"]
    assert pumped(res) == approx(
        [
            2.5 * 0.01 + 21.5 * 0.02,  # 24 h day
            2 * 0.01 + 21 * 0.02,  # 23 h day: 00:00-03:00 CEST is 2 h of A, then 21 h of B
            2.5 * 0.01 + 21.5 * 0.02,
        ],
        abs=1e-9,
    )
    # Rate A up to 01:00Z, rate B from 01:00Z.
    t0 = datetime(2026, 3, 29, 0, tzinfo=UTC)
    assert res.pumped_ml_between(t0, t0 + timedelta(hours=1)) == approx(0.01, abs=1e-12)
    assert res.pumped_ml_between(t0 + timedelta(hours=1), t0 + timedelta(hours=2)) == approx(
        0.02, abs=1e-12
    )


def test_berlin_spring_forward_step_at_the_start_of_the_gap(scenario):
    # A step at 02:00 (the first missing minute) also takes effect at 03:00 CEST = 01:00Z.
    start = datetime(2026, 3, 28, 23, tzinfo=UTC)  # 2026-03-29 00:00 CET
    sc = scenario(
        fill(start),
        flex(start, [("00:00", A), ("02:00", B)]),
        start=start,
        end=datetime(2026, 3, 29, 22, tzinfo=UTC),
        timezone="Europe/Berlin",
    )
    assert pumped(simulate(sc)) == approx([2 * 0.01 + 21 * 0.02], abs=1e-9)


def test_berlin_fall_back_step_in_the_fold_takes_its_first_occurrence(scenario):
    # Europe/Berlin, 2026-10-25: 03:00 CEST (01:00Z) falls back to 02:00 CET. 02:30 occurs at
    # 00:30Z (CEST) and again at 01:30Z (CET); the step takes effect at 00:30Z.
    start = datetime(2026, 10, 23, 22, tzinfo=UTC)  # 2026-10-24 00:00 CEST
    sc = scenario(
        fill(start),
        flex(start, [("00:00", A), ("02:30", B)]),
        start=start,
        end=datetime(2026, 10, 26, 23, tzinfo=UTC),  # 2026-10-27 00:00 CET
        timezone="Europe/Berlin",
    )
    res = simulate(sc)
    assert dates(res) == ["2026-10-24", "2026-10-25", "2026-10-26"]
    assert pumped(res) == approx(
        [
            2.5 * 0.01 + 21.5 * 0.02,
            2.5 * 0.01 + 22.5 * 0.02,  # 25 h day: 22:00Z-00:30Z A, 00:30Z-23:00Z B
            2.5 * 0.01 + 21.5 * 0.02,
        ],
        abs=1e-9,
    )
    t0 = datetime(2026, 10, 25, 0, tzinfo=UTC)
    assert res.pumped_ml_between(t0, t0 + timedelta(hours=1)) == approx(
        0.5 * 0.01 + 0.5 * 0.02, abs=1e-12
    )


def test_fold_step_fires_once(scenario):
    # Steps 00:00 A, 02:30 B, 02:45 C on the Berlin fall-back day. First occurrences: B at
    # 00:30Z, C at 00:45Z. Were they re-applied at 01:30Z/01:45Z, B would return for 15 min.
    start = datetime(2026, 10, 24, 22, tzinfo=UTC)  # 2026-10-25 00:00 CEST
    program = flex(start, [("00:00", A), ("02:30", B), ("02:45", C)])
    sc = scenario(
        fill(start),
        program,
        start=start,
        end=datetime(2026, 10, 25, 23, tzinfo=UTC),
        timezone="Europe/Berlin",
    )
    assert pumped(simulate(sc)) == approx([2.5 * 0.01 + 0.25 * 0.02 + 22.25 * 0.03], abs=1e-9)


def test_new_york_spring_forward(scenario):
    # America/New_York, 2026-03-08: 02:00 EST (07:00Z) jumps to 03:00 EDT. 02:30 -> 07:00Z.
    start = datetime(2026, 3, 7, 5, tzinfo=UTC)  # 2026-03-07 00:00 EST
    sc = scenario(
        fill(start),
        flex(start, [("00:00", A), ("02:30", B)]),
        start=start,
        end=datetime(2026, 3, 9, 4, tzinfo=UTC),  # 2026-03-09 00:00 EDT
        timezone="America/New_York",
    )
    res = simulate(sc)
    assert dates(res) == ["2026-03-07", "2026-03-08"]
    assert pumped(res) == approx([2.5 * 0.01 + 21.5 * 0.02, 2 * 0.01 + 21 * 0.02], abs=1e-9)


def test_new_york_fall_back(scenario):
    # America/New_York, 2026-11-01: 02:00 EDT (06:00Z) falls back to 01:00 EST. 01:30 occurs
    # at 05:30Z and 06:30Z; the step takes effect at 05:30Z.
    start = datetime(2026, 10, 31, 4, tzinfo=UTC)  # 2026-10-31 00:00 EDT
    sc = scenario(
        fill(start),
        flex(start, [("00:00", A), ("01:30", B)]),
        start=start,
        end=datetime(2026, 11, 2, 5, tzinfo=UTC),  # 2026-11-02 00:00 EST
        timezone="America/New_York",
    )
    res = simulate(sc)
    assert dates(res) == ["2026-10-31", "2026-11-01"]
    assert pumped(res) == approx([1.5 * 0.01 + 22.5 * 0.02, 1.5 * 0.01 + 23.5 * 0.02], abs=1e-9)


def test_daily_rows_follow_local_days_of_23_and_25_hours(scenario):
    # Continuous 0.24 mL/day (0.01 mL/h) in Europe/Berlin over both 2026 changes.
    start = datetime(2026, 3, 28, 23, tzinfo=UTC)  # 2026-03-29 00:00 CET
    sc = scenario(
        fill(start),
        rate(start, A),
        start=start,
        end=datetime(2026, 3, 29, 22, tzinfo=UTC),
        timezone="Europe/Berlin",
    )
    assert pumped(simulate(sc)) == approx([23 * 0.01], abs=1e-9)
    start = datetime(2026, 10, 24, 22, tzinfo=UTC)  # 2026-10-25 00:00 CEST
    sc = scenario(
        fill(start),
        rate(start, A),
        start=start,
        end=datetime(2026, 10, 25, 23, tzinfo=UTC),
        timezone="Europe/Berlin",
    )
    assert pumped(simulate(sc)) == approx([25 * 0.01], abs=1e-9)


def test_weekly_flex_step_in_the_spring_forward_gap(scenario):
    # Weekly program in Europe/Berlin; Sunday 2026-03-29 is the spring-forward day.
    # "Sun 02:30" does not exist that day: it starts at 03:00 CEST = 01:00Z.
    start = datetime(2026, 3, 22, 23, tzinfo=UTC)  # Monday 2026-03-23 00:00 CET
    program = flex(start, [("Mon 00:00", A), ("Sun 02:30", B)], period="week")
    sc = scenario(
        fill(start),
        program,
        start=start,
        end=datetime(2026, 3, 29, 22, tzinfo=UTC),  # Monday 2026-03-30 00:00 CEST
        timezone="Europe/Berlin",
    )
    res = simulate(sc)
    assert dates(res)[-1] == "2026-03-29"
    assert pumped(res) == approx([0.24] * 6 + [2 * 0.01 + 21 * 0.02], abs=1e-9)


def test_local_midnight_that_does_not_exist(scenario):
    # America/Santiago, 2026-09-06: 00:00 -04 (04:00Z) jumps to 01:00 -03. The local day
    # 2026-09-06 starts at 01:00 -03 = 04:00Z and lasts 23 h. A flex step at 00:00 takes effect
    # at that first instant. Steps 00:00 0.24, 12:00 0.48 (0.01 and 0.02 mL/h).
    start = datetime(2026, 9, 5, 4, tzinfo=UTC)  # 2026-09-05 00:00 -04
    sc = scenario(
        fill(start),
        flex(start, [("00:00", A), ("12:00", B)]),
        start=start,
        end=datetime(2026, 9, 7, 3, tzinfo=UTC),  # 2026-09-07 00:00 -03
        timezone="America/Santiago",
    )
    res = simulate(sc)
    assert dates(res) == ["2026-09-05", "2026-09-06"]
    assert pumped(res) == approx([12 * 0.01 + 12 * 0.02, 11 * 0.01 + 12 * 0.02], abs=1e-9)


def test_fold_at_the_end_of_the_day(scenario):
    # America/Santiago, 2026-04-05 00:00 -03 (03:00Z) falls back to 2026-04-04 23:00 -04:
    # 23:30 on 2026-04-04 occurs at 02:30Z and 03:30Z (Apr 5). The local day lasts 25 h.
    # Steps 00:00 A, 23:30 B: A 03:00Z (Apr 4) to 02:30Z, B 02:30Z to 04:00Z (first occurrence).
    start = datetime(2026, 4, 4, 3, tzinfo=UTC)  # 2026-04-04 00:00 -03
    sc = scenario(
        fill(start),
        flex(start, [("00:00", A), ("23:30", B)]),
        start=start,
        end=datetime(2026, 4, 5, 4, tzinfo=UTC),  # 2026-04-05 00:00 -04
        timezone="America/Santiago",
    )
    res = simulate(sc)
    assert dates(res) == ["2026-04-04"]
    assert pumped(res) == approx([23.5 * 0.01 + 1.5 * 0.02], abs=1e-9)
