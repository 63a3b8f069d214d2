"""The spec's Result (``to_dict()``, the JSON of ``openidds simulate FILE --json``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openidds.pump import simulate

approx = pytest.approx

FILL = {"at": 0, "kind": "fill", "volume_ml": 20, "drugs": {"morphine": "10 mg/mL"}}
BASAL = {"at": 0, "kind": "program", "mode": "continuous", "rate_ml_per_day": 1.0}


def test_top_level_shape(scenario):
    res = simulate(scenario(FILL, BASAL, end=48, name="Morphine, 40 mL pump")).to_dict()
    assert list(res) == [
        "format",
        "scenario",
        "pump",
        "events",
        "alarms",
        "daily",
        "totals",
        "end_state",
        "forecast",
    ]
    assert res["format"] == "openidds.result/1"
    assert res["scenario"] == {
        "name": "Morphine, 40 mL pump",
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-03T00:00:00Z",
        "timezone": "UTC",
    }
    assert res["pump"] == {"model": "synchromed2-40", "capacity_ml": 40.0, "fluid_path_ml": 0.25}
    assert set(res["totals"]) == {"pumped_ml", "delivered_mg", "unaccounted_ml", "unaccounted_mg"}
    assert set(res["end_state"]) == {"reservoir_ml", "reservoir_mg"}
    assert set(res["forecast"]) == {
        "low_reservoir_alarm",
        "empty",
        "recommended_refill",
        "eri",
        "eos",
    }


def test_timezone_defaults_to_utc(scenario):
    sc = scenario(FILL, end=24)
    del sc["scenario"]["timezone"]
    assert simulate(sc).to_dict()["scenario"]["timezone"] == "UTC"


def test_instants_are_utc_to_the_second(scenario):
    sc = scenario(
        {**FILL, "at": "2026-01-01T09:30:00+01:00"},
        start="2026-01-01T01:00:00+01:00",
        end="2026-01-02T06:00:00-05:00",
        timezone="Europe/Berlin",
    )
    res = simulate(sc).to_dict()
    assert res["scenario"]["start"] == "2026-01-01T00:00:00Z"
    assert res["scenario"]["end"] == "2026-01-02T11:00:00Z"
    assert res["scenario"]["timezone"] == "Europe/Berlin"
    assert res["events"][0]["at"] == "2026-01-01T08:30:00Z"


def test_every_input_event_is_listed_with_its_file_index(scenario):
    events = [
        {"at": 30, "kind": "ptm_request"},
        {"at": 5, "kind": "mri", "duration": "PT1H"},
        FILL,
        {
            "at": 24,
            "kind": "ptm_settings",
            "volume_ml": 0.1,
            "duration": "PT10M",
            "lockout": "PT1H",
            "max_per_24h": 3,
        },
        BASAL,
        {"at": 2, "kind": "bolus", "volume_ml": 0.1, "duration": "PT1H"},
        {"at": 36, "kind": "stop"},
        {"at": 40, "kind": "program", "mode": "continuous", "rate_ml_per_day": 0.5},
        {"at": 40, "kind": "priming_bolus"},
    ]
    res = simulate(scenario(*events, end=48)).to_dict()
    by_index = {e["index"]: e for e in res["events"]}
    assert sorted(by_index) == list(range(9))
    assert by_index[0] == {
        "index": 0,
        "at": "2026-01-02T06:00:00Z",
        "kind": "ptm_request",
        "granted": True,
        "reason": None,
    }
    assert by_index[2] == {
        "index": 2,
        "at": "2026-01-01T00:00:00Z",
        "kind": "fill",
        "expected_ml": 0.0,
        "discrepancy_ml": None,
    }
    for index, kind in [
        (1, "mri"),
        (3, "ptm_settings"),
        (4, "program"),
        (5, "bolus"),
        (6, "stop"),
        (7, "program"),
        (8, "priming_bolus"),
    ]:
        assert set(by_index[index]) == {"index", "at", "kind"}
        assert by_index[index]["kind"] == kind


def test_daily_rows_cover_partial_days(scenario):
    # 12:00 on Jan 1 to 06:00 on Jan 3 at 1 mL/day: 0.5, 1.0, 0.25 mL.
    sc = scenario(
        {**FILL, "at": "2026-01-01T12:00:00Z"},
        {**BASAL, "at": "2026-01-01T12:00:00Z"},
        start="2026-01-01T12:00:00Z",
        end="2026-01-03T06:00:00Z",
    )
    res = simulate(sc).to_dict()
    assert [(r["date"], r["pumped_ml"]) for r in res["daily"]] == [
        ("2026-01-01", approx(0.5, abs=1e-9)),
        ("2026-01-02", approx(1.0, abs=1e-9)),
        ("2026-01-03", approx(0.25, abs=1e-9)),
    ]


def test_daily_rows_stop_before_an_end_at_midnight(scenario):
    res = simulate(scenario(FILL, BASAL, end=48)).to_dict()
    assert [r["date"] for r in res["daily"]] == ["2026-01-01", "2026-01-02"]


def test_daily_rows_are_local_calendar_days(scenario):
    # Europe/Berlin (UTC+1 in January): 2026-01-01T00:00Z is 01:00 local on Jan 1 and
    # 2026-01-02T23:30Z is 00:30 local on Jan 3. At 0.24 mL/day (0.01 mL/h): 23 h, 24 h, 0.5 h.
    sc = scenario(
        FILL,
        {**BASAL, "rate_ml_per_day": 0.24},
        end="2026-01-02T23:30:00Z",
        timezone="Europe/Berlin",
    )
    res = simulate(sc).to_dict()
    assert [(r["date"], r["pumped_ml"]) for r in res["daily"]] == [
        ("2026-01-01", approx(23 * 0.01, abs=1e-9)),
        ("2026-01-02", approx(24 * 0.01, abs=1e-9)),
        ("2026-01-03", approx(0.5 * 0.01, abs=1e-9)),
    ]


def test_zero_length_replay_has_no_daily_rows(scenario):
    res = simulate(scenario(FILL, BASAL, end=0)).to_dict()
    assert res["daily"] == []
    assert res["totals"]["pumped_ml"] == 0.0
    assert res["end_state"]["reservoir_ml"] == 20.0


def test_amounts_are_in_mg(scenario):
    # Ziconotide 25 mcg/mL, 1.2 mcg/day = 0.048 mL/day, primed path: 0.0012 mg a day.
    fill = {"at": 0, "kind": "fill", "volume_ml": 20, "drugs": {"ziconotide": "25 mcg/mL"}}
    program = {
        "at": 0,
        "kind": "program",
        "mode": "continuous",
        "dose": {"ziconotide": "1.2 mcg/day"},
    }
    res = simulate(scenario(fill, program, end=48, fluid_path_initial="primed")).to_dict()
    assert [r["delivered_mg"]["ziconotide"] for r in res["daily"]] == approx(
        [0.0012, 0.0012], abs=1e-12
    )
    assert res["totals"]["delivered_mg"] == {"ziconotide": approx(0.0024, abs=1e-12)}
    assert res["end_state"]["reservoir_mg"] == {
        "ziconotide": approx((20 - 2 * 0.048) * 0.025, abs=1e-9)  # 0.4976 mg
    }


def test_every_drug_ever_in_the_pump_is_named_with_zero_where_none(scenario):
    # Baclofen first, then a change to morphine at day 1 (zero path for clarity).
    first = {"at": 0, "kind": "fill", "volume_ml": 20, "drugs": {"baclofen": "2 mg/mL"}}
    change = {
        "at": 24,
        "kind": "fill",
        "volume_ml": 20,
        "drugs": {"morphine": "10 mg/mL"},
        "aspirated_ml": 19.0,
    }
    res = simulate(scenario(first, BASAL, change, end=48, fluid_path_ml=0.0)).to_dict()
    assert [r["delivered_mg"] for r in res["daily"]] == [
        {"baclofen": approx(2.0, abs=1e-9), "morphine": 0.0},
        {"baclofen": 0.0, "morphine": approx(10.0, abs=1e-9)},
    ]
    assert res["totals"]["unaccounted_mg"] == {"baclofen": 0.0, "morphine": 0.0}
    assert res["end_state"]["reservoir_mg"] == {
        "baclofen": 0.0,
        "morphine": approx(19 * 10, abs=1e-9),
    }


def test_alarms_are_in_time_order(scenario):
    # MRI at 01:00 for 1 h; 3 mL at 1 mL/day reaches 2 mL after 1 day of pumping (+1 h
    # stalled) = 2026-01-02T01:00Z; refill discrepancy at 2026-01-02T12:00Z.
    small = {**FILL, "volume_ml": 3.0}
    mri = {"at": 1, "kind": "mri", "duration": "PT1H"}
    refill = {
        "at": 36,
        "kind": "fill",
        "volume_ml": 10,
        "drugs": {"morphine": "10 mg/mL"},
        "aspirated_ml": 5.0,
    }
    res = simulate(scenario(refill, mri, small, BASAL, end=48)).to_dict()
    assert res["alarms"] == [
        {"at": "2026-01-01T01:00:00Z", "kind": "motor_stall"},
        {"at": "2026-01-01T02:00:00Z", "kind": "motor_stall_recovery"},
        {"at": "2026-01-02T01:00:00Z", "kind": "low_reservoir"},
        {"at": "2026-01-02T12:00:00Z", "kind": "refill_discrepancy"},
    ]
    # expected at the refill: 3 - 35 h x 1/24 mL/h; discrepancy 5 - that.
    assert res["events"][0]["expected_ml"] == approx(3 - 35 / 24, abs=1e-9)
    assert res["events"][0]["discrepancy_ml"] == approx(5 - (3 - 35 / 24), abs=1e-9)


def test_typed_result_matches_the_json(scenario):
    res = simulate(scenario(FILL, BASAL, end=48))
    out = res.to_dict()
    assert res.totals.pumped_ml == approx(out["totals"]["pumped_ml"], abs=1e-9)
    assert res.end_state.reservoir_ml == approx(out["end_state"]["reservoir_ml"], abs=1e-9)
    assert res.forecast.empty.nominal == datetime(2026, 1, 21, tzinfo=UTC)  # 18 mL at 1 mL/day
    assert out["forecast"]["empty"]["nominal"] == "2026-01-21T00:00:00Z"
    assert [a.kind for a in res.alarms] == [a["kind"] for a in out["alarms"]]
    assert [row.date.isoformat() for row in res.daily] == [r["date"] for r in out["daily"]]
