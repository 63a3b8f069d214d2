"""Scenario files (``shared/spec/scenario-v1.md``): parsing and validation of their form.

Parsing checks everything that can be checked without replaying the pump (types, units,
required fields, device limits of plain rates). Checks that need the pump's state at an
event (a dose turned into a rate, capacity at a refill, bridge bolus rate) are made by the
engine; both raise :class:`ScenarioError` naming the event and the field.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._catalog import Catalog, PumpModel, load_catalog, model_or_error
from ._clock import epoch_us
from ._errors import ScenarioError
from ._units import UnitError, parse_duration_us, parse_quantity

RELATIVE_TOLERANCE = 1e-9
"""Spec §14: comparisons of volumes and rates against limits allow this relative tolerance."""

EventKind = Literal[
    "fill",
    "program",
    "stop",
    "bolus",
    "priming_bolus",
    "bridge_bolus",
    "ptm_settings",
    "ptm_request",
    "mri",
    "catheter_revision",
    "pump_replacement",
    "interrogation",
]
EVENT_KINDS: tuple[str, ...] = (
    "fill",
    "program",
    "stop",
    "bolus",
    "priming_bolus",
    "bridge_bolus",
    "ptm_settings",
    "ptm_request",
    "mri",
    "catheter_revision",
    "pump_replacement",
    "interrogation",
)
# Fields any event may carry for other layers (dose checks, notes); the twin ignores them.
_EXTENSION_FIELDS = frozenset({"override", "note"})
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DRUG_ID = re.compile(r"^[a-z][a-z0-9_\-]*$")


@dataclass(frozen=True, slots=True)
class Battery:
    started: datetime
    pumped_ml_before_start: float
    pumped_ml_before_start_given: bool
    days_to_eri_at_zero_flow: float
    days_per_ml: float
    eos_after_eri_days: float


@dataclass(frozen=True, slots=True)
class Pump:
    model: PumpModel
    low_reservoir_alarm_ml: float
    fluid_path_ml: float
    fluid_path_initial: Literal["no-drug", "primed"]
    accuracy: float
    refill_discrepancy_ml: float
    fixed_rate_ml_per_day: float | None
    battery: Battery | None


@dataclass(frozen=True, slots=True)
class RateSpec:
    """A basal rate as written: either a rate in mL/day or the daily dose of one drug."""

    rate_ml_per_day: float | None = None
    dose_drug: str | None = None
    dose_mg_per_day: float | None = None
    field: str = "rate_ml_per_day"


@dataclass(frozen=True, slots=True)
class FlexStep:
    start: str
    weekday: int | None  # 0 = Monday; None for day periods
    at: time
    rate: RateSpec


@dataclass(frozen=True, slots=True)
class Event:
    index: int
    at: datetime
    at_us: int
    kind: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    def error(self, message: str, field_name: str | None = None) -> ScenarioError:
        return ScenarioError(message, event_index=self.index, at=self.at, field=field_name)


@dataclass(frozen=True, slots=True)
class Fill(Event):
    volume_ml: float = 0.0
    drugs_mg_per_ml: Mapping[str, float] = field(default_factory=dict)
    aspirated_ml: float | None = None
    residual_left_ml: float = 0.0
    stability_days: float | None = None


@dataclass(frozen=True, slots=True)
class Program(Event):
    mode: Literal["continuous", "flex"] = "continuous"
    rate: RateSpec | None = None
    period: Literal["day", "week"] | None = None
    steps: tuple[FlexStep, ...] = ()
    programmed_conc_mg_per_ml: Mapping[str, float] = field(default_factory=dict)
    """``programmed_concentration``: what the programmer was told (dose -> rate uses it)."""


@dataclass(frozen=True, slots=True)
class Stop(Event):
    pass


@dataclass(frozen=True, slots=True)
class Bolus(Event):
    volume_ml: float | None = None
    dose_drug: str | None = None
    dose_mg: float | None = None
    duration_us: int = 0
    programmed_conc_mg_per_ml: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PrimingBolus(Event):
    volume_ml: float | None = None
    duration_us: int | None = None


@dataclass(frozen=True, slots=True)
class BridgeBolus(Event):
    pass


@dataclass(frozen=True, slots=True)
class PtmSettings(Event):
    enabled: bool = True
    volume_ml: float | None = None
    dose_drug: str | None = None
    dose_mg: float | None = None
    duration_us: int = 0
    lockout_us: int = 0
    max_per_24h: int = 0
    programmed_conc_mg_per_ml: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PtmRequest(Event):
    pass


@dataclass(frozen=True, slots=True)
class Mri(Event):
    duration_us: int = 0
    recovery_us: int = 0


@dataclass(frozen=True, slots=True)
class CatheterRevision(Event):
    """The catheter is revised: the path gets a new volume and (part of) it is drug-free."""

    fluid_path_ml: float = 0.0
    """The path volume after the revision."""
    drug_free_ml: float = 0.0
    """Drug-free fluid at the catheter tip after the revision (delivered first)."""


@dataclass(frozen=True, slots=True)
class PumpReplacement(Event):
    """A new pump (battery, empty reservoir, drug-free path); the old one is explanted."""

    pump: Pump | None = None
    """The pump in force from this event on (model, path, battery started at the event)."""


@dataclass(frozen=True, slots=True)
class Interrogation(Event):
    """What the pump reported when read by the programmer; it changes nothing."""

    reservoir_ml: float | None = None
    alarms: tuple[str, ...] = ()
    battery: Literal["ok", "eri", "eos"] | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """A validated scenario: header, pump, and its events in file order."""

    name: str
    start: datetime
    end: datetime
    timezone: ZoneInfo
    pump: Pump
    events: tuple[Event, ...]
    drugs: tuple[str, ...]
    catalog: Catalog
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    warnings: tuple[str, ...] = ()

    @property
    def timezone_name(self) -> str:
        return self.timezone.key

    def ordered_events(self) -> list[Event]:
        """Events in time order; events at one instant in file order."""
        return sorted(self.events, key=lambda e: (e.at_us, e.index))


# ---------------------------------------------------------------------------------------
# Loading


def load_scenario(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    catalog: Catalog | None = None,
) -> Scenario:
    """Load a scenario from a TOML file path or from a dict of the same shape."""
    if isinstance(source, Mapping):
        return parse_scenario(source, catalog=catalog)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {path}: {exc.strerror}") from exc
    return loads_scenario(text, catalog=catalog)


def loads_scenario(text: str, *, catalog: Catalog | None = None) -> Scenario:
    """Parse scenario TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}") from exc
    return parse_scenario(data, catalog=catalog)


def parse_scenario(data: Mapping[str, Any], *, catalog: Catalog | None = None) -> Scenario:
    """Validate a scenario given as a dict (the TOML document's shape)."""
    catalog = catalog or load_catalog()
    unknown = set(data) - {"scenario", "pump", "event", "patient"}
    if unknown:
        name = sorted(unknown)[0]
        raise ScenarioError(
            "unknown table; a scenario has [scenario], [pump], [[event]] (and [patient])",
            field=name,
        )
    header = _table(data, "scenario", required=True)
    _only(header, {"name", "start", "end", "timezone"}, "scenario")
    start = _instant(header.get("start"), "scenario.start")
    end = _instant(header.get("end"), "scenario.end")
    if end < start:
        raise ScenarioError("must not be before scenario.start", field="scenario.end")
    tz_name = header.get("timezone", "UTC")
    timezone = _zone(tz_name)
    name = header.get("name", "")
    if not isinstance(name, str):
        raise ScenarioError("must be a string", field="scenario.name")

    warnings: list[str] = []
    pump = _pump(_table(data, "pump", required=True), catalog, start, warnings)

    raw_events = data.get("event", [])
    if not isinstance(raw_events, list):
        raise ScenarioError("must be an array of tables ([[event]])", field="event")
    start_us, end_us = epoch_us(start), epoch_us(end)
    # Events are validated against the pump in force at them (a pump_replacement changes
    # it), so they are parsed in time order (one instant: file order) and kept in file order.
    order = sorted(range(len(raw_events)), key=lambda i: (_event_at_us(i, raw_events[i]), i))
    parsed: dict[int, Event] = {}
    in_force = pump
    for index in order:
        event = _event(index, raw_events[index], in_force, start_us, end_us, catalog)
        if isinstance(event, PumpReplacement):
            assert event.pump is not None
            in_force = event.pump
        parsed[index] = event
    events: list[Event] = [parsed[i] for i in range(len(raw_events))]
    drugs: list[str] = []
    for event in events:
        if isinstance(event, Fill):
            for drug in event.drugs_mg_per_ml:
                if drug not in drugs:
                    drugs.append(drug)
    return Scenario(
        name=name,
        start=start,
        end=end,
        timezone=timezone,
        pump=pump,
        events=tuple(events),
        drugs=tuple(drugs),
        catalog=catalog,
        raw=data,
        warnings=tuple(warnings),
    )


def _pump(table: Mapping[str, Any], catalog: Catalog, start: datetime, warnings: list[str]) -> Pump:
    _only(
        table,
        {
            "model",
            "low_reservoir_alarm_ml",
            "fluid_path_ml",
            "fluid_path_initial",
            "accuracy",
            "refill_discrepancy_ml",
            "fixed_rate_ml_per_day",
            "battery",
        },
        "pump",
    )
    if "model" not in table:
        raise ScenarioError("is required", field="pump.model")
    model = model_or_error(catalog, table["model"])
    low = _number(table, "low_reservoir_alarm_ml", model.low_reservoir_alarm_ml, "pump.")
    if low > model.capacity_ml * (1 + RELATIVE_TOLERANCE):
        raise ScenarioError(
            f"{low:g} mL is above the capacity of {model.id} ({model.capacity_ml:g} mL)",
            field="pump.low_reservoir_alarm_ml",
        )
    fluid_path = _number(table, "fluid_path_ml", model.fluid_path_ml, "pump.")
    initial = table.get("fluid_path_initial", "no-drug")
    if initial not in ("no-drug", "primed"):
        raise ScenarioError("must be 'no-drug' or 'primed'", field="pump.fluid_path_initial")
    accuracy = _number(table, "accuracy", model.accuracy, "pump.")
    if accuracy >= 1:
        raise ScenarioError("must be a fraction below 1 (0.145 = ±14.5 %)", field="pump.accuracy")
    discrepancy = _number(table, "refill_discrepancy_ml", model.refill_discrepancy_ml, "pump.")

    fixed_rate: float | None = None
    if model.programmable:
        if "fixed_rate_ml_per_day" in table:
            raise ScenarioError(
                f"{model.id} is programmable; only constant-flow pumps have a fixed rate",
                field="pump.fixed_rate_ml_per_day",
            )
    else:
        if "fixed_rate_ml_per_day" not in table:
            options = ", ".join(f"{r:g}" for r in model.fixed_rate_options_ml_per_day)
            raise ScenarioError(
                f"is required for the constant-flow model {model.id}: the factory rate of "
                f"this device (catalog options: {options} mL/day)",
                field="pump.fixed_rate_ml_per_day",
            )
        fixed_rate = _number(table, "fixed_rate_ml_per_day", 0.0, "pump.")
        check_rate(
            model, fixed_rate, lambda msg: ScenarioError(msg, field="pump.fixed_rate_ml_per_day")
        )

    battery: Battery | None = None
    battery_table = table.get("battery")
    if model.has_battery:
        bt = battery_table if battery_table is not None else {}
        if not isinstance(bt, Mapping):
            raise ScenarioError("must be a table", field="pump.battery")
        _only(
            bt,
            {
                "started",
                "pumped_ml_before_start",
                "days_to_eri_at_zero_flow",
                "days_per_ml",
                "eos_after_eri_days",
            },
            "pump.battery",
        )
        started = _instant(bt["started"], "pump.battery.started") if "started" in bt else start
        if started > start:
            raise ScenarioError("must not be after scenario.start", field="pump.battery.started")
        given = "pumped_ml_before_start" in bt
        pumped = _number(bt, "pumped_ml_before_start", 0.0, "pump.battery.")
        if started < start and not given:
            warnings.append(
                "pump.battery.started is before scenario.start and "
                "pump.battery.pumped_ml_before_start is absent: the battery forecast ignores "
                "what the pump moved before the scenario starts"
            )
        battery = Battery(
            started=started,
            pumped_ml_before_start=pumped,
            pumped_ml_before_start_given=given,
            days_to_eri_at_zero_flow=_number(
                bt, "days_to_eri_at_zero_flow", model.days_to_eri_at_zero_flow, "pump.battery."
            ),
            days_per_ml=_number(bt, "days_per_ml", model.days_per_ml, "pump.battery."),
            eos_after_eri_days=_number(
                bt, "eos_after_eri_days", model.eos_after_eri_days, "pump.battery."
            ),
        )
    elif battery_table is not None:
        raise ScenarioError(
            f"{model.id} is a constant-flow pump without a battery", field="pump.battery"
        )
    return Pump(
        model=model,
        low_reservoir_alarm_ml=low,
        fluid_path_ml=fluid_path,
        fluid_path_initial=initial,
        accuracy=accuracy,
        refill_discrepancy_ml=discrepancy,
        fixed_rate_ml_per_day=fixed_rate,
        battery=battery,
    )


def check_rate(model: PumpModel, rate: float, error: Any) -> None:
    """Spec §11: a basal rate outside the model's [min, max] is an error (tolerance §14)."""
    low, high = model.min_rate_ml_per_day, model.max_rate_ml_per_day
    if rate < low * (1 - RELATIVE_TOLERANCE) or rate > high * (1 + RELATIVE_TOLERANCE):
        raise error(
            f"basal rate {rate:.6g} mL/day is outside the range of {model.id} "
            f"({low:g} to {high:g} mL/day)"
        )


_FIELDS: dict[str, set[str]] = {
    "fill": {"volume_ml", "drugs", "aspirated_ml", "residual_left_ml", "stability_days"},
    "program": {"mode", "rate_ml_per_day", "dose", "period", "steps"},
    "stop": set(),
    "bolus": {"volume_ml", "dose", "duration"},
    "priming_bolus": {"volume_ml", "duration"},
    "bridge_bolus": set(),
    "ptm_settings": {"volume_ml", "dose", "duration", "lockout", "max_per_24h", "enabled"},
    "ptm_request": set(),
    "mri": {"duration", "recovery"},
    "catheter_revision": {"fluid_path_ml", "drug_free_ml"},
    "pump_replacement": {
        "model",
        "fluid_path_ml",
        "days_to_eri_at_zero_flow",
        "days_per_ml",
        "eos_after_eri_days",
    },
    "interrogation": {"reservoir_ml", "alarms", "battery"},
}
_FIELDS["program"] = _FIELDS["program"] | {"programmed_concentration"}
_FIELDS["bolus"] = _FIELDS["bolus"] | {"programmed_concentration"}
_FIELDS["ptm_settings"] = _FIELDS["ptm_settings"] | {"programmed_concentration"}
ALARM_KINDS = (
    "low_reservoir",
    "empty_reservoir",
    "refill_discrepancy",
    "motor_stall",
    "motor_stall_recovery",
    "eri",
    "eos",
)


def _event_at_us(index: int, raw: object) -> int:
    if not isinstance(raw, Mapping):
        raise ScenarioError("must be a table", event_index=index, field="event")
    if "at" not in raw:
        raise ScenarioError("is required", event_index=index, field="at")
    return epoch_us(_instant(raw["at"], "at", index))


def _event(
    index: int, raw: object, pump: Pump, start_us: int, end_us: int, catalog: Catalog
) -> Event:
    if not isinstance(raw, Mapping):
        raise ScenarioError("must be a table", event_index=index, field="event")
    if "at" not in raw:
        raise ScenarioError("is required", event_index=index, field="at")
    at = _instant(raw["at"], "at", index)
    at_us = epoch_us(at)
    if not start_us <= at_us <= end_us:
        raise ScenarioError(
            "lies outside [scenario.start, scenario.end]", event_index=index, at=at, field="at"
        )
    kind = raw.get("kind")
    if kind not in _FIELDS:
        raise ScenarioError(
            f"must be one of {', '.join(EVENT_KINDS)}; got {kind!r}",
            event_index=index,
            at=at,
            field="kind",
        )
    base = Event(index=index, at=at, at_us=at_us, kind=kind, raw=raw)
    extra = set(raw) - _FIELDS[kind] - {"at", "kind"} - _EXTENSION_FIELDS
    if extra:
        raise base.error(f"is not a field of a {kind} event", sorted(extra)[0])
    model = pump.model
    if not model.programmable and kind not in _CONSTANT_FLOW_KINDS:
        raise base.error(
            f"{model.id} is a constant-flow pump: it cannot be programmed, stopped or given "
            "boluses (its rate changes only with the concentration at a refill)",
            "kind",
        )
    common = {"index": index, "at": at, "at_us": at_us, "kind": kind, "raw": raw}
    if kind == "pump_replacement":
        return _replacement(base, raw, pump, common, catalog)
    parser = _PARSERS[kind]
    event: Event = parser(base, raw, pump, common)
    return event


_CONSTANT_FLOW_KINDS = ("fill", "mri", "catheter_revision", "pump_replacement", "interrogation")


def _programmed(base: Event, raw: Mapping[str, Any], drugs: set[str]) -> dict[str, float]:
    """``programmed_concentration = { drug = "10 mg/mL" }``: the concentration typed into the
    programmer for the drug of the event's ``dose``."""
    value = raw.get("programmed_concentration")
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not value:
        raise base.error(
            'must be a table of drug = concentration, e.g. { morphine = "10 mg/mL" }',
            "programmed_concentration",
        )
    out: dict[str, float] = {}
    for drug, text in value.items():
        name = f"programmed_concentration.{drug}"
        if drug not in drugs:
            raise base.error("names a drug that is not given as a dose in this event", name)
        try:
            conc = parse_quantity(text, "concentration")
        except UnitError as exc:
            raise base.error(str(exc), name) from None
        if conc <= 0:
            raise base.error("must be above zero", name)
        out[str(drug)] = conc
    return out


def _dose_drugs(raw: Mapping[str, Any]) -> set[str]:
    drugs: set[str] = set()
    for holder in [raw, *[s for s in raw.get("steps", []) or [] if isinstance(s, Mapping)]]:
        dose = holder.get("dose")
        if isinstance(dose, Mapping):
            drugs |= {str(d) for d in dose}
    return drugs


def _revision(base: Event, raw: Mapping[str, Any], pump: Pump, common: dict[str, Any]) -> Event:
    path = _event_number(base, raw, "fluid_path_ml") if "fluid_path_ml" in raw else None
    free = _event_number(base, raw, "drug_free_ml") if "drug_free_ml" in raw else None
    if path is not None and path <= 0:
        raise base.error("must be above zero", "fluid_path_ml")
    return CatheterRevision(
        **common,
        fluid_path_ml=-1.0 if path is None else path,  # -1: unchanged (the engine knows it)
        drug_free_ml=-1.0 if free is None else free,  # -1: the whole path
    )


def _replacement(
    base: Event, raw: Mapping[str, Any], pump: Pump, common: dict[str, Any], catalog: Catalog
) -> Event:
    model = pump.model
    if "model" in raw:
        try:
            model = model_or_error(catalog, raw["model"])
        except ScenarioError as exc:
            raise base.error(exc.message, "model") from None
    path = _event_number(base, raw, "fluid_path_ml") if "fluid_path_ml" in raw else None
    if path is not None and path <= 0:
        raise base.error("must be above zero", "fluid_path_ml")
    if not model.programmable and pump.model.programmable != model.programmable:
        raise base.error(
            "a replacement by a constant-flow pump needs its factory rate: not supported",
            "model",
        )
    battery: Battery | None = None
    if model.has_battery:
        battery = Battery(
            started=base.at,
            pumped_ml_before_start=0.0,
            pumped_ml_before_start_given=True,
            days_to_eri_at_zero_flow=_event_number(base, raw, "days_to_eri_at_zero_flow")
            if "days_to_eri_at_zero_flow" in raw
            else model.days_to_eri_at_zero_flow,
            days_per_ml=_event_number(base, raw, "days_per_ml")
            if "days_per_ml" in raw
            else model.days_per_ml,
            eos_after_eri_days=_event_number(base, raw, "eos_after_eri_days")
            if "eos_after_eri_days" in raw
            else model.eos_after_eri_days,
        )
    new = Pump(
        model=model,
        low_reservoir_alarm_ml=min(pump.low_reservoir_alarm_ml, model.capacity_ml),
        fluid_path_ml=model.fluid_path_ml if path is None else path,
        fluid_path_initial="no-drug",
        accuracy=pump.accuracy if model is pump.model else model.accuracy,
        refill_discrepancy_ml=pump.refill_discrepancy_ml
        if model is pump.model
        else model.refill_discrepancy_ml,
        fixed_rate_ml_per_day=pump.fixed_rate_ml_per_day if not model.programmable else None,
        battery=battery,
    )
    return PumpReplacement(**common, pump=new)


def _interrogation(
    base: Event, raw: Mapping[str, Any], pump: Pump, common: dict[str, Any]
) -> Event:
    reservoir = _event_number(base, raw, "reservoir_ml") if "reservoir_ml" in raw else None
    if reservoir is not None and reservoir > pump.model.capacity_ml * (1 + RELATIVE_TOLERANCE):
        raise base.error(
            f"is above the capacity of {pump.model.id} ({pump.model.capacity_ml:g} mL)",
            "reservoir_ml",
        )
    alarms = raw.get("alarms", [])
    if not isinstance(alarms, list) or any(a not in ALARM_KINDS for a in alarms):
        raise base.error(f"must be a list of alarm kinds ({', '.join(ALARM_KINDS)})", "alarms")
    battery = raw.get("battery")
    if battery is not None and battery not in ("ok", "eri", "eos"):
        raise base.error("must be 'ok', 'eri' or 'eos'", "battery")
    return Interrogation(
        **common, reservoir_ml=reservoir, alarms=tuple(str(a) for a in alarms), battery=battery
    )


def _fill(base: Event, raw: Mapping[str, Any], pump: Pump, common: dict[str, Any]) -> Event:
    if "volume_ml" not in raw:
        raise base.error("is required", "volume_ml")
    volume = _event_number(base, raw, "volume_ml")
    drugs_raw = raw.get("drugs")
    if not isinstance(drugs_raw, Mapping) or not drugs_raw:
        raise base.error(
            'is required: a table of drug id = concentration, e.g. { morphine = "10 mg/mL" }',
            "drugs",
        )
    drugs: dict[str, float] = {}
    for drug, conc in drugs_raw.items():
        if not _DRUG_ID.match(drug):
            raise base.error("drug ids are lower-case words such as 'morphine'", f"drugs.{drug}")
        try:
            drugs[drug] = parse_quantity(conc, "concentration")
        except UnitError as exc:
            raise base.error(str(exc), f"drugs.{drug}") from None
    aspirated = _event_number(base, raw, "aspirated_ml") if "aspirated_ml" in raw else None
    residual = _event_number(base, raw, "residual_left_ml") if "residual_left_ml" in raw else 0.0
    stability = _event_number(base, raw, "stability_days") if "stability_days" in raw else None
    capacity = pump.model.capacity_ml
    if volume + residual > capacity * (1 + RELATIVE_TOLERANCE):
        what = "residual_left_ml + volume_ml" if residual else "volume_ml"
        raise base.error(
            f"{what} = {volume + residual:g} mL exceeds the reservoir capacity of "
            f"{pump.model.id} ({capacity:g} mL)",
            "volume_ml",
        )
    return Fill(
        **common,
        volume_ml=volume,
        drugs_mg_per_ml=drugs,
        aspirated_ml=aspirated,
        residual_left_ml=residual,
        stability_days=stability,
    )


def _rate_spec(base: Event, raw: Mapping[str, Any], prefix: str) -> RateSpec:
    has_rate = "rate_ml_per_day" in raw
    has_dose = "dose" in raw
    if has_rate == has_dose:
        raise base.error(
            "give either rate_ml_per_day or dose (the daily dose of one drug)",
            f"{prefix}rate_ml_per_day",
        )
    if has_rate:
        rate = _event_number(base, raw, "rate_ml_per_day", prefix)
        return RateSpec(rate_ml_per_day=rate, field=f"{prefix}rate_ml_per_day")
    drug, amount = _one_dose(base, raw["dose"], f"{prefix}dose", "daily_dose")
    return RateSpec(dose_drug=drug, dose_mg_per_day=amount, field=f"{prefix}dose")


def _one_dose(base: Event, value: object, name: str, dimension: Any) -> tuple[str, float]:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise base.error('must name exactly one drug, e.g. { morphine = "5 mg/day" }', name)
    ((drug, text),) = value.items()
    try:
        amount = parse_quantity(text, dimension)
    except UnitError as exc:
        raise base.error(str(exc), f"{name}.{drug}") from None
    if amount <= 0:
        raise base.error("must be above zero", f"{name}.{drug}")
    return str(drug), amount


def _program(base: Event, raw: Mapping[str, Any], pump: Pump, common: dict[str, Any]) -> Event:
    mode = raw.get("mode")
    model = pump.model
    if mode == "continuous":
        if "steps" in raw or "period" in raw:
            raise base.error("continuous programs have no steps or period", "steps")
        spec = _rate_spec(base, raw, "")
        if spec.rate_ml_per_day is not None:
            check_rate(model, spec.rate_ml_per_day, lambda m: base.error(m, spec.field))
        told = _programmed(base, raw, _dose_drugs(raw))
        return Program(**common, mode="continuous", rate=spec, programmed_conc_mg_per_ml=told)
    if mode != "flex":
        raise base.error("must be 'continuous' or 'flex'", "mode")
    if "rate_ml_per_day" in raw or "dose" in raw:
        raise base.error("a flex program gives its rates in steps", "rate_ml_per_day")
    period = raw.get("period")
    if period not in ("day", "week"):
        raise base.error("must be 'day' or 'week'", "period")
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise base.error("must be a non-empty array of steps", "steps")
    if len(steps_raw) > model.max_flex_steps:
        raise base.error(
            f"{len(steps_raw)} steps; {model.id} allows at most {model.max_flex_steps}", "steps"
        )
    steps: list[FlexStep] = []
    previous: tuple[int, time] | None = None
    for i, step in enumerate(steps_raw):
        prefix = f"steps[{i}]."
        if not isinstance(step, Mapping):
            raise base.error("must be a table", f"steps[{i}]")
        extra = set(step) - {"start", "rate_ml_per_day", "dose"}
        if extra:
            raise base.error("is not a field of a flex step", prefix + sorted(extra)[0])
        weekday, at = _step_start(base, step.get("start"), period, prefix + "start")
        key = (weekday or 0, at)
        if previous is not None and key <= previous:
            raise base.error(
                "step starts must be in increasing order within the period", prefix + "start"
            )
        previous = key
        spec = _rate_spec(base, step, prefix)
        if spec.rate_ml_per_day is not None:
            check_rate(model, spec.rate_ml_per_day, lambda m, s=spec: base.error(m, s.field))
        steps.append(FlexStep(start=str(step["start"]), weekday=weekday, at=at, rate=spec))
    told = _programmed(base, raw, _dose_drugs(raw))
    return Program(
        **common, mode="flex", period=period, steps=tuple(steps), programmed_conc_mg_per_ml=told
    )


def _step_start(base: Event, value: object, period: str, name: str) -> tuple[int | None, time]:
    if not isinstance(value, str):
        example = "'08:00'" if period == "day" else "'Mon 08:00'"
        raise base.error(f"is required: a wall-clock time such as {example}", name)
    text = value.strip()
    weekday: int | None = None
    if period == "week":
        parts = text.split()
        if len(parts) != 2 or parts[0][:3].lower() not in _WEEKDAYS or len(parts[0]) != 3:
            raise base.error(f"{value!r} is not a week step start such as 'Mon 08:00'", name)
        weekday = _WEEKDAYS.index(parts[0].lower())
        text = parts[1]
    match = re.fullmatch(r"(\d{2}):(\d{2})", text)
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise base.error(f"{value!r} is not a wall-clock time HH:MM (00:00 to 23:59)", name)
    return weekday, time(int(match.group(1)), int(match.group(2)))


def _stop(base: Event, raw: Mapping[str, Any], pump: Pump, common: dict[str, Any]) -> Event:
    return Stop(**common)


def _duration(base: Event, raw: Mapping[str, Any], name: str, *, positive: bool) -> int:
    if name not in raw:
        raise base.error("is required: an ISO 8601 duration such as 'PT30M'", name)
    try:
        us = parse_duration_us(raw[name])
    except UnitError as exc:
        raise base.error(str(exc), name) from None
    if positive and us <= 0:
        raise base.error("must be longer than zero", name)
    return us


def _volume_or_dose(
    base: Event, raw: Mapping[str, Any]
) -> tuple[float | None, str | None, float | None]:
    has_volume, has_dose = "volume_ml" in raw, "dose" in raw
    if has_volume == has_dose:
        raise base.error("give either volume_ml or dose (an amount of one drug)", "volume_ml")
    if has_volume:
        volume = _event_number(base, raw, "volume_ml")
        if volume <= 0:
            raise base.error("must be above zero", "volume_ml")
        return volume, None, None
    drug, amount = _one_dose(base, raw["dose"], "dose", "amount")
    return None, drug, amount


def _bolus(base: Event, raw: Mapping[str, Any], pump: Pump, common: dict[str, Any]) -> Event:
    volume, drug, amount = _volume_or_dose(base, raw)
    duration = _duration(base, raw, "duration", positive=True)
    if volume is not None:
        check_bolus_rate(pump.model, volume, duration, base)
    told = _programmed(base, raw, _dose_drugs(raw))
    return Bolus(
        **common,
        volume_ml=volume,
        dose_drug=drug,
        dose_mg=amount,
        duration_us=duration,
        programmed_conc_mg_per_ml=told,
    )


def check_bolus_rate(model: PumpModel, volume_ml: float, duration_us: int, event: Event) -> None:
    """Spec §5: a bolus whose own rate exceeds the model's maximum bolus rate is an error."""
    rate = volume_ml / (duration_us / 86_400e6)
    limit = model.max_bolus_rate_ml_per_day
    if rate > limit * (1 + RELATIVE_TOLERANCE):
        raise event.error(
            f"bolus rate {rate:.6g} mL/day ({volume_ml:g} mL over "
            f"{duration_us / 60e6:g} min) exceeds the maximum bolus rate of {model.id} "
            f"({limit:g} mL/day)",
            "duration",
        )


def _priming(base: Event, raw: Mapping[str, Any], pump: Pump, common: dict[str, Any]) -> Event:
    volume = _event_number(base, raw, "volume_ml") if "volume_ml" in raw else None
    if volume is not None and volume <= 0:
        raise base.error("must be above zero", "volume_ml")
    duration = _duration(base, raw, "duration", positive=True) if "duration" in raw else None
    if duration is not None:
        check_bolus_rate(
            pump.model, volume if volume is not None else pump.fluid_path_ml, duration, base
        )
    return PrimingBolus(**common, volume_ml=volume, duration_us=duration)


def _bridge(base: Event, raw: Mapping[str, Any], pump: Pump, common: dict[str, Any]) -> Event:
    return BridgeBolus(**common)


def _ptm_settings(base: Event, raw: Mapping[str, Any], pump: Pump, common: dict[str, Any]) -> Event:
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise base.error("must be true or false", "enabled")
    if not enabled and not ({"volume_ml", "dose"} & set(raw)):
        return PtmSettings(**common, enabled=False)
    volume, drug, amount = _volume_or_dose(base, raw)
    duration = _duration(base, raw, "duration", positive=True)
    lockout = _duration(base, raw, "lockout", positive=False)
    if "max_per_24h" not in raw:
        raise base.error("is required: the most PTM boluses allowed in 24 hours", "max_per_24h")
    maximum = raw["max_per_24h"]
    if isinstance(maximum, bool) or not isinstance(maximum, int) or maximum < 1:
        raise base.error("must be a whole number of at least 1", "max_per_24h")
    if volume is not None:
        check_bolus_rate(pump.model, volume, duration, base)
    return PtmSettings(
        **common,
        enabled=enabled,
        volume_ml=volume,
        dose_drug=drug,
        dose_mg=amount,
        duration_us=duration,
        lockout_us=lockout,
        max_per_24h=maximum,
        programmed_conc_mg_per_ml=_programmed(base, raw, _dose_drugs(raw)),
    )


def _ptm_request(base: Event, raw: Mapping[str, Any], pump: Pump, common: dict[str, Any]) -> Event:
    return PtmRequest(**common)


def _mri(base: Event, raw: Mapping[str, Any], pump: Pump, common: dict[str, Any]) -> Event:
    duration = _duration(base, raw, "duration", positive=False)
    recovery = _duration(base, raw, "recovery", positive=False) if "recovery" in raw else 0
    return Mri(**common, duration_us=duration, recovery_us=recovery)


_PARSERS: dict[str, Any] = {
    "fill": _fill,
    "program": _program,
    "stop": _stop,
    "bolus": _bolus,
    "priming_bolus": _priming,
    "bridge_bolus": _bridge,
    "ptm_settings": _ptm_settings,
    "ptm_request": _ptm_request,
    "mri": _mri,
    "catheter_revision": _revision,
    "interrogation": _interrogation,
}


# ---------------------------------------------------------------------------------------
# Small helpers


def _table(data: Mapping[str, Any], name: str, *, required: bool) -> Mapping[str, Any]:
    value = data.get(name)
    if value is None:
        if required:
            raise ScenarioError("is required", field=name)
        return {}
    if not isinstance(value, Mapping):
        raise ScenarioError("must be a table", field=name)
    return value


def _only(table: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
    extra = set(table) - allowed
    if extra:
        raise ScenarioError("is not a known field", field=f"{prefix}.{sorted(extra)[0]}")


def _instant(value: object, name: str, index: int | None = None) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(
                f"{value!r} is not an instant such as 2026-01-01T08:00:00Z",
                event_index=index,
                field=name,
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ScenarioError(
                "needs a UTC offset (2026-01-01T08:00:00Z or ...+01:00)",
                event_index=index,
                field=name,
            )
        return value.astimezone(UTC)
    if isinstance(value, date):
        raise ScenarioError(
            "is a date; give an instant with a time and offset such as 2026-01-01T00:00:00Z",
            event_index=index,
            field=name,
        )
    if value is None:
        raise ScenarioError("is required", event_index=index, field=name)
    raise ScenarioError(
        f"{value!r} is not an instant such as 2026-01-01T08:00:00Z", event_index=index, field=name
    )


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ScenarioError(
            "must be an IANA time zone name such as 'Europe/Berlin'", field="scenario.timezone"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScenarioError(
            f"{name!r} is not an IANA time zone name such as 'Europe/Berlin'",
            field="scenario.timezone",
        ) from None


def _number(table: Mapping[str, Any], name: str, default: float, prefix: str) -> float:
    if name not in table:
        return default
    value = table[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"must be a number, got {value!r}", field=prefix + name)
    if value < 0:
        raise ScenarioError("must not be negative", field=prefix + name)
    return float(value)


def _event_number(base: Event, raw: Mapping[str, Any], name: str, prefix: str = "") -> float:
    value = raw[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise base.error(f"must be a number, got {value!r}", prefix + name)
    if value < 0:
        raise base.error("must not be negative", prefix + name)
    return float(value)
