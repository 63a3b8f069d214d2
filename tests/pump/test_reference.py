"""The exact engine against a brute-force, fixed-step reference written from the spec.

``reference.py`` replays a scenario minute by minute (reservoir + FIFO parcels, flex on the
wall clock with zoneinfo, windows, stalls, PTM rules). On random grid-aligned scenarios
(``strategies.scenarios(minute_grid=True)``: every event, window end, stall end and flex
step on a whole minute) the engine's daily pumped mL, daily delivered mg per drug and end
reservoir must equal the reference's within the derived bound (see ``reference.py``):

    per-day volume tolerance = 2 · n_off · h · r_max  +  1e-9 · (1 + total pumped)

with n_off = 0 for these scenarios (so only rounding remains), and the same bound × the
largest concentration (+ 1e-9 relative) for mg. PTM grant/deny outcomes and reasons must be
identical, and alarms must have the same kinds and counts, each at the same instant within
one step (+ 1 s for the engine's rounding of instants). A scenario the spec calls an error
must be an error for both.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, note, settings

from openidds.pump import ScenarioError, SimulationResult, simulate


def _load(name: str) -> ModuleType:
    """Import a sibling helper module under a unique name (tests/pump has no __init__)."""
    full = f"_openidds_pump_tests_{name}"
    if full in sys.modules:
        return sys.modules[full]
    spec = importlib.util.spec_from_file_location(full, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[full] = module
    spec.loader.exec_module(module)
    return module


# OPENIDDS_HYPOTHESIS_SCALE multiplies every max_examples (e.g. 20 for a deep nightly run).
SCALE = float(os.environ.get("OPENIDDS_HYPOTHESIS_SCALE", "1"))


def _n(examples: int) -> int:
    return max(1, round(examples * SCALE))


strategies = _load("strategies")
reference = _load("reference")

STEP_S = 60


# ---------------------------------------------------------------------------------------
# Comparison


def _engine(data: dict[str, Any]) -> tuple[SimulationResult | None, ScenarioError | None]:
    try:
        return simulate(data), None
    except ScenarioError as exc:
        return None, exc


def _reference(data: dict[str, Any], step_s: int) -> tuple[Any, Exception | None]:
    try:
        return reference.simulate_reference(data, step_s), None
    except reference.RefError as exc:
        return None, exc


def compare(data: dict[str, Any], step_s: int = STEP_S) -> tuple[SimulationResult, Any] | None:
    """Assert that engine and reference agree; return both results (None: both errors)."""
    res, eng_err = _engine(data)
    ref, ref_err = _reference(data, step_s)
    assert (eng_err is None) == (ref_err is None), (
        f"engine error: {eng_err}; reference error: {ref_err}"
    )
    if eng_err is not None:
        note(f"both reject: {eng_err} / {ref_err}")
        return None
    assert res is not None
    assert ref is not None
    start = data["scenario"]["start"].astimezone(UTC)

    scale_ml = 1.0 + ref.pumped_ml + res.totals.filled_ml
    bound = reference.volume_bound(ref)
    tol_ml = 2 * bound + 1e-9 * scale_ml
    tol_mg = tol_ml * max(ref.max_conc_mg_per_ml, 1.0) + 1e-9 * (
        1.0 + sum(res.totals.filled_mg.values())
    )

    eng_daily = {row.date: row for row in res.daily}
    assert list(eng_daily) == sorted(ref.daily_pumped), "daily rows (local dates) differ"
    for day, row in eng_daily.items():
        assert row.pumped_ml == pytest.approx(ref.daily_pumped[day], abs=tol_ml), (
            f"pumped_ml on {day}: engine {row.pumped_ml!r}, reference {ref.daily_pumped[day]!r}"
        )
        for drug in ref.drugs:
            e, r = row.delivered_mg[drug], ref.daily_delivered[day][drug]
            assert e == pytest.approx(r, abs=tol_mg), (
                f"delivered {drug} on {day}: engine {e!r}, reference {r!r}"
            )
    assert res.end_state.reservoir_ml == pytest.approx(ref.end_reservoir_ml, abs=tol_ml)
    assert res.totals.pumped_ml == pytest.approx(ref.pumped_ml, abs=tol_ml)

    # PTM outcomes.
    eng_ptm = {o.index: (o.granted, o.reason) for o in res.events if o.kind == "ptm_request"}
    assert eng_ptm == ref.ptm

    # Alarms: same kinds and counts; instants within one step (+1 s of output rounding).
    eng_alarms: dict[str, list[float]] = {}
    for a in res.alarms:
        eng_alarms.setdefault(a.kind, []).append((a.at - start).total_seconds())
    ref_alarms: dict[str, list[float]] = {}
    for kind, seconds in ref.alarms:
        ref_alarms.setdefault(kind, []).append(seconds)
    assert {k: len(v) for k, v in eng_alarms.items()} == {
        k: len(v) for k, v in ref_alarms.items()
    }, f"alarms: engine {res.alarms}, reference {ref.alarms}"
    for kind, times in eng_alarms.items():
        for e, r in zip(sorted(times), sorted(ref_alarms[kind]), strict=True):
            assert abs(e - r) <= step_s + 1, f"{kind}: engine at {e} s, reference at {r} s"
    return res, ref


# ---------------------------------------------------------------------------------------
# Random scenarios


def _compare_or_skip(data: dict[str, Any], step_s: int) -> None:
    note(strategies.describe(data))
    try:
        compare(data, step_s)
    except reference.Unsupported as exc:
        note(f"unsupported: {exc}")
        event(f"unsupported: {exc}")
        assume(False)


@settings(
    max_examples=_n(100),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(strategies.scenarios(max_days=10, max_events=10, minute_grid=True, battery=False))
def test_engine_matches_brute_force_reference(data: dict[str, Any]) -> None:
    _compare_or_skip(data, STEP_S)


@settings(
    max_examples=_n(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    strategies.scenarios(
        max_days=4,
        max_events=14,
        minute_grid=True,
        battery=False,
        timezones=("Europe/Berlin", "America/New_York"),
    )
)
def test_engine_matches_reference_in_dst_zones(data: dict[str, Any]) -> None:
    """Shorter scenarios, more events, always a DST zone (often across a change)."""
    _compare_or_skip(data, STEP_S)


@settings(
    max_examples=_n(8),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    strategies.scenarios(max_days=1, max_events=12, battery=False, explicit_priming_duration=True)
)
def test_engine_matches_one_second_reference_off_the_minute_grid(data: dict[str, Any]) -> None:
    """Instants and durations to the second (not the minute): a 1 s reference step."""
    _compare_or_skip(data, 1)


@settings(
    max_examples=_n(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    strategies.scenarios(max_days=2, max_events=16, battery=False, coarse_minutes=30, shuffle=False)
)
def test_engine_matches_reference_when_instants_coincide(data: dict[str, Any]) -> None:
    """Every instant and duration a multiple of 30 min: events at one instant, and events
    exactly at the end of a bolus window, a stall, a lockout or 24 h after a grant."""
    _compare_or_skip(data, STEP_S)


# ---------------------------------------------------------------------------------------
# Hand-picked scenarios with numbers worked out by hand


def _at(start: datetime, hours: float) -> datetime:
    return start + timedelta(hours=hours)


def _scenario(
    start: datetime, hours: float, events: list[dict[str, Any]], tz: str = "UTC", **pump: Any
) -> dict[str, Any]:
    return {
        "scenario": {"name": "hand", "start": start, "end": _at(start, hours), "timezone": tz},
        "pump": {"model": "synchromed2-40", **pump},
        "event": events,
    }


def _both(data: dict[str, Any]) -> tuple[SimulationResult, Any]:
    out = compare(data)
    assert out is not None
    return out


def test_new_implant_priming_by_hand() -> None:
    """Drug-free path 0.25 mL, priming 0.25 mL at 24 mL/day (15 min), then 1 mL/day."""
    s = datetime(2026, 1, 1, tzinfo=UTC)
    data = _scenario(
        s,
        48,
        [
            {"at": s, "kind": "fill", "volume_ml": 20.0, "drugs": {"morphine": "10 mg/mL"}},
            {"at": s, "kind": "priming_bolus"},
            {"at": s, "kind": "program", "mode": "continuous", "rate_ml_per_day": 1.0},
        ],
    )
    res, ref = _both(data)
    day1 = 0.25 + 1.0 * (1 - 15 / 1440)
    for daily in ({r.date: r.pumped_ml for r in res.daily}, ref.daily_pumped):
        assert daily[date(2026, 1, 1)] == pytest.approx(day1, abs=1e-12)
        assert daily[date(2026, 1, 2)] == pytest.approx(1.0, abs=1e-12)
    # The first 0.25 mL pumped is the drug-free path.
    assert res.daily[0].delivered_mg["morphine"] == pytest.approx((day1 - 0.25) * 10, abs=1e-9)
    assert ref.daily_delivered[date(2026, 1, 1)]["morphine"] == pytest.approx(
        (day1 - 0.25) * 10, abs=1e-9
    )
    assert res.end_state.reservoir_ml == pytest.approx(20 - day1 - 1.0, abs=1e-12)


@pytest.mark.parametrize("bridge_first", [True, False])
def test_bridge_bolus_keeps_daily_dose_by_hand(bridge_first: bool) -> None:
    """10 -> 20 mg/mL at 6 mg/day: the bridge runs 10 h at 0.6 mL/day; 6 mg every day."""
    s = datetime(2026, 2, 15, tzinfo=UTC)
    refill = _at(s, 34)  # day 2, 10:00
    group = [
        {"at": refill, "kind": "bridge_bolus"},
        {"at": refill, "kind": "program", "mode": "continuous", "dose": {"morphine": "6 mg/day"}},
    ]
    if not bridge_first:
        group.reverse()
    data = _scenario(
        s,
        72,
        [
            {"at": s, "kind": "fill", "volume_ml": 40.0, "drugs": {"morphine": "10 mg/mL"}},
            {"at": s, "kind": "program", "mode": "continuous", "dose": {"morphine": "6 mg/day"}},
            {
                "at": refill,
                "kind": "fill",
                "volume_ml": 40.0,
                "aspirated_ml": 39.0,
                "drugs": {"morphine": "20 mg/mL"},
            },
            *group,
        ],
        fluid_path_initial="primed",
    )
    res, ref = _both(data)
    for row in res.daily:
        assert row.delivered_mg["morphine"] == pytest.approx(6.0, abs=1e-9), row
        assert ref.daily_delivered[row.date]["morphine"] == pytest.approx(6.0, abs=1e-9)
    # Refill day: 0.25 (before) + 0.25 (bridge, old fluid) + 4 h of 0.3 mL/day.
    assert res.daily[1].pumped_ml == pytest.approx(0.55, abs=1e-12)
    assert ref.daily_pumped[date(2026, 2, 16)] == pytest.approx(0.55, abs=1e-12)


def test_flex_spring_forward_berlin_by_hand() -> None:
    """A step at 02:30 on the spring-forward day takes effect at 03:00 CEST (01:00Z)."""
    s = datetime(2026, 3, 27, 23, tzinfo=UTC)  # 2026-03-28 00:00 CET
    data = _scenario(
        s,
        71,
        [  # to 2026-03-31 00:00 CEST (71 h: one hour is skipped)
            {"at": s, "kind": "fill", "volume_ml": 40.0, "drugs": {"baclofen": "500 mcg/mL"}},
            {
                "at": s,
                "kind": "program",
                "mode": "flex",
                "period": "day",
                "steps": [
                    {"start": "00:00", "rate_ml_per_day": 0.5},
                    {"start": "02:30", "rate_ml_per_day": 1.0},
                    {"start": "08:00", "rate_ml_per_day": 0.2},
                ],
            },
        ],
        tz="Europe/Berlin",
        fluid_path_ml=0.0,
    )
    res, ref = _both(data)
    normal = (0.5 * 2.5 + 1.0 * 5.5 + 0.2 * 16) / 24
    short = (0.5 * 2 + 1.0 * 5 + 0.2 * 16) / 24
    expected = {date(2026, 3, 28): normal, date(2026, 3, 29): short, date(2026, 3, 30): normal}
    assert {r.date: r.pumped_ml for r in res.daily} == pytest.approx(expected, abs=1e-12)
    assert ref.daily_pumped == pytest.approx(expected, abs=1e-12)


def test_flex_fall_back_new_york_by_hand() -> None:
    """Steps at 01:30 and 01:45 fire at their first occurrence only (EDT), not again (EST)."""
    s = datetime(2026, 11, 1, 4, tzinfo=UTC)  # 2026-11-01 00:00 EDT
    data = _scenario(
        s,
        25,
        [
            {"at": s, "kind": "fill", "volume_ml": 40.0, "drugs": {"morphine": "1 mg/mL"}},
            {
                "at": s,
                "kind": "program",
                "mode": "flex",
                "period": "day",
                "steps": [
                    {"start": "01:30", "rate_ml_per_day": 2.0},
                    {"start": "01:45", "rate_ml_per_day": 0.5},
                    {"start": "12:00", "rate_ml_per_day": 0.1},
                ],
            },
        ],
        tz="America/New_York",
        fluid_path_ml=0.0,
    )
    res, ref = _both(data)
    expected = (0.1 * 1.5 + 2.0 * 0.25 + 0.5 * 11.25 + 0.1 * 12) / 24
    assert res.daily[0].pumped_ml == pytest.approx(expected, abs=1e-12)
    assert ref.daily_pumped[date(2026, 11, 1)] == pytest.approx(expected, abs=1e-12)


def test_ptm_lockout_and_24h_window_by_hand() -> None:
    s = datetime(2026, 4, 1, 8, tzinfo=UTC)
    h = lambda x: _at(s, x)  # noqa: E731
    events: list[dict[str, Any]] = [
        {"at": h(1), "kind": "fill", "volume_ml": 40.0, "drugs": {"morphine": "10 mg/mL"}},
        {"at": h(1), "kind": "program", "mode": "continuous", "dose": {"morphine": "4 mg/day"}},
        {"at": h(4), "kind": "ptm_request"},
        {
            "at": h(6),
            "kind": "ptm_settings",
            "dose": {"morphine": "0.4 mg"},
            "duration": "PT15M",
            "lockout": "PT3H",
            "max_per_24h": 4,
        },
    ]
    requests = [7, 8.5, 10, 13.5, 17, 24, 31, 51]
    events += [{"at": h(x), "kind": "ptm_request"} for x in requests]
    events += [
        {"at": h(50), "kind": "stop"},
        {"at": h(52), "kind": "program", "mode": "continuous", "dose": {"morphine": "4 mg/day"}},
        {"at": h(56), "kind": "ptm_request"},
    ]
    data = _scenario(s, 96, events, fluid_path_initial="primed")
    res, ref = _both(data)
    outcomes = [(o.granted, o.reason) for o in res.events if o.kind == "ptm_request"]
    assert outcomes == [
        (False, "not_enabled"),
        (True, None),  # 15:00
        (False, "lockout"),  # 16:30
        (True, None),  # 18:00, exactly 3 h later
        (True, None),  # 21:30
        (True, None),  # 01:00
        (False, "max_per_24h"),  # 08:00: 4 in (08:00 the day before, now]
        (True, None),  # 15:00: exactly 24 h after the first, which no longer counts
        (False, "pump_not_delivering"),  # stopped
        (True, None),
    ]
    # Each granted bolus is 0.04 mL over 15 min on top of 4 mg/day.
    assert res.totals.pumped_ml == pytest.approx(ref.pumped_ml, abs=1e-9)


def test_overlapping_mri_and_lost_bolus_by_hand() -> None:
    """Two overlapping scans: one stall 10:00-13:00; a bolus 11:00-12:00 is lost."""
    s = datetime(2026, 5, 1, tzinfo=UTC)
    h = lambda x: _at(s, x)  # noqa: E731
    data = _scenario(
        s,
        24,
        [
            {"at": h(0), "kind": "fill", "volume_ml": 40.0, "drugs": {"morphine": "10 mg/mL"}},
            {"at": h(0), "kind": "program", "mode": "continuous", "rate_ml_per_day": 2.4},
            {"at": h(10), "kind": "mri", "duration": "PT1H", "recovery": "PT1H"},
            {"at": h(11), "kind": "mri", "duration": "PT1H"},
            {"at": h(11), "kind": "bolus", "volume_ml": 0.5, "duration": "PT1H"},
            {"at": h(11.5), "kind": "mri", "duration": "PT30M", "recovery": "PT1H"},
        ],
    )
    res, ref = _both(data)
    assert [(a.kind, a.at) for a in res.alarms] == [
        ("motor_stall", h(10)),
        ("motor_stall_recovery", h(13)),
    ]
    assert res.totals.pumped_ml == pytest.approx(2.4 * 21 / 24, abs=1e-12)
    assert ref.pumped_ml == pytest.approx(2.4 * 21 / 24, abs=1e-12)


def test_low_and_empty_then_refill_by_hand() -> None:
    s = datetime(2026, 6, 1, tzinfo=UTC)
    h = lambda x: _at(s, x)  # noqa: E731
    data = _scenario(
        s,
        46,
        [
            {"at": h(0), "kind": "fill", "volume_ml": 1.0, "drugs": {"morphine": "10 mg/mL"}},
            {"at": h(0), "kind": "program", "mode": "continuous", "rate_ml_per_day": 2.0},
            {
                "at": h(8),
                "kind": "ptm_settings",
                "volume_ml": 0.01,
                "duration": "PT10M",
                "lockout": "PT0S",
                "max_per_24h": 5,
            },
            {"at": h(13), "kind": "ptm_request"},  # empty since 12:00
            {"at": h(30), "kind": "fill", "volume_ml": 2.0, "drugs": {"morphine": "10 mg/mL"}},
            {"at": h(31), "kind": "ptm_request"},
        ],
        low_reservoir_alarm_ml=0.5,
        fluid_path_ml=0.0,
    )
    res, ref = _both(data)
    assert [(a.kind, a.at) for a in res.alarms] == [
        ("low_reservoir", h(6)),
        ("empty_reservoir", h(12)),
    ]
    assert [o.reason for o in res.events if o.kind == "ptm_request"] == [
        "pump_not_delivering",
        None,
    ]
    # Nothing moved from 12:00 to 30:00; then 16 h at 2 mL/day and one 0.01 mL PTM bolus.
    end = 2.0 - 2.0 * 16 / 24 - 0.01
    assert res.end_state.reservoir_ml == pytest.approx(end, abs=1e-12)
    assert ref.end_reservoir_ml == pytest.approx(end, abs=1e-12)
    assert res.pumped_ml_between(h(12), h(30)) == 0.0


def test_stop_ends_a_priming_bolus_at_once_by_hand() -> None:
    """Priming 0.5 mL over 60 min from 00:00; stop at 00:20; program at 00:30. The stop ends
    the priming bolus (spec §5), so from 00:30 only the program runs (no priming left)."""
    s = datetime(2026, 7, 1, tzinfo=UTC)
    m = lambda x: s + timedelta(minutes=x)  # noqa: E731
    data = _scenario(
        s,
        24,
        [
            {"at": m(0), "kind": "fill", "volume_ml": 20.0, "drugs": {"morphine": "10 mg/mL"}},
            {"at": m(0), "kind": "priming_bolus", "volume_ml": 0.5, "duration": "PT60M"},
            {"at": m(20), "kind": "stop"},
            {"at": m(30), "kind": "program", "mode": "continuous", "rate_ml_per_day": 1.44},
        ],
    )
    res, ref = _both(data)
    expected = 0.5 * 20 / 60 + 1.44 * (24 * 60 - 30) / 1440
    assert res.totals.pumped_ml == pytest.approx(expected, abs=1e-12)
    assert ref.pumped_ml == pytest.approx(expected, abs=1e-12)
    assert res.pumped_ml_between(m(20), m(30)) == 0.0


def test_program_during_priming_waits_for_its_end_by_hand() -> None:
    """The first program, given during a priming bolus, is not in force until the bolus
    ends (spec §5): a fill then sees a zero basal rate, so a bridge bolus is an error (§6).
    Once the priming is over, the same fill + bridge is accepted."""
    s = datetime(2026, 7, 1, tzinfo=UTC)
    m = lambda x: s + timedelta(minutes=x)  # noqa: E731
    base = [
        {"at": m(0), "kind": "fill", "volume_ml": 20.0, "drugs": {"morphine": "10 mg/mL"}},
        {"at": m(0), "kind": "priming_bolus", "volume_ml": 0.5, "duration": "PT60M"},
        {"at": m(10), "kind": "program", "mode": "continuous", "rate_ml_per_day": 1.0},
    ]
    refill = {"kind": "fill", "volume_ml": 5.0, "drugs": {"morphine": "10 mg/mL"}}
    during = _scenario(
        s, 24, [*base, {"at": m(30), **refill}, {"at": m(30), "kind": "bridge_bolus"}]
    )
    with pytest.raises(ScenarioError):
        simulate(during)
    with pytest.raises(reference.RefError):
        reference.simulate_reference(during, STEP_S)
    after = _scenario(
        s, 24, [*base, {"at": m(90), **refill}, {"at": m(90), "kind": "bridge_bolus"}]
    )
    _both(after)
