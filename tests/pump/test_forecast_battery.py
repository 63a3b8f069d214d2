"""The battery forecast (ERI) under a flex program: the closed form over whole cycles
(``_forecast._flex_battery_crossing``, the fleet forecast's arithmetic) equals the walk piece
by piece over the program on the pump's clock (``crossing_time``), which it replaced for
speed, across DST, with and without a motor stall at the start."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from openidds.pump._clock import Clock
from openidds.pump._forecast import _flex_battery_crossing
from openidds.pump._schedule import BasalProgram, Step, crossing_time, delayed, scaled

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


@st.composite
def flex_programs(draw: st.DrawFn) -> BasalProgram:
    period = draw(st.sampled_from(["day", "week"]))
    n = draw(st.integers(1, 6))
    minutes = sorted(set(draw(st.lists(st.integers(0, 24 * 60 - 1), min_size=n, max_size=n))))
    steps = []
    for m in minutes:
        weekday = draw(st.integers(0, 6)) if period == "week" else None
        rate = draw(st.floats(0.0, 2.0, allow_nan=False))
        steps.append(Step(weekday, time(m // 60, m % 60), rate))
    if period == "week":
        steps.sort(key=lambda s: (s.weekday or 0, s.at))
        unique = {(s.weekday, s.at): s for s in steps}
        steps = sorted(unique.values(), key=lambda s: (s.weekday or 0, s.at))
    return BasalProgram(period=period, steps=tuple(steps))


@settings(max_examples=150, deadline=None)
@given(
    program=flex_programs(),
    zone=st.sampled_from(ZONES),
    start_day=st.integers(0, 3000),
    budget_days=st.floats(0.0, 4000.0, allow_nan=False),
    days_per_ml=st.floats(0.0, 50.0, allow_nan=False),
    stall_days=st.one_of(st.none(), st.floats(0.0, 3.0, allow_nan=False)),
)
def test_flex_battery_crossing_equals_the_walk(
    program, zone, start_day, budget_days, days_per_ml, stall_days
):
    clock = Clock(datetime(2024, 1, 1, 7, 30, tzinfo=UTC), ZoneInfo(zone))
    t0 = start_day + 0.37
    horizon = t0 + 20 * 365.25
    stall_until = None if stall_days is None else t0 + stall_days
    flow = scaled(program.cursor(clock, t0).segments(), days_per_ml, 1.0)
    if stall_until is not None and stall_until > t0:
        flow = delayed(flow, stall_until, 1.0)
    walked = crossing_time(t0, budget_days, flow, horizon)
    closed = _flex_battery_crossing(
        clock, program, t0, budget_days, days_per_ml, stall_until, horizon
    )
    if walked is None:
        assert closed is None or closed > horizon - 1e-6
    else:
        assert closed is not None
        assert abs(closed - walked) * 86_400 < 1e-3  # within a millisecond
