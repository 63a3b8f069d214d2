"""From an implant's records to the twin: the scenario, and the pump's state at an instant.

Pure reads: nothing here writes. ``scenario_for`` builds the scenario dict of
``docs/scenario-format.md``; ``pump_state`` replays it with ``openidds.pump.simulate``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from openidds.web.implants.models import Implant, PumpEvent


def effective_events(implant: Implant) -> list[PumpEvent]:
    """The implant's events in force: not superseded, not void, in replay order."""
    return list(
        PumpEvent.objects.filter(implant=implant, superseded_by__isnull=True, void=False)
        .select_related("recorded_by")
        .order_by("at", "sequence", "id")
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


def scenario_for(
    implant: Implant,
    until: datetime,
    *,
    events: Sequence[PumpEvent] | None = None,
    extra: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The scenario of the implant from its implant date to ``until``.

    ``events`` defaults to the implant's effective events; those after ``until`` are left
    out. ``extra`` are scenario event dicts (``at``, ``kind``, fields) appended after them
    (e.g. a proposed change to check).
    """
    if until.tzinfo is None:
        raise ValueError("until must be an aware datetime")
    if events is None:
        events = effective_events(implant)
    patient = implant.patient
    pump: dict[str, Any] = {
        "model": implant.pump_model,
        "fluid_path_initial": implant.fluid_path_initial,
    }
    if implant.fluid_path_ml is not None:
        pump["fluid_path_ml"] = _plain(implant.fluid_path_ml)
    if implant.fixed_rate_ml_per_day is not None:
        pump["fixed_rate_ml_per_day"] = _plain(implant.fixed_rate_ml_per_day)
    scenario_events = [
        {"at": e.at.astimezone(UTC), "kind": e.kind, **e.fields} for e in events if e.at <= until
    ]
    scenario_events.extend(extra)  # the same objects: callers find them by identity
    scenario_events.sort(key=lambda e: e["at"])  # stable: same instant keeps record order
    return {
        "scenario": {
            "name": f"{patient.name} ({patient.mrn}), {implant.pump_model} #{implant.serial}",
            "start": implant.implanted_at.astimezone(UTC),
            "end": until.astimezone(UTC),
            "timezone": patient.time_zone,
        },
        "pump": pump,
        "patient": {
            "opioid_tolerance": patient.opioid_tolerance,
            "indication": patient.indication,
            # children have their own limits (baclofen); the age when the records end
            "age_years": _age_years(patient.date_of_birth, until),
            # a replaced pump continues the therapy: its first program is not a new start
            "continuing": _continuing(implant),
        },
        "event": scenario_events,
    }


def _continuing(implant: Implant) -> list[str]:
    """The drugs of the last fill of the implant this one replaced (none for a first
    implant)."""
    old = implant.supersedes
    if old is None:
        return []
    fills = [e for e in effective_events(old) if e.kind == "fill"]
    return sorted(fills[-1].fields.get("drugs", {})) if fills else []


def _age_years(born: Any, at: datetime) -> float:
    """Whole years of age at ``at`` (0 to 130; the dose checks' ``[patient] age_years``)."""
    day = at.date()
    years = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    return float(min(max(years, 0), 130))


# -- the state of the pump -----------------------------------------------------------------


@dataclass(frozen=True)
class DrugDose:
    drug: str
    concentration_mg_per_ml: float
    daily_mg: float | None  # None: the pump is not delivering by a program
    concentration_text: str
    daily_text: str
    words: str  # "morphine, 5 mg a day"


@dataclass(frozen=True)
class PumpState:
    """What the twin says about an implant at an instant (``error`` when it cannot say)."""

    at: datetime
    error: str = ""
    reservoir_ml: float | None = None
    capacity_ml: float | None = None
    rate_ml_per_day: float | None = None  # mean basal rate of the program in force
    program_text: str = ""
    drugs: list[DrugDose] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    forecast: dict[str, datetime | None] = field(default_factory=dict)
    refill_overdue: bool = False
    plot: dict[str, Any] = field(default_factory=dict)


def fmt(value: float, digits: int = 4) -> str:
    """``digits`` significant digits, no trailing zeros, never an exponent."""
    text = f"{value:.{digits}g}"
    if "e" in text:
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    return text


@functools.cache
def _library() -> Any:
    from openidds.dosing import load_library

    return load_library()


def _amount(drug: str, mg: float, unit: str) -> str:
    """``5 mg/day``; drugs read in micrograms as ``2.4 mcg/day (0.0024 mg/day)``."""
    from openidds.dosing import amount

    return str(amount(_library().get(drug), mg, unit))


def _mean_rate(program: Any) -> float:
    """Mean mL/day of a basal program over its cycle (a day or a week, of 24 h days)."""
    steps = list(program.steps)
    if program.period is None or len(steps) == 1:
        return float(steps[0].rate_ml_per_day)
    cycle = 1.0 if program.period == "day" else 7.0

    def offset(step: Any) -> float:
        at: time = step.at
        day = step.weekday or 0
        return day + (at.hour * 60 + at.minute) / 1440.0

    starts = [offset(s) for s in steps]
    total = 0.0
    for i, step in enumerate(steps):
        nxt = starts[i + 1] if i + 1 < len(steps) else starts[0] + cycle
        total += step.rate_ml_per_day * (nxt - starts[i])
    return total / cycle


def pump_state(
    implant: Implant, at: datetime, *, events: Sequence[PumpEvent] | None = None
) -> PumpState:
    """Replay the implant up to ``at`` and describe the pump then, with its forecast."""
    from openidds.pump import ScenarioError, simulate

    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    if at < implant.implanted_at:
        return PumpState(at=at, error="the instant asked for is before the implant date")
    try:
        result = simulate(scenario_for(implant, at, events=events))
    except ScenarioError as exc:
        return PumpState(
            at=at,
            error=f"The twin cannot replay this pump's records: {exc}. Correct the record "
            "named; until then no reservoir volume, dose or refill date is shown.",
        )
    reservoir_ml = result.end_state.reservoir_ml
    program = result.program_at_end
    rate = _mean_rate(program) if program is not None else None
    drugs: list[DrugDose] = []
    for drug, mg in result.end_state.reservoir_mg.items():
        conc = mg / reservoir_ml if reservoir_ml > 1e-12 else 0.0
        if conc <= 0:
            continue
        daily = rate * conc if rate is not None else None
        conc_text = _amount(drug, conc, "mg/mL")
        if daily is None:
            daily_text = "nothing: the pump is stopped or not programmed"
            words = f"{drug}, none (pump stopped)"
        else:
            daily_text = _amount(drug, daily, "mg/day")
            words = f"{drug}, {daily_text.replace('/day', ' a day', 1)}"
        drugs.append(DrugDose(drug, conc, daily, conc_text, daily_text, words))
    if program is None:
        program_text = "stopped or not programmed: nothing is pumped"
    elif program.period is None:
        program_text = f"continuous, {fmt(rate or 0.0)} mL/day"
    else:
        program_text = (
            f"flex by {program.period}, {len(program.steps)} steps, mean {fmt(rate or 0.0)} mL/day"
        )
    fc = result.forecast
    forecast = {
        "recommended_refill": fc.recommended_refill,
        "low_reservoir_nominal": fc.low_reservoir_alarm.nominal,
        "low_reservoir_earliest": fc.low_reservoir_alarm.earliest,
        "empty_nominal": fc.empty.nominal,
        "eri": fc.eri,
        "eos": fc.eos,
    }
    return PumpState(
        at=at,
        reservoir_ml=reservoir_ml,
        capacity_ml=result.scenario.pump.model.capacity_ml,
        rate_ml_per_day=rate,
        program_text=program_text,
        drugs=drugs,
        alarms=[
            {"at": a.at, "kind": a.kind, "label": a.kind.replace("_", " ")} for a in result.alarms
        ],
        forecast=forecast,
        refill_overdue=fc.recommended_refill is not None and fc.recommended_refill <= at,
        plot=_plot_data(result, events if events is not None else effective_events(implant), at),
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _plot_data(result: Any, events: Sequence[PumpEvent], at: datetime) -> dict[str, Any]:
    """Series for the chart's plot (JSON-ready): reservoir, fills, alarms, daily dose."""
    timeline = result.timeline()
    fills = [e for e in events if e.kind == "fill" and e.at <= at]
    return {
        "reservoir": {
            "x": [_iso(t) for t in timeline["at"]],
            "y": [round(v, 6) for v in timeline["reservoir_ml"]],
        },
        "fills": {
            "x": [_iso(e.at) for e in fills],
            "y": [round(result.reservoir_ml_at(e.at), 6) for e in fills],
            "text": [
                f"fill {fmt(float(e.fields.get('volume_ml', 0)))} mL: "
                + ", ".join(f"{d} {c}" for d, c in e.fields.get("drugs", {}).items())
                for e in fills
            ],
        },
        "alarms": {
            "x": [_iso(a.at) for a in result.alarms],
            "y": [round(result.reservoir_ml_at(a.at), 6) for a in result.alarms],
            "text": [a.kind.replace("_", " ") for a in result.alarms],
        },
        "low_threshold_ml": result.scenario.pump.low_reservoir_alarm_ml,
        "daily": {
            drug: {
                "x": [row.date.isoformat() for row in result.daily],
                "y": [round(row.delivered_mg[drug], 9) for row in result.daily],
                "unit": "mg",
            }
            for drug in result.drugs
        },
    }


__all__ = ["DrugDose", "PumpState", "effective_events", "pump_state", "scenario_for"]
