"""Build, refresh and rebuild the pump-state snapshots from the implants' timelines.

``refresh(implant)`` is connected to ``openidds.web.implants.signals.pump_timeline_changed``
(in ``apps.py``): every recorded implant, explant, pump event or correction re-replays the
implant with the twin and writes its snapshot in the same transaction (an implant that is no
longer active loses its snapshot). ``rebuild_snapshots()`` does it for existing data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from openidds.web.implants.models import Implant, ImplantStatus, PumpEvent
from openidds.web.implants.twin import effective_events, fmt, scenario_for
from openidds.web.worklists.models import ProgramPeriod, PumpSnapshot

_EMPTY_ML = 1e-9


def _amount(drug: str, mg: float, unit: str) -> str:
    from openidds.web.implants.twin import _amount as amount_text

    return amount_text(drug, mg, unit)


def program_arrays(program: Any) -> tuple[str, list[float], list[float]]:
    """(period, step starts in days, rates in mL/day) of a ``BasalProgram`` in the form of
    ``openidds.pump.fleet.FleetPrograms`` (one row, without padding)."""
    from openidds.pump.fleet import FleetPrograms

    if program is None:
        return ProgramPeriod.NONE, [], []
    row = FleetPrograms.from_programs([program])
    n = len(program.steps)
    period = ProgramPeriod.CONTINUOUS if program.period is None else str(program.period)
    starts = [float(x) for x in row.step_start_days[0, :n]]
    rates = [float(x) for x in row.step_rate_ml_per_day[0, :n]]
    return period, starts, rates


def snapshot_values(
    implant: Implant, as_of: datetime, events: Sequence[PumpEvent] | None = None
) -> dict[str, Any]:
    """The snapshot's fields for the implant replayed by the twin up to ``as_of``."""
    from openidds.pump import ScenarioError, simulate

    if events is None:
        events = effective_events(implant)
    patient = implant.patient
    base: dict[str, Any] = {
        "patient": patient,
        "clinic_id": patient.clinic_id,
        "as_of": as_of,
        "time_zone": patient.time_zone,
    }
    blank: dict[str, Any] = {
        "error": "",
        "reservoir_ml": None,
        "capacity_ml": None,
        "program_period": ProgramPeriod.NONE,
        "program_step_start_days": [],
        "program_step_rate_ml_per_day": [],
        "program_text": "",
        "low_threshold_ml": None,
        "accuracy": 0.0,
        "ptm_ml_per_day": 0.0,
        "last_fill_at": None,
        "stability_until": None,
        "eri_at": None,
        "eos_at": None,
        "recommended_refill_at": None,
        "planned_refill_at": None,
        "low_reservoir_at": None,
        "empty_at": None,
        "stopped": False,
        "empty": False,
        "past_eos": False,
        "drugs": [],
    }
    try:
        result = simulate(scenario_for(implant, as_of, events=events))
    except ScenarioError as exc:
        return {**base, **blank, "error": f"The twin cannot replay this pump's records: {exc}"}
    pump = result.scenario.pump
    reservoir = float(result.end_state.reservoir_ml)
    program = result.program_at_end
    period, starts, rates = program_arrays(program)
    fills = [e for e in events if e.kind == "fill" and e.at <= as_of]
    last_fill = fills[-1] if fills else None
    stability_until = None
    if last_fill is not None and last_fill.fields.get("stability_days") is not None:
        stability_until = last_fill.at + timedelta(days=float(last_fill.fields["stability_days"]))
    fc = result.forecast
    mean_rate = None
    if program is not None:
        from openidds.web.implants.twin import _mean_rate

        mean_rate = _mean_rate(program)
    drugs: list[dict[str, Any]] = []
    for drug, mg in result.end_state.reservoir_mg.items():
        conc = mg / reservoir if reservoir > 1e-12 else 0.0
        if conc <= 0:
            continue
        daily = None if mean_rate is None else mean_rate * conc
        if daily is None:
            words = f"{drug}, none (pump stopped)"
        else:
            words = f"{drug}, " + _amount(drug, daily, "mg/day").replace("/day", " a day", 1)
        drugs.append(
            {
                "drug": drug,
                "concentration_mg_per_ml": conc,
                "concentration_text": _amount(drug, conc, "mg/mL"),
                "daily_mg": daily,
                "words": words,
            }
        )
    if program is None:
        program_text = "stopped or not programmed: nothing is pumped"
    elif program.period is None:
        program_text = f"continuous, {fmt(mean_rate or 0.0)} mL/day"
    else:
        program_text = (
            f"flex by {program.period}, {len(program.steps)} steps, "
            f"mean {fmt(mean_rate or 0.0)} mL/day"
        )
    eos = fc.eos
    low_at = fc.low_reservoir_alarm.nominal
    empty_at = fc.empty.nominal
    # Already low or empty at as_of: the instant it happened, from the replay's alarms.
    since_fill = [a for a in result.alarms if last_fill is None or a.at >= last_fill.at]
    if low_at is not None and low_at >= as_of:
        lows = [a.at for a in since_fill if a.kind == "low_reservoir" and a.at <= as_of]
        low_at = lows[-1] if lows and low_at == as_of else low_at
    if empty_at is not None and empty_at >= as_of:
        empties = [a.at for a in since_fill if a.kind == "empty_reservoir" and a.at <= as_of]
        empty_at = empties[-1] if empties and empty_at == as_of else empty_at
    last_record = max((e.at for e in events if e.at <= as_of), default=None)
    planned = fc.recommended_refill
    if last_record is not None and last_record < as_of:
        try:
            planned = simulate(
                scenario_for(implant, last_record, events=events)
            ).forecast.recommended_refill
        except ScenarioError:  # pragma: no cover - a prefix of a replayable timeline
            planned = fc.recommended_refill
    return {
        **base,
        **blank,
        "reservoir_ml": reservoir,
        "capacity_ml": float(pump.model.capacity_ml),
        "program_period": period,
        "program_step_start_days": starts,
        "program_step_rate_ml_per_day": rates,
        "program_text": program_text,
        "low_threshold_ml": float(pump.low_reservoir_alarm_ml),
        "accuracy": float(pump.accuracy),
        "ptm_ml_per_day": float(fc.ptm_ml_per_day),
        "last_fill_at": last_fill.at if last_fill is not None else None,
        "stability_until": stability_until,
        "eri_at": fc.eri,
        "eos_at": eos,
        "recommended_refill_at": fc.recommended_refill,
        "planned_refill_at": planned,
        "low_reservoir_at": low_at,
        "empty_at": empty_at,
        "stopped": program is None,
        "empty": last_fill is not None and reservoir <= _EMPTY_ML,
        "past_eos": eos is not None and eos <= as_of,
        "drugs": drugs,
    }


def _as_of(implant: Implant, events: Sequence[PumpEvent], now: datetime) -> datetime:
    """The replay's end: now, or the last record if it is (a little) ahead of the clock."""
    return max([now, implant.implanted_at, *(e.at for e in events)])


def refresh(
    implant: Implant, *, now: datetime | None = None, events: Sequence[PumpEvent] | None = None
) -> PumpSnapshot | None:
    """Write (or delete) the implant's snapshot. Call inside the writing transaction."""
    if implant.status != ImplantStatus.ACTIVE:
        PumpSnapshot.objects.filter(implant_id=implant.pk).delete()
        return None
    if events is None:
        events = effective_events(implant)
    as_of = _as_of(implant, events, now or timezone.now())
    values = snapshot_values(implant, as_of, events)
    snapshot, _ = PumpSnapshot.objects.update_or_create(implant=implant, defaults=values)
    return snapshot


def on_timeline_changed(sender: Any, implant: Implant, **kwargs: Any) -> None:
    """Receiver of ``pump_timeline_changed``."""
    if _deferred:
        _deferred[-1].add(implant.pk)
        return
    refresh(Implant.objects.select_related("patient").get(pk=implant.pk))


@transaction.atomic
def rebuild_snapshots(
    *, clinic_ids: Iterable[int] | None = None, now: datetime | None = None
) -> int:
    """Rebuild every active implant's snapshot (of the clinics given, or all) and drop the
    snapshots of implants that are no longer active. Returns the number written.

    Queries: the implants and their events in force are read in two queries, whatever the
    number of implants; each implant is then replayed once by the twin."""
    now = now or timezone.now()
    implants = Implant.objects.filter(status=ImplantStatus.ACTIVE).select_related("patient")
    stale = PumpSnapshot.objects.exclude(implant__status=ImplantStatus.ACTIVE)
    if clinic_ids is not None:
        ids = list(clinic_ids)
        implants = implants.filter(patient__clinic_id__in=ids)
        stale = stale.filter(clinic_id__in=ids)
    stale.delete()
    chosen = list(implants)
    by_implant: dict[int, list[PumpEvent]] = defaultdict(list)
    for event in PumpEvent.objects.filter(
        implant__in=chosen, superseded_by__isnull=True, void=False
    ).order_by("at", "sequence", "id"):
        by_implant[event.implant_id].append(event)
    existing = dict(PumpSnapshot.objects.filter(implant__in=chosen).values_list("implant_id", "pk"))
    new: list[PumpSnapshot] = []
    changed: list[PumpSnapshot] = []
    for implant in chosen:
        events = by_implant.get(implant.pk, [])
        values = snapshot_values(implant, _as_of(implant, events, now), events)
        row = PumpSnapshot(implant=implant, refreshed_at=now, **values)
        if implant.pk in existing:
            row.pk = existing[implant.pk]
            changed.append(row)
        else:
            new.append(row)
    PumpSnapshot.objects.bulk_create(new, batch_size=500)
    fields = [f.name for f in PumpSnapshot._meta.concrete_fields if f.name not in {"id", "implant"}]
    PumpSnapshot.objects.bulk_update(changed, fields, batch_size=500)
    return len(new) + len(changed)


_deferred: list[set[int]] = []


@contextmanager
def deferred_refresh() -> Iterator[None]:
    """Inside a transaction: refresh each changed implant's snapshot once, at the end of the
    block, instead of after every record (for loading many records at once, e.g. the demo)."""
    _deferred.append(set())
    try:
        yield
    finally:
        pending = _deferred.pop()
    for pk in sorted(pending):
        refresh(Implant.objects.select_related("patient").get(pk=pk))
