"""The spec's Forecast, computed by hand.

Set-up unless stated: 20 mL at 1 mL/day from 2026-01-01T00:00Z, end 2026-01-11T00:00Z, so the
reservoir holds 10 mL at `end`; low-reservoir alarm 2 mL; accuracy 0.145 (synchromed2-40).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openidds.pump import simulate

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 11, tzinfo=UTC)  # 240 h
ACC = 0.145
FILL = {"at": 0, "kind": "fill", "volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}}
BASAL = {"at": 0, "kind": "program", "mode": "continuous", "rate_ml_per_day": 1.0}


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def after(t0: datetime, days: float) -> str:
    """The instant `days` after t0, to the second."""
    return iso(t0 + timedelta(seconds=round(days * 86_400)))


def band(t0: datetime, nominal: float, earliest: float, latest: float) -> dict:
    return {
        "nominal": after(t0, nominal),
        "earliest": after(t0, earliest),
        "latest": after(t0, latest),
    }


def ptm(volume: float, lockout: str, max_per_24h: int, **extra: object) -> dict:
    return {
        "at": 0,
        "kind": "ptm_settings",
        "volume_ml": volume,
        "duration": "PT10M",
        "lockout": lockout,
        "max_per_24h": max_per_24h,
        **extra,
    }  # extra may replace duration


def forecast(scenario, *events: dict, end: float = 240, **pump: object) -> dict:
    return simulate(scenario(FILL, BASAL, *events, end=end, **pump)).to_dict()["forecast"]


def test_nominal_earliest_latest(scenario):
    fc = forecast(scenario)
    # low: 10 - 2 = 8 mL to go; empty: 10 mL to go.
    assert fc["low_reservoir_alarm"] == band(
        END, 8 / 1.0, 8 / (1.0 * (1 + ACC)), 8 / (1.0 * (1 - ACC))
    )
    assert fc["empty"] == band(END, 10 / 1.0, 10 / (1 + ACC), 10 / (1 - ACC))
    assert fc["low_reservoir_alarm"]["nominal"] == "2026-01-19T00:00:00Z"
    assert fc["empty"]["nominal"] == "2026-01-21T00:00:00Z"
    # Without stability_days the recommended refill is the earliest low-reservoir alarm.
    assert fc["recommended_refill"] == after(END, 8 / (1 + ACC))


def test_scenario_accuracy(scenario):
    fc = forecast(scenario, accuracy=0.2)
    assert fc["empty"] == band(END, 10, 10 / 1.2, 10 / 0.8)


def test_ptm_term_limited_by_the_lockout(scenario):
    # 0.1 mL, lockout 6 h, at most 10 a day: min(10, 24 h / 6 h) = 4 a day = 0.4 mL/day.
    fc = forecast(scenario, ptm(0.1, "PT6H", 10))
    earliest_rate = (1.0 + 0.1 * 4) * (1 + ACC)
    assert fc["low_reservoir_alarm"] == band(END, 8, 8 / earliest_rate, 8 / (1 - ACC))
    assert fc["empty"] == band(END, 10, 10 / earliest_rate, 10 / (1 - ACC))


def test_ptm_term_limited_by_max_per_24h(scenario):
    # 0.1 mL, lockout 1 h, at most 6 a day: min(6, 24) = 6 a day = 0.6 mL/day.
    fc = forecast(scenario, ptm(0.1, "PT1H", 6))
    assert fc["empty"]["earliest"] == after(END, 10 / ((1.0 + 0.1 * 6) * (1 + ACC)))


def test_ptm_term_with_zero_lockout_is_max_per_24h(scenario):
    # 0.1 mL x 3 a day = 0.3 mL/day.
    fc = forecast(scenario, ptm(0.1, "PT0S", 3))
    assert fc["empty"]["earliest"] == after(END, 10 / ((1.0 + 0.1 * 3) * (1 + ACC)))


def test_ptm_term_with_a_lockout_that_does_not_divide_a_day(scenario):
    # 0.7 mL, lockout 7 h, at most 10: min(10, 24 / 7) = 24/7 a day = 0.7 x 24 / 7 = 2.4 mL/day.
    fc = forecast(scenario, ptm(0.7, "PT7H", 10, duration="PT1H"))
    assert fc["empty"]["earliest"] == after(END, 10 / ((1.0 + 0.7 * 24 / 7) * (1 + ACC)))


def test_disabled_ptm_adds_nothing(scenario):
    fc = forecast(scenario, ptm(0.1, "PT1H", 6, enabled=False))
    assert fc["empty"]["earliest"] == after(END, 10 / (1 + ACC))
    fc = forecast(
        scenario, ptm(0.1, "PT1H", 6), {"at": 24, "kind": "ptm_settings", "enabled": False}
    )
    assert fc["empty"]["earliest"] == after(END, 10 / (1 + ACC))


def test_recommended_refill_is_the_earlier_of_low_alarm_and_stability(scenario):
    # Stability 12 days from the fill at 2026-01-01: 2026-01-13 < earliest low (~2026-01-18).
    stable = {**FILL, "stability_days": 12}
    fc = simulate(scenario(stable, BASAL, end=240)).to_dict()["forecast"]
    assert fc["recommended_refill"] == "2026-01-13T00:00:00Z"
    # Stability 30 days: the earliest low alarm comes first.
    stable = {**FILL, "stability_days": 30}
    fc = simulate(scenario(stable, BASAL, end=240)).to_dict()["forecast"]
    assert fc["recommended_refill"] == after(END, 8 / (1 + ACC))


def test_recommended_refill_uses_the_last_fill_only(scenario):
    # First fill stable 12 days; the refill at day 5 (aspirate the expected 15 mL, add 20 mL)
    # gives none, so the earliest low alarm decides: 20 - 5 = 15 mL at end, 13 mL to go.
    stable = {**FILL, "stability_days": 12}
    refill = {
        "at": 120,
        "kind": "fill",
        "volume_ml": 20,
        "drugs": {"morphine": "10 mg/mL"},
        "aspirated_ml": 15.0,
    }
    fc = simulate(scenario(stable, BASAL, refill, end=240)).to_dict()["forecast"]
    assert fc["recommended_refill"] == after(END, (20 - 5 * 1.0 - 2) / (1 + ACC))
    # The refill's own stability counts from the refill: day 5 + 8 days = 2026-01-14.
    refill["stability_days"] = 8
    fc = simulate(scenario(stable, BASAL, refill, end=240)).to_dict()["forecast"]
    assert fc["recommended_refill"] == "2026-01-14T00:00:00Z"


def test_condition_already_true_at_end_gives_end(scenario):
    # End at 444 h (2026-01-19T12:00Z): 20 - 18.5 = 1.5 mL <= 2 mL. Low is already true.
    end = START + timedelta(hours=444)
    fc = forecast(scenario, end=444)
    assert fc["low_reservoir_alarm"] == band(end, 0, 0, 0)
    assert fc["empty"] == band(end, 1.5, 1.5 / (1 + ACC), 1.5 / (1 - ACC))
    assert fc["recommended_refill"] == iso(end)


def test_empty_at_end_gives_end_everywhere(scenario):
    end = START + timedelta(hours=504)  # empty since day 20
    fc = forecast(scenario, end=504)
    assert fc["low_reservoir_alarm"] == band(end, 0, 0, 0)
    assert fc["empty"] == band(end, 0, 0, 0)


def test_stopped_pump_gives_null(scenario):
    fc = forecast(scenario, {"at": 240, "kind": "stop"})
    assert fc["low_reservoir_alarm"] == {"nominal": None, "earliest": None, "latest": None}
    assert fc["empty"] == {"nominal": None, "earliest": None, "latest": None}
    assert fc["recommended_refill"] is None
    # ... but a condition already true still gives end:
    small = {**FILL, "volume_ml": 1.5}
    res = simulate(scenario(small, BASAL, {"at": 0, "kind": "stop"}, end=240)).to_dict()
    fc = res["forecast"]
    assert fc["low_reservoir_alarm"] == band(END, 0, 0, 0)
    assert fc["empty"] == {"nominal": None, "earliest": None, "latest": None}


def test_no_program_gives_null(scenario):
    fc = simulate(scenario(FILL, end=240)).to_dict()["forecast"]
    assert fc["empty"] == {"nominal": None, "earliest": None, "latest": None}


def test_stopped_pump_with_stability(scenario):
    stable = {**FILL, "stability_days": 45}
    res = simulate(scenario(stable, BASAL, {"at": 240, "kind": "stop"}, end=240)).to_dict()
    assert res["forecast"]["recommended_refill"] == "2026-02-15T00:00:00Z"  # Jan 1 + 45 days


def test_forecast_uses_the_program_in_force_at_end(scenario):
    # A new program of 2 mL/day applied exactly at end: 8 mL to go at 2 mL/day = 4 days.
    fc = forecast(
        scenario, {"at": 240, "kind": "program", "mode": "continuous", "rate_ml_per_day": 2.0}
    )
    assert fc["low_reservoir_alarm"] == band(END, 4, 8 / (2 * (1 + ACC)), 8 / (2 * (1 - ACC)))


def test_forecast_follows_a_flex_cycle(scenario):
    # Flex 00:00 0.5, 12:00 1.5 (1 mL a day): 10 mL at end; low alarm at 2.5 mL -> 7.5 mL to go.
    # Nominal: 7 days (7 mL), then 0.25 mL by 12:00, then 0.25 mL at 1.5 mL/day = 4 h.
    program = {
        "at": 0,
        "kind": "program",
        "mode": "flex",
        "period": "day",
        "steps": [
            {"start": "00:00", "rate_ml_per_day": 0.5},
            {"start": "12:00", "rate_ml_per_day": 1.5},
        ],
    }
    res = simulate(scenario(FILL, program, end=240, low_reservoir_alarm_ml=2.5)).to_dict()
    low = res["forecast"]["low_reservoir_alarm"]
    e, l_ = 1 + ACC, 1 - ACC
    assert low == {
        "nominal": after(END, 7 + 0.5 + (7.5 - 7 - 0.25) / 1.5),
        # earliest: 1.145 mL a day; after 6 days 6.87 mL, then 0.28625 mL by 12:00
        "earliest": after(END, 6 + 0.5 + (7.5 - 6 * e - 0.5 * 0.5 * e) / (1.5 * e)),
        # latest: 0.855 mL a day; after 8 days 6.84 mL, then 0.21375 mL by 12:00
        "latest": after(END, 8 + 0.5 + (7.5 - 8 * l_ - 0.5 * 0.5 * l_) / (1.5 * l_)),
    }
    assert low["nominal"] == "2026-01-18T16:00:00Z"


def test_eri_and_eos_in_the_forecast(scenario):
    # B0 = 30, k = 0.5, EOS 10 days after ERI. 1 mL/day: 1.5 a day from the start.
    battery = {"days_to_eri_at_zero_flow": 30.0, "days_per_ml": 0.5, "eos_after_eri_days": 10.0}
    fc = forecast(scenario, battery=battery)
    assert fc["eri"] == after(START, 30 / 1.5)  # 2026-01-21
    assert fc["eos"] == after(START, 30 / 1.5 + 10)


def test_events_beyond_20_years_are_null(scenario):
    # k = 0: ERI at started + B0. B0 = 10000 days is beyond end + 20 years: eri and eos null.
    battery = {"days_to_eri_at_zero_flow": 10_000.0, "days_per_ml": 0.0}
    fc = forecast(scenario, battery=battery)
    assert (fc["eri"], fc["eos"]) == (None, None)
    # ERI at end + 7000 days (inside 20 years = 7305 days), EOS 400 days later (outside).
    battery = {
        "days_to_eri_at_zero_flow": 10 + 7000.0,
        "days_per_ml": 0.0,
        "eos_after_eri_days": 400.0,
    }
    fc = forecast(scenario, battery=battery)
    assert fc["eri"] == after(END, 7000)
    assert fc["eos"] is None
