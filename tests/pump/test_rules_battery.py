"""Spec semantics 10 (battery: ERI, EOS) and the battery forecast, computed by hand.

remaining_days(t) = B0 - days since `started` - k x mL pumped since `started`.
Most tests use a short battery: B0 = 10 days, k = 0.5 day/mL, EOS 2 days after ERI; at
1 mL/day it loses 1 + 0.5 x 1 = 1.5 days per day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openidds.pump import simulate

approx = pytest.approx

START = datetime(2026, 1, 1, tzinfo=UTC)
SHORT = {"days_to_eri_at_zero_flow": 10.0, "days_per_ml": 0.5, "eos_after_eri_days": 2.0}
FILL = {"at": 0, "kind": "fill", "volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}}


def rate(at: float, ml_per_day: float) -> dict:
    return {"at": at, "kind": "program", "mode": "continuous", "rate_ml_per_day": ml_per_day}


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_eri_and_eos_times_and_eos_stops_the_pump(scenario):
    # ERI after 10 / 1.5 = 6 2/3 days = 160 h (2026-01-07T16:00Z); EOS 2 days later (208 h).
    res = simulate(scenario(FILL, rate(0, 1.0), end=240, battery=SHORT)).to_dict()
    assert res["alarms"] == [
        {"at": "2026-01-07T16:00:00Z", "kind": "eri"},
        {"at": "2026-01-09T16:00:00Z", "kind": "eos"},
    ]
    # Pumping stops at EOS: 208 h x 1 mL/day.
    assert res["totals"]["pumped_ml"] == approx(208 / 24 * 1.0, abs=1e-9)
    assert res["end_state"]["reservoir_ml"] == approx(20 - 208 / 24, abs=1e-9)
    assert res["daily"][8]["pumped_ml"] == approx(16 / 24, abs=1e-9)
    assert res["daily"][9]["pumped_ml"] == 0.0
    # Forecast: ERI already happened, so eri/eos are those instants; past EOS the reservoir
    # forecasts are null (nothing is already true: 11.33 mL > 2 mL).
    fc = res["forecast"]
    assert (fc["eri"], fc["eos"]) == ("2026-01-07T16:00:00Z", "2026-01-09T16:00:00Z")
    assert fc["low_reservoir_alarm"] == {"nominal": None, "earliest": None, "latest": None}
    assert fc["empty"] == {"nominal": None, "earliest": None, "latest": None}
    assert fc["recommended_refill"] is None


def test_pumped_before_start_counts(scenario):
    # Started 2 days before start, 1 mL pumped since: 10 - 2 - 0.5 x 1 = 7.5 days left at the
    # start; at 1.5 per day ERI after 5 days (2026-01-06T00:00Z), EOS 2026-01-08T00:00Z.
    battery = {
        **SHORT,
        "started": datetime(2025, 12, 30, tzinfo=UTC),
        "pumped_ml_before_start": 1.0,
    }
    res = simulate(scenario(FILL, rate(0, 1.0), end=240, battery=battery))
    out = res.to_dict()
    assert out["alarms"] == [
        {"at": "2026-01-06T00:00:00Z", "kind": "eri"},
        {"at": "2026-01-08T00:00:00Z", "kind": "eos"},
    ]
    assert out["totals"]["pumped_ml"] == approx(7 * 1.0, abs=1e-9)
    assert res.warnings == ()


def test_started_before_start_without_pumped_before_start_warns(scenario):
    # 10 - 2 = 8 days left; ERI after 8 / 1.5 days = 128 h (2026-01-06T08:00Z).
    battery = {**SHORT, "started": datetime(2025, 12, 30, tzinfo=UTC)}
    res = simulate(scenario(FILL, rate(0, 1.0), end=240, battery=battery))
    assert res.to_dict()["alarms"][0] == {"at": "2026-01-06T08:00:00Z", "kind": "eri"}
    assert len(res.warnings) == 1
    assert "pumped_ml_before_start" in res.warnings[0]


def test_battery_drains_at_zero_flow(scenario):
    # No program: 1 day per day. ERI after 10 days, EOS after 12.
    res = simulate(scenario(FILL, end=300, battery=SHORT)).to_dict()
    assert res["alarms"] == [
        {"at": "2026-01-11T00:00:00Z", "kind": "eri"},
        {"at": "2026-01-13T00:00:00Z", "kind": "eos"},
    ]


def test_eos_stops_boluses_programs_and_ptm(scenario):
    # B0 = 5, no program: ERI at day 5, EOS at day 7 (168 h). A bolus 0.5 mL over 24 h from
    # 156 h moves only until EOS (12 h = 0.25 mL); after EOS nothing moves at all.
    battery = {**SHORT, "days_to_eri_at_zero_flow": 5.0}
    events = [
        FILL,
        {"at": 156, "kind": "bolus", "volume_ml": 0.5, "duration": "PT24H"},
        {"at": 170, "kind": "program", "mode": "continuous", "rate_ml_per_day": 1.0},
        {
            "at": 170,
            "kind": "ptm_settings",
            "volume_ml": 0.1,
            "duration": "PT10M",
            "lockout": "PT1H",
            "max_per_24h": 3,
        },
        {"at": 171, "kind": "ptm_request"},
        {"at": 172, "kind": "bolus", "volume_ml": 0.5, "duration": "PT1H"},
    ]
    res = simulate(scenario(*events, end=240, battery=battery)).to_dict()
    assert [a["kind"] for a in res["alarms"]] == ["eri", "eos"]
    assert res["alarms"][1]["at"] == "2026-01-08T00:00:00Z"
    assert res["totals"]["pumped_ml"] == approx(12 / 24 * 0.5, abs=1e-9)
    assert res["events"][4]["granted"] is False
    assert res["events"][4]["reason"] == "pump_not_delivering"


def test_eri_before_start(scenario):
    # Started 12 days before start, nothing pumped before: ERI at started + 10 days =
    # 2025-12-30T00:00Z (before the replay), EOS 5 days later at 2026-01-04T00:00Z.
    battery = {
        **SHORT,
        "eos_after_eri_days": 5.0,
        "started": datetime(2025, 12, 20, tzinfo=UTC),
        "pumped_ml_before_start": 0.0,
    }
    res = simulate(scenario(FILL, rate(0, 1.0), end=240, battery=battery)).to_dict()
    assert res["forecast"]["eri"] == "2025-12-30T00:00:00Z"
    assert res["forecast"]["eos"] == "2026-01-04T00:00:00Z"
    assert {"at": "2026-01-04T00:00:00Z", "kind": "eos"} in res["alarms"]
    assert res["totals"]["pumped_ml"] == approx(3 * 1.0, abs=1e-9)


def test_eri_forecast_with_the_rate_in_force(scenario):
    # B0 = 100, k = 0.5, 1 mL/day: 1.5 days per day from the start (the pump keeps being
    # refilled): ERI at 100 / 1.5 = 66 2/3 days = 2026-03-08T16:00Z; EOS 2 days later.
    battery = {**SHORT, "days_to_eri_at_zero_flow": 100.0}
    res = simulate(scenario(FILL, rate(0, 1.0), end=240, battery=battery)).to_dict()
    assert res["forecast"]["eri"] == iso(START + timedelta(days=100 / 1.5))
    assert res["forecast"]["eri"] == "2026-03-08T16:00:00Z"
    assert res["forecast"]["eos"] == "2026-03-10T16:00:00Z"
    assert res["alarms"] == []


def test_eri_forecast_of_a_stopped_pump_uses_zero_flow(scenario):
    # 5 days at 1 mL/day, then stopped: left at end (day 10) = 100 - 10 - 0.5 x 5 = 87.5 days,
    # at zero flow 1 per day: ERI at day 97.5 = 2026-04-08T12:00Z.
    battery = {**SHORT, "days_to_eri_at_zero_flow": 100.0}
    events = [FILL, rate(0, 1.0), {"at": 120, "kind": "stop"}]
    res = simulate(scenario(*events, end=240, battery=battery)).to_dict()
    assert res["forecast"]["eri"] == iso(START + timedelta(days=10 + (100 - 10 - 0.5 * 5)))
    assert res["forecast"]["eri"] == "2026-04-08T12:00:00Z"
    assert res["forecast"]["eos"] == "2026-04-10T12:00:00Z"


def test_catalog_battery_defaults(scenario):
    # synchromed2-40 catalog: B0 = 2467 days, k = 0.4 day/mL, EOS 90 days after ERI; started
    # defaults to the scenario start. At 0.5 mL/day: 1 + 0.4 x 0.5 = 1.2 days per day.
    res = simulate(scenario(FILL, rate(0, 0.5), end=240)).to_dict()
    eri = START + timedelta(days=2467 / 1.2)  # 2055 days 20 h
    assert res["forecast"]["eri"] == iso(eri)
    assert res["forecast"]["eos"] == iso(eri + timedelta(days=90))


def test_constant_flow_pump_has_no_battery(scenario):
    res = simulate(scenario(FILL, end=240, model="isomed-8472-35", fixed_rate_ml_per_day=1.0))
    out = res.to_dict()
    assert out["forecast"]["eri"] is None
    assert out["forecast"]["eos"] is None
    assert out["totals"]["pumped_ml"] == approx(10 * 1.0, abs=1e-9)
