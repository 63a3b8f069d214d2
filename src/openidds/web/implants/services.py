"""Implants and pump events change only through these functions.

Each takes the acting user as keyword-only ``by``, checks the role in the patient's clinic
(PermissionDenied), validates (ValidationError naming the field; nothing is written) and
writes the change and its audit event in one transaction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from openidds.web.accounts.models import Role
from openidds.web.accounts.roles import CLINICAL, require_role
from openidds.web.audit.models import Action
from openidds.web.audit.services import record
from openidds.web.implants.library import library_for
from openidds.web.implants.models import (
    FluidPathInitial,
    Implant,
    ImplantStatus,
    PumpEvent,
    PumpEventKind,
    pump_catalog,
)
from openidds.web.implants.signals import pump_timeline_changed
from openidds.web.implants.twin import effective_events, scenario_for
from openidds.web.patients.models import Patient

PHYSICIAN = frozenset({Role.PHYSICIAN})
#: Who may record each kind of pump event: nurses record what they do at a refill visit
#: (the fill) and what they observe (PTM use, an MRI); changing therapy is the physician's.
EVENT_ROLES: dict[str, frozenset[Role]] = {
    PumpEventKind.FILL: frozenset(CLINICAL),
    PumpEventKind.PTM_REQUEST: frozenset(CLINICAL),
    PumpEventKind.MRI: frozenset(CLINICAL),
    PumpEventKind.INTERROGATION: frozenset(CLINICAL),
}
#: Clocks differ; an instant up to this far ahead of the server's is not "in the future".
CLOCK_SKEW = timedelta(minutes=5)


def _decimal(
    errors: dict[str, list[str]], name: str, value: Any, *, most: Decimal, places: int
) -> Decimal | None:
    """A number above 0 and at most ``most``, with at most ``places`` decimals."""
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        errors.setdefault(name, []).append("not a number")
        return None
    if not number.is_finite() or number <= 0:
        errors.setdefault(name, []).append("must be a number above 0")
        return None
    if number > most:
        errors.setdefault(name, []).append(f"above {most}: check the value and its unit")
        return None
    if number != number.quantize(Decimal(1).scaleb(-places)):
        errors.setdefault(name, []).append(f"at most {places} decimal places")
        return None
    return number


def _instant(errors: dict[str, list[str]], name: str, value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        errors.setdefault(name, []).append("a date and time is required")
        return None
    if value.tzinfo is None:
        errors.setdefault(name, []).append("give the time zone (an aware date and time)")
        return None
    if value > timezone.now() + CLOCK_SKEW:
        errors.setdefault(name, []).append("this lies in the future")
    return value


def active_implant(patient: Patient) -> Implant | None:
    return Implant.objects.filter(patient=patient, status=ImplantStatus.ACTIVE).first()


@transaction.atomic
def record_implant(
    *,
    by: Any,
    patient: Patient,
    pump_model: str,
    serial: str,
    implanted_at: datetime,
    catheter_model: str = "",
    catheter_length_cm: Any = None,
    fluid_path_ml: Any = None,
    fluid_path_initial: str = FluidPathInitial.NO_DRUG,
    fixed_rate_ml_per_day: Any = None,
    replaces: Implant | None = None,
) -> Implant:
    """Record a pump implanted in the patient (physician). One active implant per patient:
    give ``replaces`` (the active implant) to record a replacement."""
    require_role(by, patient.clinic, PHYSICIAN)
    Patient.objects.select_for_update().filter(pk=patient.pk).first()  # serialise per patient
    errors: dict[str, list[str]] = {}
    model = pump_catalog().models.get(pump_model)
    if model is None:
        errors["pump_model"] = [
            f"{pump_model!r} is not a pump model of the catalog "
            f"({', '.join(pump_catalog().models)})"
        ]
    serial = (serial or "").strip()
    if not serial:
        errors["serial"] = ["this field is required"]
    elif len(serial) > 64:
        errors["serial"] = ["at most 64 characters"]
    if len(catheter_model or "") > 100:
        errors["catheter_model"] = ["at most 100 characters"]
    for name, text in (("serial", serial), ("catheter_model", catheter_model or "")):
        if "\x00" in text:
            errors[name] = ["contains a NUL character"]
    when = _instant(errors, "implanted_at", implanted_at)
    if when is not None and when.date() < patient.date_of_birth:
        errors.setdefault("implanted_at", []).append("this is before the date of birth")
    length = _decimal(errors, "catheter_length_cm", catheter_length_cm, most=Decimal(200), places=1)
    path = _decimal(errors, "fluid_path_ml", fluid_path_ml, most=Decimal(5), places=4)
    if fluid_path_initial not in FluidPathInitial.values:
        errors["fluid_path_initial"] = [f"one of {', '.join(FluidPathInitial.values)}"]
    fixed = _decimal(
        errors, "fixed_rate_ml_per_day", fixed_rate_ml_per_day, most=Decimal(100), places=3
    )
    if model is not None and "fixed_rate_ml_per_day" not in errors:
        if model.programmable and fixed is not None:
            errors["fixed_rate_ml_per_day"] = [f"{model.id} is programmable: leave this empty"]
        elif not model.programmable and fixed is None:
            errors["fixed_rate_ml_per_day"] = [
                f"{model.id} is a constant-flow pump: give its factory rate "
                f"({', '.join(f'{r:g}' for r in model.fixed_rate_options_ml_per_day)} mL/day)"
            ]
        elif fixed is not None and not (
            model.min_rate_ml_per_day * (1 - 1e-9)
            <= float(fixed)
            <= model.max_rate_ml_per_day * (1 + 1e-9)
        ):
            errors["fixed_rate_ml_per_day"] = [
                f"outside the range of {model.id} ({model.min_rate_ml_per_day:g} to "
                f"{model.max_rate_ml_per_day:g} mL/day)"
            ]
    current = active_implant(patient)
    if replaces is not None:
        if current is None or replaces.pk != current.pk:
            errors["replaces"] = ["this is not the patient's active implant"]
        elif when is not None and when < current.implanted_at:
            errors.setdefault("implanted_at", []).append(
                "a replacement cannot be implanted before the implant it replaces"
            )
    elif current is not None:
        errors[NON_FIELD_ERRORS] = [
            f"the patient already has an active implant ({current}); record its explant "
            "first, or record this one as its replacement"
        ]
    if errors:
        raise ValidationError(errors)
    assert when is not None
    if replaces is not None:
        _end(by=by, implant=replaces, status=ImplantStatus.REPLACED, at=when, reason="replaced")
    implant = Implant(
        patient=patient,
        pump_model=pump_model,
        serial=serial,
        implanted_at=when,
        catheter_model=(catheter_model or "").strip(),
        catheter_length_cm=length,
        fluid_path_ml=path,
        fluid_path_initial=fluid_path_initial,
        fixed_rate_ml_per_day=fixed,
        supersedes=replaces,
        recorded_by=by,
    )
    try:
        with transaction.atomic():
            implant.save()
    except IntegrityError as exc:  # a concurrent active implant
        raise ValidationError(
            {NON_FIELD_ERRORS: ["the patient already has an active implant"]}
        ) from exc
    record(
        by=by,
        action=Action.IMPLANT_RECORDED,
        clinic=patient.clinic,
        patient=patient,
        obj=implant,
        details={
            "pump_model": pump_model,
            "serial": serial,
            "implanted_at": when.astimezone(UTC).isoformat(),
            "catheter_model": implant.catheter_model,
            "catheter_length_cm": None if length is None else str(length),
            "fluid_path_ml": None if path is None else str(path),
            "fluid_path_initial": fluid_path_initial,
            "fixed_rate_ml_per_day": None if fixed is None else str(fixed),
            "replaces": replaces.pk if replaces is not None else None,
        },
    )
    pump_timeline_changed.send(sender=Implant, implant=implant)
    return implant


def _end(*, by: Any, implant: Implant, status: str, at: datetime, reason: str) -> Implant:
    locked = lock_implant(implant.pk)
    old = locked.status
    locked.status = status
    locked.ended_at = at
    locked.end_reason = reason
    locked.save(update_fields=["status", "ended_at", "end_reason"])
    record(
        by=by,
        action=Action.IMPLANT_ENDED,
        clinic=locked.patient.clinic,
        patient=locked.patient,
        obj=locked,
        details={
            "status": {"old": old, "new": status},
            "at": at.astimezone(UTC).isoformat(),
            "reason": reason,
        },
    )
    pump_timeline_changed.send(sender=Implant, implant=locked)
    return locked


@transaction.atomic
def explant(*, by: Any, implant: Implant, at: datetime, reason: str = "") -> Implant:
    """Record that the active implant was removed (physician)."""
    require_role(by, implant.patient.clinic, PHYSICIAN)
    errors: dict[str, list[str]] = {}
    current = lock_implant(implant.pk)
    if current.status != ImplantStatus.ACTIVE:
        errors[NON_FIELD_ERRORS] = [f"this implant is {current.get_status_display().lower()}"]
    when = _instant(errors, "at", at)
    if when is not None and when < current.implanted_at:
        errors.setdefault("at", []).append("this is before the implant date")
    if "\x00" in reason:
        errors["reason"] = ["contains a NUL character"]
    if errors:
        raise ValidationError(errors)
    assert when is not None
    return _end(
        by=by, implant=current, status=ImplantStatus.EXPLANTED, at=when, reason=reason.strip()
    )


@transaction.atomic
def list_implants(*, by: Any, patient: Patient) -> list[Implant]:
    """The patient's implants, newest first (physician or nurse); the reading is audited."""
    require_role(by, patient.clinic, CLINICAL)
    implants = list(
        Implant.objects.filter(patient=patient).select_related("supersedes", "recorded_by")
    )
    record(
        by=by,
        action=Action.IMPLANTS_LISTED,
        clinic=patient.clinic,
        patient=patient,
        details={"count": len(implants)},
    )
    return implants


# -- pump events ---------------------------------------------------------------------------


def _event_roles(kind: str) -> frozenset[Role]:
    return EVENT_ROLES.get(kind, PHYSICIAN)


def check_new_events(
    implant: Implant,
    new: list[dict[str, Any]],
    *,
    exclude: PumpEvent | None = None,
    field_of: Any = None,
    sequence: int | None = None,
) -> list[tuple[int, Any]]:
    """Refuse new events (scenario dicts with ``at`` and ``kind``) the twin cannot replay,
    or that the dose checks block (hard); return the other findings at them (soft, info and
    overridden soft) with the position of their new event, judged with the clinic's drug
    library.

    ``field_of(position, field)`` names the input field of an error at the new event at
    ``position`` (default: the scenario field itself). ``sequence`` (a correction) puts the
    new event where the corrected one was among the events at its instant."""
    from openidds.dosing import check
    from openidds.pump import ScenarioError, simulate

    library = library_for(implant.patient.clinic)
    events = [e for e in effective_events(implant) if exclude is None or e.pk != exclude.pk]
    until = max([*(n["at"] for n in new), *(e.at for e in events)])
    scenario = scenario_for(implant, until, events=events, extra=new)
    if sequence is not None:
        # events at one instant replay in record order: the correction takes the place of
        # the record it corrects (scenario_for puts extras after the records at their instant)
        order = {id(n): float(sequence) for n in new}
        existing = iter(e.sequence for e in events if e.at <= until)
        keyed = [
            (e["at"], order[id(e)] if id(e) in order else float(next(existing)), e)
            for e in scenario_for(implant, until, events=events)["event"]
        ]
        keyed += [(n["at"], order[id(n)], n) for n in new]
        keyed.sort(key=lambda item: (item[0], item[1]))
        scenario["event"] = [e for _at, _seq, e in keyed]
    ids = {id(n): pos for pos, n in enumerate(new)}
    index = {i: ids[id(e)] for i, e in enumerate(scenario["event"]) if id(e) in ids}

    def name(pos: int, field: str | None) -> str:
        if field is None:
            return NON_FIELD_ERRORS
        return field_of(pos, field) if field_of is not None else field

    try:
        simulate(scenario)
        findings = check(scenario, library)
    except ScenarioError as exc:
        if exc.event_index is not None and exc.event_index not in index:
            raise ValidationError(
                {
                    NON_FIELD_ERRORS: [
                        f"with this event the pump's records cannot be replayed: {exc}"
                    ]
                }
            ) from exc
        key = (
            name(index[exc.event_index], exc.field)
            if exc.event_index is not None
            else NON_FIELD_ERRORS
        )
        raise ValidationError({key: [str(exc)]}) from exc
    at_new = [(index[f.event_index], f) for f in findings if f.event_index in index]
    # Hard findings at the new events, and new hard findings at later events (a back-dated
    # record can change what a later program delivers); older ones are not these events'.
    before: set[tuple[Any, ...]] = set()
    if any(f.severity == "hard" and f.event_index not in index for f in findings):
        # only then is the timeline without the new events judged (one replay fewer a record)
        try:
            before = {_key(f) for f in check(scenario_for(implant, until, events=events), library)}
        except ScenarioError:
            before = set()
    hard = [
        f
        for f in findings
        if f.severity == "hard" and (f.event_index in index or _key(f) not in before)
    ]
    if hard:
        raise ValidationError(
            {NON_FIELD_ERRORS: [f"{f.code}: {f.message} (source: {f.source})" for f in hard]}
        )
    return at_new


def _check_replay(
    implant: Implant, at: datetime, kind: str, fields: dict[str, Any], exclude: PumpEvent | None
) -> list[Any]:
    found = check_new_events(
        implant,
        [{"at": at.astimezone(UTC), "kind": kind, **fields}],
        exclude=exclude,
        sequence=exclude.sequence if exclude is not None else None,
    )
    return [f for _pos, f in found]


def _key(finding: Any) -> tuple[Any, ...]:
    return (finding.code, finding.at, finding.drug, finding.severity)


def _validate_event(
    implant: Implant, kind: str, at: Any, fields: Any
) -> tuple[datetime, dict[str, Any]]:
    errors: dict[str, list[str]] = {}
    if kind not in PumpEventKind.values:
        errors["kind"] = [f"one of {', '.join(PumpEventKind.values)}"]
    when = _instant(errors, "at", at)
    if when is not None and when < implant.implanted_at:
        errors.setdefault("at", []).append("this is before the implant date")
    if when is not None and implant.ended_at is not None and when > implant.ended_at:
        errors.setdefault("at", []).append("this is after the implant was removed")
    if not isinstance(fields, dict):
        errors["fields"] = ["a table of the event's fields (scenario format)"]
    elif {"at", "kind"} & set(fields):
        errors["fields"] = ["give at and kind outside the fields"]
    elif "\\u0000" in json.dumps(fields, default=str):
        errors["fields"] = ["contains a NUL character"]
    if errors:
        raise ValidationError(errors)
    assert when is not None
    return when, dict(fields)


def _event_details(event: PumpEvent) -> dict[str, Any]:
    return {"kind": event.kind, "at": event.at.astimezone(UTC).isoformat(), "fields": event.fields}


@transaction.atomic
def record_pump_event(
    *,
    by: Any,
    implant: Implant,
    kind: str,
    at: datetime,
    fields: dict[str, Any],
    prescription: Any = None,
    discrepancy_acknowledged: bool = False,
) -> PumpEvent:
    """Append an event to the implant's timeline (fields in the scenario format).

    Fills, PTM requests and MRI scans: physician or nurse; programs, stops, boluses and PTM
    settings: physician (pages and API send these through a signed prescription,
    ``openidds.web.prescriptions.services.prescribe``). Refused when the twin cannot replay
    the timeline with it or the dose checks find a hard problem at it.

    A refill whose aspirated volume differs from the twin's expectation by more than the
    pump's threshold (a ``refill_discrepancy``) is refused unless a physician acknowledged
    it: only the refill visit (``openidds.web.refills``) passes
    ``discrepancy_acknowledged=True``, after recording that acknowledgement."""
    return record_pump_events(
        by=by,
        implant=implant,
        events=[(kind, at, fields)],
        prescription=prescription,
        discrepancy_acknowledged=discrepancy_acknowledged,
    )[0]


@transaction.atomic
def record_pump_events(
    *,
    by: Any,
    implant: Implant,
    events: list[tuple[str, datetime, dict[str, Any]]],
    prescription: Any = None,
    field_of: Any = None,
    discrepancy_acknowledged: bool = False,
) -> list[PumpEvent]:
    """Append several events at once (``(kind, at, fields)``, in this order), judged together
    as :func:`record_pump_event` judges one: a fill and the program that follows it at a
    visit are checked as one change. One audit event per record."""
    if not events:
        raise ValidationError({NON_FIELD_ERRORS: ["no event to record"]})
    for kind, _at, _fields in events:
        require_role(by, implant.patient.clinic, _event_roles(kind))
    locked = lock_implant(implant.pk)
    if locked.status != ImplantStatus.ACTIVE and locked.ended_at is None:
        raise ValidationError({NON_FIELD_ERRORS: ["this implant is not active"]})
    valid: list[tuple[str, datetime, dict[str, Any]]] = []
    for pos, (kind, at, fields) in enumerate(events):
        try:
            when, clean = _validate_event(locked, kind, at, fields)
        except ValidationError as exc:
            if len(events) == 1 or field_of is None:
                raise
            raise ValidationError(
                {field_of(pos, f): m for f, m in exc.message_dict.items()}
            ) from exc
        valid.append((kind, when, clean))
    _refuse_duplicate_fill(locked, valid)
    new = [{"at": when.astimezone(UTC), "kind": kind, **clean} for kind, when, clean in valid]
    findings = check_new_events(locked, new, field_of=field_of)
    _refuse_unreconciled_refill([f for _pos, f in findings])
    if not discrepancy_acknowledged:
        _refuse_unacknowledged_discrepancy([f for _pos, f in findings])
    sequence = PumpEvent.objects.filter(implant=locked).aggregate(m=Max("sequence"))["m"] or 0
    saved: list[PumpEvent] = []
    for pos, (kind, when, clean) in enumerate(valid):
        sequence += 1
        event = PumpEvent(
            implant=locked,
            kind=kind,
            at=when,
            fields=clean,
            sequence=sequence,
            recorded_by=by,
            prescription=prescription,
        )
        event.save()
        mine = [f for p, f in findings if p == pos]
        record(
            by=by,
            action=Action.PUMP_EVENT_RECORDED,
            clinic=locked.patient.clinic,
            patient=locked.patient,
            obj=event,
            details={
                **_event_details(event),
                "findings": [_finding(f) for f in mine],
                **({"prescription": prescription.pk} if prescription is not None else {}),
            },
        )
        event.findings = mine  # type: ignore[attr-defined]
        saved.append(event)
    pump_timeline_changed.send(sender=Implant, implant=locked)
    return saved


def lock_implant(pk: int) -> Implant:
    """The implant, locked for the rest of the transaction, so that writes to one implant's
    timeline are judged one after the other: a row lock on PostgreSQL; on SQLite (whose
    transactions here begin IMMEDIATE) also a write to the row, which takes the write lock
    at once even where a shared cache would let two transactions read first."""
    implant = Implant.objects.select_for_update().get(pk=pk)
    if connection.vendor == "sqlite":
        Implant.objects.filter(pk=pk).update(status=implant.status)
    return implant


def _refuse_duplicate_fill(implant: Implant, valid: list[tuple[str, datetime, Any]]) -> None:
    """Two fills of one pump at one instant are one fill recorded twice (a double click, two
    nurses, a retried request), and a fill before the last recorded one would change what
    the later refills expected: both refused, under the implant's lock."""
    instants = [when for kind, when, _fields in valid if kind == PumpEventKind.FILL]
    if not instants:
        return
    recorded = {e.at for e in effective_events(implant) if e.kind == PumpEventKind.FILL}
    last = max(recorded, default=None)
    for when in instants:
        if last is not None and when < last:
            # a fill before the last one rewrites what every later refill expected (and so
            # its discrepancy, judged when it was recorded): correct the records instead
            raise ValidationError(
                {
                    "at": [
                        "A later fill of this pump is recorded already "
                        f"({timezone.localtime(last):%Y-%m-%d %H:%M}). A fill before it can "
                        "only be entered as a correction of the records."
                    ]
                }
            )
        if when in recorded or instants.count(when) > 1:
            raise ValidationError(
                {
                    "at": [
                        "A fill of this pump at this time is recorded already. If it was "
                        "wrong, correct that record instead of recording the fill again."
                    ]
                }
            )


def _refuse_unreconciled_refill(findings: list[Any]) -> None:
    """A refill of a pump that holds drug needs the aspirated volume, or 0 mL when nothing
    could be aspirated (itself a discrepancy): without it a pocket fill cannot be seen."""
    for finding in findings:
        if finding.code == "refill_not_reconciled":
            raise ValidationError(
                {
                    "aspirated_ml": [
                        "Enter the volume you aspirated before filling, or tick “nothing "
                        "could be aspirated” (0 mL). The pump should still hold about "
                        f"{finding.limit:.3g} mL: without the aspirated volume a needle "
                        "outside the reservoir (pocket fill) cannot be seen."
                    ]
                }
            )


def _refuse_unacknowledged_discrepancy(findings: list[Any]) -> None:
    """A refill discrepancy over the threshold needs a physician's acknowledgement, which
    only a refill visit records: a fill that shows one is refused anywhere else."""
    for finding in findings:
        if finding.code == "refill_discrepancy":
            raise ValidationError(
                {
                    "aspirated_ml": [
                        f"{finding.message} Do not fill: record this refill through a refill "
                        "visit, where a physician must acknowledge the discrepancy first."
                    ]
                }
            )


def _acknowledged(event: PumpEvent) -> bool:
    """Whether a refill visit recorded this fill after a physician's acknowledgement."""
    from openidds.web.refills.models import DiscrepancyAcknowledgement

    return DiscrepancyAcknowledgement.objects.filter(visit__fill_event=event).exists()


def _finding(finding: Any) -> dict[str, Any]:
    return {"code": finding.code, "severity": finding.severity, "message": finding.message}


@transaction.atomic
def correct_pump_event(
    *,
    by: Any,
    event: PumpEvent,
    reason: str,
    at: datetime | None = None,
    fields: dict[str, Any] | None = None,
    void: bool = False,
) -> PumpEvent:
    """Record a correction of an event: a new record that supersedes it (the old one is
    kept). ``void=True`` withdraws the event. A reason is required."""
    implant = lock_implant(event.implant_id)
    require_role(by, implant.patient.clinic, _event_roles(event.kind))
    original = PumpEvent.objects.get(pk=event.pk)
    if PumpEvent.objects.filter(supersedes=original).exists() or original.void:
        raise ValidationError({NON_FIELD_ERRORS: ["this record was already corrected"]})
    if not (reason or "").strip():
        raise ValidationError({"reason": ["say why the record is corrected"]})
    if "\x00" in reason:
        raise ValidationError({"reason": ["contains a NUL character"]})
    when, new_fields = _validate_event(
        implant,
        original.kind,
        original.at if at is None else at,
        original.fields if fields is None else fields,
    )
    findings = (
        [] if void else _check_replay(implant, when, original.kind, new_fields, exclude=original)
    )
    if not void and original.kind == PumpEventKind.FILL and not _acknowledged(original):
        _refuse_unacknowledged_discrepancy(findings)
    correction = PumpEvent(
        implant=implant,
        kind=original.kind,
        at=when,
        fields=new_fields,
        sequence=original.sequence,
        void=void,
        supersedes=original,
        reason=reason.strip(),
        recorded_by=by,
    )
    correction.save()
    record(
        by=by,
        action=Action.PUMP_EVENT_CORRECTED,
        clinic=implant.patient.clinic,
        patient=implant.patient,
        obj=correction,
        details={
            "supersedes": original.pk,
            "old": _event_details(original),
            "new": _event_details(correction),
            "void": void,
            "reason": correction.reason,
            "findings": [_finding(f) for f in findings],
        },
    )
    correction.findings = findings  # type: ignore[attr-defined]
    pump_timeline_changed.send(sender=Implant, implant=correction.implant)
    return correction


__all__ = [
    "PermissionDenied",
    "ValidationError",
    "active_implant",
    "check_new_events",
    "correct_pump_event",
    "explant",
    "list_implants",
    "record_implant",
    "record_pump_event",
    "record_pump_events",
]
