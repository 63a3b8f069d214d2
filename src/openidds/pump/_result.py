"""The typed result of a replay, its queries, and the JSON of the spec's Result section."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ._clock import Clock, epoch_us, iso_utc
from ._forecast import Band, Forecast, compute_forecast, ptm_ml_per_day
from ._scenario import ALARM_KINDS as ALARM_KINDS
from ._scenario import Event, Scenario
from ._schedule import BasalProgram

if TYPE_CHECKING:
    from ._engine import Replay

RESULT_FORMAT = "openidds.result/1"
_DECIMALS = 9


def _r(value: float) -> float:
    """Round an output number to 1e-9 (1 ng, 1 nL) and drop negative zero."""
    return round(value, _DECIMALS) + 0.0


class RawAlarm(NamedTuple):
    t: float
    kind: str


@dataclass(frozen=True, slots=True)
class Alarm:
    at: datetime
    kind: str


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What became of one input event."""

    index: int
    at: datetime
    kind: str
    expected_ml: float | None = None
    discrepancy_ml: float | None = None
    granted: bool | None = None
    reason: str | None = None
    volume_ml: float | None = None
    """Volume a bolus, priming, bridge or granted PTM bolus was set to move (not in the JSON)."""

    @staticmethod
    def of(event: Event, **fields: Any) -> EventOutcome:
        return EventOutcome(index=event.index, at=event.at, kind=event.kind, **fields)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "at": iso_utc(self.at), "kind": self.kind}
        if self.kind in ("fill", "interrogation"):
            out["expected_ml"] = None if self.expected_ml is None else _r(self.expected_ml)
            out["discrepancy_ml"] = None if self.discrepancy_ml is None else _r(self.discrepancy_ml)
        elif self.kind == "ptm_request":
            out["granted"] = self.granted
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class DailyRow:
    """One local calendar day of the pump's clock (partial at the ends of the replay)."""

    date: date
    pumped_ml: float
    delivered_mg: dict[str, float]


@dataclass(frozen=True, slots=True)
class Totals:
    pumped_ml: float
    delivered_mg: dict[str, float]
    unaccounted_ml: float
    unaccounted_mg: dict[str, float]
    filled_ml: float
    filled_mg: dict[str, float]
    aspirated_ml: float
    aspirated_mg: dict[str, float]


@dataclass(frozen=True, slots=True)
class EndState:
    reservoir_ml: float
    reservoir_mg: dict[str, float]
    fluid_path_ml: float
    fluid_path_mg: dict[str, float]


class Log:
    """Breakpoints of the replay; between two of them every quantity is linear in time."""

    def __init__(self, n_drugs: int) -> None:
        self.n = n_drugs
        self.t: list[float] = []
        self.pumped: list[float] = []
        self.reservoir: list[float] = []
        self.conc: list[tuple[float, ...]] = []
        self.delivered: list[tuple[float, ...]] = []
        self.rate: list[float] = []

    def append(
        self,
        t: float,
        pumped: float,
        reservoir: float,
        conc: tuple[float, ...],
        delivered: list[float],
        rate: float,
    ) -> None:
        self.t.append(t)
        self.pumped.append(pumped)
        self.reservoir.append(reservoir)
        self.conc.append(conc)
        self.delivered.append(tuple(delivered))
        self.rate.append(rate)


@dataclass(slots=True)
class SimulationResult:
    """A replayed scenario: what the patient received, every alarm, and the forecast."""

    scenario: Scenario
    events: list[EventOutcome]
    alarms: list[Alarm]
    daily: list[DailyRow]
    totals: Totals
    end_state: EndState
    forecast: Forecast
    warnings: tuple[str, ...]
    program_at_end: BasalProgram | None
    """The basal program the forecast runs (``None``: stopped or never programmed)."""
    _clock: Clock = field(repr=False)
    _t: npt.NDArray[np.float64] = field(repr=False)
    _pumped: npt.NDArray[np.float64] = field(repr=False)
    _reservoir: npt.NDArray[np.float64] = field(repr=False)
    _rate: npt.NDArray[np.float64] = field(repr=False)
    _conc: npt.NDArray[np.float64] = field(repr=False)
    _delivered: npt.NDArray[np.float64] = field(repr=False)

    # -- queries -------------------------------------------------------------------------

    @property
    def drugs(self) -> tuple[str, ...]:
        return self.scenario.drugs

    def _days(self, at: datetime) -> float:
        if at.tzinfo is None:
            raise ValueError("give an aware datetime (with a time zone)")
        return self._clock.days_of(at)

    def _check_in_range(self, t: float, name: str) -> None:
        if t < -1e-12 or t > self._t[-1] + 1e-12:
            raise ValueError(
                f"{name} lies outside the replay [{iso_utc(self.scenario.start)}, "
                f"{iso_utc(self.scenario.end)}]"
            )

    def reservoir_ml_at(self, at: datetime) -> float:
        """Reservoir volume at an instant (after the events at that instant)."""
        t = self._days(at)
        self._check_in_range(t, "at")
        i = int(np.searchsorted(self._t, t, side="right")) - 1
        return max(float(self._reservoir[i] - self._rate[i] * (t - self._t[i])), 0.0)

    def reservoir_mg_at(self, at: datetime) -> dict[str, float]:
        """Amount of each drug in the reservoir at an instant."""
        t = self._days(at)
        volume = self.reservoir_ml_at(at)
        i = int(np.searchsorted(self._t, t, side="right")) - 1
        return {d: volume * float(self._conc[i, j]) for j, d in enumerate(self.drugs)}

    def pumped_ml_between(self, start: datetime, end: datetime) -> float:
        t1, t2 = self._days(start), self._days(end)
        self._check_in_range(t1, "start")
        self._check_in_range(t2, "end")
        return float(np.interp(t2, self._t, self._pumped) - np.interp(t1, self._t, self._pumped))

    def delivered_mg_between(self, start: datetime, end: datetime) -> dict[str, float]:
        """Drug that left the catheter tip in [start, end], in mg per drug."""
        t1, t2 = self._days(start), self._days(end)
        self._check_in_range(t1, "start")
        self._check_in_range(t2, "end")
        return {
            d: float(
                np.interp(t2, self._t, self._delivered[:, j])
                - np.interp(t1, self._t, self._delivered[:, j])
            )
            for j, d in enumerate(self.drugs)
        }

    def timeline(self) -> dict[str, Any]:
        """Breakpoints for plotting: instants, reservoir volume (mL) and pumping rate."""
        return {
            "at": [self._clock.instant(float(t)) for t in self._t],
            "reservoir_ml": [float(v) for v in self._reservoir],
            "rate_ml_per_day": [float(r) for r in self._rate],
        }

    # -- JSON ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Exactly the Result of ``scenario-v1.md``."""
        sc = self.scenario
        return {
            "format": RESULT_FORMAT,
            "scenario": {
                "name": sc.name,
                "start": iso_utc(sc.start),
                "end": iso_utc(sc.end),
                "timezone": sc.timezone_name,
            },
            "pump": {
                "model": sc.pump.model.id,
                "capacity_ml": _r(sc.pump.model.capacity_ml),
                "fluid_path_ml": _r(sc.pump.fluid_path_ml),
            },
            "events": [o.to_dict() for o in self.events],
            "alarms": [{"at": iso_utc(a.at), "kind": a.kind} for a in self.alarms],
            "daily": [
                {
                    "date": row.date.isoformat(),
                    "pumped_ml": _r(row.pumped_ml),
                    "delivered_mg": {d: _r(v) for d, v in row.delivered_mg.items()},
                }
                for row in self.daily
            ],
            "totals": {
                "pumped_ml": _r(self.totals.pumped_ml),
                "delivered_mg": {d: _r(v) for d, v in self.totals.delivered_mg.items()},
                "unaccounted_ml": _r(self.totals.unaccounted_ml),
                "unaccounted_mg": {d: _r(v) for d, v in self.totals.unaccounted_mg.items()},
            },
            "end_state": {
                "reservoir_ml": _r(self.end_state.reservoir_ml),
                "reservoir_mg": {d: _r(v) for d, v in self.end_state.reservoir_mg.items()},
            },
            "forecast": {
                "low_reservoir_alarm": _band(self.forecast.low_reservoir_alarm),
                "empty": _band(self.forecast.empty),
                "recommended_refill": iso_utc(self.forecast.recommended_refill),
                "eri": iso_utc(self.forecast.eri),
                "eos": iso_utc(self.forecast.eos),
            },
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def _band(band: Band) -> dict[str, str | None]:
    return {
        "nominal": iso_utc(band.nominal),
        "earliest": iso_utc(band.earliest),
        "latest": iso_utc(band.latest),
    }


def build_result(replay: Replay) -> SimulationResult:
    sc = replay.sc
    clock = replay.clock
    drugs = sc.drugs
    log = replay.log
    t = np.asarray(log.t, dtype=np.float64)
    pumped = np.asarray(log.pumped, dtype=np.float64)
    delivered = np.asarray(log.delivered, dtype=np.float64).reshape(len(log.t), len(drugs))
    conc = np.asarray(log.conc, dtype=np.float64).reshape(len(log.t), len(drugs))

    daily = _daily(clock, replay.end, drugs, t, pumped, delivered)
    alarms = [Alarm(clock.instant(a.t), a.kind) for a in sorted(replay.alarms, key=lambda a: a.t)]
    events = sorted(replay.outcomes, key=lambda o: o.index)

    path_ml = 0.0
    path_mg = [0.0] * len(drugs)
    for seg in replay.path:
        volume: float = seg[0]  # type: ignore[assignment]
        concs: tuple[float, ...] = seg[1]  # type: ignore[assignment]
        path_ml += volume
        for i, c in enumerate(concs):
            path_mg[i] += volume * c

    def named(values: list[float]) -> dict[str, float]:
        return {d: float(v) for d, v in zip(drugs, values, strict=True)}

    totals = Totals(
        pumped_ml=replay.cum_pumped,
        delivered_mg=named(replay.cum_deliv),
        unaccounted_ml=replay.unaccounted_ml,
        unaccounted_mg=named(replay.unaccounted_mg),
        filled_ml=replay.filled_ml,
        filled_mg=named(replay.filled_mg),
        aspirated_ml=replay.aspirated_ml,
        aspirated_mg=named(replay.aspirated_mg),
    )
    end_state = EndState(
        reservoir_ml=replay.res_v,
        reservoir_mg=named([replay.res_v * c for c in replay.res_c]),
        fluid_path_ml=path_ml,
        fluid_path_mg=named(path_mg),
    )
    st = replay.end_state()
    ptm = st.ptm
    ptm_daily = 0.0
    if ptm is not None and ptm.enabled:
        ptm_daily = ptm_ml_per_day(ptm.volume_ml, ptm.lockout_us / 86_400e6, ptm.max_per_24h)
    forecast = compute_forecast(
        clock=clock,
        pump=st.pump,
        t_end=st.t,
        reservoir_ml=st.reservoir_ml,
        program=st.program,
        eos=st.eos,
        stall_until=st.stall_until,
        ptm_volume_ml_per_day=ptm_daily,
        battery_left_days=st.battery_remaining_days,
        eri_at=st.eri_at,
        eos_at=st.eos_at,
        last_fill_at=st.last_fill_at,
        last_fill_stability_days=st.last_fill_stability_days,
    )
    return SimulationResult(
        scenario=sc,
        events=events,
        alarms=alarms,
        daily=daily,
        totals=totals,
        end_state=end_state,
        forecast=forecast,
        warnings=sc.warnings,
        program_at_end=st.program,
        _clock=clock,
        _t=t,
        _pumped=pumped,
        _reservoir=np.asarray(log.reservoir, dtype=np.float64),
        _rate=np.asarray(log.rate, dtype=np.float64),
        _conc=conc,
        _delivered=delivered,
    )


def _daily(
    clock: Clock,
    end: float,
    drugs: tuple[str, ...],
    t: npt.NDArray[np.float64],
    pumped: npt.NDArray[np.float64],
    delivered: npt.NDArray[np.float64],
) -> list[DailyRow]:
    if end <= 0:
        return []
    first = clock.local_date(0.0)
    last = clock.local_date(end - 1e-9)
    days: list[date] = []
    d = first
    while d <= last:
        days.append(d)
        d += timedelta(days=1)
    bounds = [clock.wall_days(d, time(0, 0)) for d in days]
    bounds.append(clock.wall_days(last + timedelta(days=1), time(0, 0)))
    edges = np.clip(np.asarray(bounds, dtype=np.float64), 0.0, end)
    cum_p = np.interp(edges, t, pumped)
    per_drug = [np.interp(edges, t, delivered[:, j]) for j in range(len(drugs))]
    # Differences as Python floats in one pass each (the same subtractions, element by
    # element, as indexing the arrays day by day, without a numpy scalar per value).
    pumped_per_day: list[float] = np.diff(cum_p).tolist()
    delivered_per_day: list[list[float]] = [np.diff(c).tolist() for c in per_drug]
    return [
        DailyRow(
            date=day,
            pumped_ml=pumped_per_day[i],
            delivered_mg={drug: delivered_per_day[j][i] for j, drug in enumerate(drugs)},
        )
        for i, day in enumerate(days)
    ]


__all__ = [
    "ALARM_KINDS",
    "RESULT_FORMAT",
    "Alarm",
    "DailyRow",
    "EndState",
    "EventOutcome",
    "SimulationResult",
    "Totals",
    "epoch_us",
]
