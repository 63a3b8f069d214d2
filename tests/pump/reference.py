"""A deliberately simple, slow, brute-force reference simulator of the pump twin.

Written from ``shared/spec/scenario-v1.md`` only (not from the engine's code), to check the
exact engine on random scenarios. It walks a fixed time grid (one minute by default):

* every input event must fall on the grid (``Unsupported`` otherwise), and so must every
  end of a bolus / PTM / priming window and of an MRI stall (durations are whole steps);
* the basal rate of a step is the rate in force at the step's start; flex programs are
  evaluated on the wall clock of the scenario's zone with :mod:`zoneinfo`, minute by minute
  (see :meth:`Reference._flex_key`);
* the reservoir is a volume with concentrations (well mixed); the fluid path is a FIFO
  (``deque``) of parcels, one parcel per step (merged when the concentration is the same);
* the two crossings that are not on the grid by nature are handled inside the step: an
  empty reservoir (the step pumps only what is left, then nothing moves) and the end of a
  bridge bolus (the step is split where ``fluid_path_ml`` has left the tip). The low and
  empty alarm instants are interpolated inside their step.

Error bound (why the comparison tolerances in ``test_reference.py`` are what they are). On
a step of length h the reference integrates the rate as constant at its value at the step
start (left rectangle rule). Where the true rate is piecewise constant with all its jumps on
the grid this is exact. Every jump of size Δr at an instant *off* the grid makes an error of
at most h·|Δr| ≤ h·r_max in the cumulated pumped volume (r_max = basal max + all additive
bolus rates then running), and such errors only add up (volume is never amplified: what is
pumped leaves the reservoir once and the FIFO passes it on unchanged), so at any grid instant

    |pumped_engine − pumped_reference| ≤ n_off · h · r_max,

and the same bound times the largest concentration holds for delivered mg. A daily value is
a difference of two cumulated values, hence at most twice that. With this simulator and the
grid-aligned scenarios of ``strategies.scenarios(minute_grid=True)``, n_off = 0: the only
off-grid jumps (empty reservoir, bridge end) are resolved exactly inside the step, so the
two must agree to floating-point rounding (a few 1e-12 relative per step). ``n_off`` is
counted anyway (``RefResult.off_grid_jumps``) and used in the bound.

Not modelled: the battery (ERI/EOS) and the forecast. Cases the spec leaves open raise
``Unsupported`` (a priming or bridge bolus started while another one runs).
"""

from __future__ import annotations

import re
import tomllib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REL = 1e-9  # spec §14
_CATALOG = Path(__file__).resolve().parents[2] / "src/openidds/pump/data/catalog.toml"


class RefError(Exception):
    """The spec says the scenario is an error."""


class Unsupported(Exception):  # noqa: N818 - a reason, not a failure
    """The scenario is outside what this reference models."""


# ---------------------------------------------------------------------------------------
# Units (spec: mg, mcg, ug, µg, g; mL; /day, /h; ISO 8601 durations)

_AMOUNT = {"mg": 1.0, "mcg": 1e-3, "ug": 1e-3, "µg": 1e-3, "μg": 1e-3, "g": 1e3}
_PER = {"day": 1.0, "d": 1.0, "h": 24.0}


def _split(text: str) -> tuple[float, str]:
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(\S+)\s*", text)
    if m is None:
        raise ValueError(text)
    return float(m.group(1)), m.group(2)


def amount_mg(text: str) -> float:
    value, unit = _split(text)
    return value * _AMOUNT[unit]


def conc_mg_per_ml(text: str) -> float:
    value, unit = _split(text)
    amount, volume = unit.split("/")
    assert volume.lower() == "ml", text
    return value * _AMOUNT[amount]


def dose_mg_per_day(text: str) -> float:
    value, unit = _split(text)
    amount, per = unit.split("/")
    return value * _AMOUNT[amount] * _PER[per.lower()]


def duration_seconds(text: str) -> float:
    m = re.fullmatch(
        r"P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
        r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?",
        text.strip().upper(),
    )
    if m is None:
        raise ValueError(text)
    factors = (604_800, 86_400, 3_600, 60, 1)
    return sum(float(g) * f for g, f in zip(m.groups(), factors, strict=True) if g)


def catalog_model(model: str) -> dict[str, Any]:
    data = tomllib.loads(_CATALOG.read_text(encoding="utf-8"))
    return {k: v["value"] for k, v in data["models"][model].items() if isinstance(v, dict)}


# ---------------------------------------------------------------------------------------
# Result


@dataclass
class RefResult:
    daily_pumped: dict[date, float]
    daily_delivered: dict[date, dict[str, float]]
    end_reservoir_ml: float
    alarms: list[tuple[str, float]]  # (kind, seconds after start)
    ptm: dict[int, tuple[bool, str | None]]  # event index -> (granted, reason)
    pumped_ml: float
    delivered_mg: dict[str, float]
    max_rate_ml_per_day: float  # the largest total rate seen (for the error bound)
    max_conc_mg_per_ml: float
    off_grid_jumps: int
    step_seconds: int
    drugs: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------------------------
# The simulator


@dataclass
class _Program:
    flex: str | None  # None (continuous), "day", "week"
    rate: float = 0.0  # continuous
    keys: list[int] = field(default_factory=list)  # flex: minute of day / of week, sorted
    rates: list[float] = field(default_factory=list)


class Reference:
    def __init__(self, data: dict[str, Any], step_seconds: int = 60) -> None:
        self.h_s = step_seconds
        self.h = step_seconds / 86_400  # days
        sc, pump = data["scenario"], data["pump"]
        self.start = sc["start"].astimezone(UTC)
        self.end = sc["end"].astimezone(UTC)
        self.tz = ZoneInfo(sc.get("timezone", "UTC"))
        span = (self.end - self.start).total_seconds()
        if span % step_seconds:
            raise Unsupported("end is not on the grid")
        self.n = int(span // step_seconds)
        self.model = catalog_model(pump["model"])
        if self.model.get("fixed_rate_options_ml_per_day") is not None:
            raise Unsupported("constant-flow models")
        if "battery" in pump:
            raise Unsupported("battery")
        self.capacity = float(self.model["capacity_ml"])
        self.min_rate = float(self.model["min_rate_ml_per_day"])
        self.max_rate = float(self.model["max_rate_ml_per_day"])
        self.max_bolus = float(self.model["max_bolus_rate_ml_per_day"])
        self.prime_rate = float(self.model["priming_bolus_rate_ml_per_day"])
        self.max_steps = int(self.model["max_flex_steps"])
        self.mri_stalls = bool(self.model["mri_stalls_motor"])
        self.low = float(pump.get("low_reservoir_alarm_ml", self.model["low_reservoir_alarm_ml"]))
        self.path_ml = float(pump.get("fluid_path_ml", self.model["fluid_path_ml"]))
        self.primed = pump.get("fluid_path_initial", "no-drug") == "primed"
        self.disc_ml = float(pump.get("refill_discrepancy_ml", self.model["refill_discrepancy_ml"]))

        # Events: (step, file index, table), in replay order.
        self.events: list[tuple[int, int, dict[str, Any]]] = []
        drugs: list[str] = []
        for index, ev in enumerate(data.get("event", [])):
            s = (ev["at"].astimezone(UTC) - self.start).total_seconds()
            if s < 0 or s > span:
                raise RefError(f"event {index} outside [start, end]")
            if s % step_seconds:
                raise Unsupported(f"event {index} is not on the grid")
            self.events.append((int(s // step_seconds), index, ev))
            if ev["kind"] == "fill":
                for d in ev["drugs"]:
                    if d not in drugs:
                        drugs.append(d)
        self.events.sort(key=lambda e: (e[0], e[1]))
        self.drugs = tuple(drugs)
        self.nd = len(drugs)

        # The wall clock: local time of each grid instant, and its running maximum from
        # three hours before the start (a step start that occurs twice fires once).
        pre = max(1, 3 * 3_600 // step_seconds)
        self.local_date: list[date] = []
        self.day_key: list[int] = []
        self.week_key: list[int] = []
        running: datetime | None = None
        for k in range(-pre, self.n + 1):
            local = (self.start + timedelta(seconds=k * step_seconds)).astimezone(self.tz)
            naive = local.replace(tzinfo=None)
            if running is None or naive > running:
                running = naive
            if k >= 0:
                self.local_date.append(naive.date())
                minute = running.hour * 60 + running.minute
                self.day_key.append(minute)
                self.week_key.append(running.weekday() * 1_440 + minute)

    # -- state ---------------------------------------------------------------------------

    def _reset(self) -> None:
        z = (0.0,) * self.nd
        self.res_ml = 0.0
        self.conc: tuple[float, ...] = z
        self.filled_once = False
        self.low_armed = False
        self.path: deque[list[Any]] = deque()
        if self.path_ml > 0:
            self.path.append([self.path_ml, z])
        self.program: _Program | None = None
        self.pending: _Program | None = None
        self.stopped = False
        self.priming: tuple[int, float] | None = None  # (end step, rate)
        self.bridge_left: float | None = None
        self.bridge_rate = 0.0
        self.windows: list[tuple[int, float]] = []  # (end step, rate)
        self.stall_until: int | None = None
        self.rate_at_last_fill = 0.0
        self.any_fill = False
        self.ptm: dict[str, Any] | None = None
        self.grants: list[float] = []  # seconds after start
        self.alarms: list[tuple[str, float]] = []
        self.ptm_out: dict[int, tuple[bool, str | None]] = {}
        self.daily_p: dict[date, float] = {}
        self.daily_d: dict[date, list[float]] = {}
        for d in self.local_date[: self.n]:
            self.daily_p.setdefault(d, 0.0)
            self.daily_d.setdefault(d, [0.0] * self.nd)
        self.max_seen_rate = 0.0
        self.max_conc = 0.0

    def _alarm(self, kind: str, step: float) -> None:
        self.alarms.append((kind, step * self.h_s))

    def _steps_of(self, seconds: float) -> int:
        q = seconds / self.h_s
        if abs(q - round(q)) > 1e-6:
            raise Unsupported("a window or stall does not end on the grid")
        return round(q)

    # -- rates ---------------------------------------------------------------------------

    def _program_rate(self, p: _Program | None, k: int) -> float:
        if p is None:
            return 0.0
        if p.flex is None:
            return p.rate
        key = self.day_key[k] if p.flex == "day" else self.week_key[k]
        rate = p.rates[-1]  # before the first start of the period: the last step, cyclically
        for start, r in zip(p.keys, p.rates, strict=True):
            if start <= key:
                rate = r
        return rate

    def _basal_in_force(self, k: int) -> float:
        return 0.0 if self.stopped else self._program_rate(self.program, k)

    def _rate(self, k: int) -> float:
        boluses = sum(r for _, r in self.windows)
        if self.priming is not None:
            # boluses running at once share the maximum bolus rate (docs/scenario-format.md
            # §8.6): priming + clinician/PTM boluses together never exceed it
            return min(self.priming[1] + boluses, max(self.max_bolus, self.priming[1]))
        base = self.bridge_rate if self.bridge_left is not None else self._basal_in_force(k)
        return base + min(boluses, self.max_bolus)

    def _moving(self, k: int) -> bool:
        return not self.stopped and not self._stalled(k) and self.res_ml > 0

    def _stalled(self, k: int) -> bool:
        return self.stall_until is not None and k < self.stall_until

    # -- expiries (windows and stalls that end at step k) ----------------------------------

    def _expire(self, k: int) -> None:
        self.windows = [w for w in self.windows if w[0] > k]
        if self.priming is not None and self.priming[0] <= k:
            self.priming = None
            self._apply_pending()
        if self.stall_until is not None and self.stall_until <= k:
            self._alarm("motor_stall_recovery", self.stall_until)
            self.stall_until = None

    def _apply_pending(self) -> None:
        if self.pending is not None and self.priming is None and self.bridge_left is None:
            self.program, self.pending = self.pending, None
            self.stopped = False

    # -- one step ------------------------------------------------------------------------

    def _step(self, k: int) -> None:
        day = self.local_date[k]
        done = 0.0  # fraction of the step elapsed
        while done < 1.0 - 1e-12:
            if not self._moving(k):
                return
            rate = self._rate(k)
            if rate <= 0:
                return
            self.max_seen_rate = max(self.max_seen_rate, rate)
            per_step = rate * self.h
            dv = per_step * (1.0 - done)
            bridge_end = empty = False
            if self.bridge_left is not None and self.bridge_left <= dv:
                dv = self.bridge_left
                bridge_end = True
            if dv >= self.res_ml:
                dv = self.res_ml
                empty = True
                bridge_end = self.bridge_left is not None and self.bridge_left <= dv
            before = self.res_ml
            self._pump(dv, day)
            self.res_ml = 0.0 if empty else before - dv
            if self.res_ml <= 1e-10:  # float dust: the reservoir is empty
                self.res_ml, empty = 0.0, True
            t_frac = done
            used = dv / per_step
            if self.low_armed and self.res_ml <= self.low * (1 + REL):
                self.low_armed = False
                cross = t_frac + max(before - self.low, 0.0) / per_step
                self._alarm("low_reservoir", k + min(cross, t_frac + used))
            done += used
            if self.bridge_left is not None:
                self.bridge_left -= dv
                if bridge_end or self.bridge_left <= 1e-13:
                    self.bridge_left = None
                    self._apply_pending()
            if empty:
                self._alarm("empty_reservoir", k + done)
                return

    def _pump(self, dv: float, day: date) -> None:
        if dv <= 0:
            return
        path = self.path
        if path and path[-1][1] == self.conc:
            path[-1][0] += dv
        else:
            path.append([dv, self.conc])
        need = dv
        out = self.daily_d[day]
        while need > 1e-15 and path:
            vol, conc = path[0]
            take = vol if vol <= need else need
            if vol <= need:
                path.popleft()
            else:
                path[0][0] = vol - need
            for i, c in enumerate(conc):
                if c:
                    out[i] += take * c
            need -= take
        self.daily_p[day] += dv

    # -- events --------------------------------------------------------------------------

    def _conc(self, drug: str, what: str) -> float:
        i = self.drugs.index(drug) if drug in self.drugs else -1
        if not self.filled_once or i < 0 or self.conc[i] <= 0:
            raise RefError(f"{what}: {drug} is not in the reservoir")
        return self.conc[i]

    def _rate_of(self, table: dict[str, Any], what: str) -> float:
        if "rate_ml_per_day" in table:
            rate = float(table["rate_ml_per_day"])
        else:
            ((drug, text),) = table["dose"].items()
            rate = dose_mg_per_day(text) / self._conc(drug, what)
        if rate < self.min_rate * (1 - REL) or rate > self.max_rate * (1 + REL):
            raise RefError(f"{what}: rate {rate} outside the model's range")
        return rate

    def _bolus_volume(self, table: dict[str, Any], seconds: float, what: str) -> float:
        if "volume_ml" in table:
            volume = float(table["volume_ml"])
        else:
            ((drug, text),) = table["dose"].items()
            volume = amount_mg(text) / self._conc(drug, what)
        if volume / (seconds / 86_400) > self.max_bolus * (1 + REL):
            raise RefError(f"{what}: bolus rate above the maximum")
        return volume

    def _event(self, k: int, index: int, ev: dict[str, Any]) -> None:
        kind = ev["kind"]
        what = f"event {index} ({kind})"
        if kind == "fill":
            self._fill(k, ev, what)
        elif kind == "program":
            if ev["mode"] == "continuous":
                program = _Program(None, rate=self._rate_of(ev, what))
            else:
                steps = ev["steps"]
                if len(steps) > self.max_steps:
                    raise RefError(f"{what}: too many steps")
                keys, rates = [], []
                for st in steps:
                    text = st["start"].split()
                    hh, mm = (int(x) for x in text[-1].split(":"))
                    key = hh * 60 + mm
                    if ev["period"] == "week":
                        day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(
                            text[0].lower()
                        )
                        key += day * 1_440
                    keys.append(key)
                    rates.append(self._rate_of(st, what))
                program = _Program(ev["period"], keys=keys, rates=rates)
            if self.priming is not None or self.bridge_left is not None:
                self.pending = program  # takes effect when they end (spec §5)
            else:
                self.program = program
            self.stopped = False
        elif kind == "stop":
            self.stopped = True
            self.program = self.pending = None
            self.priming = None
            self.bridge_left = None
        elif kind == "bolus":
            seconds = duration_seconds(ev["duration"])
            volume = self._bolus_volume(ev, seconds, what)
            self.windows.append((k + self._steps_of(seconds), volume / (seconds / 86_400)))
        elif kind == "priming_bolus":
            if self.priming is not None or self.bridge_left is not None:
                raise Unsupported("priming bolus while a priming or bridge bolus runs")
            volume = float(ev.get("volume_ml", self.path_ml))
            if "duration" in ev:
                seconds = duration_seconds(ev["duration"])
                if volume / (seconds / 86_400) > self.max_bolus * (1 + REL):
                    raise RefError(f"{what}: priming rate above the maximum")
            else:
                seconds = volume / self.prime_rate * 86_400
            if volume > 0 and seconds > 0:
                self.priming = (k + self._steps_of(seconds), volume / (seconds / 86_400))
        elif kind == "bridge_bolus":
            if not self.any_fill:
                raise RefError(f"{what}: no fill before")
            if self.rate_at_last_fill <= 0:
                raise RefError(f"{what}: zero basal rate at the last fill")
            if self.priming is not None or self.bridge_left is not None:
                raise Unsupported("bridge bolus while a priming or bridge bolus runs")
            if self.path_ml > 0:
                self.bridge_left = self.path_ml
                self.bridge_rate = self.rate_at_last_fill
        elif kind == "ptm_settings":
            enabled = ev.get("enabled", True)
            if not enabled and "volume_ml" not in ev and "dose" not in ev:
                self.ptm = {**(self.ptm or {}), "enabled": False}
            else:
                seconds = duration_seconds(ev["duration"])
                volume = self._bolus_volume(ev, seconds, what)
                self.ptm = {
                    "enabled": enabled,
                    "rate": volume / (seconds / 86_400),
                    "steps": self._steps_of(seconds),
                    "lockout": duration_seconds(ev["lockout"]),
                    "max": int(ev["max_per_24h"]),
                }
        elif kind == "ptm_request":
            self._ptm_request(k, index)
        elif kind == "mri":
            if not self.mri_stalls:
                return
            seconds = duration_seconds(ev["duration"]) + duration_seconds(
                ev.get("recovery", "PT0S")
            )
            until = k + self._steps_of(seconds)
            if self.stall_until is not None and self.stall_until > k:
                self.stall_until = max(self.stall_until, until)  # overlapping scans merge
            else:
                self._alarm("motor_stall", k)
                self.stall_until = until
        else:  # pragma: no cover
            raise Unsupported(kind)

    def _fill(self, k: int, ev: dict[str, Any], what: str) -> None:
        first = not self.any_fill
        volume = float(ev["volume_ml"])
        residual = float(ev.get("residual_left_ml", 0.0))
        if first and residual > 0:
            raise RefError(f"{what}: residual on a first fill")
        if residual + volume > self.capacity * (1 + REL):
            raise RefError(f"{what}: above capacity")
        expected = self.res_ml
        if "aspirated_ml" in ev:
            discrepancy = float(ev["aspirated_ml"]) + residual - expected
            if abs(discrepancy) > self.disc_ml * (1 + REL):
                self._alarm("refill_discrepancy", k)
        new = tuple(conc_mg_per_ml(ev["drugs"][d]) if d in ev["drugs"] else 0.0 for d in self.drugs)
        self.max_conc = max(self.max_conc, *new)
        total = residual + volume
        if total > 0:
            mixed = tuple(
                (residual * a + volume * b) / total for a, b in zip(self.conc, new, strict=True)
            )
        else:
            mixed = new
        if first and self.primed:
            for parcel in self.path:
                parcel[1] = new
        was_empty = self.res_ml <= 0
        self.res_ml = total
        self.conc = mixed
        self.filled_once = self.any_fill = True
        if total <= 0 and not was_empty:
            self._alarm("empty_reservoir", k)
        if total <= self.low * (1 + REL):
            self._alarm("low_reservoir", k)
            self.low_armed = False
        else:
            self.low_armed = True
        self.rate_at_last_fill = self._basal_in_force(k)

    def _ptm_request(self, k: int, index: int) -> None:
        now = k * self.h_s
        ptm = self.ptm
        reason: str | None = None
        if ptm is None or not ptm.get("enabled"):
            reason = "not_enabled"
        elif self.program is None or self.stopped or self._stalled(k) or self.res_ml <= 0:
            reason = "pump_not_delivering"
        elif self.grants and now - self.grants[-1] < ptm["lockout"]:
            reason = "lockout"
        elif sum(1 for g in self.grants if now - 86_400 < g <= now) >= ptm["max"]:
            reason = "max_per_24h"
        if reason is None:
            assert ptm is not None
            self.grants.append(now)
            self.windows.append((k + ptm["steps"], ptm["rate"]))
            self.ptm_out[index] = (True, None)
        else:
            self.ptm_out[index] = (False, reason)

    # -- run -----------------------------------------------------------------------------

    def run(self) -> RefResult:
        self._reset()
        events = self.events
        j = 0
        for k in range(self.n + 1):
            self._expire(k)
            while j < len(events) and events[j][0] == k:
                _, index, ev = events[j]
                self._event(k, index, ev)
                self._expire(k)
                j += 1
            if k < self.n:
                self._step(k)
        pumped = sum(self.daily_p.values())
        delivered = {d: sum(v[i] for v in self.daily_d.values()) for i, d in enumerate(self.drugs)}
        return RefResult(
            daily_pumped=dict(self.daily_p),
            daily_delivered={
                day: dict(zip(self.drugs, v, strict=True)) for day, v in self.daily_d.items()
            },
            end_reservoir_ml=self.res_ml,
            alarms=sorted(self.alarms, key=lambda a: (a[1], a[0])),
            ptm=dict(self.ptm_out),
            pumped_ml=pumped,
            delivered_mg=delivered,
            max_rate_ml_per_day=self.max_seen_rate,
            max_conc_mg_per_ml=self.max_conc,
            off_grid_jumps=0,
            step_seconds=self.h_s,
            drugs=self.drugs,
        )


def simulate_reference(data: dict[str, Any], step_seconds: int = 60) -> RefResult:
    """Replay ``data`` (a scenario dict) on a fixed grid of ``step_seconds``."""
    return Reference(data, step_seconds).run()


def volume_bound(result: RefResult) -> float:
    """The derived bound on |pumped_engine − pumped_reference| at a grid instant (mL)."""
    return result.off_grid_jumps * (result.step_seconds / 86_400) * result.max_rate_ml_per_day


__all__ = [
    "RefError",
    "RefResult",
    "Reference",
    "Unsupported",
    "amount_mg",
    "conc_mg_per_ml",
    "dose_mg_per_day",
    "duration_seconds",
    "simulate_reference",
    "volume_bound",
]
