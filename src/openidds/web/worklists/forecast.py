"""The fleet forecast over a clinic's snapshots, all pumps at once (numpy).

Each snapshot holds the reservoir at its own ``as_of`` and the program in force. To
forecast from one instant ``now`` for every pump, the volume each program pumps from its
``as_of`` to ``now`` is computed here, vectorised and exact on the pump's clock (DST
included, with the same conventions as ``openidds.pump.fleet``: after a fall-back
transition the repeated hour keeps the rate in force; steps in a spring-forward gap take
effect at the first instant after it). Then ``openidds.pump.fleet.fleet_forecast`` gives
the low-reservoir and empty instants (nominal, and the earliest band that sets the
recommended refill, as the twin does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from openidds.pump.fleet import FleetPrograms, fleet_forecast

FloatArray = npt.NDArray[np.float64]
_DAY_S = 86_400.0
_MONDAY = 3.0  # 1970-01-01 was a Thursday


@dataclass(frozen=True)
class PumpRow:
    """What the forecast needs of one snapshot (``period`` "": no program)."""

    as_of: datetime
    reservoir_ml: float
    threshold_ml: float
    period: str  # "", "continuous", "day", "week"
    step_start_days: Sequence[float]
    step_rate_ml_per_day: Sequence[float]
    time_zone: str
    accuracy: float = 0.0
    ptm_ml_per_day: float = 0.0
    eos_at: datetime | None = None
    stability_until: datetime | None = None


@dataclass(frozen=True)
class FleetResult:
    """Per pump: reservoir at ``now`` (None without numbers), and instants (None: never
    within the horizon, or no program)."""

    now: datetime
    reservoir_ml: list[float | None]
    low_reservoir_at: list[datetime | None]
    empty_at: list[datetime | None]
    recommended_refill_at: list[datetime | None]


def programs_of(rows: Sequence[PumpRow]) -> FleetPrograms:
    """Padded arrays of the rows' programs (rows without a program get a dummy step)."""
    n = len(rows)
    width = max((len(r.step_start_days) for r in rows), default=1) or 1
    period = np.ones(n)
    starts = np.ones((n, width))
    rates = np.ones((n, width))
    for i, row in enumerate(rows):
        if row.period == "week":
            period[i] = 7.0
        k = len(row.step_start_days)
        if k == 0:
            starts[i, 0] = 0.0
            starts[i, 1:] = period[i]
            continue
        starts[i, :k] = row.step_start_days
        rates[i, :k] = row.step_rate_ml_per_day
        starts[i, k:] = period[i]
        rates[i, k:] = row.step_rate_ml_per_day[-1]
    return FleetPrograms(period, starts, rates)


class _Cumulative:
    """C(x): volume pumped from local day 0 (or Monday 00:00) to local day x, for all pumps."""

    def __init__(self, programs: FleetPrograms) -> None:
        period = programs.period_days
        starts = programs.step_start_days
        rates = programs.step_rate_ml_per_day
        n, s = starts.shape
        real = starts < period[:, None]
        last = (real.sum(axis=1) - 1).clip(0)
        self.bounds = np.empty((n, s + 2))
        self.bounds[:, 0] = 0.0
        self.bounds[:, 1 : s + 1] = starts
        self.bounds[:, s + 1] = period
        self.rates = np.empty((n, s + 1))
        self.rates[:, 0] = rates[np.arange(n), last]
        self.rates[:, 1:] = rates
        widths = np.diff(self.bounds, axis=1)
        self.cum = np.zeros((n, s + 2))
        self.cum[:, 1:] = np.cumsum(self.rates * widths, axis=1)
        self.period = period
        self.per_cycle = self.cum[:, -1]

    def rate_at(self, idx: npt.NDArray[np.intp], phase: FloatArray) -> FloatArray:
        k = (self.bounds[idx, 1:-1] <= phase[:, None]).sum(axis=1)
        return self.rates[idx, k]

    def total(self, idx: npt.NDArray[np.intp], local_days: FloatArray) -> FloatArray:
        """Volume from the epoch's local day 0 (Monday for weekly) to local_days."""
        period = self.period[idx]
        x = np.where(period > 1.0, local_days + _MONDAY, local_days)
        cycles = np.floor(x / period)
        phase = x - cycles * period
        k = (self.bounds[idx, 1:-1] <= phase[:, None]).sum(axis=1)
        within = self.cum[idx, k] + self.rates[idx, k] * (phase - self.bounds[idx, k])
        result: FloatArray = cycles * self.per_cycle[idx] + within
        return result

    def phase(self, idx: npt.NDArray[np.intp], local_days: FloatArray) -> FloatArray:
        period = self.period[idx]
        x = np.where(period > 1.0, local_days + _MONDAY, local_days)
        result: FloatArray = x - np.floor(x / period) * period
        return result


def _offsets(zone: str, start_s: float, end_s: float) -> tuple[float, list[tuple[float, float]]]:
    """The UTC offset (s) at start and every (instant, new offset) change up to end."""
    tz = ZoneInfo(zone)

    def offset(second: float) -> float:
        value = datetime.fromtimestamp(second, UTC).astimezone(tz).utcoffset()
        return value.total_seconds() if value is not None else 0.0

    first = offset(start_s)
    changes: list[tuple[float, float]] = []
    if zone == "UTC":
        return first, changes
    current = first
    t = float(np.floor(start_s))
    step = 7 * _DAY_S
    while t < end_s:
        nxt = min(t + step, float(np.ceil(end_s)))
        after = offset(nxt)
        if after != current:
            lo, hi = t, nxt
            while hi - lo > 1:
                mid = float((lo + hi) // 2)
                if offset(mid) == current:
                    lo = mid
                else:
                    hi = mid
            changes.append((hi, after))
            current = after
            t = hi
            continue
        if nxt <= t:
            break
        t = nxt
    return first, changes


def pumped_ml(
    programs: FleetPrograms, zones: Sequence[str], t_from: FloatArray, t_to: FloatArray
) -> FloatArray:
    """Volume (mL) each basal program pumps from t_from to t_to (epoch seconds, per pump;
    nothing where t_to <= t_from), on each pump's wall clock."""
    n = len(programs)
    out = np.zeros(n)
    if n == 0:
        return out
    cum = _Cumulative(programs)
    names = np.asarray(zones)
    for zone in np.unique(names):
        idx = np.flatnonzero((names == zone) & (t_to > t_from))
        if idx.size == 0:
            continue
        lo, hi = t_from[idx], t_to[idx]
        first, changes = _offsets(str(zone), float(lo.min()), float(hi.max()))
        # offset of each pump at its t_from
        cut_times = np.array([c for c, _ in changes])
        after = np.array([first] + [o for _, o in changes])
        position = (
            np.searchsorted(cut_times, lo, side="right")
            if changes
            else np.zeros(idx.size, dtype=np.intp)
        )
        offset = after[position]
        t = lo.copy()
        volume = np.zeros(idx.size)
        for cut, new in changes:
            inside = (t < cut) & (cut < hi)
            if not inside.any():
                continue
            sel = idx[inside]
            volume[inside] += cum.total(sel, (cut + offset[inside]) / _DAY_S) - cum.total(
                sel, (t[inside] + offset[inside]) / _DAY_S
            )
            before = offset[inside]
            repeat = before - new  # > 0: the wall clock falls back and repeats
            rate = cum.rate_at(sel, cum.phase(sel, (cut - 1e-6 + before) / _DAY_S))
            span = np.clip(np.minimum(repeat, hi[inside] - cut), 0.0, None)
            volume[inside] += rate * span / _DAY_S
            t[inside] = np.where(repeat > 0, np.minimum(cut + repeat, hi[inside]), cut)
            offset[inside] = new
        volume += cum.total(idx, (hi + offset) / _DAY_S) - cum.total(idx, (t + offset) / _DAY_S)
        out[idx] = np.maximum(volume, 0.0)
    return out


def _epoch_s(values: Sequence[datetime]) -> FloatArray:
    return np.array([v.timestamp() for v in values], dtype=np.float64)


def forecast(rows: Sequence[PumpRow], now: datetime) -> FleetResult:
    """Reservoir at ``now``, low-reservoir (nominal), empty (nominal) and recommended refill
    (min of the low-reservoir alarm's earliest band and the fill's stability limit), for
    every pump at once; pumps past EOS at ``now`` or without a program move no more."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    n = len(rows)
    if n == 0:
        return FleetResult(now, [], [], [], [])
    programs = programs_of(rows)
    zones = [r.time_zone for r in rows]
    moving = np.array([bool(r.period) for r in rows])
    now_s = now.timestamp()
    eos_s = np.array([r.eos_at.timestamp() if r.eos_at else np.inf for r in rows])
    as_of_s = _epoch_s([r.as_of for r in rows])
    until = np.minimum(np.maximum(as_of_s, now_s), eos_s)
    until = np.where(moving, until, as_of_s)
    volume0 = np.array([r.reservoir_ml for r in rows], dtype=np.float64)
    volume = np.maximum(volume0 - pumped_ml(programs, zones, as_of_s, until), 0.0)
    threshold = np.array([r.threshold_ml for r in rows], dtype=np.float64)
    alive = moving & (eos_s > now_s)
    # Pumps without a program: a harmless rate; their instants are discarded below.
    nominal = fleet_forecast(now, volume, threshold, programs, zones)
    accuracy = np.array([r.accuracy for r in rows])
    ptm = np.array([r.ptm_ml_per_day for r in rows])
    earliest = fleet_forecast(
        now,
        volume,
        threshold,
        programs,
        zones,
        factor=1.0 + accuracy,
        add_ml_per_day=ptm * (1.0 + accuracy),
    )
    low_now = volume <= threshold * (1 + 1e-9)
    empty_now = volume <= 0.0

    def instant(days: float) -> datetime | None:
        if not np.isfinite(days):
            return None
        return now + timedelta(microseconds=round(float(days) * 864e8))

    lows: list[datetime | None] = []
    empties: list[datetime | None] = []
    refills: list[datetime | None] = []
    reservoirs: list[float | None] = []
    for i, row in enumerate(rows):
        reservoirs.append(float(volume[i]))
        if alive[i] or low_now[i]:
            low = instant(nominal.low_reservoir_days[i]) if alive[i] else now
            early = instant(earliest.low_reservoir_days[i]) if alive[i] else now
        else:
            low = early = None
        if alive[i] or empty_now[i]:
            empty = instant(nominal.empty_days[i]) if alive[i] else now
        else:
            empty = None
        candidates = [c for c in (early, row.stability_until) if c is not None]
        lows.append(low)
        empties.append(empty)
        refills.append(min(candidates) if candidates else None)
    return FleetResult(now, reservoirs, lows, empties, refills)
