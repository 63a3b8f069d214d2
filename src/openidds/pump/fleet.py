"""Vectorised forecast of low-reservoir and empty times for a whole fleet of pumps.

For N pumps, each with its reservoir volume now, its low-reservoir threshold and its basal
program (continuous, or flex by day or week on the pump's wall clock), :func:`fleet_forecast`
returns the exact instants at which the reservoir reaches the threshold and zero under the
basal program alone. It is the same arithmetic as the scalar engine's forecast
(:func:`openidds.pump._schedule.crossing_time`), done for all pumps at once with numpy:

* A program is a cycle of period P (1 or 7 days) of constant-rate pieces. The cumulative
  volume over the cycle is a piecewise-linear function C; the crossing of a budget B from
  phase φ is at n·P + C⁻¹(rem) − φ where n·Vc + rem = C(φ) + B.
* Daylight saving time is exact: time is cut at each transition of each pump's zone; between
  two transitions the offset is fixed and the closed form holds. After a fall-back
  transition the repeated wall-clock hour keeps the rate in force (a step start that occurs
  twice takes effect at its first occurrence only), and after a spring-forward gap the
  steps that fell into the gap are in force (they take effect at the first instant after
  it), as in the scalar engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from ._clock import epoch_us
from ._forecast import HORIZON_DAYS
from ._schedule import BasalProgram

FloatArray = npt.NDArray[np.float64]
_SECONDS_PER_DAY = 86_400.0
_MONDAY_OFFSET_DAYS = 3.0
_CHUNK = 1 << 15  # 1970-01-01 was a Thursday: (days + 3) mod 7 counts from Monday


@dataclass(frozen=True, slots=True)
class FleetPrograms:
    """N basal programs as padded arrays.

    ``period_days``: (N,) 1.0 for continuous and daily flex, 7.0 for weekly flex.
    ``step_start_days``: (N, S) start of each step within the period (days from local
    midnight, or from Monday 00:00 for weekly), increasing; padding entries equal the period.
    ``step_rate_ml_per_day``: (N, S) the rate from that step's start; padding entries repeat
    the last real rate. Every real rate must be above zero.
    """

    period_days: FloatArray
    step_start_days: FloatArray
    step_rate_ml_per_day: FloatArray

    def __post_init__(self) -> None:
        n, s = self.step_start_days.shape
        if self.period_days.shape != (n,) or self.step_rate_ml_per_day.shape != (n, s):
            raise ValueError("period_days (N,), step_start_days and step_rate (N, S) disagree")

    def __len__(self) -> int:
        return int(self.period_days.shape[0])

    @staticmethod
    def from_programs(programs: Sequence[BasalProgram]) -> FleetPrograms:
        """Build from the engine's programs (convenient; the arrays are faster to build)."""
        n = len(programs)
        width = max((len(p.steps) for p in programs), default=1)
        period = np.ones(n)
        starts = np.ones((n, width))
        rates = np.zeros((n, width))
        for i, program in enumerate(programs):
            if program.period == "week":
                period[i] = 7.0
            for j, step in enumerate(program.steps):
                day = (step.weekday or 0) if program.period == "week" else 0
                starts[i, j] = (
                    day + (step.at.hour * 3600 + step.at.minute * 60) / _SECONDS_PER_DAY
                    if program.is_flex
                    else 0.0
                )
                rates[i, j] = step.rate_ml_per_day
            starts[i, len(program.steps) :] = period[i]
            rates[i, len(program.steps) :] = program.steps[-1].rate_ml_per_day
        return FleetPrograms(period, starts, rates)


@dataclass(frozen=True, slots=True)
class FleetForecast:
    """Days from ``now`` to the low-reservoir alarm and to empty (``inf``: not within the
    horizon of 20 years). Zero where the condition already holds."""

    now: datetime
    low_reservoir_days: FloatArray
    empty_days: FloatArray

    def instants(self, which: str = "empty") -> list[datetime | None]:
        days = self.empty_days if which == "empty" else self.low_reservoir_days
        return [
            None if not np.isfinite(d) else self.now + timedelta(microseconds=round(d * 864e8))
            for d in days
        ]


def fleet_forecast(
    now: datetime,
    reservoir_ml: npt.ArrayLike,
    threshold_ml: npt.ArrayLike,
    programs: FleetPrograms,
    timezones: str | Sequence[str] = "UTC",
    *,
    factor: float | npt.ArrayLike = 1.0,
    add_ml_per_day: float | npt.ArrayLike = 0.0,
    horizon_days: float = HORIZON_DAYS,
) -> FleetForecast:
    """Low-reservoir and empty times for N pumps at once (see the module docstring).

    ``factor`` and ``add_ml_per_day`` scale every rate to rate × factor + add, which gives the
    spec's ``earliest`` (1 + accuracy, PTM volume) and ``latest`` (1 − accuracy) bands.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    volume = np.asarray(reservoir_ml, dtype=np.float64)
    threshold = np.asarray(threshold_ml, dtype=np.float64)
    n = len(programs)
    if volume.shape != (n,) or threshold.shape != (n,):
        raise ValueError("reservoir_ml and threshold_ml must have one value per pump")
    scale = np.broadcast_to(np.asarray(factor, dtype=np.float64), (n,))
    add = np.broadcast_to(np.asarray(add_ml_per_day, dtype=np.float64), (n,))
    zones: npt.NDArray[np.str_] | None = None
    if not isinstance(timezones, str):
        zones = np.asarray(timezones)
        if zones.shape != (n,):
            raise ValueError("timezones: one name per pump, or one name for all")
    low_now = volume <= threshold * (1 + 1e-9)
    budgets = np.stack([np.where(low_now, 0.0, volume - threshold), np.maximum(volume, 0.0)], 1)
    days = np.empty((n, 2))
    # Chunks keep the working set in cache and reuse the same memory from chunk to chunk.
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        chunk = FleetPrograms(
            programs.period_days[lo:hi],
            programs.step_start_days[lo:hi],
            programs.step_rate_ml_per_day[lo:hi],
        )
        cycle = _Cycle(chunk, scale[lo:hi], add[lo:hi])
        chunk_zones = timezones if zones is None else [str(z) for z in zones[lo:hi]]
        days[lo:hi] = _solve(cycle, now, budgets[lo:hi], chunk_zones, horizon_days)
    return FleetForecast(now=now, low_reservoir_days=days[:, 0], empty_days=days[:, 1])


class _Cycle:
    """Cumulative volume over one period for every pump: boundaries b and values C.

    Arrays are step-major, (segments, pumps), so that every operation along the steps is a
    loop of at most 12 contiguous vector operations over the pumps.
    """

    def __init__(self, programs: FleetPrograms, scale: FloatArray, add: FloatArray) -> None:
        period = programs.period_days
        starts = np.ascontiguousarray(programs.step_start_days.T)
        rates = np.ascontiguousarray(programs.step_rate_ml_per_day.T) * scale + add
        s, n = starts.shape
        # Segments: [0, s0) at the last step's rate (the cycle wraps), then [s_j, s_j+1).
        last_index = (np.count_nonzero(starts < period, axis=0) - 1).clip(0)
        self.bounds = np.empty((s + 2, n))
        self.bounds[0] = 0.0
        self.bounds[1 : s + 1] = starts
        self.bounds[s + 1] = period
        self.rates = np.empty((s + 1, n))
        self.rates[0] = rates.reshape(-1)[last_index * n + np.arange(n)]
        self.rates[1:] = rates
        self.cum = np.zeros((s + 2, n))
        for j in range(s + 1):
            self.cum[j + 1] = self.cum[j] + self.rates[j] * (self.bounds[j + 1] - self.bounds[j])
        self.period = period
        self.per_cycle = self.cum[-1]
        self.cols = np.arange(n)

    def take(self, idx: npt.NDArray[np.intp]) -> _Cycle:
        if idx.shape[0] == self.bounds.shape[1]:
            return self  # every pump: no copy
        sub = object.__new__(_Cycle)
        sub.bounds = self.bounds[:, idx]
        sub.rates = self.rates[:, idx]
        sub.cum = self.cum[:, idx]
        sub.period = self.period[idx]
        sub.per_cycle = sub.cum[-1]
        sub.cols = np.arange(idx.shape[0])
        return sub

    def _pick(self, k: npt.NDArray[np.intp]) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Rate, start and cumulative volume of segment k of every pump."""
        cols = self.cols
        return self.rates[k, cols], self.bounds[k, cols], self.cum[k, cols]

    def _segment(self, table: FloatArray, value: FloatArray) -> npt.NDArray[np.intp]:
        """Index of the segment whose interior boundary values are <= value."""
        k = np.zeros(value.shape[0], dtype=np.intp)
        for row in table[1:-1]:
            k += row <= value
        return k

    def at(self, phase: FloatArray) -> tuple[FloatArray, FloatArray]:
        """C(phase) and the rate in force at phase."""
        rate, base, cum = self._pick(self._segment(self.bounds, phase))
        return cum + rate * (phase - base), rate

    def inverse(self, value: FloatArray) -> FloatArray:
        """The phase x in [0, P) at which C(x) = value (value in [0, Vc))."""
        rate, base, cum = self._pick(self._segment(self.cum, value))
        return base + (value - cum) / rate


def _advance(
    cycle: _Cycle, phase: FloatArray, budget: FloatArray, length_days: float
) -> tuple[FloatArray, FloatArray]:
    """From ``phase`` with a fixed clock offset, for budgets (m, B): days until each budget
    is used (inf when not within ``length_days``) and the volume used over the interval."""
    c_phase, _ = cycle.at(phase)
    elapsed = np.empty_like(budget)
    for b in range(budget.shape[1]):
        target = c_phase + budget[:, b]
        cycles = np.floor(target / cycle.per_cycle)
        rem = target - cycles * cycle.per_cycle
        over = rem >= cycle.per_cycle  # guard the floor against rounding: rem in [0, Vc)
        cycles[over] += 1
        rem[over] -= cycle.per_cycle[over]
        elapsed[:, b] = cycles * cycle.period + cycle.inverse(np.maximum(rem, 0.0)) - phase
    np.maximum(elapsed, 0.0, out=elapsed)
    crossed = elapsed <= length_days
    end = phase + length_days
    end_cycles = np.floor(end / cycle.period)
    c_end, _ = cycle.at(end - end_cycles * cycle.period)
    used = (end_cycles * cycle.per_cycle + c_end - c_phase)[:, None]
    return np.where(crossed, elapsed, np.inf), np.where(crossed, budget, used)


def _phase(epoch_s: float, offset_s: float, period: FloatArray) -> FloatArray:
    local_days = (epoch_s + offset_s) / _SECONDS_PER_DAY
    weekly = period > 1.0
    phase: FloatArray = np.full(period.shape, local_days % 1.0)
    phase[weekly] = (local_days + _MONDAY_OFFSET_DAYS) % 7.0
    return phase


@lru_cache(maxsize=256)
def _transitions(zone: str, start_s: int, end_s: int) -> tuple[tuple[int, int, int], ...]:
    """(instant, offset before, offset after) of each UTC-offset change in [start, end)."""
    tz = ZoneInfo(zone)

    def offset(second: int) -> int:
        value = datetime.fromtimestamp(second, UTC).astimezone(tz).utcoffset()
        return int(value.total_seconds()) if value is not None else 0

    out: list[tuple[int, int, int]] = []
    if zone == "UTC":
        return ()
    step = 7 * 86_400  # offset changes of a zone are months apart
    t = start_s
    current = offset(t)
    while t < end_s:
        nxt = min(t + step, end_s)
        after = offset(nxt)
        if after != current:
            lo, hi = t, nxt
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == current:
                    lo = mid
                else:
                    hi = mid
            out.append((hi, current, after))
            current = after
            t = hi
            continue
        t = nxt
    return tuple(out)


def _solve(
    cycle: _Cycle,
    now: datetime,
    budget: FloatArray,
    timezones: str | Sequence[str],
    horizon_days: float,
) -> FloatArray:
    """Days from ``now`` until each budget (N, B) of volume is used; inf beyond the horizon."""
    n = budget.shape[0]
    result = np.full(budget.shape, np.inf)
    now_s = epoch_us(now) / 1e6
    if isinstance(timezones, str):
        groups = {timezones: np.arange(n)}  # take() of every pump copies nothing
    else:
        names = np.asarray(timezones)
        if names.shape != (n,):
            raise ValueError("timezones: one name per pump, or one name for all")
        groups = {str(z): np.flatnonzero(names == z) for z in np.unique(names)}
    end_s = now_s + horizon_days * _SECONDS_PER_DAY
    for zone, idx in groups.items():
        result[idx] = _solve_zone(cycle.take(idx), now_s, budget[idx], zone, end_s)
    result[result > horizon_days] = np.inf
    return result


def _solve_zone(
    cycle: _Cycle, now_s: float, budget: FloatArray, zone: str, end_s: float
) -> FloatArray:
    tz = ZoneInfo(zone)
    out = np.where(budget <= 0, 0.0, np.inf)
    left = budget.copy()
    active = np.flatnonzero((budget > 0).any(axis=1))
    offset_now = datetime.fromtimestamp(now_s, UTC).astimezone(tz).utcoffset()
    offset = offset_now.total_seconds() if offset_now is not None else 0.0
    t = now_s
    cuts = list(_transitions(zone, int(np.floor(now_s)) + 1, int(np.ceil(end_s)) + 1))
    cuts.append((int(np.ceil(end_s)) + 1, int(offset), int(offset)))
    for cut, before, after in cuts:
        if active.size == 0:
            break
        sub = cycle.take(active)
        since = (t - now_s) / _SECONDS_PER_DAY
        phase = _phase(t, offset, sub.period)
        open_ = left[active] > 0
        elapsed, used = _advance(sub, phase, left[active], max(cut - t, 0.0) / _SECONDS_PER_DAY)
        done = np.isfinite(elapsed) & open_
        block = out[active]
        block[done] = since + elapsed[done]
        out[active] = block
        left[active] = np.where(open_, left[active] - used, 0.0)
        left[active[np.isfinite(elapsed).all(axis=1)]] = 0.0
        t, offset = float(cut), float(after)
        if after < before:
            # Fall back: the wall clock repeats (before - after) seconds; no step fires again,
            # so the rate in force just before the transition holds through the repetition.
            active = np.flatnonzero((left > 0).any(axis=1))
            sub = cycle.take(active)
            _, rate = sub.at(_phase(t - 1e-6, float(before), sub.period))
            span_days = (before - after) / _SECONDS_PER_DAY
            need = left[active] / rate[:, None]
            done = (need <= span_days) & (left[active] > 0)
            since = (t - now_s) / _SECONDS_PER_DAY
            block = out[active]
            block[done] = since + need[done]
            out[active] = block
            left[active] = np.where(done, 0.0, left[active] - rate[:, None] * span_days)
            t += before - after
        active = np.flatnonzero((left > 0).any(axis=1))
    return out


__all__ = ["FleetForecast", "FleetPrograms", "fleet_forecast"]
