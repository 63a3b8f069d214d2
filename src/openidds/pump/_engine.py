"""The replay engine: exact, event-driven, closed form between breakpoints.

Between two breakpoints every rate is constant, so the engine moves straight from one to the
next: breakpoints are input events, flex step changes, ends of bolus windows, the end of a
stall, and the crossings it computes in closed form (low reservoir, empty reservoir, end of
a bridge bolus, ERI, EOS). The reservoir is well mixed, so its concentration changes only
at fills; the fluid path is a first-in-first-out queue of segments (plug flow).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ._clock import Clock
from ._result import EventOutcome, Log, RawAlarm, SimulationResult, build_result
from ._scenario import (
    RELATIVE_TOLERANCE,
    Bolus,
    BridgeBolus,
    CatheterRevision,
    Event,
    Fill,
    Interrogation,
    Mri,
    PrimingBolus,
    Program,
    PtmRequest,
    PtmSettings,
    Pump,
    PumpReplacement,
    RateSpec,
    Scenario,
    Stop,
    check_bolus_rate,
)
from ._schedule import INFINITY, BasalProgram, ConstantCursor, RateCursor, Step
from ._units import MICROSECONDS_PER_DAY

_EPS_DAYS = 1e-12  # breakpoints closer than this (86 ns) are one instant
_EPS_ML = 1e-13  # path segments smaller than this are gone
_DAY_US = 86_400_000_000
_MAX_STEPS_AT_ONE_INSTANT = 10_000


@dataclass(slots=True)
class PtmState:
    enabled: bool
    volume_ml: float
    duration_days: float
    lockout_us: int
    max_per_24h: int

    @property
    def bolus_rate_ml_per_day(self) -> float:
        return self.volume_ml / self.duration_days


@dataclass(frozen=True, slots=True)
class EndState:
    """What the forecast needs from the replay."""

    t: float
    reservoir_ml: float
    program: BasalProgram | None
    stopped: bool
    eos: bool
    stall_until: float | None
    ptm: PtmState | None
    battery_remaining_days: float | None
    eri_at: float | None
    eos_at: float | None
    last_fill_at: float | None
    last_fill_stability_days: float | None
    pump: Pump


class Replay:
    """One replay of a scenario. Use :func:`simulate`."""

    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario
        pump = scenario.pump
        self.pump = pump  # the pump in force (a pump_replacement changes it)
        self.model = pump.model
        self.clock = Clock(scenario.start, scenario.timezone)
        self.end = self.clock.days_of(scenario.end)
        self.drugs = scenario.drugs
        n = len(self.drugs)
        self.zero: tuple[float, ...] = (0.0,) * n

        # Reservoir: volume and concentrations (mg/mL per drug).
        self.res_v = 0.0
        self.res_c: tuple[float, ...] = self.zero
        self.filled_once = False
        self.empty = True  # nothing in it until the first fill; no alarm for that
        self.low_armed = False
        self.low_ml = pump.low_reservoir_alarm_ml

        # Fluid path: segments [volume_ml, concentrations] from catheter tip (left) to outlet.
        self.path_ml = pump.fluid_path_ml
        self.path: deque[list[object]] = deque()
        if self.path_ml > 0:
            self.path.append([self.path_ml, self.zero])
        self.path_primed_pending = pump.fluid_path_initial == "primed"

        # Programs and modes.
        self.program: BasalProgram | None = None
        self.cursor: RateCursor | None = None
        self.pending: BasalProgram | None = None
        self.stopped = False
        if pump.fixed_rate_ml_per_day is not None:
            self._set_program(BasalProgram.continuous(pump.fixed_rate_ml_per_day), 0.0)
        self.priming_end: float | None = None
        self.priming_rate = 0.0
        self.bridge_rate = 0.0
        self.bridge_left_ml: float | None = None
        self.windows: list[tuple[float, float]] = []  # additive boluses (end, rate)
        self.window_rate = 0.0
        self.next_window_end = INFINITY
        self.stall_until: float | None = None
        self.rate_at_last_fill = 0.0
        self.last_fill_at: float | None = None
        self.last_fill_stability: float | None = None

        # PTM.
        self.ptm: PtmState | None = None
        self.grants_us: deque[int] = deque()
        self.last_grant_us: int | None = None

        # Battery.
        self.battery = pump.battery
        self.batt_left: float | None = None
        self.eri_at: float | None = None
        self.eos_at: float | None = None
        self.eos = False
        self.k = 0.0
        if self.battery is not None:
            self._init_battery()

        # Accounting.
        self.cum_pumped = 0.0
        self.cum_deliv = [0.0] * n
        # The fluid in the path at the start (drug-free, or the first fill's when primed) was
        # put in at implant: it counts as filled, so filled = reservoir + path + delivered +
        # aspirated + unaccounted holds in mL as well as in mg.
        self.filled_ml = self.path_ml
        self.filled_mg = [0.0] * n
        self.aspirated_ml = 0.0
        self.aspirated_mg = [0.0] * n
        self.unaccounted_ml = 0.0
        self.unaccounted_mg = [0.0] * n

        self.t = 0.0
        self.alarms: list[RawAlarm] = []
        self.outcomes: list[EventOutcome] = []
        self.log = Log(n)
        self._log_point()

    # -- battery -------------------------------------------------------------------------

    def _init_battery(self) -> None:
        b = self.battery
        assert b is not None
        self.k = b.days_per_ml
        since_days = self.clock.days_of(b.started)  # <= 0
        span = -since_days
        left = b.days_to_eri_at_zero_flow - span - self.k * b.pumped_ml_before_start
        if left > 0:
            self.batt_left = left
            return
        # ERI before the scenario starts: when exactly is not known. Take the earliest
        # possible instant (all the earlier pumping right at `started`), so that EOS, when
        # the pump stops and a withdrawal-risk drug stops with it, is never later than it
        # can be (docs/scenario-format.md §12).
        self.eri_at = since_days + max(
            0.0, b.days_to_eri_at_zero_flow - self.k * b.pumped_ml_before_start
        )
        self.batt_left = 0.0
        self.eos_at = self.eri_at + b.eos_after_eri_days
        if self.eri_at >= 0:
            self.alarms.append(RawAlarm(self.eri_at, "eri"))
        if self.eos_at <= 0:
            self.eos = True

    # -- main loop -----------------------------------------------------------------------

    def run(self) -> SimulationResult:
        for event in self.sc.ordered_events():
            t_event = self.clock.days(event.at_us)
            self.advance(t_event)
            self.apply(event, t_event)
        self.advance(self.end)
        self._log_point()
        return build_result(self)

    def _basal_rate(self) -> float:
        if self.program is None or self.cursor is None or self.stopped:
            return 0.0
        return self.cursor.rate

    def _compute_rate(self) -> float:
        if self.eos or self.empty or self.stopped:
            return 0.0
        if self.stall_until is not None:
            return 0.0
        cap = self.model.max_bolus_rate_ml_per_day
        if self.priming_end is not None:
            # the boluses running at once share the pump's bolus rate (issue 9): a priming
            # bolus and a clinician or PTM bolus together never exceed the maximum
            return min(self.priming_rate + self.window_rate, max(cap, self.priming_rate))
        base = self.bridge_rate if self.bridge_left_ml is not None else self._basal_rate()
        return base + min(self.window_rate, cap)

    def advance(self, target: float) -> None:
        """Move the pump from ``self.t`` to ``target`` through every breakpoint on the way."""
        stuck = 0
        while True:
            stuck += 1
            if stuck > _MAX_STEPS_AT_ONE_INSTANT:
                # Each pass either moves time on or clears a breakpoint; a loop that does
                # neither is a bug: fail loudly rather than hang.
                raise RuntimeError(f"engine made no progress at day {self.t!r}")
            rate = self._compute_rate()
            t = self.t
            nxt = target
            cursor = self.cursor
            if cursor is not None and cursor.next_change < nxt:
                nxt = cursor.next_change
            if self.next_window_end < nxt:
                nxt = self.next_window_end
            if self.priming_end is not None and self.priming_end < nxt:
                nxt = self.priming_end
            if self.stall_until is not None and self.stall_until < nxt:
                nxt = self.stall_until
            if self.eos_at is not None and not self.eos and self.eos_at < nxt:
                nxt = self.eos_at
            t_empty = t_low = t_bridge = t_eri = INFINITY
            if rate > 0:
                t_empty = t + self.res_v / rate
                if t_empty < nxt:
                    nxt = t_empty
                if self.low_armed and self.res_v > self.low_ml:
                    t_low = t + (self.res_v - self.low_ml) / rate
                    if t_low < nxt:
                        nxt = t_low
                if self.bridge_left_ml is not None and self.priming_end is None:
                    t_bridge = t + self.bridge_left_ml / rate
                    if t_bridge < nxt:
                        nxt = t_bridge
            if self.batt_left is not None and self.eri_at is None:
                t_eri = t + self.batt_left / (1.0 + self.k * rate)
                if t_eri < nxt:
                    nxt = t_eri
            if nxt > t:
                self._move(nxt - t, rate)
                self.t = t = nxt
                stuck = 0
            limit = t + _EPS_DAYS
            handled = self._handle_breakpoints(limit, t_empty, t_low, t_bridge, t_eri)
            if not handled and t >= target:
                return

    def _handle_breakpoints(
        self, limit: float, t_empty: float, t_low: float, t_bridge: float, t_eri: float
    ) -> bool:
        t = self.t
        handled = False
        if self.next_window_end <= limit:
            self.windows = [w for w in self.windows if w[0] > limit]
            self._recompute_windows()
            handled = True
        if self.priming_end is not None and self.priming_end <= limit:
            self.priming_end = None
            self._apply_pending(t)
            handled = True
        if self.stall_until is not None and self.stall_until <= limit:
            self.stall_until = None
            self.alarms.append(RawAlarm(t, "motor_stall_recovery"))
            handled = True
        if t_bridge <= limit:
            self.bridge_left_ml = None
            self._apply_pending(t)
            handled = True
        if t_low <= limit:
            if abs(self.res_v - self.low_ml) < 1e-9:
                self.res_v = self.low_ml
            self.low_armed = False
            self.alarms.append(RawAlarm(t, "low_reservoir"))
            handled = True
        if t_empty <= limit:
            self.res_v = 0.0
            self.empty = True
            if self.low_armed:
                self.low_armed = False
                self.alarms.append(RawAlarm(t, "low_reservoir"))
            self.alarms.append(RawAlarm(t, "empty_reservoir"))
            handled = True
        if t_eri <= limit and self.battery is not None:
            self.batt_left = 0.0
            self.eri_at = t
            self.eos_at = t + self.battery.eos_after_eri_days
            self.alarms.append(RawAlarm(t, "eri"))
            handled = True
        if self.eos_at is not None and not self.eos and self.eos_at <= limit:
            self.eos = True
            self.alarms.append(RawAlarm(t, "eos"))
            handled = True
        cursor = self.cursor
        if cursor is not None and cursor.next_change <= limit:
            cursor.advance(limit)
            handled = True
        if handled:
            self._log_point()
        return handled

    def _move(self, dt: float, rate: float) -> None:
        """Pump at a constant ``rate`` for ``dt`` days."""
        if self.batt_left is not None and self.eri_at is None:
            self.batt_left -= dt * (1.0 + self.k * rate)
        if rate <= 0.0:
            return
        dv = rate * dt
        res_before = self.res_v
        pumped_before = self.cum_pumped
        self.res_v = max(res_before - dv, 0.0)
        self.cum_pumped = pumped_before + dv
        if self.bridge_left_ml is not None and self.priming_end is None:
            self.bridge_left_ml = max(self.bridge_left_ml - dv, 0.0)
        # Into the path at the outlet ...
        path = self.path
        conc = self.res_c
        if path and path[-1][1] is conc:
            path[-1][0] = path[-1][0] + dv  # type: ignore[operator]
        else:
            path.append([dv, conc])
        # ... and out at the catheter tip, first in, first out.
        left = dv
        deliv = self.cum_deliv
        moved = 0.0
        while left > 0.0 and path:
            seg = path[0]
            seg_v: float = seg[0]  # type: ignore[assignment]
            seg_c: tuple[float, ...] = seg[1]  # type: ignore[assignment]
            if seg_v <= left + _EPS_ML:
                take = seg_v
                path.popleft()
            else:
                take = left
                seg[0] = seg_v - left
            if take > 0.0:
                for i, c in enumerate(seg_c):
                    if c:
                        deliv[i] += take * c
            left -= take
            moved += take
            if left > _EPS_ML and path:
                # The concentration at the tip changes inside this piece: log that instant.
                self.log.append(
                    self.t + moved / rate,
                    pumped_before + moved,
                    max(res_before - moved, 0.0),
                    conc,
                    deliv,
                    rate,
                )

    # -- events --------------------------------------------------------------------------

    def apply(self, event: Event, t: float) -> None:
        if event.kind == "fill":
            self._log_point()  # the volume jumps here: keep the level just before the fill
        handler = getattr(self, "_on_" + event.kind)
        handler(event, t)
        self._log_point()

    def _outcome(self, event: Event, **fields: object) -> None:
        self.outcomes.append(EventOutcome.of(event, **fields))

    def _conc_of(self, event: Event, drug: str, field: str) -> float:
        index = self.drugs.index(drug) if drug in self.drugs else -1
        if index < 0 or self.res_c[index] <= 0.0 or not self.filled_once:
            held = [d for d, c in zip(self.drugs, self.res_c, strict=True) if c > 0]
            now = ", ".join(held) if held and self.filled_once else "nothing"
            raise event.error(
                f"{drug} is not in the reservoir at this time (it holds {now}); a dose "
                "is turned into a volume with the concentration in the reservoir",
                field,
            )
        return self.res_c[index]

    def _told(self, event: Event, drug: str, conc: float) -> float:
        """The concentration the pump turns a dose into a volume with: the one it was told
        (``programmed_concentration``), else the reservoir's."""
        told: dict[str, float] = dict(getattr(event, "programmed_conc_mg_per_ml", {}))
        return told.get(drug, conc)

    def _resolve_rate(self, event: Event, spec: RateSpec) -> float:
        if spec.rate_ml_per_day is not None:
            return spec.rate_ml_per_day
        assert spec.dose_drug is not None and spec.dose_mg_per_day is not None
        conc = self._conc_of(event, spec.dose_drug, f"{spec.field}.{spec.dose_drug}")
        conc = self._told(event, spec.dose_drug, conc)
        rate = spec.dose_mg_per_day / conc
        low, high = self.model.min_rate_ml_per_day, self.model.max_rate_ml_per_day
        if rate < low * (1 - RELATIVE_TOLERANCE) or rate > high * (1 + RELATIVE_TOLERANCE):
            raise event.error(
                f"{spec.dose_mg_per_day:g} mg/day of {spec.dose_drug} at {conc:g} mg/mL needs "
                f"{rate:.6g} mL/day, outside the range of {self.model.id} "
                f"({low:g} to {high:g} mL/day)",
                f"{spec.field}.{spec.dose_drug}",
            )
        return rate

    def _on_fill(self, e: Fill, t: float) -> None:
        first = not self.filled_once
        if first and e.residual_left_ml > 0:
            raise e.error(
                "a first fill has no residual: the reservoir was empty", "residual_left_ml"
            )
        expected = self.res_v
        residual = e.residual_left_ml
        discrepancy = None
        if e.aspirated_ml is not None:
            discrepancy = e.aspirated_ml + residual - expected
            threshold = self.pump.refill_discrepancy_ml
            if abs(discrepancy) > threshold * (1 + RELATIVE_TOLERANCE):
                self.alarms.append(RawAlarm(t, "refill_discrepancy"))
            aspirated = e.aspirated_ml
        else:
            aspirated = max(expected - residual, 0.0)
        gone = expected - residual - aspirated
        old = self.res_c
        self.aspirated_ml += aspirated
        self.unaccounted_ml += gone
        for i, c in enumerate(old):
            self.aspirated_mg[i] += aspirated * c
            self.unaccounted_mg[i] += gone * c
        new = tuple(e.drugs_mg_per_ml.get(d, 0.0) for d in self.drugs)
        total = residual + e.volume_ml
        if total > 0:
            mixed = tuple(
                (residual * a + e.volume_ml * b) / total for a, b in zip(old, new, strict=True)
            )
        else:
            mixed = new
        self.filled_ml += e.volume_ml
        for i, c in enumerate(new):
            self.filled_mg[i] += e.volume_ml * c
        if first and self.path_primed_pending:
            for seg in self.path:
                seg[1] = new
            for i, c in enumerate(new):
                self.filled_mg[i] += self.path_ml * c
            self.path_primed_pending = False
        self.res_v = total
        self.res_c = mixed
        self.filled_once = True
        was_empty = self.empty
        self.empty = total <= 0.0
        if self.empty and not was_empty:
            self.alarms.append(RawAlarm(t, "empty_reservoir"))
        if total <= self.low_ml * (1 + RELATIVE_TOLERANCE):
            self.alarms.append(RawAlarm(t, "low_reservoir"))
            self.low_armed = False
        else:
            self.low_armed = True
        self.rate_at_last_fill = self._basal_rate()
        self.last_fill_at = t
        self.last_fill_stability = e.stability_days
        self._outcome(e, expected_ml=expected, discrepancy_ml=discrepancy)

    def _set_program(self, program: BasalProgram, t: float) -> None:
        self.program = program
        self.cursor = program.cursor(self.clock, t)
        self.stopped = False

    def _apply_pending(self, t: float) -> None:
        if self.pending is not None and self.priming_end is None and self.bridge_left_ml is None:
            self._set_program(self.pending, t)
            self.pending = None

    def _on_program(self, e: Program, t: float) -> None:
        if e.mode == "continuous":
            assert e.rate is not None
            program = BasalProgram.continuous(self._resolve_rate(e, e.rate))
        else:
            assert e.period is not None
            steps = tuple(Step(s.weekday, s.at, self._resolve_rate(e, s.rate)) for s in e.steps)
            program = BasalProgram(period=e.period, steps=steps)
        self._outcome(e)
        if self.priming_end is not None or self.bridge_left_ml is not None:
            self.pending = program
            self.stopped = False
            return
        self._set_program(program, t)

    def _on_stop(self, e: Stop, t: float) -> None:
        self.stopped = True
        self.program = None
        self.cursor = None
        self.pending = None
        self.priming_end = None
        self.bridge_left_ml = None
        self._outcome(e)

    def _add_window(self, t: float, duration_days: float, rate: float) -> None:
        self.windows.append((t + duration_days, rate))
        self._recompute_windows()

    def _recompute_windows(self) -> None:
        self.window_rate = sum(w[1] for w in self.windows)
        self.next_window_end = min((w[0] for w in self.windows), default=INFINITY)

    def _on_bolus(self, e: Bolus, t: float) -> None:
        if e.volume_ml is not None:
            volume = e.volume_ml
        else:
            assert e.dose_drug is not None and e.dose_mg is not None
            conc = self._conc_of(e, e.dose_drug, f"dose.{e.dose_drug}")
            volume = e.dose_mg / self._told(e, e.dose_drug, conc)
            check_bolus_rate(self.model, volume, e.duration_us, e)
        days = e.duration_us / MICROSECONDS_PER_DAY
        self._add_window(t, days, volume / days)
        self._outcome(e, volume_ml=volume)

    def _on_priming_bolus(self, e: PrimingBolus, t: float) -> None:
        volume = e.volume_ml if e.volume_ml is not None else self.path_ml
        if e.duration_us is not None:
            days = e.duration_us / MICROSECONDS_PER_DAY
        else:
            days = volume / self.model.priming_bolus_rate_ml_per_day
        self.bridge_left_ml = None
        if volume > 0 and days > 0:
            self.priming_end = t + days
            self.priming_rate = volume / days
        self._outcome(e, volume_ml=volume)

    def _on_bridge_bolus(self, e: BridgeBolus, t: float) -> None:
        if self.last_fill_at is None:
            raise e.error("a bridge bolus follows a fill; there has been none", "kind")
        if self.rate_at_last_fill <= 0:
            raise e.error(
                "the basal rate in force at the last fill was zero (pump stopped or not yet "
                "programmed), so there is no old regimen to bridge",
                "kind",
            )
        self.priming_end = None
        if self.path_ml > 0:
            self.bridge_rate = self.rate_at_last_fill
            self.bridge_left_ml = self.path_ml
        else:
            # Nothing old in the path: the bridge is over at once; a waiting program starts.
            self._apply_pending(t)
        self._outcome(e, volume_ml=self.path_ml)

    def _on_ptm_settings(self, e: PtmSettings, t: float) -> None:
        if not e.enabled and e.volume_ml is None and e.dose_drug is None:
            previous = self.ptm
            if previous is not None:
                previous = PtmState(
                    False,
                    previous.volume_ml,
                    previous.duration_days,
                    previous.lockout_us,
                    previous.max_per_24h,
                )
            self.ptm = previous or PtmState(False, 0.0, 1.0, 0, 1)
            self._outcome(e)
            return
        if e.volume_ml is not None:
            volume = e.volume_ml
        else:
            assert e.dose_drug is not None and e.dose_mg is not None
            conc = self._conc_of(e, e.dose_drug, f"dose.{e.dose_drug}")
            volume = e.dose_mg / self._told(e, e.dose_drug, conc)
            check_bolus_rate(self.model, volume, e.duration_us, e)
        self.ptm = PtmState(
            enabled=e.enabled,
            volume_ml=volume,
            duration_days=e.duration_us / MICROSECONDS_PER_DAY,
            lockout_us=e.lockout_us,
            max_per_24h=e.max_per_24h,
        )
        self._outcome(e, volume_ml=volume)

    def delivering(self) -> bool:
        """Spec §7: a program is in force; not stopped, stalled, empty or past EOS."""
        return (
            self.program is not None
            and not self.stopped
            and self.stall_until is None
            and not self.empty
            and not self.eos
        )

    def _on_ptm_request(self, e: PtmRequest, t: float) -> None:
        ptm = self.ptm
        now = e.at_us
        grants = self.grants_us
        while grants and grants[0] <= now - _DAY_US:
            grants.popleft()
        reason: str | None = None
        if ptm is None or not ptm.enabled:
            reason = "not_enabled"
        elif not self.delivering():
            reason = "pump_not_delivering"
        elif self.last_grant_us is not None and now - self.last_grant_us < ptm.lockout_us:
            reason = "lockout"
        elif len(grants) >= ptm.max_per_24h:
            reason = "max_per_24h"
        if reason is None:
            assert ptm is not None
            grants.append(now)
            self.last_grant_us = now
            self._add_window(t, ptm.duration_days, ptm.bolus_rate_ml_per_day)
            self._outcome(e, granted=True, reason=None, volume_ml=ptm.volume_ml)
        else:
            self._outcome(e, granted=False, reason=reason)

    def _on_mri(self, e: Mri, t: float) -> None:
        self._outcome(e)
        if not self.model.mri_stalls_motor:
            return
        until = t + (e.duration_us + e.recovery_us) / MICROSECONDS_PER_DAY
        if self.stall_until is not None:
            self.stall_until = max(self.stall_until, until)
            return
        self.stall_until = until
        self.alarms.append(RawAlarm(t, "motor_stall"))

    def _on_interrogation(self, e: Interrogation, t: float) -> None:
        reported = e.reservoir_ml
        self._outcome(
            e,
            expected_ml=self.res_v,
            discrepancy_ml=None if reported is None else reported - self.res_v,
        )

    def _remove_path(self, keep_ml: float) -> list[list[object]]:
        """Take the path's fluid out beyond the ``keep_ml`` nearest the outlet (a revised or
        explanted catheter); what leaves counts as unaccounted (conservation holds)."""
        kept: list[list[object]] = []
        left = keep_ml
        for seg in reversed(self.path):
            seg_v: float = seg[0]  # type: ignore[assignment]
            seg_c: tuple[float, ...] = seg[1]  # type: ignore[assignment]
            take = min(seg_v, max(left, 0.0))
            if take > _EPS_ML:
                kept.append([take, seg_c])
            gone = seg_v - take
            left -= take
            if gone > 0:
                self.unaccounted_ml += gone
                for i, c in enumerate(seg_c):
                    self.unaccounted_mg[i] += gone * c
        kept.reverse()
        return kept

    def _on_catheter_revision(self, e: CatheterRevision, t: float) -> None:
        if self.path_primed_pending:
            raise e.error(
                "a catheter revision before the first fill of a pump declared 'primed' "
                "cannot be replayed; give the revision after the first fill",
                "kind",
            )
        new_path = self.path_ml if e.fluid_path_ml < 0 else e.fluid_path_ml
        free = new_path if e.drug_free_ml < 0 else e.drug_free_ml
        if free > new_path * (1 + RELATIVE_TOLERANCE):
            raise e.error(f"{free:g} mL is more than the path of {new_path:g} mL", "drug_free_ml")
        free = min(free, new_path)
        kept = self._remove_path(new_path - free)
        self.path = deque([[free, self.zero], *kept] if free > _EPS_ML else kept)
        self.filled_ml += free  # the saline or CSF of the new catheter counts as filled
        self.path_ml = new_path
        self._outcome(e)

    def _on_pump_replacement(self, e: PumpReplacement, t: float) -> None:
        assert e.pump is not None
        # the old pump leaves with what it holds
        self.unaccounted_ml += self.res_v
        for i, c in enumerate(self.res_c):
            self.unaccounted_mg[i] += self.res_v * c
        self._remove_path(0.0)
        pump = e.pump
        self.pump = pump
        self.model = pump.model
        self.path_ml = pump.fluid_path_ml
        self.path = deque([[self.path_ml, self.zero]]) if self.path_ml > 0 else deque()
        self.filled_ml += self.path_ml
        self.path_primed_pending = False
        self.res_v = 0.0
        self.res_c = self.zero
        self.filled_once = False
        self.empty = True
        self.low_armed = False
        self.low_ml = pump.low_reservoir_alarm_ml
        self.program = None
        self.cursor = None
        self.pending = None
        self.stopped = False
        if pump.fixed_rate_ml_per_day is not None:
            self._set_program(BasalProgram.continuous(pump.fixed_rate_ml_per_day), t)
        self.priming_end = None
        self.bridge_left_ml = None
        self.windows = []
        self._recompute_windows()
        self.stall_until = None
        self.rate_at_last_fill = 0.0
        self.last_fill_at = None
        self.last_fill_stability = None
        self.ptm = None
        self.grants_us.clear()
        self.last_grant_us = None
        self.battery = pump.battery
        self.batt_left = None
        self.eri_at = None
        self.eos_at = None
        self.eos = False
        self.k = 0.0
        if self.battery is not None:
            self.k = self.battery.days_per_ml
            self.batt_left = self.battery.days_to_eri_at_zero_flow
        self._outcome(e)

    # -- log -----------------------------------------------------------------------------

    def _log_point(self) -> None:
        self.log.append(
            self.t, self.cum_pumped, self.res_v, self.res_c, self.cum_deliv, self._compute_rate()
        )

    def end_state(self) -> EndState:
        program = self.pending if self.pending is not None else self.program
        return EndState(
            t=self.t,
            reservoir_ml=self.res_v,
            program=None if self.stopped else program,
            stopped=self.stopped,
            eos=self.eos,
            stall_until=self.stall_until,
            ptm=self.ptm,
            battery_remaining_days=self.batt_left,
            eri_at=self.eri_at,
            eos_at=self.eos_at,
            last_fill_at=self.last_fill_at,
            last_fill_stability_days=self.last_fill_stability,
            pump=self.pump,
        )


def simulate(scenario: Scenario) -> SimulationResult:
    """Replay a scenario and forecast from its end."""
    return Replay(scenario).run()


__all__ = ["ConstantCursor", "Replay", "simulate"]
