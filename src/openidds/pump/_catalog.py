"""The device catalog: every model's numbers, each with its source and confirmation status.

The data lives in ``data/catalog.toml``. A clinic may use its own reviewed copy: pass its
path to :func:`load_catalog` or set ``OPENIDDS_PUMP_CATALOG``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from ._errors import ScenarioError

Drive = Literal["programmable", "constant-flow"]

CATALOG_ENV = "OPENIDDS_PUMP_CATALOG"

_COMMON_PARAMS = (
    "capacity_ml",
    "min_rate_ml_per_day",
    "max_rate_ml_per_day",
    "max_bolus_rate_ml_per_day",
    "priming_bolus_rate_ml_per_day",
    "max_flex_steps",
    "low_reservoir_alarm_ml",
    "refill_discrepancy_ml",
    "accuracy",
    "fluid_path_ml",
    "mri_stalls_motor",
)
_BATTERY_PARAMS = ("days_to_eri_at_zero_flow", "days_per_ml", "eos_after_eri_days")


@dataclass(frozen=True, slots=True)
class Param:
    """One catalog number with where it comes from."""

    value: float | int | bool | tuple[float, ...]
    confirmed: bool
    source: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class PumpModel:
    """A pump model of the catalog. Numeric accessors return canonical units."""

    id: str
    name: str
    manufacturer: str
    drive: Drive
    mri: str
    params: dict[str, Param]

    def _float(self, name: str) -> float:
        value = self.params[name].value
        assert isinstance(value, int | float)
        return float(value)

    @property
    def programmable(self) -> bool:
        return self.drive == "programmable"

    @property
    def capacity_ml(self) -> float:
        return self._float("capacity_ml")

    @property
    def min_rate_ml_per_day(self) -> float:
        return self._float("min_rate_ml_per_day")

    @property
    def max_rate_ml_per_day(self) -> float:
        return self._float("max_rate_ml_per_day")

    @property
    def max_bolus_rate_ml_per_day(self) -> float:
        return self._float("max_bolus_rate_ml_per_day")

    @property
    def priming_bolus_rate_ml_per_day(self) -> float:
        return self._float("priming_bolus_rate_ml_per_day")

    @property
    def max_flex_steps(self) -> int:
        return int(self._float("max_flex_steps"))

    @property
    def low_reservoir_alarm_ml(self) -> float:
        return self._float("low_reservoir_alarm_ml")

    @property
    def refill_discrepancy_ml(self) -> float:
        return self._float("refill_discrepancy_ml")

    @property
    def accuracy(self) -> float:
        return self._float("accuracy")

    @property
    def fluid_path_ml(self) -> float:
        return self._float("fluid_path_ml")

    @property
    def mri_stalls_motor(self) -> bool:
        return bool(self.params["mri_stalls_motor"].value)

    @property
    def mri_requires_empty_reservoir(self) -> bool:
        """The labeling says to empty the reservoir before an MRI (Prometra II); a catalog
        copy without the value says no."""
        param = self.params.get("mri_requires_empty_reservoir")
        return bool(param.value) if param is not None else False

    @property
    def has_battery(self) -> bool:
        return all(name in self.params for name in _BATTERY_PARAMS)

    @property
    def days_to_eri_at_zero_flow(self) -> float:
        return self._float("days_to_eri_at_zero_flow")

    @property
    def days_per_ml(self) -> float:
        return self._float("days_per_ml")

    @property
    def eos_after_eri_days(self) -> float:
        return self._float("eos_after_eri_days")

    @property
    def fixed_rate_options_ml_per_day(self) -> tuple[float, ...]:
        param = self.params.get("fixed_rate_options_ml_per_day")
        if param is None:
            return ()
        value = param.value
        assert isinstance(value, tuple)
        return value

    @property
    def unconfirmed(self) -> list[str]:
        """Names of the parameters whose value no source confirms."""
        return [name for name, param in self.params.items() if not param.confirmed]


@dataclass(frozen=True, slots=True)
class Catalog:
    """A versioned set of pump models."""

    id: str
    version: str
    released: date | None
    path: str
    models: dict[str, PumpModel]

    def get(self, model_id: str) -> PumpModel:
        """The model with this id; :class:`KeyError` naming the known ids otherwise."""
        try:
            return self.models[model_id]
        except KeyError:
            known = ", ".join(sorted(self.models))
            raise KeyError(f"unknown pump model {model_id!r}; the catalog has: {known}") from None


class CatalogError(ValueError):
    """A catalog file that does not follow the schema."""


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Load a catalog file; without a path, ``$OPENIDDS_PUMP_CATALOG`` or the bundled one."""
    if path is None:
        env = os.environ.get(CATALOG_ENV)
        if env:
            path = env
    if path is None:
        return _bundled()
    return _load(Path(path))


@cache
def _bundled() -> Catalog:
    ref = resources.files("openidds.pump") / "data" / "catalog.toml"
    with resources.as_file(ref) as file:
        return _load(file)


def _load(path: Path) -> Catalog:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"cannot read pump catalog {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"pump catalog {path} is not valid TOML: {exc}") from exc
    header = data.get("catalog")
    if not isinstance(header, dict) or "id" not in header or "version" not in header:
        raise CatalogError(f"pump catalog {path}: [catalog] needs 'id' and 'version'")
    models_raw = data.get("models")
    if not isinstance(models_raw, dict) or not models_raw:
        raise CatalogError(f"pump catalog {path}: no [models.*] tables")
    models = {mid: _model(path, mid, raw) for mid, raw in models_raw.items()}
    released = header.get("released")
    return Catalog(
        id=str(header["id"]),
        version=str(header["version"]),
        released=released if isinstance(released, date) else None,
        path=str(path),
        models=models,
    )


def _model(path: Path, model_id: str, raw: object) -> PumpModel:
    where = f"pump catalog {path}, model {model_id!r}"
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: not a table")
    drive = raw.get("drive")
    if drive not in ("programmable", "constant-flow"):
        raise CatalogError(f"{where}: 'drive' must be 'programmable' or 'constant-flow'")
    params: dict[str, Param] = {}
    for name, value in raw.items():
        if isinstance(value, dict):
            params[name] = _param(where, name, value)
    required = list(_COMMON_PARAMS)
    if drive == "programmable":
        required += _BATTERY_PARAMS
    else:
        required.append("fixed_rate_options_ml_per_day")
    missing = [name for name in required if name not in params]
    if missing:
        raise CatalogError(f"{where}: missing parameters {', '.join(missing)}")
    return PumpModel(
        id=model_id,
        name=str(raw.get("name", model_id)),
        manufacturer=str(raw.get("manufacturer", "")),
        drive=drive,
        mri=str(raw.get("mri", "")),
        params=params,
    )


def _param(where: str, name: str, table: dict[str, object]) -> Param:
    if "value" not in table or "source" not in table or "confirmed" not in table:
        raise CatalogError(f"{where}: parameter {name!r} needs value, confirmed and source")
    value = table["value"]
    parsed: float | int | bool | tuple[float, ...]
    if isinstance(value, bool | int | float):
        parsed = value
    elif isinstance(value, list) and all(isinstance(v, int | float) for v in value):
        parsed = tuple(float(v) for v in value)
    else:
        raise CatalogError(f"{where}: parameter {name!r} has an unsupported value {value!r}")
    return Param(
        value=parsed,
        confirmed=bool(table["confirmed"]),
        source=str(table["source"]),
        note=str(table.get("note", "")),
    )


def model_or_error(catalog: Catalog, model_id: object) -> PumpModel:
    """Resolve ``pump.model`` for a scenario, as a :class:`ScenarioError`."""
    if not isinstance(model_id, str):
        raise ScenarioError("must be the id of a catalog model (a string)", field="pump.model")
    try:
        return catalog.get(model_id)
    except KeyError as exc:
        raise ScenarioError(str(exc.args[0]), field="pump.model") from None
