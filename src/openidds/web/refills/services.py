"""Refill visits change only through these functions.

Each takes the acting user as keyword-only ``by``, checks the role in the patient's clinic
(PermissionDenied), validates (ValidationError naming the field; nothing is written) and
writes the change and its audit event in one transaction.

The states: ``started`` → (aspiration) → ``awaiting_acknowledgement`` when the twin finds a
refill discrepancy over the pump's threshold (spec rule 9), else ``ready_to_fill`` →
(fill) → ``completed``; a physician's acknowledgement moves ``awaiting_acknowledgement``
to ``ready_to_fill`` (or abandons the visit: "do not fill"); any open visit can be
``abandoned`` with a reason (one awaiting a physician only by a physician).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from openidds.web.accounts.models import Clinic, Role
from openidds.web.accounts.roles import CLINICAL, require_role
from openidds.web.audit.models import Action
from openidds.web.audit.services import record
from openidds.web.implants.models import Implant, PumpEvent, PumpEventKind
from openidds.web.implants.services import CLOCK_SKEW, active_implant, record_pump_event
from openidds.web.implants.twin import _library, effective_events, fmt, pump_state, scenario_for
from openidds.web.patients.models import Patient
from openidds.web.refills.models import (
    AcknowledgementDecision,
    ChecklistItem,
    DiscrepancyAcknowledgement,
    OrderSource,
    RefillVisit,
    VisitStatus,
)

PHYSICIAN = frozenset({Role.PHYSICIAN})
#: Largest volume a syringe reading may have (mL); above it a unit slip is likelier.
MOST_ML = Decimal(100)
#: A refill is recorded to two decimals of a millilitre (a syringe's reading).
PLACES = 2
#: How far the twin's expectation may move between the aspiration and the fill before the
#: visit must be started again (mL; rounding of the stored numbers, not a clinical limit).
SAME_ML = 1e-6


# -- what to draw up -----------------------------------------------------------------------


@dataclass(frozen=True)
class DrugLine:
    """One drug to draw up, in numbers and in words."""

    drug: str
    name: str
    concentration: str  # as ordered: "10 mg/mL"
    concentration_mg_per_ml: float
    numbers: str  # "10 mg/mL", "25 mcg/mL (0.025 mg/mL)"
    words: str  # "10 milligrams of morphine in each millilitre"
    total: str  # "200 mg in 20 mL"


@dataclass(frozen=True)
class Order:
    drugs: dict[str, str]
    volume_ml: Decimal | None  # None: fill to capacity minus what is left
    stability_days: float | None
    source: str
    reference: str = ""
    lines: list[DrugLine] = field(default_factory=list)


def _concentration_mg_per_ml(text: Any) -> float:
    from openidds.pump._units import UnitError, parse_quantity

    try:
        return parse_quantity(text, "concentration")
    except UnitError as exc:
        raise ValueError(str(exc)) from exc


def drug_lines(drugs: Mapping[str, str], volume_ml: Decimal | float | None) -> list[DrugLine]:
    """The drugs as a nurse reads them back: numbers, words and the amount drawn up."""
    from openidds.dosing import amount

    lines = []
    for drug_id, conc in drugs.items():
        drug = _library().get(drug_id)
        name = drug.name if drug is not None else drug_id
        mg = _concentration_mg_per_ml(conc)
        numbers = amount(drug, mg, "mg/mL")
        if drug is not None and drug.display_unit == "mcg":
            words = f"{fmt(mg * 1000)} micrograms of {drug_id} in each millilitre"
        else:
            words = f"{fmt(mg)} milligrams of {drug_id} in each millilitre"
        total = ""
        if volume_ml is not None:
            total = f"{amount(drug, mg * float(volume_ml), 'mg')} in {fmt(float(volume_ml))} mL"
        lines.append(DrugLine(drug_id, name, conc, mg, numbers, words, total))
    return lines


def _attr(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _last_fill(implant: Implant, before: datetime | None = None) -> PumpEvent | None:
    fills = [e for e in effective_events(implant) if e.kind == PumpEventKind.FILL]
    if before is not None:
        fills = [e for e in fills if e.at <= before]
    return fills[-1] if fills else None


def refill_order_for(implant: Implant, at: datetime | None = None) -> Order | None:
    """What to draw up: the latest signed prescription's fill
    (``openidds.web.prescriptions.services.refill_order``) when there is one, else the last
    fill's drugs (volume: capacity minus what is left). None: nothing was ever filled, so
    there is nothing to refill."""
    from openidds.web.prescriptions.services import refill_order

    ordered = refill_order(implant)
    if (
        ordered is not None
        and _attr(ordered, "source") == OrderSource.PRESCRIPTION
        and _attr(ordered, "drugs")
    ):
        drugs = {
            str(d): (c if isinstance(c, str) else f"{float(c):g} mg/mL")
            for d, c in dict(_attr(ordered, "drugs")).items()
        }
        volume = _attr(ordered, "volume_ml")
        stability = _attr(ordered, "stability_days")
        reference = _attr(ordered, "reference") or ""
        return Order(
            drugs=drugs,
            volume_ml=None if volume is None else Decimal(str(volume)),
            stability_days=None if stability is None else float(stability),
            source=OrderSource.PRESCRIPTION,
            reference=str(reference),
        )
    # No prescription with a fill: the last fill's drugs, the reservoir filled up.
    last = _last_fill(implant, at)
    if last is None:
        return None
    stability = last.fields.get("stability_days")
    return Order(
        drugs=dict(last.fields.get("drugs", {})),
        volume_ml=None,
        stability_days=None if stability is None else float(stability),
        source=OrderSource.LAST_FILL,
        reference=f"fill of {last.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
    )


def volume_to_draw(visit: RefillVisit) -> Decimal:
    """The ordered volume, or (no prescription) capacity minus what is left in the pump."""
    if visit.order_source == OrderSource.PRESCRIPTION:
        return visit.order_volume_ml
    room = Decimal(str(visit.capacity_ml)) - (visit.residual_left_ml or Decimal(0))
    return room.quantize(Decimal("0.01"))


# -- validation helpers --------------------------------------------------------------------


def _volume(
    errors: dict[str, list[str]], name: str, value: Any, *, zero: bool, most: Decimal = MOST_ML
) -> Decimal | None:
    if value in (None, ""):
        errors.setdefault(name, []).append("this field is required")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        errors.setdefault(name, []).append("not a number")
        return None
    if not number.is_finite() or number < 0 or (number == 0 and not zero):
        errors.setdefault(name, []).append(
            "must be 0 mL or more" if zero else "must be a number above 0"
        )
        return None
    if number > most:
        errors.setdefault(name, []).append(f"above {most} mL: check the value and its unit")
        return None
    if number != number.quantize(Decimal(1).scaleb(-PLACES)):
        errors.setdefault(name, []).append(f"at most {PLACES} decimal places")
        return None
    return number


def _text(errors: dict[str, list[str]], name: str, value: Any, *, most: int) -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text:
        errors.setdefault(name, []).append("this field is required")
    elif len(text) > most:
        errors.setdefault(name, []).append(f"at most {most} characters")
    elif "\x00" in text:
        errors.setdefault(name, []).append("contains a NUL character")
    return text


def _lock(visit: RefillVisit) -> RefillVisit:
    return (
        RefillVisit.objects.select_for_update()
        .select_related("patient__clinic", "implant")
        .get(pk=visit.pk)
    )


def _closed(visit: RefillVisit) -> ValidationError:
    return ValidationError({NON_FIELD_ERRORS: [f"this visit is {visit.get_status_display()}"]})


def _local(value: datetime, patient: Patient) -> datetime:
    return value.astimezone(ZoneInfo(patient.time_zone))


def _when(value: datetime | None, patient: Patient) -> str:
    return "—" if value is None else _local(value, patient).strftime("%Y-%m-%d %H:%M %Z")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


# -- the twin at the visit -----------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    expected_ml: float
    discrepancy_ml: float | None
    over_threshold: bool
    forecast: Any = None


def _probe(visit: RefillVisit, fill: dict[str, Any]) -> Probe:
    """Replay the implant with ``fill`` at the visit's instant: the twin's expected volume,
    the discrepancy, whether it raised ``refill_discrepancy`` (rule 9), and its forecast.

    Raises ScenarioError when the twin cannot replay it."""
    from openidds.pump import simulate

    event = {"at": visit.at.astimezone(UTC), "kind": "fill", **fill}
    scenario = scenario_for(visit.implant, visit.at, extra=[event])
    index = next(i for i, e in enumerate(scenario["event"]) if e is event)
    result = simulate(scenario)
    outcome = next(o for o in result.events if o.index == index)
    over = any(a.kind == "refill_discrepancy" and a.at == outcome.at for a in result.alarms)
    return Probe(
        expected_ml=float(outcome.expected_ml or 0.0),
        discrepancy_ml=outcome.discrepancy_ml,
        over_threshold=over,
        forecast=result.forecast,
    )


def _twin_error(exc: Exception) -> ValidationError:
    return ValidationError(
        {NON_FIELD_ERRORS: [f"the twin cannot replay the pump's records with this: {exc}"]}
    )


# -- reads ---------------------------------------------------------------------------------


def find_visit(*, by: Any, visit_id: int, patient: Patient | None = None) -> RefillVisit:
    """The visit, if its patient is one the user may see (and ``patient``'s when given);
    Http404 otherwise. Membership is not permission: the callers check the role."""
    if by is None or not getattr(by, "is_authenticated", False) or not by.is_active:
        raise Http404("no such refill visit")
    visits = RefillVisit.objects.filter(pk=visit_id, patient__clinic__memberships__user_id=by.pk)
    if patient is not None:
        visits = visits.filter(patient=patient)
    visit = visits.select_related("patient__clinic", "implant").first()
    if visit is None:
        raise Http404("no such refill visit")
    return visit


@transaction.atomic
def view_visit(*, by: Any, visit: RefillVisit) -> RefillVisit:
    """Check the role (physician or nurse) and audit the reading of one visit."""
    require_role(by, visit.patient.clinic, CLINICAL)
    record(
        by=by,
        action=Action.REFILL_VISIT_VIEWED,
        clinic=visit.patient.clinic,
        patient=visit.patient,
        obj=visit,
        details={"visit": visit.pk, "status": visit.status},
    )
    return visit


@transaction.atomic
def list_visits(*, by: Any, patient: Patient) -> list[RefillVisit]:
    """The patient's refill visits, newest first (physician or nurse); audited."""
    require_role(by, patient.clinic, CLINICAL)
    visits = list(
        RefillVisit.objects.filter(patient=patient)
        .select_related("implant", "started_by", "completed_by")
        .prefetch_related("acknowledgements__physician")
    )
    record(
        by=by,
        action=Action.REFILL_VISITS_LISTED,
        clinic=patient.clinic,
        patient=patient,
        details={"count": len(visits)},
    )
    return visits


def open_discrepancy_visits(clinic: Clinic) -> QuerySet[RefillVisit]:
    """Visits of the clinic awaiting a physician's acknowledgement, oldest first (one query)."""
    return (
        RefillVisit.objects.filter(
            patient__clinic=clinic, status=VisitStatus.AWAITING_ACKNOWLEDGEMENT
        )
        .select_related("patient", "patient__clinic")
        .order_by("at", "id")
    )


@transaction.atomic
def open_discrepancies(*, by: Any, clinic: Clinic) -> list[RefillVisit]:
    """The clinic's refill discrepancies awaiting a physician (physician or nurse); audited."""
    require_role(by, clinic, CLINICAL)
    visits = list(open_discrepancy_visits(clinic))
    record(
        by=by,
        action=Action.REFILL_VISITS_LISTED,
        clinic=clinic,
        details={"open_discrepancies": len(visits)},
    )
    return visits


# -- writes --------------------------------------------------------------------------------


@transaction.atomic
def start_visit(*, by: Any, patient: Patient, at: datetime | None = None) -> RefillVisit:
    """Start a refill visit of the patient's active implant (physician or nurse).

    ``at`` is the instant of the refill (default: now); the twin's expected residual volume
    and what to draw up are taken for that instant."""
    require_role(by, patient.clinic, CLINICAL)
    Patient.objects.select_for_update().filter(pk=patient.pk).first()  # serialise per patient
    errors: dict[str, list[str]] = {}
    implant = active_implant(patient)
    if implant is None:
        raise ValidationError({NON_FIELD_ERRORS: ["the patient has no active implant"]})
    when = timezone.now() if at is None else at
    if not isinstance(when, datetime) or when.tzinfo is None:
        raise ValidationError({"at": ["a date and time with its time zone is required"]})
    if when > timezone.now() + CLOCK_SKEW:
        errors["at"] = ["this lies in the future"]
    elif when < implant.implanted_at:
        errors["at"] = ["this is before the implant date"]
    open_visit = RefillVisit.objects.filter(
        implant=implant,
        status__in=[
            VisitStatus.STARTED,
            VisitStatus.AWAITING_ACKNOWLEDGEMENT,
            VisitStatus.READY_TO_FILL,
        ],
    ).first()
    if open_visit is not None:
        errors[NON_FIELD_ERRORS] = [
            f"a refill visit of this pump is already open (#{open_visit.pk}, "
            f"{open_visit.get_status_display().lower()}): finish or abandon it first"
        ]
    if errors:
        raise ValidationError(errors)
    last = _last_fill(implant, when)
    if last is None:
        raise ValidationError(
            {
                NON_FIELD_ERRORS: [
                    "no fill is recorded before this instant: there is nothing to refill "
                    "(record the first fill with the fill form)"
                ]
            }
        )
    if last.at >= when:
        raise ValidationError({"at": ["the refill must come after the last fill"]})
    state = pump_state(implant, when)
    if state.error or state.reservoir_ml is None:
        raise ValidationError({NON_FIELD_ERRORS: [state.error or "the twin gives no volume"]})
    order = refill_order_for(implant, when)
    assert order is not None  # a fill exists
    try:
        drug_lines(order.drugs, order.volume_ml)
    except ValueError as exc:
        raise ValidationError({NON_FIELD_ERRORS: [f"the refill order: {exc}"]}) from exc
    model = implant.catalog_model
    capacity = float(model.capacity_ml)
    visit = RefillVisit(
        patient=patient,
        implant=implant,
        status=VisitStatus.STARTED,
        at=when,
        started_by=by,
        expected_residual_ml=state.reservoir_ml,
        capacity_ml=capacity,
        threshold_ml=float(model.refill_discrepancy_ml),
        order_drugs=order.drugs,
        order_volume_ml=(
            order.volume_ml
            if order.volume_ml is not None
            else Decimal(str(capacity)).quantize(Decimal("0.01"))
        ),
        order_stability_days=order.stability_days,
        order_source=order.source,
        order_reference=order.reference,
    )
    try:
        with transaction.atomic():
            visit.save()
    except IntegrityError as exc:  # a concurrent open visit
        raise ValidationError(
            {NON_FIELD_ERRORS: ["a refill visit of this pump is already open"]}
        ) from exc
    record(
        by=by,
        action=Action.REFILL_VISIT_STARTED,
        clinic=patient.clinic,
        patient=patient,
        obj=visit,
        details={
            "implant": implant.pk,
            "at": _iso(when),
            "expected_residual_ml": visit.expected_residual_ml,
            "threshold_ml": visit.threshold_ml,
            "order": {
                "drugs": order.drugs,
                "volume_ml": str(visit.order_volume_ml),
                "source": order.source,
                "reference": order.reference,
            },
        },
    )
    return visit


@transaction.atomic
def record_checklist(*, by: Any, visit: RefillVisit, items: Iterable[str]) -> RefillVisit:
    """Record a yes for each checklist item (physician or nurse), with who and when.

    An item already confirmed keeps its first confirmation."""
    require_role(by, visit.patient.clinic, CLINICAL)
    locked = _lock(visit)
    if not locked.is_open:
        raise _closed(locked)
    wanted = list(dict.fromkeys(items))
    unknown = [i for i in wanted if i not in ChecklistItem.values]
    if not wanted or unknown:
        raise ValidationError({"items": [f"give one or more of {', '.join(ChecklistItem.values)}"]})
    now = timezone.now()
    new = [i for i in wanted if getattr(locked, f"{i}_at") is None]
    for item in new:
        setattr(locked, f"{item}_by", by)
        setattr(locked, f"{item}_at", now)
    if new:
        locked.save(update_fields=[f"{i}_{s}" for i in new for s in ("by", "at")])
        record(
            by=by,
            action=Action.REFILL_CHECKLIST_RECORDED,
            clinic=locked.patient.clinic,
            patient=locked.patient,
            obj=locked,
            details={"confirmed": new, "at": _iso(now)},
        )
    return locked


@transaction.atomic
def record_aspiration(
    *, by: Any, visit: RefillVisit, aspirated_ml: Any, residual_left_ml: Any = 0
) -> RefillVisit:
    """Record the volume withdrawn (and what was left in the reservoir) and run the
    discrepancy check at once (physician or nurse). Once only: a wrong reading is for the
    physician to judge, not to be typed again."""
    require_role(by, visit.patient.clinic, CLINICAL)
    locked = _lock(visit)
    if locked.status != VisitStatus.STARTED:
        if locked.is_open:
            raise ValidationError(
                {NON_FIELD_ERRORS: ["the aspirated volume of this visit is already recorded"]}
            )
        raise _closed(locked)
    errors: dict[str, list[str]] = {}
    aspirated = _volume(errors, "aspirated_ml", aspirated_ml, zero=True)
    left = _volume(
        errors,
        "residual_left_ml",
        0 if residual_left_ml in (None, "") else residual_left_ml,
        zero=True,
        most=Decimal(str(locked.capacity_ml)),
    )
    if errors:
        raise ValidationError(errors)
    assert aspirated is not None and left is not None
    fill = {
        "volume_ml": 0.0,
        "aspirated_ml": float(aspirated),
        "drugs": dict(locked.order_drugs),
    }
    if left > 0:
        fill["residual_left_ml"] = float(left)
    from openidds.pump import ScenarioError

    try:
        probe = _probe(locked, fill)
    except ScenarioError as exc:
        field = {"aspirated_ml": "aspirated_ml", "residual_left_ml": "residual_left_ml"}.get(
            exc.field or "", NON_FIELD_ERRORS
        )
        raise ValidationError({field: [str(exc)]}) from exc
    locked.aspirated_ml = aspirated
    locked.residual_left_ml = left
    locked.aspiration_by = by
    locked.aspiration_at = timezone.now()
    locked.expected_residual_ml = probe.expected_ml
    locked.discrepancy_ml = probe.discrepancy_ml
    locked.over_threshold = probe.over_threshold
    locked.status = (
        VisitStatus.AWAITING_ACKNOWLEDGEMENT if probe.over_threshold else VisitStatus.READY_TO_FILL
    )
    if locked.order_source == OrderSource.LAST_FILL:
        locked.order_volume_ml = volume_to_draw(locked)
    locked.save()
    record(
        by=by,
        action=Action.REFILL_ASPIRATION_RECORDED,
        clinic=locked.patient.clinic,
        patient=locked.patient,
        obj=locked,
        details={
            "aspirated_ml": str(aspirated),
            "residual_left_ml": str(left),
            "expected_ml": probe.expected_ml,
            "discrepancy_ml": probe.discrepancy_ml,
            "threshold_ml": locked.threshold_ml,
            "over_threshold": probe.over_threshold,
            "status": locked.status,
        },
    )
    return locked


@transaction.atomic
def acknowledge_discrepancy(
    *, by: Any, visit: RefillVisit, note: str, decision: str = AcknowledgementDecision.PROCEED
) -> DiscrepancyAcknowledgement:
    """A physician records that they looked at the discrepancy, with a written note and a
    decision: proceed with the refill, or do not fill (the visit is abandoned)."""
    require_role(by, visit.patient.clinic, PHYSICIAN)
    locked = _lock(visit)
    if locked.status != VisitStatus.AWAITING_ACKNOWLEDGEMENT:
        if locked.is_open:
            raise ValidationError(
                {NON_FIELD_ERRORS: ["this visit has no discrepancy awaiting a physician"]}
            )
        raise _closed(locked)
    errors: dict[str, list[str]] = {}
    text = _text(errors, "note", note, most=4000)
    if decision not in AcknowledgementDecision.values:
        errors["decision"] = [f"one of {', '.join(AcknowledgementDecision.values)}"]
    if errors:
        raise ValidationError(errors)
    assert locked.discrepancy_ml is not None
    ack = DiscrepancyAcknowledgement(
        visit=locked,
        physician=by,
        decision=decision,
        note=text,
        discrepancy_ml=locked.discrepancy_ml,
    )
    ack.save()
    now = timezone.now()
    if decision == AcknowledgementDecision.PROCEED:
        locked.status = VisitStatus.READY_TO_FILL
        locked.save(update_fields=["status"])
    else:
        locked.status = VisitStatus.ABANDONED
        locked.abandoned_by = by
        locked.abandoned_at = now
        locked.abandon_reason = f"physician: do not fill — {text}"
        locked.save(update_fields=["status", "abandoned_by", "abandoned_at", "abandon_reason"])
    record(
        by=by,
        action=Action.DISCREPANCY_ACKNOWLEDGED,
        clinic=locked.patient.clinic,
        patient=locked.patient,
        obj=locked,
        details={
            "acknowledgement": ack.pk,
            "discrepancy_ml": locked.discrepancy_ml,
            "threshold_ml": locked.threshold_ml,
            "decision": decision,
            "note": text,
            "status": locked.status,
        },
    )
    return ack


def _drugs_match(
    errors: dict[str, list[str]], ordered: Mapping[str, str], given: Any
) -> dict[str, str]:
    if not isinstance(given, Mapping) or not given:
        errors["drugs"] = ["give each drug filled and its concentration"]
        return {}
    filled: dict[str, str] = {}
    if set(given) != set(ordered):
        errors["drugs"] = [
            f"the order is {', '.join(f'{d} {c}' for d, c in ordered.items())}; you entered "
            f"{', '.join(str(d) for d in given)}: fill what is ordered, or ask a physician "
            "for a new order"
        ]
        return {}
    for drug, conc in given.items():
        name = f"drugs.{drug}"
        text = conc.strip() if isinstance(conc, str) else ""
        try:
            mg = _concentration_mg_per_ml(text)
        except ValueError as exc:
            errors[name] = [str(exc)]
            continue
        want = _concentration_mg_per_ml(ordered[drug])
        if not math.isclose(mg, want, rel_tol=1e-9, abs_tol=0.0):
            errors[name] = [
                f"{drug} {text} is not the ordered {ordered[drug]}: fill what is ordered, or "
                "ask a physician for a new order"
            ]
            continue
        filled[drug] = text
    return filled


@transaction.atomic
def complete_refill(
    *,
    by: Any,
    visit: RefillVisit,
    volume_ml: Any,
    drugs: Mapping[str, str],
    drug_lot: str,
    drug_expiry: date | None,
) -> RefillVisit:
    """Record the fill (physician or nurse): the ``fill`` pump event with the aspirated
    volume, the volume and drugs filled and what was left, judged by the twin and the dose
    checks (a hard finding refuses it). Refused while a discrepancy awaits a physician, until
    every checklist item is confirmed, and for a drug that is expired or expires before the
    next refill date."""
    require_role(by, visit.patient.clinic, CLINICAL)
    locked = _lock(visit)
    patient = locked.patient
    if locked.status == VisitStatus.AWAITING_ACKNOWLEDGEMENT:
        raise ValidationError(
            {
                NON_FIELD_ERRORS: [
                    f"refill discrepancy of {fmt(locked.discrepancy_ml or 0.0)} mL, more than "
                    f"the {fmt(locked.threshold_ml)} mL threshold: do not fill until a "
                    "physician has acknowledged it in the app"
                ]
            }
        )
    if locked.status == VisitStatus.STARTED:
        raise ValidationError({NON_FIELD_ERRORS: ["record the aspirated volume first"]})
    if locked.status != VisitStatus.READY_TO_FILL:
        raise _closed(locked)
    errors: dict[str, list[str]] = {}
    missing = locked.checklist_missing()
    if missing:
        errors["checklist"] = [
            "confirm before the fill: " + "; ".join(ChecklistItem(m).label.lower() for m in missing)
        ]
    room = Decimal(str(locked.capacity_ml)) - locked.residual_left_ml
    volume = _volume(errors, "volume_ml", volume_ml, zero=False, most=max(room, Decimal("0.01")))
    filled = _drugs_match(errors, locked.order_drugs, drugs)
    lot = _text(errors, "drug_lot", drug_lot, most=64)
    if not isinstance(drug_expiry, date) or isinstance(drug_expiry, datetime):
        errors["drug_expiry"] = ["the drug's expiry date is required"]
    if errors:
        raise ValidationError(errors)
    assert volume is not None and isinstance(drug_expiry, date)
    today = _local(locked.at, patient).date()
    if drug_expiry < today:
        raise ValidationError(
            {
                "drug_expiry": [
                    f"this drug expired on {drug_expiry:%Y-%m-%d}: do not fill it; use a drug "
                    "within its expiry date"
                ]
            }
        )
    ack = (
        locked.acknowledgements.filter(decision=AcknowledgementDecision.PROCEED)
        .select_related("physician")
        .last()
    )
    assert locked.aspirated_ml is not None
    fields: dict[str, Any] = {"aspirated_ml": float(locked.aspirated_ml)}
    if locked.residual_left_ml > 0:
        fields["residual_left_ml"] = float(locked.residual_left_ml)
    fields["volume_ml"] = float(volume)
    fields["drugs"] = filled
    if locked.order_stability_days is not None:
        fields["stability_days"] = locked.order_stability_days
    if ack is not None:
        fields["override"] = [
            {
                "code": "refill_discrepancy",
                "reason": f"acknowledged by {ack.physician.get_username()}: {ack.note}",
            }
        ]
    fields["note"] = f"refill visit {locked.pk}; lot {lot}, expiry {drug_expiry:%Y-%m-%d}"
    from openidds.pump import ScenarioError

    try:
        probe = _probe(locked, fields)
    except ScenarioError:
        probe = None  # record_pump_event names the fault below
    if probe is not None:
        if abs((probe.discrepancy_ml or 0.0) - (locked.discrepancy_ml or 0.0)) > SAME_ML:
            raise ValidationError(
                {
                    NON_FIELD_ERRORS: [
                        "the pump's records changed since the aspiration was recorded (the "
                        f"twin now expects {fmt(probe.expected_ml)} mL, it expected "
                        f"{fmt(locked.expected_residual_ml)} mL): abandon this visit and start "
                        "a new one"
                    ]
                }
            )
        if probe.over_threshold and ack is None:  # the rule, checked again on the fill itself
            raise ValidationError(
                {NON_FIELD_ERRORS: ["refill discrepancy without a physician's acknowledgement"]}
            )
        refill = probe.forecast.recommended_refill if probe.forecast is not None else None
        if refill is not None and drug_expiry < _local(refill, patient).date():
            raise ValidationError(
                {
                    "drug_expiry": [
                        f"this drug expires on {drug_expiry:%Y-%m-%d}, before the next refill "
                        f"date {_when(refill, patient)}: use a drug that keeps until then"
                    ]
                }
            )
    event = record_pump_event(
        by=by,
        implant=locked.implant,
        kind=PumpEventKind.FILL,
        at=locked.at,
        fields=fields,
        discrepancy_acknowledged=ack is not None,
    )
    if probe is not None and probe.forecast is not None:
        # the probe replayed exactly the timeline just recorded (the fill as the last record
        # at its instant): its forecast is the one a new replay would give, without it
        forecast = {
            "recommended_refill": probe.forecast.recommended_refill,
            "low_reservoir_nominal": probe.forecast.low_reservoir_alarm.nominal,
            "low_reservoir_earliest": probe.forecast.low_reservoir_alarm.earliest,
            "empty_nominal": probe.forecast.empty.nominal,
        }
    else:
        forecast = pump_state(locked.implant, locked.at).forecast
    now = timezone.now()
    locked.status = VisitStatus.COMPLETED
    locked.drug_lot = lot
    locked.drug_expiry = drug_expiry
    locked.filled_volume_ml = volume
    locked.filled_drugs = filled
    locked.fill_event = event
    locked.completed_by = by
    locked.completed_at = now
    locked.next_refill_at = forecast.get("recommended_refill")
    locked.low_reservoir_at = forecast.get("low_reservoir_nominal")
    locked.low_reservoir_earliest_at = forecast.get("low_reservoir_earliest")
    locked.empty_at = forecast.get("empty_nominal")
    locked.save()
    record(
        by=by,
        action=Action.REFILL_COMPLETED,
        clinic=patient.clinic,
        patient=patient,
        obj=locked,
        details={
            "fill_event": event.pk,
            "volume_ml": str(volume),
            "drugs": filled,
            "aspirated_ml": str(locked.aspirated_ml),
            "residual_left_ml": str(locked.residual_left_ml),
            "drug_lot": lot,
            "drug_expiry": drug_expiry.isoformat(),
            "acknowledgement": ack.pk if ack is not None else None,
            "next_refill_at": _iso(locked.next_refill_at),
            "low_reservoir_at": _iso(locked.low_reservoir_at),
            "empty_at": _iso(locked.empty_at),
            "findings": [
                {"code": f.code, "severity": f.severity, "message": f.message}
                for f in getattr(event, "findings", [])
            ],
        },
    )
    locked.findings = getattr(event, "findings", [])  # type: ignore[attr-defined]
    return locked


@transaction.atomic
def abandon_visit(*, by: Any, visit: RefillVisit, reason: str) -> RefillVisit:
    """Abandon an open visit with a reason (physician or nurse; one whose discrepancy awaits
    a physician only by a physician, so a discrepancy cannot be left behind by starting
    over)."""
    role = require_role(by, visit.patient.clinic, CLINICAL)
    locked = _lock(visit)
    if not locked.is_open:
        raise _closed(locked)
    if locked.status == VisitStatus.AWAITING_ACKNOWLEDGEMENT and role != Role.PHYSICIAN:
        raise PermissionDenied(
            "a visit whose discrepancy awaits a physician can only be closed by a physician"
        )
    errors: dict[str, list[str]] = {}
    text = _text(errors, "reason", reason, most=2000)
    if errors:
        raise ValidationError(errors)
    old = locked.status
    locked.status = VisitStatus.ABANDONED
    locked.abandoned_by = by
    locked.abandoned_at = timezone.now()
    locked.abandon_reason = text
    locked.save(update_fields=["status", "abandoned_by", "abandoned_at", "abandon_reason"])
    record(
        by=by,
        action=Action.REFILL_VISIT_ABANDONED,
        clinic=locked.patient.clinic,
        patient=locked.patient,
        obj=locked,
        details={"status": {"old": old, "new": locked.status}, "reason": text},
    )
    return locked


def fill_findings(visit: RefillVisit) -> list[dict[str, Any]]:
    """The dose checks' findings at the visit's fill, as its audit event recorded them."""
    if visit.fill_event_id is None:
        return []
    from openidds.web.audit.models import AuditEvent

    event = (
        AuditEvent.objects.filter(
            action=Action.PUMP_EVENT_RECORDED,
            object_type=PumpEvent._meta.label,
            object_id=str(visit.fill_event_id),
        )
        .only("details")
        .first()
    )
    found = event.details.get("findings", []) if event is not None else []
    return [f for f in found if isinstance(f, dict)]


__all__ = [
    "PermissionDenied",
    "ValidationError",
    "abandon_visit",
    "acknowledge_discrepancy",
    "complete_refill",
    "find_visit",
    "list_visits",
    "open_discrepancies",
    "record_aspiration",
    "record_checklist",
    "start_visit",
    "view_visit",
]
