"""Spec semantics 13 (MRI: motor stall, recovery, merging scans), computed by hand.

20 mL of morphine 10 mg/mL at 1 mL/day from 2026-01-01T00:00Z on a SynchroMed II.
"""

from __future__ import annotations

import pytest

from openidds.pump import simulate

approx = pytest.approx

FILL = {"at": 0, "kind": "fill", "volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}}
BASAL = {"at": 0, "kind": "program", "mode": "continuous", "rate_ml_per_day": 1.0}
H = 1 / 24


def mri(at: float, duration: str, recovery: str | None = None) -> dict:
    event = {"at": at, "kind": "mri", "duration": duration}
    if recovery is not None:
        event["recovery"] = recovery
    return event


def stall(start: str, end: str) -> list[dict]:
    return [
        {"at": f"2026-01-01T{start}:00Z", "kind": "motor_stall"},
        {"at": f"2026-01-01T{end}:00Z", "kind": "motor_stall_recovery"},
    ]


def run(scenario, *scans: dict) -> dict:
    return simulate(scenario(FILL, BASAL, *scans, end=24)).to_dict()


def test_stall_for_the_scan_and_its_recovery(scenario):
    # Scan 10:00-11:00, recovery 2 h: stalled 10:00-13:00.
    res = run(scenario, mri(10, "PT1H", "PT2H"))
    assert res["alarms"] == stall("10:00", "13:00")
    assert res["daily"][0]["pumped_ml"] == approx((24 - 3) * H * 1.0, abs=1e-9)
    assert res["events"][2] == {"index": 2, "at": "2026-01-01T10:00:00Z", "kind": "mri"}


def test_recovery_defaults_to_zero(scenario):
    res = run(scenario, mri(10, "PT1H"))
    assert res["alarms"] == stall("10:00", "11:00")
    assert res["daily"][0]["pumped_ml"] == approx(23 * H * 1.0, abs=1e-9)


def test_overlapping_scans_merge_into_one_stall(scenario):
    # 10:00 + 1 h + 2 h -> 13:00; 12:00 + 1 h + 2 h -> 15:00: one stall 10:00-15:00.
    res = run(scenario, mri(10, "PT1H", "PT2H"), mri(12, "PT1H", "PT2H"))
    assert res["alarms"] == stall("10:00", "15:00")
    assert res["daily"][0]["pumped_ml"] == approx(19 * H * 1.0, abs=1e-9)


def test_overlapping_scans_listed_out_of_time_order(scenario):
    res = run(scenario, mri(12, "PT1H", "PT2H"), mri(10, "PT1H", "PT2H"))
    assert res["alarms"] == stall("10:00", "15:00")


def test_scan_inside_another_stall_merges(scenario):
    # 10:00-14:00 contains 11:00-12:00: one pair, ending at 14:00.
    res = run(scenario, mri(10, "PT4H"), mri(11, "PT1H"))
    assert res["alarms"] == stall("10:00", "14:00")
    assert res["daily"][0]["pumped_ml"] == approx(20 * H * 1.0, abs=1e-9)


def test_separate_scans_give_two_pairs(scenario):
    res = run(scenario, mri(2, "PT1H"), mri(10, "PT30M", "PT1H30M"))
    assert res["alarms"] == stall("02:00", "03:00") + stall("10:00", "12:00")
    assert res["daily"][0]["pumped_ml"] == approx((24 - 1 - 2) * H * 1.0, abs=1e-9)


def test_stall_moves_nothing_and_the_reservoir_waits(scenario):
    # The low-reservoir crossing is pushed back by the stall: 2.5 mL at 1 mL/day with a 6 h
    # stall reaches 2 mL after 0.5 day of pumping = 12 h + 6 h = 18:00.
    small = {**FILL, "volume_ml": 2.5}
    res = simulate(scenario(small, BASAL, mri(1, "PT6H"), end=24)).to_dict()
    assert res["alarms"] == [
        *stall("01:00", "07:00"),
        {"at": "2026-01-01T18:00:00Z", "kind": "low_reservoir"},
    ]
