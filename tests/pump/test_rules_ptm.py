"""Spec semantics 7 (patient therapy manager), computed by hand.

Set-up unless stated: 20 mL of morphine 10 mg/mL, basal 0.5 mL/day from 2026-01-01T00:00Z,
PTM bolus 0.1 mL over 10 min, lockout 1 h, at most 3 in 24 h. Times are hours after start.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openidds.pump import simulate

approx = pytest.approx

START = datetime(2026, 1, 1, tzinfo=UTC)
H = 1 / 24

FILL = {"at": 0, "kind": "fill", "volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}}
BASAL = {"at": 0, "kind": "program", "mode": "continuous", "rate_ml_per_day": 0.5}


def settings(at: float = 0, **overrides: object) -> dict:
    table = {
        "at": at,
        "kind": "ptm_settings",
        "volume_ml": 0.1,
        "duration": "PT10M",
        "lockout": "PT1H",
        "max_per_24h": 3,
    }
    table.update(overrides)
    return table


def req(at: float | datetime) -> dict:
    return {"at": at, "kind": "ptm_request"}


def hms(h: int, m: int = 0, s: int = 0, day: int = 0) -> datetime:
    return START + timedelta(days=day, hours=h, minutes=m, seconds=s)


def outcomes(res) -> list[tuple[bool, str | None]]:
    return [
        (e["granted"], e["reason"]) for e in res.to_dict()["events"] if e["kind"] == "ptm_request"
    ]


GRANTED = (True, None)


def test_request_result_in_the_json(scenario):
    res = simulate(scenario(FILL, BASAL, settings(), req(1), req(1.5), end=24)).to_dict()
    assert res["events"][3] == {
        "index": 3,
        "at": "2026-01-01T01:00:00Z",
        "kind": "ptm_request",
        "granted": True,
        "reason": None,
    }
    assert res["events"][4] == {
        "index": 4,
        "at": "2026-01-01T01:30:00Z",
        "kind": "ptm_request",
        "granted": False,
        "reason": "lockout",
    }


def test_granted_bolus_adds_its_volume(scenario):
    # Two grants of 0.1 mL on top of 0.5 mL/day.
    res = simulate(scenario(FILL, BASAL, settings(), req(1), req(2), end=24))
    assert outcomes(res) == [GRANTED, GRANTED]
    assert res.to_dict()["daily"][0]["pumped_ml"] == approx(0.5 + 2 * 0.1, abs=1e-9)


def test_ptm_dose_is_turned_into_a_volume(scenario):
    # 1 mg at 10 mg/mL = 0.1 mL per grant.
    ptm = settings(dose={"morphine": "1 mg"})
    del ptm["volume_ml"]
    res = simulate(scenario(FILL, BASAL, ptm, req(1), end=24))
    assert res.to_dict()["daily"][0]["pumped_ml"] == approx(0.5 + 1 / 10, abs=1e-9)


# -- each denial reason -----------------------------------------------------------------------


def test_not_enabled_before_any_settings(scenario):
    res = simulate(scenario(FILL, BASAL, req(1), settings(2), req(3), end=24))
    assert outcomes(res) == [(False, "not_enabled"), GRANTED]


def test_not_enabled_when_disabled(scenario):
    res = simulate(
        scenario(
            FILL,
            BASAL,
            settings(),
            req(1),
            {"at": 2, "kind": "ptm_settings", "enabled": False},
            req(4),
            end=24,
        )
    )
    assert outcomes(res) == [GRANTED, (False, "not_enabled")]
    assert res.to_dict()["daily"][0]["pumped_ml"] == approx(0.5 + 0.1, abs=1e-9)


def test_not_enabled_is_checked_before_pump_not_delivering(scenario):
    # Disabled AND stopped: the first reason in the spec's order.
    disabled = settings(enabled=False)
    res = simulate(scenario(FILL, BASAL, disabled, {"at": 1, "kind": "stop"}, req(2), end=24))
    assert outcomes(res) == [(False, "not_enabled")]


def test_pump_not_delivering_without_a_program(scenario):
    res = simulate(scenario(FILL, settings(), req(1), end=24))
    assert outcomes(res) == [(False, "pump_not_delivering")]
    assert res.to_dict()["totals"]["pumped_ml"] == 0.0


def test_pump_not_delivering_when_stopped(scenario):
    res = simulate(scenario(FILL, BASAL, settings(), {"at": 1, "kind": "stop"}, req(2), end=24))
    assert outcomes(res) == [(False, "pump_not_delivering")]


def test_pump_not_delivering_during_a_stall_and_its_recovery(scenario):
    # Scan 02:00-03:00, recovery to 05:00: requests at 02:30 and 04:30 denied, 05:00 granted.
    mri = {"at": 2, "kind": "mri", "duration": "PT1H", "recovery": "PT2H"}
    res = simulate(scenario(FILL, BASAL, settings(), mri, req(2.5), req(4.5), req(5), end=24))
    assert outcomes(res) == [
        (False, "pump_not_delivering"),
        (False, "pump_not_delivering"),
        GRANTED,
    ]


def test_pump_not_delivering_when_empty(scenario):
    # 1 mL at 1 mL/day is empty at 24 h.
    small = {**FILL, "volume_ml": 1.0}
    program = {**BASAL, "rate_ml_per_day": 1.0}
    res = simulate(scenario(small, program, settings(), req(23), req(25), end=48))
    assert outcomes(res) == [GRANTED, (False, "pump_not_delivering")]


def test_pump_not_delivering_is_checked_before_lockout(scenario):
    # Granted at 01:00, stopped at 01:15, request at 01:30 (also inside the lockout).
    res = simulate(
        scenario(FILL, BASAL, settings(), req(1), {"at": 1.25, "kind": "stop"}, req(1.5), end=24)
    )
    assert outcomes(res) == [GRANTED, (False, "pump_not_delivering")]


def test_lockout_is_checked_before_max_per_24h(scenario):
    # max 1: the request at 01:30 is both inside the lockout and over the maximum.
    res = simulate(scenario(FILL, BASAL, settings(max_per_24h=1), req(1), req(1.5), end=24))
    assert outcomes(res) == [GRANTED, (False, "lockout")]


# -- lockout ---------------------------------------------------------------------------------


def test_lockout_boundary_exactly_at_the_lockout_is_granted(scenario):
    res = simulate(
        scenario(FILL, BASAL, settings(), req(hms(1)), req(hms(1, 59, 59)), req(hms(2)), end=24)
    )
    assert outcomes(res) == [GRANTED, (False, "lockout"), GRANTED]


def test_lockout_counts_from_the_last_granted_bolus_not_the_last_request(scenario):
    # Denied at 01:30 (lockout); 02:00 is 1 h after the grant at 01:00.
    res = simulate(scenario(FILL, BASAL, settings(), req(1), req(1.5), req(2), end=24))
    assert outcomes(res) == [GRANTED, (False, "lockout"), GRANTED]


def test_zero_lockout_allows_back_to_back_requests(scenario):
    res = simulate(
        scenario(FILL, BASAL, settings(lockout="PT0S"), req(1), req(1), req(1), req(1), end=24)
    )
    assert outcomes(res) == [GRANTED, GRANTED, GRANTED, (False, "max_per_24h")]


# -- the 24 h window (t - 24 h, t] ----------------------------------------------------------


def test_window_excludes_the_grant_exactly_24_hours_before(scenario):
    # max 2. Grants at day-0 01:00 and 02:00. Day 0 12:00: 2 in window -> max_per_24h.
    # Day 1 00:59:59: window (day0 00:59:59, ...] holds both -> max_per_24h.
    # Day 1 01:00: window (day0 01:00, day1 01:00] holds only 02:00 -> granted.
    # Day 1 02:00: window (day0 02:00, ...] holds day1 01:00 only; lockout exactly 1 h -> granted.
    # Day 1 02:30: lockout. Day 1 03:00: window holds day1 01:00 and 02:00 -> max_per_24h.
    res = simulate(
        scenario(
            FILL,
            BASAL,
            settings(max_per_24h=2),
            req(hms(1)),
            req(hms(2)),
            req(hms(12)),
            req(hms(0, 59, 59, day=1)),
            req(hms(1, day=1)),
            req(hms(2, day=1)),
            req(hms(2, 30, day=1)),
            req(hms(3, day=1)),
            end=48,
        )
    )
    assert outcomes(res) == [
        GRANTED,
        GRANTED,
        (False, "max_per_24h"),
        (False, "max_per_24h"),
        GRANTED,
        GRANTED,
        (False, "lockout"),
        (False, "max_per_24h"),
    ]
    # Two grants a day: 0.5 + 2 x 0.1 mL each day.
    daily = [row["pumped_ml"] for row in res.to_dict()["daily"]]
    assert daily == approx([0.5 + 2 * 0.1, 0.5 + 2 * 0.1], abs=1e-9)


def test_only_granted_boluses_count(scenario):
    # max 2, no lockout. 01:00 granted; 02:00 denied (stopped); program again at 03:00;
    # 04:00 granted (the denial did not count); 05:00 max_per_24h.
    res = simulate(
        scenario(
            FILL,
            BASAL,
            settings(max_per_24h=2, lockout="PT0S"),
            req(1),
            {"at": 1.5, "kind": "stop"},
            req(2),
            {**BASAL, "at": 3},
            req(4),
            req(5),
            end=24,
        )
    )
    assert outcomes(res) == [
        GRANTED,
        (False, "pump_not_delivering"),
        GRANTED,
        (False, "max_per_24h"),
    ]


def test_clinician_boluses_do_not_count_for_ptm(scenario):
    # max 2, lockout 1 h. Clinician boluses at 00:30 and 01:30 neither use up the 24 h
    # allowance nor restart the lockout.
    bolus = {"kind": "bolus", "volume_ml": 0.1, "duration": "PT10M"}
    res = simulate(
        scenario(
            FILL,
            BASAL,
            settings(max_per_24h=2),
            {**bolus, "at": 0.5},
            req(1),
            {**bolus, "at": 1.5},
            req(2),
            req(3),
            end=24,
        )
    )
    assert outcomes(res) == [GRANTED, GRANTED, (False, "max_per_24h")]


def test_ptm_bolus_window_is_lost_during_a_stall(scenario):
    # PTM 0.1 mL over 1 h (2.4 mL/day), granted at 01:00; scan 01:30-02:30: half is lost.
    mri = {"at": 1.5, "kind": "mri", "duration": "PT1H"}
    res = simulate(scenario(FILL, BASAL, settings(duration="PT1H"), req(1), mri, end=24))
    assert res.to_dict()["daily"][0]["pumped_ml"] == approx(23 * H * 0.5 + 0.05, abs=1e-9)
