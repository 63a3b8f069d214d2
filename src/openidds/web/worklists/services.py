"""The worklist of a clinic: its own sections from the fleet forecast over the clinic's
pump-state snapshots, and every section registered in ``openidds.web.worklists.registry``.

A constant number of queries whatever the number of patients: the clinic's snapshots (one
query, with their patients), each registered provider's own constant number, one query for
the time zones of registered items, and the audit event.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Min
from django.urls import reverse
from django.utils import timezone

from openidds.web.accounts.models import Clinic
from openidds.web.accounts.roles import CLINICAL, require_role
from openidds.web.audit.models import Action
from openidds.web.audit.services import record
from openidds.web.clinicadmin.library import library_for_clinic
from openidds.web.patients.models import Patient
from openidds.web.worklists.forecast import PumpRow, forecast
from openidds.web.worklists.models import PumpSnapshot
from openidds.web.worklists.registry import WorklistItem, registered


@functools.cache
def policy() -> dict[str, float]:
    """The horizons of ``data/worklist.toml`` (clinic policy, with their source there)."""
    text = resources.files("openidds.web.worklists").joinpath("data/worklist.toml").read_text()
    return {key: float(value["value"]) for key, value in tomllib.loads(text).items()}


@dataclass(frozen=True)
class SectionResult:
    key: str
    title: str
    items: list[WorklistItem]
    #: what the section lists, in one sentence
    description: str = ""


@dataclass(frozen=True)
class Worklist:
    clinic: Clinic
    now: datetime
    sections: list[SectionResult]


def _fmt(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:.1f}"


@functools.cache
def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _local(at: datetime, zone: str) -> str:
    return at.astimezone(_zone(zone)).strftime("%Y-%m-%d %H:%M")


def local_parts(at: datetime, zone: str) -> tuple[str, str]:
    """("Sun 2026-12-06 11:35", "CET"): an instant for people, in the patient's zone."""
    local = at.astimezone(_zone(zone or "UTC"))
    return local.strftime("%a %Y-%m-%d %H:%M"), local.tzname() or ""


#: what the fleet forecast needs of every snapshot (one query, no model instances)
_FLEET_FIELDS = (
    "pk",
    "as_of",
    "reservoir_ml",
    "low_threshold_ml",
    "program_period",
    "program_step_start_days",
    "program_step_rate_ml_per_day",
    "time_zone",
    "accuracy",
    "ptm_ml_per_day",
    "eos_at",
    "eri_at",
    "stability_until",
    "planned_refill_at",
    "error",
    "stopped",
    "drugs",
    "patient_id",
)


@dataclass(frozen=True)
class _Candidate:
    snapshot_id: int
    time_zone: str
    at: datetime | None
    kind: str  # refill, low, eri, eos, error, withdrawal
    reservoir_ml: float | None = None
    refill_at: datetime | None = None
    low_at: datetime | None = None
    empty_at: datetime | None = None
    threshold_ml: float | None = None
    stability_until: datetime | None = None
    eri_at: datetime | None = None
    eos_at: datetime | None = None
    error: str = ""
    why: str = ""  # withdrawal: what puts the patient at risk, in words


def pump_sections(clinic: Clinic, now: datetime) -> list[SectionResult]:
    """The worklist's own sections: one query for what the fleet forecast needs of every
    snapshot of the clinic, one fleet forecast, one query for the patients and details of
    the pumps that are listed."""
    rows = list(PumpSnapshot.objects.filter(clinic=clinic).values_list(*_FLEET_FIELDS))
    ok = [r for r in rows if not r[14]]
    fleet = forecast(
        [
            PumpRow(
                as_of=r[1],
                reservoir_ml=r[2] or 0.0,
                threshold_ml=r[3] or 0.0,
                period=r[4],
                step_start_days=r[5],
                step_rate_ml_per_day=r[6],
                time_zone=r[7],
                accuracy=r[8],
                ptm_ml_per_day=r[9],
                eos_at=r[10],
                stability_until=r[12],
            )
            for r in ok
        ],
        now,
    )
    withdrawal = _withdrawal_words(clinic)
    booked = _booked_refills(clinic, now)
    refill_until = now + timedelta(days=policy()["refill_due_within_days"])
    low_until = now + timedelta(days=policy()["low_reservoir_alarm_within_days"])
    eri_until = now + timedelta(days=policy()["eri_within_days"])
    found: list[_Candidate] = [
        _Candidate(r[0], r[7], r[1], "error", error=r[14]) for r in rows if r[14]
    ]
    for i, r in enumerate(ok):
        pk, zone, eos_at, eri_at = r[0], r[7], r[10], r[11]
        past_eos = eos_at is not None and eos_at <= now
        dates = [d for d in (fleet.recommended_refill_at[i], r[13]) if d]
        refill = min(dates) if dates else None
        low = fleet.low_reservoir_at[i]
        common = {
            "reservoir_ml": fleet.reservoir_ml[i],
            "refill_at": refill,
            "low_at": low,
            "empty_at": fleet.empty_at[i],
            "threshold_ml": r[3],
            "stability_until": r[12],
            "eri_at": eri_at,
            "eos_at": eos_at,
        }
        risk = [withdrawal[d["drug"]] for d in (r[16] or []) if d.get("drug") in withdrawal]
        if risk:
            why = _withdrawal_reason(
                r, booked.get(r[17]), fleet.empty_at[i], eri_at, eos_at, now, refill_until
            )
            if why is not None:
                at, reason = why
                found.append(
                    _Candidate(
                        pk, zone, at, "withdrawal", **common, why=f"{reason} {' '.join(risk)}"
                    )
                )
        if past_eos:
            found.append(_Candidate(pk, zone, eos_at, "eos", **common))
            continue
        if refill is not None and refill <= refill_until:
            found.append(_Candidate(pk, zone, refill, "refill", **common))
        if low is not None and low <= low_until:
            found.append(_Candidate(pk, zone, low, "low", **common))
        if eri_at is not None and eri_at <= eri_until:
            found.append(_Candidate(pk, zone, eri_at, "eri", **common))
    # always one query ([0]: Django skips an empty IN): the same number whatever the data
    details = {
        d[0]: d[1:]
        for d in PumpSnapshot.objects.filter(
            clinic=clinic, pk__in=[c.snapshot_id for c in found] or [0]
        ).values_list(
            "pk",
            "patient_id",
            "patient__name",
            "patient__mrn",
            "drugs",
            "low_reservoir_at",
            "empty_at",
            "last_fill_at",
            "implant__implanted_at",
        )
    }
    sections: dict[str, list[WorklistItem]] = {
        k: [] for k in ("error", "withdrawal", "refill", "low", "eri", "eos")
    }
    for c in found:
        patient_id, name, mrn, drugs_json, low_past, empty_past, filled, implanted = details[
            c.snapshot_id
        ]
        item = _item(clinic, c, now, patient_id, name, mrn, drugs_json, low_past, empty_past)
        if filled is None and c.kind in {"refill", "low"}:
            # Nothing was ever filled: "empty since" would name the last record's instant.
            item = replace(
                item,
                at=implanted,
                text=(
                    f"Never filled: the pump was implanted {_local(implanted, c.time_zone)} "
                    "and holds no drug. Record the first fill."
                ),
                urgent=True,
            )
        sections[c.kind].append(item)
    by_time = functools.partial(sorted, key=lambda w: (w.at is None, w.at, w.patient_name))
    out = [
        SectionResult(
            "withdrawal",
            "Withdrawal risk",
            by_time(sections["withdrawal"]),
            "Pumps of drugs whose interruption is dangerous (baclofen, clonidine, opioids) that "
            "are stopped, forecast to run dry before their next booked refill, or past ERI.",
        ),
        SectionResult(
            "refills",
            "Refills due in the next 14 days and overdue",
            by_time(sections["refill"]),
            "Recommended refill date: the low-reservoir alarm at the fastest flow the pump's "
            "accuracy allows (and PTM use), or the fill's stability limit if earlier.",
        ),
        SectionResult(
            "low-reservoir",
            "Low-reservoir alarms in the next 14 days",
            by_time(sections["low"]),
            "When the reservoir reaches the pump's alarm threshold at the programmed rate.",
        ),
        SectionResult(
            "eri",
            "Battery: ERI within 6 months",
            by_time(sections["eri"]),
            "Elective replacement indicator; the pump stops at end of service.",
        ),
        SectionResult("eos", "Pumps past end of service", by_time(sections["eos"])),
    ]
    if sections["error"]:
        out.insert(
            0,
            SectionResult(
                "twin-errors",
                "Pump records the twin cannot replay",
                sections["error"],
                "No forecast is possible until the record named is corrected.",
            ),
        )
    return out


def _withdrawal_words(clinic: Clinic) -> dict[str, str]:
    """Drug id -> what its interruption does, for the clinic's library's withdrawal-risk
    drugs."""
    library = library_for_clinic(clinic)
    return {
        d.id: d.withdrawal_wording[:1].upper() + d.withdrawal_wording[1:].rstrip(".") + "."
        for d in library.drugs.values()
        if d.withdrawal_risk
    }


def _booked_refills(clinic: Clinic, now: datetime) -> dict[int, datetime]:
    """Patient id -> the next scheduled refill appointment (one query). The portal owns the
    appointments; looked up by name so that the worklist does not import the portal."""
    appointment = apps.get_model("portal", "RefillAppointment")
    rows = (
        appointment.objects.filter(patient__clinic=clinic, status="scheduled", starts_at__gte=now)
        .values("patient_id")
        .annotate(first=Min("starts_at"))
        .values_list("patient_id", "first")
    )
    return dict(rows)


def _withdrawal_reason(
    row: Any,
    booked: datetime | None,
    empty_at: datetime | None,
    eri_at: datetime | None,
    eos_at: datetime | None,
    now: datetime,
    refill_until: datetime,
) -> tuple[datetime | None, str] | None:
    """Why a pump of a withdrawal-risk drug is at risk, and since or from when."""
    zone, stopped = row[7], row[15]
    if stopped:
        return row[1], f"The pump is stopped (since {_local(row[1], zone)})."
    if eos_at is not None and eos_at <= now:
        return eos_at, f"Past end of service since {_local(eos_at, zone)}: the pump has stopped."
    if eri_at is not None and eri_at <= now:
        return eri_at, (
            f"ERI reached {_local(eri_at, zone)}; the pump stops at end of service"
            + (f" {_local(eos_at, zone)}." if eos_at else ".")
        )
    if empty_at is not None:
        if empty_at <= now:
            return empty_at, f"Empty since {_local(empty_at, zone)}."
        if booked is not None:
            if empty_at < booked:
                return empty_at, (
                    f"Forecast to run dry {_local(empty_at, zone)}, before the booked refill "
                    f"{_local(booked, zone)}."
                )
        elif empty_at <= refill_until:
            return empty_at, (
                f"Forecast to run dry {_local(empty_at, zone)} and no refill is booked."
            )
    return None


@functools.lru_cache(maxsize=64)
def _chart_prefix(slug: str) -> tuple[str, str]:
    """The chart's URL around the patient id (reverse once per clinic, not per item)."""
    url = reverse("patient-detail", args=[slug, 987654321])
    head, _, tail = url.partition("987654321")
    return head, tail


def _chart_url(slug: str, patient_id: int) -> str:
    head, tail = _chart_prefix(slug)
    return f"{head}{patient_id}{tail}"


def _item(
    clinic: Clinic,
    c: _Candidate,
    now: datetime,
    patient_id: int,
    name: str,
    mrn: str,
    drugs_json: Any,
    low_past: datetime | None,
    empty_past: datetime | None,
) -> WorklistItem:
    zone = c.time_zone
    at = c.at
    if c.kind == "error":
        text = c.error
        urgent = True
    elif c.kind == "withdrawal":
        text = c.why
        urgent = True
    elif c.kind == "eos":
        assert c.eos_at is not None
        text = (
            f"Past end of service since {_local(c.eos_at, zone)}: the pump has stopped. Replace it."
        )
        urgent = True
    elif c.kind == "eri":
        assert c.eri_at is not None
        reached = c.eri_at <= now
        when = _local(c.eri_at, zone)
        eos_when = _local(c.eos_at, zone) if c.eos_at else "?"
        text = (
            f"ERI reached {when}: end of service {eos_when}. Plan the replacement."
            if reached
            else f"ERI forecast for {when} (end of service {eos_when}). Plan the replacement."
        )
        urgent = reached
    else:
        drugs = "; ".join(d["words"] for d in (drugs_json or [])) or "no drug"
        reservoir = c.reservoir_ml
        empty = c.empty_at
        if empty is not None and empty <= now and empty_past is not None:
            empty = min(empty, empty_past)  # the instant it happened
        if c.kind == "refill":
            refill = c.refill_at
            assert refill is not None
            if empty is not None and empty <= now:
                text = (
                    f"EMPTY since {_local(empty, zone)}: the patient receives no drug. "
                    f"Refill overdue since {_local(refill, zone)}."
                )
            elif refill <= now:
                text = (
                    f"Refill overdue since {_local(refill, zone)}; about {_fmt(reservoir)} mL "
                    f"left ({drugs})."
                )
            else:
                text = (
                    f"Refill due by {_local(refill, zone)}; about {_fmt(reservoir)} mL left "
                    f"({drugs})."
                )
            if c.stability_until is not None and refill >= c.stability_until:
                text += " The fill's stability limit sets the date."
            urgent = refill <= now
        else:
            low = c.low_at
            assert low is not None
            if low <= now and low_past is not None:
                low = min(low, low_past)
            at = low
            if low <= now:
                text = (
                    f"Low-reservoir alarm since {_local(low, zone)} (threshold "
                    f"{_fmt(c.threshold_ml)} mL; about {_fmt(reservoir)} mL left)."
                )
            else:
                text = (
                    f"Low-reservoir alarm forecast for {_local(low, zone)} (threshold "
                    f"{_fmt(c.threshold_ml)} mL); empty by "
                    f"{_local(empty, zone) if empty else 'later'}."
                )
            urgent = low <= now
    return WorklistItem(
        patient_id=patient_id,
        patient_name=name,
        mrn=mrn,
        at=at,
        text=text,
        urgent=urgent,
        url=_chart_url(clinic.slug, patient_id),
        time_zone=zone,
    )


def registered_sections(clinic: Clinic, now: datetime) -> list[SectionResult]:
    out: list[SectionResult] = []
    for section in registered():
        items = list(section.provider(clinic, now))
        out.append(SectionResult(section.key, section.title, items))
    missing = {i.patient_id for s in out for i in s.items if not i.time_zone}
    # always one query ([0]: Django skips an empty IN): the same number whatever the data
    zones = dict(Patient.objects.filter(pk__in=list(missing) or [0]).values_list("pk", "time_zone"))
    if missing:
        out = [
            replace(
                s,
                items=[
                    i if i.time_zone else replace(i, time_zone=zones.get(i.patient_id, "UTC"))
                    for i in s.items
                ],
            )
            for s in out
        ]
    return out


@transaction.atomic
def worklist(*, by: Any, clinic: Clinic, now: datetime | None = None) -> Worklist:
    """The clinic's worklist at ``now`` (physician or nurse); the reading is audited."""
    require_role(by, clinic, CLINICAL)
    now = now or timezone.now()
    sections = pump_sections(clinic, now) + registered_sections(clinic, now)
    record(
        by=by,
        action=Action.WORKLIST_VIEWED,
        clinic=clinic,
        details={
            "at": now.isoformat(),
            "items": {s.key: len(s.items) for s in sections},
        },
    )
    return Worklist(clinic=clinic, now=now, sections=sections)
