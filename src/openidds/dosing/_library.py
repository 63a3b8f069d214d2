"""The drug library (``docs/drug-library.md``): typed, loaded strictly from a TOML file."""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ._errors import LibraryError

LIBRARY_ENV = "OPENIDDS_DRUG_LIBRARY"
REGIONS = ("US", "EU")
INDICATIONS = ("cancer_pain", "noncancer_pain", "spasticity_spinal", "spasticity_cerebral")
_KINDS = ("label", "guideline", "clinic-policy")
_DRUG_TABLES = (
    "labelled_strengths_mg_per_ml",
    "withdrawal_risk",
    "ptm_allowed_opioid_naive",
    "concentration_max_mg_per_ml",
    "daily_dose_max_mg_per_day",
    "starting_dose_mg_per_day",
    "titration",
    "stability",
    "labelled",
)


@dataclass(frozen=True, slots=True)
class Limit:
    """A soft and a hard maximum with where each comes from."""

    soft: float
    hard: float
    soft_kind: str
    hard_kind: str
    soft_basis: str
    hard_basis: str
    source: str
    by_region: Mapping[str, float] = field(default_factory=dict)
    soft_by_region: Mapping[str, float] = field(default_factory=dict)
    by_indication: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    """``indication -> (soft, hard)``: e.g. baclofen by the origin of spasticity."""
    children: tuple[float, float, float] | None = None
    """``(under_age_years, soft, hard)``: the limits for children younger than that age."""
    by_indication_basis: str = ""
    children_basis: str = ""

    def hard_for(self, region: str) -> float:
        """The hard maximum in a region (``by_region``, else ``hard``)."""
        return self.by_region.get(region, self.hard)

    def for_patient(
        self, region: str, indication: str | None, age_years: float | None
    ) -> tuple[float, float, str, str]:
        """``(soft, hard, soft_basis, hard_basis)`` for one patient: the strictest of the
        region's, the indication's and (for a child) the children's limits."""
        soft, hard = self.soft_by_region.get(region, self.soft), self.hard_for(region)
        soft_basis, hard_basis = self.soft_basis, self.hard_basis
        if region in self.soft_by_region:
            soft_basis = f"{self.hard_basis}; region {region}"
        if indication is None and self.by_indication:
            # fail closed: the indication is not stated, judge with the strictest
            indication = min(self.by_indication, key=lambda k: self.by_indication[k])
        if indication is not None and indication in self.by_indication:
            s, h = self.by_indication[indication]
            if s != soft:
                soft, soft_basis = s, self.by_indication_basis
            if h < hard:
                hard, hard_basis = h, self.by_indication_basis
        if self.children is not None and age_years is not None and age_years < self.children[0]:
            s, h = self.children[1], self.children[2]
            if s < soft:
                soft, soft_basis = s, self.children_basis
            if h < hard:
                hard, hard_basis = h, self.children_basis
        return min(soft, hard), hard, soft_basis, hard_basis


@dataclass(frozen=True, slots=True)
class StartingDose:
    """Starting-dose range in mg/day; baclofen gives a rule instead of a range."""

    low: float | None
    high: float | None
    applies_to: str  # "opioid-naive" or "all"
    basis: str
    source: str
    rule_factor: float | None = None
    screening_bolus_doses_mg: tuple[float, ...] = ()
    guideline_high: float | None = None
    """A stricter guideline range's top: a start above it, within ``high``, is info."""
    guideline_basis: str = ""

    @property
    def upper(self) -> float | None:
        """The largest starting dose the range or the rule allows, mg/day."""
        if self.high is not None:
            return self.high
        if self.rule_factor is not None and self.screening_bolus_doses_mg:
            return self.rule_factor * max(self.screening_bolus_doses_mg)
        return None


@dataclass(frozen=True, slots=True)
class Titration:
    """Largest increase per change and shortest time between increases (soft; hard if set)."""

    soft_basis: str
    source: str
    soft_kind: str
    soft_increase_fraction: float | None = None
    soft_increase_mg_per_day: float | None = None
    soft_min_interval_hours: float | None = None
    hard_increase_mg_per_day: float | None = None
    hard_min_interval_hours: float | None = None
    hard_basis: str = ""
    hard_kind: str = ""
    phases: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    no_increase_after_implant_hours: float | None = None


@dataclass(frozen=True, slots=True)
class Value:
    """One sourced number of the library."""

    value: float
    kind: str
    confirmed: bool
    source: str
    basis: str = ""


@dataclass(frozen=True, slots=True)
class Decrease:
    """Largest one-step decrease, as a fraction of the dose in force (0.2 = -20 %)."""

    soft_fraction: float | None
    hard_fraction: float | None
    decimal_pattern_hard: bool
    soft_basis: str
    hard_basis: str
    source: str


@dataclass(frozen=True, slots=True)
class OpioidSwitch:
    """Judging a switch between opioids with the equianalgesic table."""

    reduction_low: float
    reduction_high: float
    hard_factor: float
    basis: str
    source: str


@dataclass(frozen=True, slots=True)
class Safety:
    """Library-wide policy numbers of the dose-safety rules (issue 9), each with its source."""

    decimal_pattern_tolerance: Value
    priming_margin_fraction: Value
    ptm_bolus_fraction: Limit
    clinician_bolus_naive_window_hours: Value
    programmed_concentration_tolerance: Value
    opioid_switch: OpioidSwitch


@dataclass(frozen=True, slots=True)
class Stability:
    in_pump_days: float
    source: str
    in_pump_days_undiluted: float | None = None
    first_refill_days_new_pump: float | None = None


@dataclass(frozen=True, slots=True)
class Labelled:
    indications: tuple[str, ...]
    regions: tuple[str, ...]
    pumps: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class Drug:
    """One drug of the library. Amounts in mg, concentrations mg/mL, doses mg/day."""

    id: str
    name: str
    drug_class: str
    display_unit: str
    labelled_strengths_mg_per_ml: tuple[float, ...]
    withdrawal_risk: bool
    ptm_allowed_opioid_naive: bool
    concentration_max: Limit
    daily_dose_max: Limit
    starting_dose: StartingDose
    titration: Titration
    stability: Stability
    labelled: Labelled
    withdrawal_wording: str = ""
    """What an interruption of this drug can do, in words a clinician reads (withdrawal)."""
    decrease: Decrease | None = None
    bolus_max: Limit | None = None
    """Largest single bolus (clinician or PTM), mg."""
    low_reservoir_alarm_min_ml: Value | None = None
    max_interruption_hours: Value | None = None
    equianalgesic: RouteRatio | None = None
    """Opioids: mg of intrathecal morphine equal to 1 mg of this drug intrathecally."""

    @property
    def is_opioid(self) -> bool:
        return self.drug_class == "opioid"


@dataclass(frozen=True, slots=True)
class CheckPolicy:
    concentration_change_fraction: float
    implausible_unit_factor: float
    visit_window_hours: float
    source: str


@dataclass(frozen=True, slots=True)
class RouteRatio:
    """Amount by a route equal to 1 unit intrathecally: default and range."""

    default: float
    low: float
    high: float
    confirmed: bool
    source: str


@dataclass(frozen=True, slots=True)
class Library:
    """A versioned drug library."""

    id: str
    version: str
    released: date | None
    region_default: str
    path: str
    drugs: Mapping[str, Drug]
    checks: CheckPolicy
    routes: tuple[str, ...]
    route_ratios: Mapping[str, Mapping[str, RouteRatio]]
    """``route_ratios[drug][route]``."""
    safety: Safety

    def get(self, drug_id: str) -> Drug | None:
        return self.drugs.get(drug_id)


def load_library(path: str | os.PathLike[str] | None = None) -> Library:
    """Load a library file; without a path, ``$OPENIDDS_DRUG_LIBRARY`` or the bundled one."""
    if path is None:
        env = os.environ.get(LIBRARY_ENV)
        if env:
            path = env
    if path is None:
        return _bundled()
    return _load(Path(path))


@cache
def _bundled() -> Library:
    ref = resources.files("openidds.dosing") / "data" / "drug_library.toml"
    with resources.as_file(ref) as file:
        return _load(file)


def _load(path: Path) -> Library:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LibraryError(f"cannot read drug library {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LibraryError(f"drug library {path} is not valid TOML: {exc}") from exc
    return parse_library(data, path=str(path))


def parse_library(data: Mapping[str, Any], *, path: str = "<dict>") -> Library:
    """Validate a library given as a dict (the TOML document's shape)."""
    r = _Reader(path)
    header = r.table(data, "library")
    lib_id = r.string(header, "id", "library")
    version = r.string(header, "version", "library")
    region = r.string(header, "region_default", "library")
    if region not in REGIONS:
        raise r.error("library.region_default", f"must be one of {', '.join(REGIONS)}")
    released = header.get("released")
    drugs_raw = r.table(data, "drugs")
    if not drugs_raw:
        raise r.error("drugs", "no [drugs.*] tables")
    drugs = {drug_id: _drug(r, drug_id, raw) for drug_id, raw in drugs_raw.items()}
    checks = r.table(data, "checks")
    policy = CheckPolicy(
        concentration_change_fraction=r.number(checks, "concentration_change_fraction", "checks"),
        implausible_unit_factor=r.number(checks, "implausible_unit_factor", "checks"),
        visit_window_hours=r.number(checks, "visit_window_hours", "checks"),
        source=r.string(checks, "source", "checks"),
    )
    conv = r.table(data, "route_conversion")
    routes = tuple(r.strings(conv, "routes", "route_conversion"))
    ratios: dict[str, dict[str, RouteRatio]] = {}
    for name, value in conv.items():
        if not isinstance(value, Mapping) or not set(value) <= set(routes):
            continue
        where = f"route_conversion.{name}"
        ratios[name] = {
            route: _ratio(r, r.table(value, route, where), f"{where}.{route}") for route in value
        }
    between = conv.get("intrathecal_morphine_per_hydromorphone")
    if isinstance(between, Mapping):
        ratios["intrathecal_morphine_per_hydromorphone"] = {
            "intrathecal": _ratio(
                r, between, "route_conversion.intrathecal_morphine_per_hydromorphone"
            )
        }
    return Library(
        safety=_safety(r, r.table(data, "safety")),
        id=lib_id,
        version=version,
        released=released if isinstance(released, date) else None,
        region_default=region,
        path=path,
        drugs=drugs,
        checks=policy,
        routes=routes,
        route_ratios=ratios,
    )


def _value(r: _Reader, t: Mapping[str, Any], name: str, where: str) -> Value:
    table = r.table(t, name, where)
    full = f"{where}.{name}"
    kind = r.string(table, "kind", full)
    if kind not in _KINDS:
        raise r.error(f"{full}.kind", f"must be one of {', '.join(_KINDS)}")
    return Value(
        value=r.number(table, "value", full),
        kind=kind,
        confirmed=r.boolean(table, "confirmed", full),
        source=r.string(table, "source", full),
        basis=str(table.get("basis", "")),
    )


def _optional_value(r: _Reader, t: Mapping[str, Any], name: str, where: str) -> Value | None:
    return _value(r, t, name, where) if name in t else None


def _safety(r: _Reader, t: Mapping[str, Any]) -> Safety:
    where = "safety"
    switch = r.table(t, "opioid_switch", where)
    sw = f"{where}.opioid_switch"
    opioid_switch = OpioidSwitch(
        reduction_low=r.number(switch, "reduction_low", sw),
        reduction_high=r.number(switch, "reduction_high", sw),
        hard_factor=r.number(switch, "hard_factor", sw),
        basis=r.string(switch, "basis", sw),
        source=r.string(switch, "source", sw),
    )
    if not 0 <= opioid_switch.reduction_low <= opioid_switch.reduction_high < 1:
        raise r.error(sw, "needs 0 <= reduction_low <= reduction_high < 1")
    if opioid_switch.hard_factor <= 1 - opioid_switch.reduction_low:
        raise r.error(f"{sw}.hard_factor", "must be above 1 - reduction_low")
    safety = Safety(
        decimal_pattern_tolerance=_value(r, t, "decimal_pattern_tolerance", where),
        priming_margin_fraction=_value(r, t, "priming_margin_fraction", where),
        ptm_bolus_fraction=_limit(r, r.table(t, "ptm_bolus_fraction", where), f"{where}.ptm"),
        clinician_bolus_naive_window_hours=_value(
            r, t, "clinician_bolus_naive_window_hours", where
        ),
        programmed_concentration_tolerance=_value(
            r, t, "programmed_concentration_tolerance", where
        ),
        opioid_switch=opioid_switch,
    )
    if not 0 < safety.decimal_pattern_tolerance.value < 0.5:
        raise r.error(f"{where}.decimal_pattern_tolerance", "must be between 0 and 0.5")
    return safety


def _decrease(r: _Reader, t: Mapping[str, Any], where: str) -> Decrease:
    def opt(name: str) -> float | None:
        return r.number(t, name, where) if name in t else None

    soft, hard = opt("soft_fraction"), opt("hard_fraction")
    for value, name in ((soft, "soft_fraction"), (hard, "hard_fraction")):
        if value is not None and not 0 < value <= 1:
            raise r.error(f"{where}.{name}", "must be a fraction in (0, 1]")
    if soft is not None and hard is not None and soft > hard:
        raise r.error(where, "needs soft_fraction <= hard_fraction")
    return Decrease(
        soft_fraction=soft,
        hard_fraction=hard,
        decimal_pattern_hard=r.boolean(t, "decimal_pattern_hard", where),
        soft_basis=str(t.get("soft_basis", "")),
        hard_basis=str(t.get("hard_basis", "")),
        source=r.string(t, "source", where),
    )


def _ratio(r: _Reader, t: Mapping[str, Any], where: str) -> RouteRatio:
    ratio = RouteRatio(
        default=r.number(t, "default", where),
        low=r.number(t, "low", where),
        high=r.number(t, "high", where),
        confirmed=r.boolean(t, "confirmed", where),
        source=r.string(t, "source", where),
    )
    if not 0 < ratio.low <= ratio.default <= ratio.high:
        raise r.error(where, "needs 0 < low <= default <= high")
    return ratio


def _drug(r: _Reader, drug_id: str, raw: object) -> Drug:
    where = f"drugs.{drug_id}"
    if not isinstance(raw, Mapping):
        raise r.error(where, "must be a table")
    missing = [name for name in _DRUG_TABLES if name not in raw]
    if missing:
        raise r.error(where, f"missing tables {', '.join(missing)}")
    unit = r.string(raw, "display_unit", where)
    if unit not in ("mg", "mcg"):
        raise r.error(f"{where}.display_unit", "must be 'mg' or 'mcg'")
    strengths = r.table(raw, "labelled_strengths_mg_per_ml", where)
    stability = r.table(raw, "stability", where)
    labelled = r.table(raw, "labelled", where)
    for name, allowed in (("indications", INDICATIONS), ("regions", REGIONS)):
        bad = [v for v in r.strings(labelled, name, f"{where}.labelled") if v not in allowed]
        if bad:
            raise r.error(f"{where}.labelled.{name}", f"unknown value {bad[0]!r}")
    drug_class = r.string(raw, "class", where)
    ptm_naive = r.boolean(r.table(raw, "ptm_allowed_opioid_naive", where), "value", where)
    if drug_class == "opioid" and ptm_naive:
        # issue 3: never for opioids (a labelled contraindication, not a clinic's choice)
        raise r.error(
            f"{where}.ptm_allowed_opioid_naive", "must be false for an opioid (class = 'opioid')"
        )
    concentration = _limit(r, r.table(raw, "concentration_max_mg_per_ml", where), where)
    daily = _limit(r, r.table(raw, "daily_dose_max_mg_per_day", where), where)
    withdrawal = r.table(raw, "withdrawal_risk", where)
    withdrawal_risk = r.boolean(withdrawal, "value", where)
    wording = str(withdrawal.get("wording", ""))
    if withdrawal_risk:
        # fail closed: a withdrawal-risk drug must say what an interruption does and carry
        # the limits that guard against one
        wording = r.string(withdrawal, "wording", f"{where}.withdrawal_risk")
        for name in ("decrease", "low_reservoir_alarm_min_ml", "max_interruption_hours"):
            if name not in raw:
                raise r.error(where, f"a withdrawal-risk drug needs the table {name}")
    if drug_class == "opioid" and "equianalgesic_morphine_mg_per_mg" not in raw:
        raise r.error(where, "an opioid needs the table equianalgesic_morphine_mg_per_mg")
    equi = raw.get("equianalgesic_morphine_mg_per_mg")
    return Drug(
        withdrawal_wording=wording,
        decrease=_decrease(r, r.table(raw, "decrease", where), f"{where}.decrease")
        if "decrease" in raw
        else None,
        bolus_max=_limit(r, r.table(raw, "bolus_max_mg", where), f"{where}.bolus_max_mg"),
        low_reservoir_alarm_min_ml=_optional_value(r, raw, "low_reservoir_alarm_min_ml", where),
        max_interruption_hours=_optional_value(r, raw, "max_interruption_hours", where),
        equianalgesic=_ratio(r, equi, f"{where}.equianalgesic_morphine_mg_per_mg")
        if isinstance(equi, Mapping)
        else None,
        id=drug_id,
        name=r.string(raw, "name", where),
        drug_class=drug_class,
        display_unit=unit,
        labelled_strengths_mg_per_ml=tuple(
            r.numbers(strengths, "value", f"{where}.labelled_strengths_mg_per_ml")
        ),
        withdrawal_risk=r.boolean(r.table(raw, "withdrawal_risk", where), "value", where),
        ptm_allowed_opioid_naive=ptm_naive,
        concentration_max=concentration,
        daily_dose_max=daily,
        starting_dose=_starting(r, r.table(raw, "starting_dose_mg_per_day", where), where),
        titration=_titration(r, r.table(raw, "titration", where), where),
        stability=Stability(
            in_pump_days=r.number(r.table(stability, "in_pump_days", where), "value", where),
            source=str(r.table(stability, "in_pump_days", where).get("source", "")),
            in_pump_days_undiluted=r.optional_value(stability, "in_pump_days_undiluted", where),
            first_refill_days_new_pump=r.optional_value(
                stability, "first_refill_days_new_pump", where
            ),
        ),
        labelled=Labelled(
            indications=tuple(r.strings(labelled, "indications", where)),
            regions=tuple(r.strings(labelled, "regions", where)),
            pumps=tuple(r.strings(labelled, "pumps", where)),
            source=r.string(labelled, "source", f"{where}.labelled"),
        ),
    )


def _limit(r: _Reader, t: Mapping[str, Any], where: str) -> Limit:
    soft = r.number(t, "soft", where)
    hard = r.number(t, "hard", where)
    if not 0 < soft <= hard:
        raise r.error(where, "needs 0 < soft <= hard")
    by_region_raw = t.get("by_region", {})
    if not isinstance(by_region_raw, Mapping):
        raise r.error(f"{where}.by_region", "must be a table of region = mg/day")
    by_region = {str(k): r.number(by_region_raw, k, f"{where}.by_region") for k in by_region_raw}
    soft_region_raw = t.get("soft_by_region", {})
    if not isinstance(soft_region_raw, Mapping):
        raise r.error(f"{where}.soft_by_region", "must be a table of region = value")
    soft_by_region = {
        str(k): r.number(soft_region_raw, k, f"{where}.soft_by_region") for k in soft_region_raw
    }
    for region_name, value in soft_by_region.items():
        if region_name not in REGIONS:
            raise r.error(f"{where}.soft_by_region", f"unknown region {region_name!r}")
        if value > by_region.get(region_name, hard):
            raise r.error(f"{where}.soft_by_region.{region_name}", "is above the hard limit")
    for region_name, value in by_region.items():
        if region_name not in REGIONS:
            raise r.error(f"{where}.by_region", f"unknown region {region_name!r}")
        if value < soft:
            raise r.error(f"{where}.by_region.{region_name}", "is below the soft limit")
    by_indication: dict[str, tuple[float, float]] = {}
    for name, value in dict(t.get("by_indication", {})).items():
        if name not in INDICATIONS or not isinstance(value, Mapping):
            raise r.error(f"{where}.by_indication.{name}", "must be an indication = {soft, hard}")
        pair = (
            r.number(value, "soft", f"{where}.by_indication.{name}"),
            r.number(value, "hard", f"{where}.by_indication.{name}"),
        )
        if not 0 < pair[0] <= pair[1]:
            raise r.error(f"{where}.by_indication.{name}", "needs 0 < soft <= hard")
        by_indication[str(name)] = pair
    children = None
    if "children" in t:
        c = r.table(t, "children", where)
        cw = f"{where}.children"
        children = (
            r.number(c, "under_age_years", cw),
            r.number(c, "soft", cw),
            r.number(c, "hard", cw),
        )
        if not 0 < children[1] <= children[2]:
            raise r.error(cw, "needs 0 < soft <= hard")
    for kind_name in ("soft_kind", "hard_kind"):
        if r.string(t, kind_name, where) not in _KINDS:
            raise r.error(f"{where}.{kind_name}", f"must be one of {', '.join(_KINDS)}")
    return Limit(
        soft=soft,
        hard=hard,
        soft_kind=r.string(t, "soft_kind", where),
        hard_kind=r.string(t, "hard_kind", where),
        soft_basis=r.string(t, "soft_basis", where),
        hard_basis=r.string(t, "hard_basis", where),
        source=r.string(t, "source", where),
        by_region=by_region,
        soft_by_region=soft_by_region,
        by_indication=by_indication,
        children=children,
        by_indication_basis=str(t.get("by_indication_basis", "")),
        children_basis=str(r.table(t, "children", where).get("basis", "")) if children else "",
    )


def _starting(r: _Reader, t: Mapping[str, Any], where: str) -> StartingDose:
    applies = r.string(t, "applies_to", where)
    if applies not in ("opioid-naive", "all"):
        raise r.error(f"{where}.applies_to", "must be 'opioid-naive' or 'all'")
    if "rule_factor" in t:
        return StartingDose(
            low=None,
            high=None,
            applies_to=applies,
            basis=r.string(t, "basis", where),
            source=r.string(t, "source", where),
            rule_factor=r.number(t, "rule_factor", where),
            screening_bolus_doses_mg=tuple(r.numbers(t, "screening_bolus_doses_mg", where)),
        )
    low, high = r.number(t, "low", where), r.number(t, "high", where)
    if low > high:
        raise r.error(where, "needs low <= high")
    guideline_high = r.number(t, "guideline_high", where) if "guideline_high" in t else None
    if guideline_high is not None and guideline_high > high:
        raise r.error(f"{where}.guideline_high", "must not be above high")
    return StartingDose(
        guideline_high=guideline_high,
        guideline_basis=str(t.get("guideline_basis", "")),
        low=low,
        high=high,
        applies_to=applies,
        basis=r.string(t, "basis", where),
        source=r.string(t, "source", where),
    )


def _titration(r: _Reader, t: Mapping[str, Any], where: str) -> Titration:
    def opt(name: str) -> float | None:
        return r.number(t, name, where) if name in t else None

    phases_raw = t.get("phases", {})
    if not isinstance(phases_raw, Mapping):
        raise r.error(f"{where}.phases", "must be a table")
    phases = {
        str(name): {str(k): r.number(v, k, f"{where}.phases.{name}") for k in v}
        for name, v in phases_raw.items()
        if isinstance(v, Mapping)
    }
    titration = Titration(
        soft_basis=r.string(t, "soft_basis", where),
        source=r.string(t, "source", where),
        soft_kind=r.string(t, "soft_kind", where),
        soft_increase_fraction=opt("soft_increase_fraction"),
        soft_increase_mg_per_day=opt("soft_increase_mg_per_day"),
        soft_min_interval_hours=opt("soft_min_interval_hours"),
        hard_increase_mg_per_day=opt("hard_increase_mg_per_day"),
        hard_min_interval_hours=opt("hard_min_interval_hours"),
        hard_basis=str(t.get("hard_basis", "")),
        hard_kind=str(t.get("hard_kind", "")),
        phases=phases,
        no_increase_after_implant_hours=opt("no_increase_after_implant_hours"),
    )
    has_soft = (
        titration.soft_increase_fraction is not None
        or titration.soft_increase_mg_per_day is not None
        or bool(phases)
    )
    if not has_soft:
        raise r.error(where, "needs a soft increase limit (fraction, mg/day or phases)")
    return titration


class _Reader:
    """Typed access to TOML tables that names the file and the key in every error."""

    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, where: str, message: str) -> LibraryError:
        return LibraryError(f"drug library {self.path}: {where}: {message}")

    def table(self, t: Mapping[str, Any], name: str, where: str = "") -> Mapping[str, Any]:
        value = t.get(name)
        full = f"{where}.{name}" if where else name
        if not isinstance(value, Mapping):
            raise self.error(full, "is required (a table)")
        return value

    def string(self, t: Mapping[str, Any], name: str, where: str) -> str:
        value = t.get(name)
        if not isinstance(value, str) or not value:
            raise self.error(f"{where}.{name}", "is required (a non-empty string)")
        return value

    def number(self, t: Mapping[str, Any], name: str, where: str) -> float:
        value = t.get(name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise self.error(f"{where}.{name}", f"must be a finite number >= 0, got {value!r}")
        return float(value)

    def boolean(self, t: Mapping[str, Any], name: str, where: str) -> bool:
        value = t.get(name)
        if not isinstance(value, bool):
            raise self.error(f"{where}.{name}", f"must be true or false, got {value!r}")
        return value

    def numbers(self, t: Mapping[str, Any], name: str, where: str) -> list[float]:
        value = t.get(name)
        if not isinstance(value, list):
            raise self.error(f"{where}.{name}", "must be an array of numbers")
        return [self.number({name: v}, name, where) for v in value]

    def strings(self, t: Mapping[str, Any], name: str, where: str) -> list[str]:
        value = t.get(name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(f"{where}.{name}", "must be an array of strings")
        return [str(v) for v in value]

    def optional_value(self, t: Mapping[str, Any], name: str, where: str) -> float | None:
        if name not in t:
            return None
        return self.number(self.table(t, name, where), "value", f"{where}.{name}")
