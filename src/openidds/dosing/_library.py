"""The drug library (``docs/drug-library.md``): typed, loaded strictly from a TOML file."""

from __future__ import annotations

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

    def hard_for(self, region: str) -> float:
        """The hard maximum in a region (``by_region``, else ``hard``)."""
        return self.by_region.get(region, self.hard)


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
    return Drug(
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
    return StartingDose(
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
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.error(f"{where}.{name}", f"must be a number >= 0, got {value!r}")
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
