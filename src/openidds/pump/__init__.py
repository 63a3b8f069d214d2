"""The pump digital twin: an exact, event-driven replay of an implanted drug pump.

>>> from openidds.pump import load_scenario, simulate
>>> result = simulate(load_scenario("examples/01-new-implant-priming.toml"))  # doctest: +SKIP
>>> result.forecast.empty.nominal  # doctest: +SKIP

The scenario format is ``shared/spec/scenario-v1.md`` (user guide: ``docs/scenario-format.md``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ._catalog import Catalog, CatalogError, Param, PumpModel, load_catalog
from ._engine import simulate as _simulate
from ._errors import ScenarioError
from ._forecast import Band, Forecast
from ._result import (
    ALARM_KINDS,
    RESULT_FORMAT,
    Alarm,
    DailyRow,
    EndState,
    EventOutcome,
    SimulationResult,
    Totals,
)
from ._scenario import (
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
    load_scenario,
    loads_scenario,
    parse_scenario,
)
from ._units import Dimension, UnitError, parse_quantity


def simulate(
    scenario: Scenario | str | os.PathLike[str] | Mapping[str, Any],
    *,
    catalog: Catalog | None = None,
) -> SimulationResult:
    """Replay a scenario (a :class:`Scenario`, a TOML file path or a dict) and forecast."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, catalog=catalog)
    return _simulate(scenario)


__all__ = [
    "ALARM_KINDS",
    "RESULT_FORMAT",
    "Alarm",
    "Band",
    "Bolus",
    "BridgeBolus",
    "Catalog",
    "CatalogError",
    "CatheterRevision",
    "DailyRow",
    "Dimension",
    "EndState",
    "Event",
    "EventOutcome",
    "Fill",
    "Forecast",
    "Interrogation",
    "Mri",
    "Param",
    "PrimingBolus",
    "Program",
    "PtmRequest",
    "PtmSettings",
    "Pump",
    "PumpModel",
    "PumpReplacement",
    "RateSpec",
    "Scenario",
    "ScenarioError",
    "SimulationResult",
    "Stop",
    "Totals",
    "UnitError",
    "load_catalog",
    "load_scenario",
    "loads_scenario",
    "parse_quantity",
    "parse_scenario",
    "simulate",
]
