"""The dose checks: every fill, program, bolus and PTM setting of a scenario against the
drug library, the device catalog and the twin's replay (``docs/dose-checks.md``)."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from openidds.pump import (
    Bolus,
    BridgeBolus,
    Catalog,
    CatheterRevision,
    Event,
    EventOutcome,
    Fill,
    Interrogation,
    Mri,
    PrimingBolus,
    Program,
    PtmSettings,
    PumpReplacement,
    RateSpec,
    Scenario,
    ScenarioError,
    SimulationResult,
    Stop,
    load_catalog,
    parse_scenario,
    simulate,
)

from . import _safety as safety
from ._findings import Finding, Report, Severity
from ._library import INDICATIONS, REGIONS, Drug, Library, Limit, load_library
from ._text import amount, fmt

_TOL = 1e-9
"""Relative tolerance of comparisons with limits (floating point only, as the twin's §14)."""
_LOOSE = 1e9
"""Device limits of the catalog copy the checks parse and replay with, so that an overfill or
a rate outside the device range becomes a finding instead of an invalid scenario."""

TOLERANCES = ("naive", "tolerant")


@dataclasses.dataclass(frozen=True, slots=True)
class Patient:
    opioid_tolerance: str | None
    indication: str | None
    age_years: float | None = None
    continuing: frozenset[str] = frozenset()
    """Drugs the patient already received before these records (a replaced pump, a
    transfer): their first program here is not a new start."""

    @property
    def maybe_naive(self) -> bool:
        """Opioid-naive, or not stated (fail closed: judged as the most cautious case)."""
        return self.opioid_tolerance != "tolerant"


def check(
    scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any],
    library: Library | None = None,
    region: str | None = None,
    *,
    catalog: Catalog | None = None,
) -> list[Finding]:
    """Findings of a scenario, worst first (see :func:`check_report`)."""
    return check_report(scenario, library, region, catalog=catalog).worst_first()


def check_report(
    scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any],
    library: Library | None = None,
    region: str | None = None,
    *,
    catalog: Catalog | None = None,
) -> Report:
    """Judge a scenario; the report records the library's id and version.

    Raises :class:`ScenarioError` for a scenario that is not valid (also an invalid
    ``override`` or ``[patient]`` table)."""
    library = library or load_library()
    raw, catalog = _raw_and_catalog(scenario, catalog)
    region = region or library.region_default
    if region not in REGIONS:
        raise ValueError(f"region must be one of {', '.join(REGIONS)}; got {region!r}")
    checker = _Checker(raw, catalog, library, region)
    findings = checker.run()
    return Report(library.id, library.version, tuple(findings))


def replay(
    scenario: str | os.PathLike[str] | Mapping[str, Any], catalog: Catalog | None = None
) -> SimulationResult:
    """The twin's replay as the checks see it: without the catalog's capacity and rate limits,
    so that a scenario with an ``overfill`` or ``rate_out_of_device_range`` finding can still
    be shown (``openidds diff``). Raises :class:`ScenarioError` for any other error."""
    raw, catalog = _raw_and_catalog(scenario, catalog)
    return simulate(parse_scenario(raw, catalog=_loose(catalog)))


# ---------------------------------------------------------------------------------------


def _raw_and_catalog(
    scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any], catalog: Catalog | None
) -> tuple[Mapping[str, Any], Catalog]:
    if isinstance(scenario, Scenario):
        return scenario.raw, catalog or scenario.catalog
    if isinstance(scenario, Mapping):
        return scenario, catalog or load_catalog()
    path = Path(scenario)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {path}: {exc.strerror}") from exc
    try:
        return tomllib.loads(text), catalog or load_catalog()
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}") from exc


def _loose(catalog: Catalog) -> Catalog:
    """A copy of the catalog without capacity and (programmable) rate limits."""
    models = {}
    for model_id, model in catalog.models.items():
        params = dict(model.params)
        names = ["capacity_ml"]
        if model.programmable:
            names += ["min_rate_ml_per_day", "max_rate_ml_per_day"]
        for name in names:
            value = 0.0 if name.startswith("min") else _LOOSE
            params[name] = dataclasses.replace(params[name], value=value)
        models[model_id] = dataclasses.replace(model, params=params)
    return dataclasses.replace(catalog, models=models)


def _patient(raw: Mapping[str, Any]) -> Patient:
    table = raw.get("patient", {})
    if not isinstance(table, Mapping):
        raise ScenarioError("must be a table", field="patient")
    extra = set(table) - {"opioid_tolerance", "indication", "age_years", "continuing"}
    if extra:
        raise ScenarioError("is not a known field", field=f"patient.{sorted(extra)[0]}")
    tolerance = table.get("opioid_tolerance")
    if tolerance is not None and tolerance not in TOLERANCES:
        raise ScenarioError("must be 'naive' or 'tolerant'", field="patient.opioid_tolerance")
    indication = table.get("indication")
    if indication is not None and indication not in INDICATIONS:
        raise ScenarioError(f"must be one of {', '.join(INDICATIONS)}", field="patient.indication")
    age = table.get("age_years")
    if age is not None and (
        isinstance(age, bool) or not isinstance(age, int | float) or not 0 <= age <= 130
    ):
        raise ScenarioError("must be a number of years from 0 to 130", field="patient.age_years")
    continuing = table.get("continuing", [])
    if not isinstance(continuing, list) or not all(isinstance(d, str) for d in continuing):
        raise ScenarioError("must be a list of drug ids", field="patient.continuing")
    return Patient(
        tolerance, indication, None if age is None else float(age), frozenset(continuing)
    )


def _overrides(event: Event) -> dict[str, str]:
    value = event.raw.get("override", [])
    if not isinstance(value, list):
        raise event.error('must be an array: [{ code = "...", reason = "..." }]', "override")
    out: dict[str, str] = {}
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or set(item) - {"code", "reason"}:
            raise event.error("must be a table { code, reason }", f"override[{i}]")
        code, reason = item.get("code"), item.get("reason", "")
        if not isinstance(code, str) or not isinstance(reason, str):
            raise event.error("code and reason must be strings", f"override[{i}]")
        out[code] = reason.strip()
    return out


def ptm_boluses_per_24h(lockout_us: float, max_per_24h: int) -> int:
    """The most PTM boluses the twin grants in one 24 h window (spec §7): a request is granted
    at least ``lockout`` after the start of the last one and while fewer than ``max_per_24h``
    were granted in (t - 24 h, t]; with a lockout L that is ceil(24 h / L) (0, L, 2L, ... all
    inside one window), at most ``max_per_24h``."""
    if lockout_us <= 0:
        return max_per_24h
    fit = math.ceil(86_400e6 / lockout_us * (1 - _TOL))
    return min(max_per_24h, fit)


class _Checker:
    def __init__(
        self, raw: Mapping[str, Any], catalog: Catalog, library: Library, region: str
    ) -> None:
        self.raw = raw
        self.lib = library
        self.region = region
        self.catalog = catalog
        self.loose = _loose(catalog)
        self.scenario = parse_scenario(raw, catalog=self.loose)
        self.model = catalog.get(self.scenario.pump.model.id)
        self.patient = _patient(raw)
        self.result: SimulationResult = simulate(self.scenario)
        self.events = self.scenario.ordered_events()
        self.overrides = {e.index: _overrides(e) for e in self.events}
        self.findings: list[Finding] = []
        self.window = timedelta(hours=library.checks.visit_window_hours)
        # state while walking the events
        self.conc: dict[str, float] = {}
        self.rates: list[float] | None = None  # mL/day per flex step; None: no program
        self.weights: list[float] = []  # fraction of the period each step lasts
        if self.scenario.pump.fixed_rate_ml_per_day is not None:
            self.rates, self.weights = [self.scenario.pump.fixed_rate_ml_per_day], [1.0]
        self.dose: dict[str, float] = {}  # mean daily dose in force, mg/day
        self.dosed: set[str] = set()
        self.last_increase: dict[str, datetime] = {}
        self.fills = 0
        self.held: set[str] = set()  # drugs of the scenario's fills so far
        self.continuing: set[str] = set()  # drugs of the first fill of a primed (not new) pump
        self.implant_at: datetime | None = None
        self.ptm: PtmSettings | None = None
        self.ptm_volume_ml = 0.0  # fixed at the settings event, as the twin does (spec §3)
        self.noted_patient = False
        # issue 9 state
        self.started_at: dict[str, datetime] = {}  # a drug's (re)start, for titration intervals
        self.stopped = False
        self.ptm_mg: dict[str, float] = {}  # mg of each drug per PTM bolus in force
        self.last_clinician_opioid_bolus: datetime | None = None
        self.path_ml = self.scenario.pump.fluid_path_ml
        self.drug_free_ml = (
            self.path_ml if self.scenario.pump.fluid_path_initial == "no-drug" else 0.0
        )
        self.drug_free_since = self.scenario.start  # pumped volume after this flushes the path
        self.last_fill: Fill | None = None
        self.last_fill_changed: list[str] = []
        self.bridged_since_fill = False
        self.new_device = self.scenario.pump.fluid_path_initial == "no-drug"
        self.alarm_noted: set[str] = set()
        self.low_alarm_ml = self.scenario.pump.low_reservoir_alarm_ml
        self.fill_limits: list[tuple[Fill, float, str, str]] = []  # stability per fill
        self.prime_needed: list[Event] = []  # a drug-free catheter that needs a priming bolus
        self.interruptions: list[tuple[Event, list[Drug]]] = []  # stops and replacements
        self.device_fills = 0  # fills of the pump in place (a replacement starts again)
        self.snapshots: list[tuple[datetime, dict[str, float], bool]] = []
        self.outcomes = {o.index: o for o in self.result.events}

    # -- helpers ---------------------------------------------------------------------------

    def add(
        self,
        event: Event,
        code: str,
        severity: Severity,
        drug: str | None,
        value: float | None,
        limit: float | None,
        unit: str,
        message: str,
        source: str,
    ) -> None:
        reason = self.overrides.get(event.index, {}).get(code)
        overridden = severity == "soft" and bool(reason)
        self.findings.append(
            Finding(
                event_index=event.index,
                at=event.at,
                code=code,
                severity=severity,
                drug=drug,
                value=value,
                limit=limit,
                unit=unit,
                message=message,
                source=source,
                overridden=overridden,
                override_reason=reason if overridden else None,
            )
        )

    def visit_of(self, event: Event) -> Fill | None:
        """The fill whose refill visit this event belongs to (the latest before it)."""
        found: Fill | None = None
        for other in self.events:
            if other is event:
                break
            if isinstance(other, Fill) and event.at - other.at <= self.window:
                found = other
        return found

    def visit_events(self, fill: Fill) -> list[Event]:
        after = self.events[self.events.index(fill) + 1 :]
        return [e for e in after if e.at - fill.at <= self.window]

    def subreplay(self, upto: datetime, end: datetime) -> SimulationResult:
        """The twin's replay of the events up to ``upto`` (inclusive), run on to ``end``."""
        data = copy.copy(dict(self.raw))
        keep = {e.index for e in self.events if e.at <= upto}
        data["event"] = [ev for i, ev in enumerate(self.raw.get("event", [])) if i in keep]
        header = dict(data["scenario"])
        # the replay ends where asked, not at the scenario's end: a finding must not depend
        # on how far the records happen to reach (issue 9)
        header["end"] = max(end, self.scenario.start)
        data["scenario"] = header
        return simulate(parse_scenario(data, catalog=self.loose))

    def mean_rate(self) -> float:
        if self.rates is None:
            return 0.0
        return sum(r * w for r, w in zip(self.rates, self.weights, strict=True))

    def doses(
        self, rates: Sequence[float], weights: Sequence[float]
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Mean and peak (largest step) daily dose per drug, mg/day."""
        mean = {
            d: sum(r * w for r, w in zip(rates, weights, strict=True)) * c
            for d, c in self.conc.items()
        }
        peak = {d: max(rates) * c for d, c in self.conc.items()}
        return mean, peak

    def resolve(self, spec: RateSpec, event: Event) -> float:
        if spec.rate_ml_per_day is not None:
            return spec.rate_ml_per_day
        assert spec.dose_drug is not None and spec.dose_mg_per_day is not None
        conc = self.conc.get(spec.dose_drug, 0.0)
        # the pump turns a dose into a rate with the concentration it was told
        conc = safety.programmed_concs(event).get(spec.dose_drug) or conc
        if conc <= 0:  # the twin rejects it first; kept for a clear message
            raise event.error(f"no {spec.dose_drug} in the reservoir", spec.field)
        return spec.dose_mg_per_day / conc

    # -- the walk --------------------------------------------------------------------------

    def run(self) -> list[Finding]:
        for event in self.events:
            if isinstance(event, Fill):
                self.on_fill(event)
            elif isinstance(event, Program):
                if self.stopped:
                    # a restart: the next increase is judged from here (issue 9, class 3)
                    for d in self.dose:
                        self.started_at[d] = event.at
                self.stopped = False
                safety.programmed_concentration(self, event)
                self.on_program(event)
            elif isinstance(event, Stop):
                if self.rates is not None:
                    self.interruptions.append((event, safety.withdrawal_drugs(self)))
                self.rates = None
                self.stopped = True
            elif isinstance(event, Bolus):
                safety.programmed_concentration(self, event)
                self.on_bolus(event)
            elif isinstance(event, PrimingBolus):
                self.on_priming(event)
            elif isinstance(event, PtmSettings):
                safety.programmed_concentration(self, event)
                self.on_ptm(event)
            elif isinstance(event, BridgeBolus):
                safety.on_bridge(self, event)  # a missing bridge is judged with its fill
            elif isinstance(event, CatheterRevision):
                safety.on_revision(self, event)
            elif isinstance(event, PumpReplacement):
                safety.on_replacement(self, event)
            elif isinstance(event, Interrogation):
                safety.on_interrogation(self, event)
            elif isinstance(event, Mri):
                safety.on_mri(self, event)
            self.snapshots.append((event.at, dict(self.conc), self.stopped))
        safety.not_primed(self)
        safety.withdrawal_rules(self)
        return self.findings

    # -- state the rules read ---------------------------------------------------------------

    def outcome(self, index: int) -> EventOutcome | None:
        return self.outcomes.get(index)

    def mixture_at(self, at: datetime) -> dict[str, float]:
        """The reservoir's concentrations after the last event at or before ``at``."""
        found: dict[str, float] = {}
        for when, conc, _stopped in self.snapshots:
            if when > at:
                break
            found = conc
        return found

    def stopped_at(self, at: datetime) -> bool:
        found = False
        for when, _conc, stopped in self.snapshots:
            if when > at:
                break
            found = stopped
        return found

    def dose_mixture(self) -> dict[str, float]:
        """The drugs being given (mean daily dose > 0), as a mixture for the withdrawal rules."""
        return {d: 1.0 for d, v in self.dose.items() if v > 0}

    def discrepancy_threshold(self, at: datetime) -> float:
        """The refill-discrepancy threshold: the pump's (1 mL / 2 mL), or the pump's accuracy
        times the volume pumped since the last fill when that is larger (issue 9, class 9)."""
        pump = self.scenario.pump
        since = self.last_fill.at if self.last_fill is not None else self.scenario.start
        return max(pump.refill_discrepancy_ml, pump.accuracy * self.pumped(since, at))

    def pumped(self, start: datetime, end: datetime) -> float:
        """mL pumped in [start, end], clamped to the replay (0 for an empty interval)."""
        start = max(start, self.scenario.start)
        end = min(end, self.scenario.end)
        return self.result.pumped_ml_between(start, end) if end > start else 0.0

    # -- fill ------------------------------------------------------------------------------

    def on_fill(self, fill: Fill) -> None:
        lib = self.lib
        capacity = self.model.capacity_ml
        total = fill.volume_ml + fill.residual_left_ml
        if total > capacity * (1 + _TOL):
            self.add(
                fill,
                "overfill",
                "hard",
                None,
                total,
                capacity,
                "mL",
                f"fill of {fmt(total)} mL is above the reservoir capacity of {self.model.id} "
                f"({fmt(capacity)} mL): the excess would be forced into the pump or the pocket",
                self.model.params["capacity_ml"].source,
            )
        known = [d for d in fill.drugs_mg_per_ml if lib.get(d) is not None]
        for drug_id, conc in fill.drugs_mg_per_ml.items():
            drug = lib.get(drug_id)
            if drug is None:
                self.add(
                    fill,
                    "drug_not_in_library",
                    "hard",
                    drug_id,
                    conc,
                    None,
                    "mg/mL",
                    f"{drug_id} is not in drug library {lib.id} version {lib.version}: no limit "
                    "can be checked; add it to the clinic's library copy or correct the name",
                    f"drug library {lib.id} {lib.version}",
                )
                continue
            self.judge_limit(
                fill,
                "concentration_above_max",
                drug,
                conc,
                drug.concentration_max,
                "mg/mL",
                "concentration",
            )
            self.off_label(fill, drug, len(known) > 1)
        first_of_device = self.device_fills == 0
        safety.on_fill_before_mix(self, fill, first_of_device)
        self.refill_discrepancy(fill)

        old = dict(self.conc)
        residual, volume = fill.residual_left_ml, fill.volume_ml
        drugs = set(old) | set(fill.drugs_mg_per_ml)
        if residual + volume > 0:
            self.conc = {
                d: (residual * old.get(d, 0.0) + volume * fill.drugs_mg_per_ml.get(d, 0.0))
                / (residual + volume)
                for d in drugs
            }
        first = self.fills == 0
        self.fills += 1
        self.device_fills += 1
        new_pump = self.scenario.pump.fluid_path_initial == "no-drug"
        given = {d for d, c in fill.drugs_mg_per_ml.items() if c > 0}
        if first and new_pump and not given & self.patient.continuing:
            self.implant_at = fill.at
        if first and not new_pump:
            self.continuing = given
        if first:
            self.continuing |= given & self.patient.continuing
        held_before = set(self.held)
        self.held |= {d for d, c in fill.drugs_mg_per_ml.items() if c > 0}
        safety.on_fill_after_mix(self, fill, old, first_of_device)
        self.stability(fill, first_of_device, held_before)
        if (
            not any(c > 0 for c in old.values())
            and any(c > 0 for c in self.conc.values())
            and safety.drug_free_left(self, fill.at) > 1e-6
        ):
            self.prime_needed.append(fill)  # drug now waits behind a drug-free catheter

        visit = self.visit_events(fill)
        programmed = any(isinstance(e, Program) for e in visit)
        bridged = any(isinstance(e, BridgeBolus) for e in visit)
        changed = self.changed_drugs(old)
        self.last_fill, self.last_fill_changed, self.bridged_since_fill = fill, changed, False
        if changed and self.rates is not None and self.mean_rate() > 0 and self.model.programmable:
            if not bridged:
                self.no_bridge(fill, changed, old, visit)
            if not programmed:
                names = ", ".join(
                    f"{d} {amount(lib.get(d), old.get(d, 0.0), 'mg/mL')} → "
                    f"{amount(lib.get(d), self.conc.get(d, 0.0), 'mg/mL')}"
                    for d in changed
                )
                mean, _ = self.doses(self.rates, self.weights)
                now = ", ".join(
                    f"{d} {amount(lib.get(d), mean.get(d, 0.0), 'mg/day')}" for d in changed
                )
                self.add(
                    fill,
                    "program_not_updated_after_concentration_change",
                    "soft",
                    changed[0],
                    None,
                    None,
                    "",
                    f"the concentration changed ({names}) and no program follows at this "
                    f"visit: the unchanged rate now gives {now}; re-enter the daily dose",
                    lib.checks.source,
                )
        if not programmed and self.rates is not None:
            mean, peak = self.doses(self.rates, self.weights)
            self.judge_doses(fill, mean, peak, refill_visit=True)
        if self.ptm is not None:
            # the PTM's bolus now carries the new mixture: a drug it may not give, more mg
            added = [d for d, c in self.conc.items() if c > 0 and old.get(d, 0.0) <= 0]
            self.ptm_naive(fill, added)
            moved = any(
                abs(self.conc.get(d, 0.0) - old.get(d, 0.0))
                > _TOL * max(self.conc.get(d, 0.0), old.get(d, 0.0))
                for d in drugs
            )
            if moved and not programmed:  # a program at the visit re-judges the PTM itself
                self.judge_ptm(fill, self.ptm)

    def changed_drugs(self, old: Mapping[str, float]) -> list[str]:
        fraction = self.lib.checks.concentration_change_fraction
        out = []
        for d in sorted(set(old) | set(self.conc)):
            before, after = old.get(d, 0.0), self.conc.get(d, 0.0)
            if before == after == 0.0:
                continue
            if before == 0.0 or (
                abs(after - before) > fraction * before * (1 + _TOL) and self.dose.get(d, 0.0) > 0
            ):
                out.append(d)
        return out

    def no_bridge(
        self, fill: Fill, changed: list[str], old: Mapping[str, float], visit: list[Event]
    ) -> None:
        """Ask the twin what the patient gets while the old fluid in the path is pushed out."""
        upto = max([fill.at, *(e.at for e in visit)])
        # the program after the visit decides how fast the old fluid leaves
        rate = self.rate_after(visit)
        if rate <= 0:
            return
        transit = timedelta(days=self.scenario.pump.fluid_path_ml / rate)
        end = upto + transit + timedelta(hours=1)
        result = self.subreplay(upto, end)
        times = [t for t in result.timeline()["at"] if fill.at <= t <= end]
        times = sorted({fill.at, *times, end})
        transit_end = upto + transit
        for d in changed:
            drug = self.lib.get(d)
            if drug is None:
                continue
            seen: list[float] = []
            for a, b in itertools.pairwise(times):
                days = (b - a).total_seconds() / 86_400
                if days > 0 and a < transit_end:
                    seen.append(result.delivered_mg_between(a, b)[d] / days)
            if not seen:
                continue
            intended = rate * self.conc.get(d, 0.0)
            low, high = min(seen), max(seen)
            worst = high if high - intended >= intended - low else low
            hours = transit.total_seconds() / 3600
            got = amount(drug, low, "mg/day")
            if high - low > _TOL * max(high, 1.0):
                got = f"{amount(drug, low, 'mg/day')} to {amount(drug, high, 'mg/day')}"
            self.add(
                fill,
                "concentration_change_without_bridge",
                "soft",
                d,
                worst,
                intended,
                "mg/day",
                f"{d} concentration changes from {amount(drug, old.get(d, 0.0), 'mg/mL')} to "
                f"{amount(drug, self.conc.get(d, 0.0), 'mg/mL')} with no bridge bolus at this "
                "visit: for "
                f"about {fmt(hours)} h the {fmt(self.scenario.pump.fluid_path_ml)} mL of old "
                f"fluid in the catheter is pushed at the new rate, so the patient receives "
                f"{got} instead of "
                f"{amount(drug, intended, 'mg/day')} (twin replay); give a bridge bolus",
                self.lib.checks.source,
            )

    def rate_after(self, visit: list[Event]) -> float:
        program = [e for e in visit if isinstance(e, Program)]
        if not program:
            return self.mean_rate()
        rates, weights = self.program_rates(program[-1])
        return sum(r * w for r, w in zip(rates, weights, strict=True))

    def refill_discrepancy(self, fill: Fill) -> None:
        outcome = self.outcomes[fill.index]
        disc = outcome.discrepancy_ml
        threshold = self.discrepancy_threshold(fill.at)
        if disc is None or abs(disc) <= threshold * (1 + _TOL):
            return
        expected = outcome.expected_ml or 0.0
        self.add(
            fill,
            "refill_discrepancy",
            "soft",
            None,
            disc,
            threshold,
            "mL",
            f"aspirated {fmt(fill.aspirated_ml or 0.0)} mL but the twin expected "
            f"{fmt(expected - fill.residual_left_ml)} mL (difference {fmt(disc)} mL, more than "
            f"the {fmt(threshold)} mL threshold: the larger of {self.model.id}'s "
            f"{fmt(self.scenario.pump.refill_discrepancy_ml)} mL and its accuracy "
            f"{fmt(100 * self.scenario.pump.accuracy)} % of the volume pumped since the last "
            "fill): possible pocket fill, "
            "needle outside the reservoir or pump fault; check before refilling",
            self.model.params["refill_discrepancy_ml"].source,
        )

    def stability(self, fill: Fill, first: bool, held_before: set[str]) -> None:
        limits: list[tuple[float, str, str]] = []
        only = len(self.conc) == 1
        for d, c in self.conc.items():
            drug = self.lib.get(d)
            if drug is None or c <= 0:
                continue
            st = drug.stability
            days, why = st.in_pump_days, f"{d} in-pump stability"
            undiluted = drug.labelled_strengths_mg_per_ml
            if (
                only
                and st.in_pump_days_undiluted is not None
                and any(abs(c - u) <= _TOL * c for u in undiluted)
            ):
                days, why = st.in_pump_days_undiluted, f"undiluted {d} in-pump stability"
            if st.first_refill_days_new_pump is not None:
                # a new pump, or a pump that held other drugs in this scenario and not this one
                if first and self.new_device:
                    days, why = st.first_refill_days_new_pump, f"first {d} refill of a new pump"
                elif not first and d not in held_before:
                    days = st.first_refill_days_new_pump
                    why = f"first {d} refill of a pump that has not held {d} before"
            limits.append((days, why, st.source))
        if not limits:
            return
        days, why, source = min(limits)
        if fill.stability_days is not None and fill.stability_days < days:
            days, why, source = fill.stability_days, "stability set for this fill", source
        self.fill_limits.append((fill, days, why, source))
        if fill.stability_days is not None and fill.stability_days <= days * (1 + _TOL):
            return
        visit = self.visit_events(fill)
        upto = max([fill.at, *(e.at for e in visit)])
        result = self.subreplay(upto, upto)
        refill = result.forecast.low_reservoir_alarm.earliest
        deadline = fill.at + timedelta(days=days)
        if refill is None or refill <= deadline:
            return
        lasts = (refill - fill.at).total_seconds() / 86_400
        self.add(
            fill,
            "refill_beyond_stability",
            "soft",
            None,
            lasts,
            days,
            "days",
            f"the reservoir would last about {fmt(lasts)} days (to the earliest low-reservoir "
            f"alarm), beyond the {why} of {fmt(days)} days: refill by "
            f"{deadline.strftime('%Y-%m-%d %H:%M')} UTC (set stability_days = {fmt(days)})",
            source,
        )

    def off_label(self, fill: Fill, drug: Drug, admixture: bool) -> None:
        lab = drug.labelled
        why = []
        if self.patient.indication and self.patient.indication not in lab.indications:
            why.append(f"the indication {self.patient.indication}")
        if self.region not in lab.regions:
            why.append(f"the region {self.region}")
        if self.model.id not in lab.pumps:
            why.append(f"the pump {self.model.id}")
        if admixture:
            why.append("use in an admixture")
        if why:
            self.add(
                fill,
                "off_label",
                "info",
                drug.id,
                None,
                None,
                "",
                f"{drug.id} is not labelled for {', '.join(why)} (off-label use)",
                lab.source,
            )

    # -- program ---------------------------------------------------------------------------

    def program_rates(self, program: Program) -> tuple[list[float], list[float]]:
        if program.mode == "continuous":
            assert program.rate is not None
            return [self.resolve(program.rate, program)], [1.0]
        period_min = 1440 if program.period == "day" else 7 * 1440
        starts = [(s.weekday or 0) * 1440 + s.at.hour * 60 + s.at.minute for s in program.steps]
        weights = []
        for i, s in enumerate(starts):
            nxt = starts[i + 1] if i + 1 < len(starts) else starts[0] + period_min
            weights.append((nxt - s) / period_min)
        return [self.resolve(s.rate, program) for s in program.steps], weights

    def on_program(self, program: Program) -> None:
        rates, weights = self.program_rates(program)
        low, high = self.model.min_rate_ml_per_day, self.model.max_rate_ml_per_day
        for rate in rates:
            if rate < low * (1 - _TOL) or rate > high * (1 + _TOL):
                self.add(
                    program,
                    "rate_out_of_device_range",
                    "hard",
                    None,
                    rate,
                    low if rate < low else high,
                    "mL/day",
                    f"basal rate {fmt(rate)} mL/day is outside the range of {self.model.id} "
                    f"({fmt(low)} to {fmt(high)} mL/day): the pump cannot run it; change the "
                    "dose or the concentration",
                    self.model.params["max_rate_ml_per_day"].source,
                )
        self.rates, self.weights = rates, weights
        mean, peak = self.doses(rates, weights)
        self.judge_doses(program, mean, peak, refill_visit=self.visit_of(program) is not None)
        if self.ptm is not None:
            self.judge_ptm(program, self.ptm)

    def judge_doses(
        self,
        event: Event,
        mean: Mapping[str, float],
        peak: Mapping[str, float],
        *,
        refill_visit: bool,
    ) -> None:
        switched = safety.opioid_switch(self, event, dict(self.dose), mean)
        for d in sorted(mean):
            drug = self.lib.get(d)
            if drug is None or peak[d] <= 0:
                if drug is not None and d in self.dose and self.dose[d] > 0:
                    self.dose[d] = 0.0  # no longer given: a later fill of it is a restart
                continue
            self.judge_limit(
                event,
                "daily_dose_above_max",
                drug,
                peak[d],
                drug.daily_dose_max,
                "mg/day",
                "daily dose",
            )
            before = self.dose.get(d, 0.0)
            if d not in self.dosed:
                if d not in switched:
                    self.starting(event, drug, mean[d])
                if d not in self.continuing:
                    self.started_at[d] = event.at
            elif before <= 0:
                self.started_at[d] = event.at  # given again after a pause: a restart
            elif switched and drug.is_opioid:
                pass  # the opioids of a switch are judged together (opioid_switch_*)
            elif mean[d] > before * (1 + _TOL):
                what = f"{drug.id} rises"
                if not safety.decimal_pattern(self, event, drug, before, mean[d], "mg/day", what):
                    self.increase(event, drug, before, mean[d], refill_visit)
            else:
                safety.decrease(self, event, drug, before, mean[d])
            self.dosed.add(d)
            self.dose[d] = mean[d]

    def judge_limit(
        self,
        event: Event,
        code: str,
        drug: Drug,
        value: float,
        limit: Limit,
        unit: str,
        what: str,
    ) -> None:
        p = self.patient
        soft, hard, soft_basis, basis = limit.for_patient(self.region, p.indication, p.age_years)
        factor = self.lib.checks.implausible_unit_factor
        if value >= factor * hard * (1 - _TOL):
            self.add(
                event,
                "dose_implausible_unit",
                "hard",
                drug.id,
                value,
                hard,
                unit,
                f"{drug.id} {amount(drug, value, unit)} is {fmt(value / hard)} times the hard "
                f"maximum {what} of {amount(drug, hard, unit)}: this looks like a unit mistake "
                "(mcg entered as mg, or a misplaced decimal point); check the order",
                limit.source,
            )
        if value > hard * (1 + _TOL):
            if limit.by_region and self.region in limit.by_region:
                basis = f"{basis}; region {self.region}"
            self.add(
                event,
                code,
                "hard",
                drug.id,
                value,
                hard,
                unit,
                f"{drug.id} {amount(drug, value, unit, hard)} is above the hard maximum {what} of "
                f"{amount(drug, hard, unit)} ({basis})",
                limit.source,
            )
        elif value > soft * (1 + _TOL):
            self.add(
                event,
                code,
                "soft",
                drug.id,
                value,
                soft,
                unit,
                f"{drug.id} {amount(drug, value, unit, soft)} is above the soft maximum "
                f"{what} of "
                f"{amount(drug, soft, unit)} ({soft_basis})",
                limit.source,
            )

    def starting(self, event: Event, drug: Drug, dose: float) -> None:
        start = drug.starting_dose
        if start.applies_to == "opioid-naive":
            if self.patient.opioid_tolerance is None:
                self.note_patient(event)  # fail closed: judged as opioid-naive
            if not self.patient.maybe_naive:
                return
        elif drug.id in self.continuing:
            return  # in the first fill of a primed pump: the scenario continues a therapy
        who = " in an opioid-naive patient" if start.applies_to == "opioid-naive" else ""
        if self.patient.opioid_tolerance is None and start.applies_to == "opioid-naive":
            who = " in a patient whose opioid tolerance is not stated (judged as opioid-naive)"
        upper = start.upper
        if (
            start.guideline_high is not None
            and dose > start.guideline_high * (1 + _TOL)
            and (upper is None or dose <= upper * (1 + _TOL))
        ):
            self.add(
                event,
                "starting_dose_above_guideline",
                "info",
                drug.id,
                dose,
                start.guideline_high,
                "mg/day",
                f"first {drug.id} dose {amount(drug, dose, 'mg/day', start.guideline_high)}{who} "
                f"is within the label's starting range but above the guideline's, at most "
                f"{amount(drug, start.guideline_high, 'mg/day')} ({start.guideline_basis})",
                start.source,
            )
            return
        if upper is None or dose <= upper * (1 + _TOL):
            return
        self.add(
            event,
            "starting_dose_above_range",
            "soft",
            drug.id,
            dose,
            upper,
            "mg/day",
            f"first {drug.id} dose {amount(drug, dose, 'mg/day', upper)}{who} is above the "
            f"starting range, at most {amount(drug, upper, 'mg/day')} ({start.basis})",
            start.source,
        )

    def increase(
        self, event: Event, drug: Drug, before: float, after: float, refill_visit: bool
    ) -> None:
        if before <= 0 or after <= before * (1 + _TOL):
            return
        t = drug.titration
        delta = after - before
        size_found = False
        if t.hard_increase_mg_per_day is not None and delta > t.hard_increase_mg_per_day * (
            1 + _TOL
        ):
            size_found = True
            self.add(
                event,
                "dose_increase_too_large",
                "hard",
                drug.id,
                delta,
                t.hard_increase_mg_per_day,
                "mg/day",
                f"{drug.id} increase of "
                f"{amount(drug, delta, 'mg/day', t.hard_increase_mg_per_day)} "
                f"({amount(drug, before, 'mg/day')} → {amount(drug, after, 'mg/day')}) is above "
                f"the hard limit of +{amount(drug, t.hard_increase_mg_per_day, 'mg/day')} "
                f"({t.hard_basis})",
                t.source,
            )
        soft_limit, soft_text = self.soft_increase(drug, before, refill_visit)
        if not size_found and soft_limit is not None and delta > soft_limit * (1 + _TOL):
            self.add(
                event,
                "dose_increase_too_large",
                "soft",
                drug.id,
                delta,
                soft_limit,
                "mg/day",
                f"{drug.id} increase of {amount(drug, delta, 'mg/day', soft_limit)} "
                f"({amount(drug, before, 'mg/day')} → {amount(drug, after, 'mg/day')}, "
                f"+{fmt(100 * delta / before)} %) is above the soft limit of {soft_text} "
                f"({t.soft_basis})",
                t.source,
            )
        self.too_soon(event, drug, refill_visit)
        self.last_increase[drug.id] = event.at

    def origin(self) -> str | None:
        ind = self.patient.indication or ""
        return ind.removeprefix("spasticity_") if ind.startswith("spasticity_") else None

    def soft_increase(
        self, drug: Drug, before: float, refill_visit: bool
    ) -> tuple[float | None, str]:
        t = drug.titration
        if t.phases:
            phase = "refill_visit" if refill_visit and "refill_visit" in t.phases else "titration"
            table = t.phases.get(phase, {})
            origin = self.origin()
            fractions = [v for k, v in table.items() if k in ("spinal", "cerebral")]
            fraction = table.get(origin) if origin else (min(fractions) if fractions else None)
            if fraction is None:
                return None, ""
            where = origin or "origin not stated: the stricter"
            return before * fraction, (
                f"+{fmt(100 * fraction)} % ({phase.replace('_', ' ')}, {where})"
            )
        if t.soft_increase_mg_per_day is not None:
            return t.soft_increase_mg_per_day, "+" + amount(
                drug, t.soft_increase_mg_per_day, "mg/day"
            )
        if t.soft_increase_fraction is not None:
            return before * t.soft_increase_fraction, f"+{fmt(100 * t.soft_increase_fraction)} %"
        return None, ""

    def too_soon(self, event: Event, drug: Drug, refill_visit: bool) -> None:
        t = drug.titration
        soft_hours = t.soft_min_interval_hours
        if t.phases:
            phase = "refill_visit" if refill_visit and "refill_visit" in t.phases else "titration"
            soft_hours = t.phases.get(phase, {}).get("min_interval_hours")
        if self.implant_at is not None and t.no_increase_after_implant_hours is not None:
            since = (event.at - self.implant_at).total_seconds() / 3600
            if since < t.no_increase_after_implant_hours * (1 - _TOL):
                self.add(
                    event,
                    "dose_increase_too_soon",
                    "soft",
                    drug.id,
                    since,
                    t.no_increase_after_implant_hours,
                    "h",
                    f"{drug.id} increase {fmt(since)} h after the implant: no increase in the "
                    f"first {fmt(t.no_increase_after_implant_hours)} h ({t.soft_basis})",
                    t.source,
                )
                return
        last = self.last_increase.get(drug.id)
        since_start = False
        start = self.started_at.get(drug.id)
        if start is not None and (last is None or start > last):
            last, since_start = start, True  # the first increase after a (re)start
        if last is None:
            return
        hours = (event.at - last).total_seconds() / 3600
        after = "its start" if since_start else "the last increase"
        if t.hard_min_interval_hours is not None and hours < t.hard_min_interval_hours * (1 - _TOL):
            self.add(
                event,
                "dose_increase_too_soon",
                "hard",
                drug.id,
                hours,
                t.hard_min_interval_hours,
                "h",
                f"{drug.id} increased {fmt(hours)} h after {after}; the hard "
                f"minimum is {fmt(t.hard_min_interval_hours)} h ({t.hard_basis})",
                t.source,
            )
        elif soft_hours is not None and hours < soft_hours * (1 - _TOL):
            self.add(
                event,
                "dose_increase_too_soon",
                "soft",
                drug.id,
                hours,
                soft_hours,
                "h",
                f"{drug.id} increased {fmt(hours)} h after {after}; wait at "
                f"least {fmt(soft_hours)} h between changes ({t.soft_basis})",
                t.source,
            )

    def note_patient(self, event: Event) -> None:
        if self.noted_patient:
            return
        self.noted_patient = True
        self.add(
            event,
            "patient_not_stated",
            "soft",
            None,
            None,
            None,
            "",
            "the patient's opioid tolerance is not stated: the opioid starting dose, the PTM "
            "and clinician boluses were judged as for an opioid-naive patient (the most "
            "cautious case); record the patient's opioid tolerance",
            "issue 9 (fail closed)",
        )

    # -- boluses and PTM -------------------------------------------------------------------

    def bolus_mg(
        self, volume: float | None, drug: str | None, dose: float | None, event: Event | None = None
    ) -> dict[str, float]:
        if volume is None:
            conc = self.conc.get(drug or "", 0.0)
            told = safety.programmed_concs(event).get(drug or "")
            conc = told or conc  # the pump turns the dose into mL with what it was told
            volume = (dose or 0.0) / conc if conc > 0 else 0.0
        return {d: volume * c for d, c in self.conc.items() if c > 0}

    def on_bolus(self, bolus: Bolus) -> None:
        amounts = self.bolus_mg(bolus.volume_ml, bolus.dose_drug, bolus.dose_mg, bolus)
        for d, mg in sorted(amounts.items()):
            drug = self.lib.get(d)
            if drug is None:
                continue
            basal = self.dose.get(d, 0.0) if self.rates is not None else 0.0
            total = basal + mg
            # a bolus is judged as part of that day's dose: basal + bolus, in mg/day (a bolus
            # of 10 x the hard daily maximum or more is also a dose_implausible_unit)
            self.judge_limit(
                bolus,
                "daily_dose_above_max",
                drug,
                total,
                drug.daily_dose_max,
                "mg/day",
                f"daily dose (bolus {amount(drug, mg, 'mg')} + basal "
                f"{amount(drug, basal, 'mg/day')})",
            )
        safety.clinician_bolus(self, bolus, amounts)

    def on_priming(self, event: PrimingBolus) -> None:
        if self.fills == 0:
            return
        left = safety.drug_free_left(self, event.at)
        vol = event.volume_ml if event.volume_ml is not None else self.path_ml
        mg = {d: vol * c for d, c in self.conc.items() if c > 0}
        what = ", ".join(f"{d} {amount(self.lib.get(d), v, 'mg')}" for d, v in sorted(mg.items()))
        source = self.model.params["fluid_path_ml"].source
        if left <= max(1e-6, self.path_ml * 1e-6):
            self.add(
                event,
                "priming_bolus_on_primed_path",
                "hard",
                None,
                vol,
                self.path_ml,
                "mL",
                f"priming bolus of {fmt(vol)} mL while the catheter already holds drug: it would "
                f"give {what or 'drug'} at the priming rate as an overdose; use a bridge bolus "
                "after a refill, a priming bolus only for an empty (new or revised) fluid path",
                source,
            )
            return
        margin = self.lib.safety.priming_margin_fraction
        allowed = left * (1 + margin.value)
        if vol > allowed * (1 + _TOL):
            # beyond the whole path (+ margin): hard, as the issue sets it; beyond what is
            # still drug-free only (basal pumping since the revision flushed part): soft
            whole = vol > self.path_ml * (1 + margin.value) * (1 + _TOL)
            excess = vol - left
            extra = ", ".join(
                f"{d} {amount(self.lib.get(d), excess * c, 'mg')}"
                for d, c in sorted(self.conc.items())
                if c > 0
            )
            self.add(
                event,
                "priming_volume_above_path",
                "hard" if whole else "soft",
                None,
                vol,
                self.path_ml * (1 + margin.value) if whole else allowed,
                "mL",
                f"priming bolus of {fmt(vol)} mL but only {fmt(left)} mL of the catheter is "
                f"drug-free: the other {fmt(excess)} mL ({extra or 'drug'}) goes into the patient "
                f"at the priming rate as an overdose; prime with {fmt(left)} mL",
                margin.source,
            )

    def on_ptm(self, event: PtmSettings) -> None:
        self.ptm = event if event.enabled else None
        if not event.enabled:
            return
        if event.volume_ml is not None:
            self.ptm_volume_ml = event.volume_ml
        else:
            conc = self.conc.get(event.dose_drug or "", 0.0)
            conc = safety.programmed_concs(event).get(event.dose_drug or "") or conc
            self.ptm_volume_ml = (event.dose_mg or 0.0) / conc if conc > 0 else 0.0
        self.ptm_naive(event, [d for d, c in self.conc.items() if c > 0])
        self.judge_ptm(event, event)
        per_dose = self.bolus_mg(self.ptm_volume_ml, None, None)
        safety.ptm_bolus(self, event, per_dose)
        self.ptm_mg = per_dose

    def ptm_naive(self, event: Event, present: Sequence[str]) -> None:
        """``ptm_opioid_naive`` for each of ``present`` the PTM may not give a naive patient."""
        opioids = [
            d
            for d in present
            if (drug := self.lib.get(d)) is not None and not drug.ptm_allowed_opioid_naive
        ]
        if opioids:
            if self.patient.opioid_tolerance is None:
                self.note_patient(event)
            if self.patient.maybe_naive:
                for d in sorted(opioids):
                    drug = self.lib.get(d)
                    assert drug is not None
                    self.add(
                        event,
                        "ptm_opioid_naive",
                        "hard",
                        d,
                        None,
                        None,
                        "",
                        f"PTM boluses of {d} (an opioid) are enabled for an opioid-naive "
                        "patient (or one whose opioid tolerance is not stated): contraindicated; "
                        "disable the PTM",
                        self.lib_source_ptm(drug),
                    )

    def lib_source_ptm(self, drug: Drug) -> str:
        return f"drug library {self.lib.id} {self.lib.version}: {drug.id}.ptm_allowed_opioid_naive"

    def judge_ptm(self, event: Event, ptm: PtmSettings) -> None:
        per_dose = self.bolus_mg(self.ptm_volume_ml, None, None)
        count = ptm_boluses_per_24h(ptm.lockout_us, ptm.max_per_24h)
        for d, mg in sorted(per_dose.items()):
            drug = self.lib.get(d)
            if drug is None:
                continue
            basal = self.dose.get(d, 0.0) if self.rates is not None else 0.0
            total = basal + mg * count
            self.judge_limit(
                event,
                "ptm_daily_dose_above_max",
                drug,
                total,
                drug.daily_dose_max,
                "mg/day",
                f"daily dose with full PTM use (basal {amount(drug, basal, 'mg/day')} + "
                f"{fmt(count)} × {amount(drug, mg, 'mg')})",
            )
