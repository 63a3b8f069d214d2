"""The forecast from the end of the replay (spec: Forecast)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from ._clock import Clock
from ._scenario import RELATIVE_TOLERANCE, Pump
from ._schedule import BasalProgram, crossing_time, delayed, scaled

HORIZON_DAYS = 20 * 365.25
"""Crossings later than 20 years after ``end`` are reported as ``null``."""


@dataclass(frozen=True, slots=True)
class Band:
    """One forecast instant under nominal, fastest (earliest) and slowest (latest) flow."""

    nominal: datetime | None
    earliest: datetime | None
    latest: datetime | None


@dataclass(frozen=True, slots=True)
class Forecast:
    low_reservoir_alarm: Band
    empty: Band
    recommended_refill: datetime | None
    eri: datetime | None
    eos: datetime | None
    ptm_ml_per_day: float
    """The PTM's largest sustained daily volume used for ``earliest`` (0 without PTM)."""


def ptm_ml_per_day(volume_ml: float, lockout_days: float, max_per_24h: int) -> float:
    """Spec: volume × min(max_per_24h, 24 h / lockout) a day (max_per_24h at zero lockout)."""
    per_day = float(max_per_24h) if lockout_days <= 0 else min(max_per_24h, 1.0 / lockout_days)
    return volume_ml * per_day


def compute_forecast(
    *,
    clock: Clock,
    pump: Pump,
    t_end: float,
    reservoir_ml: float,
    program: BasalProgram | None,
    eos: bool,
    stall_until: float | None,
    ptm_volume_ml_per_day: float,
    battery_left_days: float | None,
    eri_at: float | None,
    eos_at: float | None,
    last_fill_at: float | None,
    last_fill_stability_days: float | None,
) -> Forecast:
    horizon = t_end + HORIZON_DAYS
    accuracy = pump.accuracy
    moving = program is not None and not eos

    def pieces(factor: float, add: float) -> Iterator[tuple[float, float]]:
        assert program is not None
        base = scaled(program.cursor(clock, t_end).segments(), factor, add)
        if stall_until is not None and stall_until > t_end:
            return delayed(base, stall_until, 0.0)
        return base

    def when(budget: float, already: bool, factor: float, add: float) -> datetime | None:
        if already:
            return clock.instant(t_end)
        if not moving:
            return None
        t = crossing_time(t_end, budget, pieces(factor, add), horizon)
        return None if t is None else clock.instant(t)

    low_ml = pump.low_reservoir_alarm_ml
    low_now = reservoir_ml <= low_ml * (1 + RELATIVE_TOLERANCE)
    empty_now = reservoir_ml <= 0.0
    bands = {
        "nominal": (1.0, 0.0),
        "earliest": (1.0 + accuracy, ptm_volume_ml_per_day * (1.0 + accuracy)),
        "latest": (1.0 - accuracy, 0.0),
    }
    low = Band(*(when(reservoir_ml - low_ml, low_now, f, a) for f, a in bands.values()))
    empty = Band(*(when(reservoir_ml, empty_now, f, a) for f, a in bands.values()))

    candidates: list[datetime] = []
    if low.earliest is not None:
        candidates.append(low.earliest)
    if last_fill_at is not None and last_fill_stability_days is not None:
        candidates.append(clock.instant(last_fill_at + last_fill_stability_days))
    recommended = min(candidates) if candidates else None

    eri: datetime | None = None
    eos_instant: datetime | None = None
    battery = pump.battery
    if battery is not None:
        if eri_at is not None:
            eri = clock.instant(eri_at)
            assert eos_at is not None
            eos_instant = clock.instant(eos_at)
        elif battery_left_days is not None:
            k = battery.days_per_ml
            if program is not None and program.is_flex:
                t_eri = _flex_battery_crossing(
                    clock, program, t_end, battery_left_days, k, stall_until, horizon
                )
            else:
                if program is None:
                    flow: Iterator[tuple[float, float]] = iter([(float("inf"), 1.0)])
                else:
                    flow = scaled(program.cursor(clock, t_end).segments(), k, 1.0)
                    if stall_until is not None and stall_until > t_end:
                        flow = delayed(flow, stall_until, 1.0)
                t_eri = crossing_time(t_end, battery_left_days, flow, horizon)
            if t_eri is not None:
                eri = clock.instant(t_eri)
                t_eos = t_eri + battery.eos_after_eri_days
                eos_instant = clock.instant(t_eos) if t_eos <= horizon else None
    if eos_instant is not None:
        # the pump stops at EOS: a reservoir date after it does not happen (issue 9)
        low, empty = _until(low, eos_instant), _until(empty, eos_instant)
        candidates = [low.earliest] if low.earliest is not None else []
        if last_fill_at is not None and last_fill_stability_days is not None:
            candidates.append(clock.instant(last_fill_at + last_fill_stability_days))
        recommended = min(candidates) if candidates else None
    return Forecast(
        low_reservoir_alarm=low,
        empty=empty,
        recommended_refill=recommended,
        eri=eri,
        eos=eos_instant,
        ptm_ml_per_day=ptm_volume_ml_per_day,
    )


def _flex_battery_crossing(
    clock: Clock,
    program: BasalProgram,
    t0: float,
    budget_days: float,
    days_per_ml: float,
    stall_until: float | None,
    horizon: float,
) -> float | None:
    """When the battery budget runs out under a flex program: each day costs one day plus
    ``days_per_ml`` per mL pumped (while stalled, one day a day).

    Walking a flex program piece by piece up to the ERI, years ahead, cost a replay most of
    its time; this is the fleet forecast's closed form over whole cycles, exact across DST
    on the pump's clock (``openidds.pump.fleet``), applied to the rates × ``days_per_ml`` + 1.
    """
    from .fleet import FleetPrograms, fleet_forecast

    if budget_days <= 0:
        return t0
    start = t0
    if stall_until is not None and stall_until > t0:
        stalled = stall_until - t0
        if budget_days <= stalled:
            result = t0 + budget_days
            return result if result <= horizon else None
        budget_days -= stalled
        start = stall_until
    if start >= horizon:
        return None
    forecast = fleet_forecast(
        clock.instant(start),
        [budget_days],
        [0.0],
        FleetPrograms.from_programs([program]),
        clock.tz.key,
        factor=days_per_ml,
        add_ml_per_day=1.0,
        horizon_days=horizon - start,
    )
    days = float(forecast.empty_days[0])
    if not math.isfinite(days):
        return None
    result = start + days
    return result if result <= horizon else None


def _until(band: Band, eos: datetime) -> Band:
    """The band with every date after ``eos`` (when the pump stops) dropped."""
    values = (band.nominal, band.earliest, band.latest)
    return Band(*(None if v is not None and v > eos else v for v in values))
