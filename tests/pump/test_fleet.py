"""The vectorised fleet forecast agrees with the scalar engine on every pump."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openidds.pump import parse_scenario, simulate
from openidds.pump._clock import Clock
from openidds.pump._schedule import crossing_time
from openidds.pump.fleet import FleetPrograms, fleet_forecast

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from fleet_arrays import random_fleet, scalar_program

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@st.composite
def pump_now(draw: st.DrawFn) -> dict[str, Any]:
    """A pump at `now`: reservoir volume, threshold and a continuous or flex program."""
    mode = draw(st.sampled_from(["continuous", "day", "week"]))
    rate = st.floats(min_value=0.048, max_value=3.0, allow_nan=False)
    if mode == "continuous":
        program: dict[str, Any] = {"mode": "continuous", "rate_ml_per_day": draw(rate)}
    else:
        span = 1440 if mode == "day" else 7 * 1440
        minutes = sorted(draw(st.sets(st.integers(0, span - 1), min_size=1, max_size=10)))
        steps = []
        for m in minutes:
            clock = f"{(m % 1440) // 60:02d}:{m % 60:02d}"
            start = clock if mode == "day" else f"{WEEKDAYS[m // 1440]} {clock}"
            steps.append({"start": start, "rate_ml_per_day": draw(rate)})
        program = {"mode": "flex", "period": mode, "steps": steps}
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 3 * 365 * 1440)))
    return {
        "now": now,
        "zone": draw(st.sampled_from(ZONES)),
        "volume": draw(st.floats(min_value=0.0, max_value=40.0, allow_nan=False)),
        "threshold": draw(st.sampled_from([0.0, 2.0, 4.0])),
        "program": program,
        "ptm": draw(st.booleans()),
    }


def scenario_at(p: dict[str, Any]) -> dict[str, Any]:
    """A scenario whose replay ends at `now` with the reservoir at `volume`."""
    now = p["now"]
    events: list[dict[str, Any]] = [
        {"at": now, "kind": "fill", "volume_ml": p["volume"], "drugs": {"morphine": "1 mg/mL"}},
        {"at": now, "kind": "program", **p["program"]},
    ]
    if p["ptm"]:
        events.append(
            {
                "at": now,
                "kind": "ptm_settings",
                "volume_ml": 0.05,
                "duration": "PT5M",
                "lockout": "PT5H",
                "max_per_24h": 6,
            }
        )
    return {
        "scenario": {"start": now - timedelta(hours=1), "end": now, "timezone": p["zone"]},
        "pump": {"model": "synchromed2-40", "low_reservoir_alarm_ml": p["threshold"]},
        "event": events,
    }


def seconds(at: datetime | None) -> int | None:
    return None if at is None else round(at.timestamp())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pump_now(), min_size=1, max_size=6))
def test_fleet_equals_scalar_engine_forecast(pumps: list[dict[str, Any]]) -> None:
    results = [simulate(parse_scenario(scenario_at(p))) for p in pumps]
    programs = FleetPrograms.from_programs([r.program_at_end for r in results])
    zones = [p["zone"] for p in pumps]
    for p, r in zip(pumps, results, strict=True):
        assert p["now"] == r.scenario.end
    # Each pump has its own `now`: run the fleet one pump at a time, then all at one `now`.
    for i, (p, r) in enumerate(zip(pumps, results, strict=True)):
        one = FleetPrograms(
            programs.period_days[i : i + 1],
            programs.step_start_days[i : i + 1],
            programs.step_rate_ml_per_day[i : i + 1],
        )
        accuracy = r.scenario.pump.accuracy
        ptm = r.forecast.ptm_ml_per_day
        bands = {
            "nominal": (1.0, 0.0),
            "earliest": (1 + accuracy, ptm * (1 + accuracy)),
            "latest": (1 - accuracy, 0.0),
        }
        for band, (factor, add) in bands.items():
            fleet = fleet_forecast(
                p["now"],
                [p["volume"]],
                [p["threshold"]],
                one,
                zones[i],
                factor=factor,
                add_ml_per_day=add,
            )
            low = getattr(r.forecast.low_reservoir_alarm, band)
            empty = getattr(r.forecast.empty, band)
            assert _close(fleet.instants("low")[0], low), (band, p)
            assert _close(fleet.instants("empty")[0], empty), (band, p)


def _close(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs((a - b).total_seconds()) <= 1.0


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/New_York"])
def test_random_fleet_matches_scalar_crossings(zone: str) -> None:
    """1,000 random pumps of the benchmark's kind, each against the scalar crossing walk."""
    programs, volume = random_fleet(1000, seed=7)
    now = datetime(2026, 3, 1, 5, 17, tzinfo=UTC)
    threshold = np.full(1000, 2.0)
    fleet = fleet_forecast(now, volume, threshold, programs, zone)
    clock = Clock(now, ZoneInfo(zone))
    for i in range(1000):
        program = scalar_program(programs, i)
        for budget, got in (
            (volume[i] - 2.0, fleet.low_reservoir_days[i]),
            (volume[i], fleet.empty_days[i]),
        ):
            ref = crossing_time(0.0, budget, program.cursor(clock, 0.0).segments(), 7305.0)
            assert ref is not None
            assert got == pytest.approx(ref, abs=1e-8), (i, budget)


def test_already_low_or_empty_is_now_and_never_is_inf() -> None:
    programs = FleetPrograms(np.ones(3), np.zeros((3, 1)), np.full((3, 1), 0.048))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    fleet = fleet_forecast(
        now, [1.0, 0.0, 40.0], [2.0, 2.0, 2.0], programs, "UTC", horizon_days=365.0
    )
    assert list(fleet.low_reservoir_days[:2]) == [0.0, 0.0]
    assert fleet.empty_days[1] == 0.0
    # 1 mL at 0.048 mL/day: empty after 1 / 0.048 = 20.8333 days.
    assert fleet.empty_days[0] == pytest.approx(1 / 0.048)
    # 40 mL at 0.048 mL/day lasts 833 days: beyond a one-year horizon.
    assert np.isinf(fleet.empty_days[2])
    assert fleet.instants("empty")[2] is None
