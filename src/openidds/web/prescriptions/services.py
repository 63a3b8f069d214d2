"""Prescriptions change only through these functions.

``preview`` replays the twin with a proposed change and runs the dose checks (it writes no
clinical record); ``prescribe`` signs it: physician only, hard findings block, every soft
finding needs a written reason, the physician re-enters their password, and one
transaction writes the prescription, its pump events (through the implants services, so
the same checks apply) and the audit event. ``refill_order`` says what the next refill
must draw up. Every reading is audited.
"""

from __future__ import annotations

import functools
import json
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone

from openidds.web.accounts.models import Role
from openidds.web.accounts.roles import CLINICAL, require_role
from openidds.web.audit.models import Action, AuditEvent
from openidds.web.audit.services import record
from openidds.web.implants import services as implant_services
from openidds.web.implants.library import library_for
from openidds.web.implants.models import Implant, PumpEvent, PumpEventKind
from openidds.web.implants.twin import effective_events, fmt, scenario_for
from openidds.web.patients.models import Patient
from openidds.web.prescriptions.models import Prescription, canonical_json

PHYSICIAN = frozenset({Role.PHYSICIAN})
#: What a prescription may change. PTM requests are the patient's, not prescribed.
PRESCRIBABLE = (
    PumpEventKind.FILL,
    PumpEventKind.PROGRAM,
    PumpEventKind.BOLUS,
    PumpEventKind.PRIMING_BOLUS,
    PumpEventKind.BRIDGE_BOLUS,
    PumpEventKind.PTM_SETTINGS,
    PumpEventKind.STOP,
    PumpEventKind.MRI,
)
MAX_REASON_CHARS = 2000
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@functools.cache
def settings_data() -> dict[str, Any]:
    """``data/prescriptions.toml``: the forecast horizon and its source."""
    ref = resources.files("openidds.web.prescriptions") / "data" / "prescriptions.toml"
    return tomllib.loads(ref.read_text(encoding="utf-8"))


def forecast_days() -> int:
    return int(settings_data()["forecast"]["days"])


def max_forecast_days() -> int:
    return int(settings_data()["forecast"]["max_days"])


# -- input ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    kind: str
    at: datetime
    fields: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "fields": self.fields,
        }


def _parse_instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def parse_changes(implant: Implant, changes: Any) -> list[Change]:
    """Validate the proposed changes' shape (the twin and the checks judge their content).

    Errors are keyed ``changes`` or ``changes.<position>.<field>``."""
    errors: dict[str, list[str]] = {}
    if not isinstance(changes, list) or not changes:
        raise ValidationError({"changes": ["give at least one change"]})
    if len(changes) > 20:
        raise ValidationError({"changes": ["at most 20 changes in one prescription"]})
    parsed: list[Change] = []
    last = max((e.at for e in effective_events(implant)), default=None)
    for pos, raw in enumerate(changes):
        key = f"changes.{pos}"
        if not isinstance(raw, dict):
            errors[key] = ["a change is {kind, at, fields}"]
            continue
        kind = raw.get("kind")
        if kind not in PRESCRIBABLE:
            errors[f"{key}.kind"] = [f"one of {', '.join(PRESCRIBABLE)}"]
        when = _parse_instant(raw.get("at"))
        if when is None:
            errors[f"{key}.at"] = ["a date and time is required"]
        elif when.tzinfo is None:
            errors[f"{key}.at"] = ["give the time zone (an aware date and time)"]
        elif last is not None and when < last:
            errors[f"{key}.at"] = [
                "a prescription applies from its instant on: this is before the pump's "
                f"last record ({last.astimezone(UTC):%Y-%m-%d %H:%M} UTC); correct that "
                "record instead"
            ]
        elif parsed and when < parsed[-1].at:
            errors[f"{key}.at"] = ["changes are given in time order"]
        fields = raw.get("fields", {})
        if not isinstance(fields, dict):
            errors[f"{key}.fields"] = ["a table of the event's fields (scenario format)"]
            fields = {}
        elif "override" in fields:
            errors[f"{key}.fields"] = [
                "give a written reason per soft finding (reasons), not an override"
            ]
        if isinstance(kind, str) and when is not None and when.tzinfo is not None:
            parsed.append(Change(kind, when, dict(fields)))
    if errors:
        raise ValidationError(errors)
    return parsed


def _field_of(pos: int, name: str) -> str:
    return f"changes.{pos}.{name}" if name != NON_FIELD_ERRORS else NON_FIELD_ERRORS


# -- the twin's view of a change -------------------------------------------------------


def _step_start(step: Any, period: str | None) -> str:
    text = f"{step.at.hour:02d}:{step.at.minute:02d}"
    if period == "week" and step.weekday is not None:
        return f"{WEEKDAYS[step.weekday]} {text}"
    return text


def _mean_rate(program: Any) -> float:
    from openidds.web.implants.twin import _mean_rate as mean

    return mean(program)


def summarize(result: Any, library: Any) -> dict[str, Any]:
    """The program in force at the end of a replay, every field a person compares."""
    from openidds.dosing import amount
    from openidds.pump import PtmSettings

    program = result.program_at_end
    reservoir = result.end_state.reservoir_ml
    conc = {
        d: (mg / reservoir if reservoir > 1e-12 else 0.0)
        for d, mg in result.end_state.reservoir_mg.items()
    }
    conc = {d: c for d, c in conc.items() if c > 0}
    rate = _mean_rate(program) if program is not None else None
    if program is None:
        mode, mode_text = "stopped", "stopped or not programmed: nothing is pumped"
    elif program.period is None:
        mode, mode_text = "continuous", "continuous"
    else:
        mode, mode_text = "flex", f"flex by {program.period}, {len(program.steps)} steps"
    steps = []
    if program is not None and program.period is not None:
        for step in program.steps:
            steps.append(
                {
                    "start": _step_start(step, program.period),
                    "rate_ml_per_day": round(step.rate_ml_per_day, 9),
                    "doses_mg_per_day": {
                        d: round(step.rate_ml_per_day * c, 9) for d, c in conc.items()
                    },
                }
            )
    drugs: dict[str, Any] = {}
    for d, c in sorted(conc.items()):
        drug = library.get(d)
        daily = rate * c if rate is not None else None
        daily_text = amount(drug, daily, "mg/day") if daily is not None else "none"
        drugs[d] = {
            "concentration_mg_per_ml": round(c, 9),
            "concentration_text": str(amount(drug, c, "mg/mL")),
            "daily_mg": None if daily is None else round(daily, 9),
            "daily_text": str(daily_text),
            "words": f"{d}, {str(daily_text).replace('/day', ' a day', 1)}"
            if daily is not None
            else f"{d}, none (pump stopped)",
        }
    ptm: dict[str, Any] = {"enabled": False, "text": "off"}
    last_ptm = None
    for event in result.scenario.ordered_events():
        if isinstance(event, PtmSettings):
            last_ptm = event
    if last_ptm is not None and last_ptm.enabled:
        outcome = next(o for o in result.events if o.index == last_ptm.index)
        volume = outcome.volume_ml or 0.0
        bolus = {d: round(volume * c, 9) for d, c in conc.items()}
        ptm = {
            "enabled": True,
            "volume_ml": round(volume, 9),
            "bolus_mg": bolus,
            "duration_minutes": round(last_ptm.duration_us / 6e7, 6),
            "lockout_hours": round(last_ptm.lockout_us / 3.6e9, 6),
            "max_per_24h": last_ptm.max_per_24h,
            "text": f"{fmt(volume)} mL a bolus ("
            + ", ".join(f"{d} {amount(library.get(d), mg, 'mg')}" for d, mg in bolus.items())
            + f") over {fmt(last_ptm.duration_us / 6e7)} min, lockout "
            f"{fmt(last_ptm.lockout_us / 3.6e9)} h, at most {last_ptm.max_per_24h} in 24 h",
        }
    return {
        "mode": mode,
        "mode_text": mode_text,
        "rate_ml_per_day": None if rate is None else round(rate, 9),
        "steps": steps,
        "drugs": drugs,
        "ptm": ptm,
        "reservoir_ml": round(reservoir, 6),
    }


def _steps_text(summary: dict[str, Any]) -> str:
    if not summary["steps"]:
        return "—"
    return "; ".join(f"{s['start']} {fmt(s['rate_ml_per_day'])} mL/day" for s in summary["steps"])


def diff_rows(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Old and new side by side, one row per field; ``changed`` marks the differences."""
    rows: list[tuple[str, str, str]] = [
        ("Mode", before["mode_text"], after["mode_text"]),
        (
            "Basal rate (mean)",
            "—"
            if before["rate_ml_per_day"] is None
            else f"{fmt(before['rate_ml_per_day'])} mL/day",
            "—" if after["rate_ml_per_day"] is None else f"{fmt(after['rate_ml_per_day'])} mL/day",
        ),
        ("Flex steps", _steps_text(before), _steps_text(after)),
    ]
    for d in sorted(set(before["drugs"]) | set(after["drugs"])):
        old, new = before["drugs"].get(d), after["drugs"].get(d)
        rows.append(
            (
                f"{d}: concentration",
                old["concentration_text"] if old else "—",
                new["concentration_text"] if new else "—",
            )
        )
        rows.append(
            (
                f"{d}: daily dose",
                old["daily_text"] if old else "—",
                new["daily_text"] if new else "—",
            )
        )
        rows.append((f"{d}: in words", old["words"] if old else "—", new["words"] if new else "—"))
    rows.append(("PTM", before["ptm"]["text"], after["ptm"]["text"]))
    rows.append(
        (
            "Reservoir",
            f"{before['reservoir_ml']:.2f} mL",
            f"{after['reservoir_ml']:.2f} mL",
        )
    )
    return [{"field": f, "old": o, "new": n, "changed": o != n} for f, o, n in rows]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def forecast_series(result: Any, start: datetime, days: int) -> dict[str, Any]:
    """What the replay says the patient receives in each 24 h from ``start`` (mg per drug)
    and the reservoir volume (mL) at the twin's breakpoints over those days."""
    end = start + timedelta(days=days)
    windows = []
    for i in range(days):
        a = start + timedelta(days=i)
        b = a + timedelta(days=1)
        delivered = result.delivered_mg_between(a, b)
        windows.append(
            {
                "day": i + 1,
                "start": _iso(a),
                "end": _iso(b),
                "delivered_mg": {d: round(v, 9) for d, v in delivered.items()},
                "reservoir_ml_at_end": round(result.reservoir_ml_at(b), 6),
            }
        )
    timeline = result.timeline()
    xs = [_iso(start)]
    ys = [round(result.reservoir_ml_at(start), 6)]
    for t, v in zip(timeline["at"], timeline["reservoir_ml"], strict=True):
        if start < t < end:
            xs.append(_iso(t))
            ys.append(round(v, 6))
    xs.append(_iso(end))
    ys.append(round(result.reservoir_ml_at(end), 6))
    return {"days": windows, "reservoir": {"x": xs, "y": ys}, "drugs": list(result.drugs)}


@dataclass
class Preview:
    """What a proposed change does: findings, the program diff, the forecast."""

    patient: Patient
    implant: Implant
    changes: list[Change]
    findings: list[dict[str, Any]]
    before: dict[str, Any]
    after: dict[str, Any]
    diff: list[dict[str, Any]]
    forecast: dict[str, Any]
    library: dict[str, str]
    start: datetime
    positions: dict[str, list[int]] = field(default_factory=dict)

    @property
    def hard(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f["severity"] == "hard"]

    @property
    def soft(self) -> list[dict[str, Any]]:
        return [f for f in self.findings if f["severity"] == "soft"]

    @property
    def soft_codes(self) -> list[str]:
        return sorted({f["code"] for f in self.soft})

    @property
    def blocked(self) -> bool:
        return bool(self.hard)

    def as_json(self) -> dict[str, Any]:
        return {
            "patient": self.patient.pk,
            "implant": self.implant.pk,
            "changes": [c.as_json() for c in self.changes],
            "findings": self.findings,
            "blocked": self.blocked,
            "soft_codes": self.soft_codes,
            "before": self.before,
            "after": self.after,
            "diff": self.diff,
            "forecast": self.forecast,
            "library": self.library,
        }


def _finding_json(finding: Any, position: int | None) -> dict[str, Any]:
    out: dict[str, Any] = dict(finding.to_dict())
    out["change"] = position
    return out


def _evaluate(
    implant: Implant,
    changes: list[Change],
    library: Any,
    overrides: dict[int, list[dict[str, str]]] | None = None,
    *,
    with_forecast: bool = True,
) -> Preview:
    """Replay and check the implant's records with the changes (nothing is written).

    ``with_forecast=False`` leaves out the 14-day forecast (two more replays), which only
    the preview shows; signing judges the same findings without it."""
    from openidds.dosing import check, replay
    from openidds.pump import ScenarioError

    events = effective_events(implant)
    new: list[dict[str, Any]] = []
    for pos, change in enumerate(changes):
        item = {"at": change.at.astimezone(UTC), "kind": change.kind, **change.fields}
        if overrides and overrides.get(pos):
            item["override"] = overrides[pos]
        new.append(item)
    start = max(c.at for c in changes)
    scenario = scenario_for(implant, start, events=events, extra=new)
    ids = {id(n): pos for pos, n in enumerate(new)}
    index = {i: ids[id(e)] for i, e in enumerate(scenario["event"]) if id(e) in ids}
    try:
        findings = check(scenario, library)
        after_result = replay(scenario)
    except ScenarioError as exc:
        if exc.event_index is not None and exc.event_index in index:
            key = _field_of(index[exc.event_index], exc.field or "fields")
            raise ValidationError({key: [str(exc)]}) from exc
        raise ValidationError(
            {NON_FIELD_ERRORS: [f"with this change the pump's records cannot be replayed: {exc}"]}
        ) from exc
    before_scenario = scenario_for(implant, start, events=events)
    try:
        before_keys = {implant_services._key(f) for f in check(before_scenario, library)}
        before = summarize(replay(before_scenario), library)
    except ScenarioError as exc:
        raise ValidationError(
            {NON_FIELD_ERRORS: [f"the pump's records cannot be replayed: {exc}; correct them"]}
        ) from exc
    mine = [
        _finding_json(f, index.get(f.event_index))
        for f in findings
        if f.event_index in index or implant_services._key(f) not in before_keys
    ]
    after = summarize(after_result, library)
    days = forecast_days()
    end = start + timedelta(days=days)
    current: dict[str, Any] | None = None
    proposed: dict[str, Any] | None = None
    if with_forecast:
        current = forecast_series(replay(scenario_for(implant, end, events=events)), start, days)
        proposed = forecast_series(
            replay(scenario_for(implant, end, events=events, extra=new)), start, days
        )
    positions: dict[str, list[int]] = {}
    for f in mine:
        if f["severity"] == "soft" and f["change"] is not None:
            positions.setdefault(f["code"], []).append(f["change"])
    return Preview(
        patient=implant.patient,
        implant=implant,
        changes=changes,
        findings=mine,
        before=before,
        after=after,
        diff=diff_rows(before, after),
        forecast={"days": days, "start": _iso(start), "current": current, "proposed": proposed},
        library={"id": library.id, "version": library.version},
        start=start,
        positions=positions,
    )


def _implant_of(patient: Patient) -> Implant:
    implant = implant_services.active_implant(patient)
    if implant is None:
        raise ValidationError({NON_FIELD_ERRORS: ["the patient has no active implant"]})
    return implant


def preview(*, by: Any, patient: Patient, changes: Any) -> Preview:
    """Checks, program diff and 14-day forecast of a proposed change (physician). No
    clinical record is written; the reading is audited."""
    require_role(by, patient.clinic, PHYSICIAN)
    implant = _implant_of(patient)
    library = library_for(patient.clinic)
    parsed = parse_changes(implant, changes)
    result = _evaluate(implant, parsed, library)
    with transaction.atomic():
        record(
            by=by,
            action=Action.PRESCRIPTION_PREVIEWED,
            clinic=patient.clinic,
            patient=patient,
            obj=implant,
            details={
                "changes": [c.as_json() for c in parsed],
                "findings": [
                    {"code": f["code"], "severity": f["severity"]} for f in result.findings
                ],
            },
        )
    return result


# -- signing ---------------------------------------------------------------------------------


def reauthentication_locked(by: Any) -> bool:
    """Whether the user has given a wrong password to sign too often recently
    (``data/prescriptions.toml`` [reauthentication]): then no password is even checked."""
    policy = settings_data()["reauthentication"]
    since = timezone.now() - timedelta(minutes=float(policy["window_minutes"]))
    failures = AuditEvent.objects.filter(
        actor_id=by.pk, action=Action.REAUTHENTICATION_FAILED, at__gte=since
    ).count()
    return failures >= int(policy["max_failures"])


def _reauthenticate(by: Any, patient: Patient, password: Any) -> str:
    """``"ok"``, ``"wrong"`` or ``"locked"``: the lock check, the password check and the
    recording of a failure in one transaction under a lock on the user's row, so that
    parallel attempts are counted one after the other (issue 10: 30 parallel attempts must
    not get more than the allowed failures, nor the right password in after the lock)."""
    user_model = get_user_model()
    with transaction.atomic():
        user_model.objects.select_for_update().filter(pk=by.pk).first()
        if connection.vendor == "sqlite":  # take SQLite's write lock at once
            user_model.objects.filter(pk=by.pk).update(last_login=F("last_login"))
        if reauthentication_locked(by):
            return "locked"
        return "ok" if _check_password(by, patient, password) else "wrong"


def _check_password(by: Any, patient: Patient, password: Any) -> bool:
    """Re-authentication: the physician's current password. A failure is audited (in a
    transaction of its own: it stays recorded although nothing else is written)."""
    if reauthentication_locked(by):
        return False
    if isinstance(password, str) and password and by.check_password(password):
        return True
    with transaction.atomic():
        record(
            by=by,
            action=Action.REAUTHENTICATION_FAILED,
            clinic=patient.clinic,
            patient=patient,
            details={"for": "prescription"},
        )
    return False


def prescribe(
    *,
    by: Any,
    patient: Patient,
    changes: Any,
    reasons: dict[str, str] | None,
    password: str,
) -> Prescription:
    """Sign a prescription (physician): hard findings block; every soft finding needs a
    written reason (``reasons[code]``); ``password`` is the physician's current password.
    One transaction writes the prescription, its pump events and the audit event."""
    require_role(by, patient.clinic, PHYSICIAN)
    implant = _implant_of(patient)
    library = library_for(patient.clinic)
    parsed = parse_changes(implant, changes)
    reasons = reasons if isinstance(reasons, dict) else {}
    first = _evaluate(implant, parsed, library, with_forecast=False)
    errors: dict[str, list[str]] = {}
    for f in first.hard:
        errors.setdefault(NON_FIELD_ERRORS, []).append(
            f"hard finding {f['code']}: {f['message']} (source: {f['source']}); it cannot "
            "be overridden"
        )
    given: dict[str, str] = {}
    for f in first.soft:
        code = f["code"]
        text = reasons.get(code, "")
        text = text.strip() if isinstance(text, str) else ""
        key = f"reasons.{code}"
        if not text:
            errors.setdefault(key, []).append(
                f"give a written reason for accepting the soft finding {code}: {f['message']}"
            )
        elif len(text) > MAX_REASON_CHARS:
            errors.setdefault(key, []).append(f"at most {MAX_REASON_CHARS} characters")
        elif "\x00" in text:
            errors.setdefault(key, []).append("contains a NUL character")
        else:
            given[code] = text
    outcome = _reauthenticate(by, patient, password)
    if outcome == "locked":
        window = settings_data()["reauthentication"]["window_minutes"]
        errors["password"] = [
            "too many wrong passwords: signing is locked for this user for "
            f"{window} minutes after the last attempt"
        ]
    elif outcome == "wrong":
        errors["password"] = ["this is not your current password"]
    if errors:
        raise ValidationError(errors)
    return _sign(by=by, patient=patient, implant=implant, changes=parsed, reasons=given)


@transaction.atomic
def _sign(
    *,
    by: Any,
    patient: Patient,
    implant: Implant,
    changes: list[Change],
    reasons: dict[str, str],
) -> Prescription:
    Patient.objects.select_for_update().filter(pk=patient.pk).first()  # versions in order
    implant = implant_services.lock_implant(implant.pk)
    library = library_for(patient.clinic)
    # Judged again under the lock: the records may have changed since the caller looked.
    first = _evaluate(
        implant,
        parse_changes(implant, [c.as_json() for c in changes]),
        library,
        with_forecast=False,
    )
    overrides: dict[int, list[dict[str, str]]] = {}
    for code, positions in first.positions.items():
        for pos in positions:
            if code in reasons:
                overrides.setdefault(pos, []).append({"code": code, "reason": reasons[code]})
    final = _evaluate(implant, changes, library, overrides, with_forecast=False)
    if final.hard:
        raise ValidationError(
            {NON_FIELD_ERRORS: [f"hard finding {f['code']}: {f['message']}" for f in final.hard]}
        )
    open_soft = [f for f in final.soft if not f["overridden"]]
    if open_soft:
        raise ValidationError(
            {
                f"reasons.{f['code']}": [
                    f"give a written reason for accepting the soft finding {f['code']}: "
                    f"{f['message']}"
                ]
                for f in open_soft
            }
        )
    previous = (
        Prescription.objects.select_for_update()
        .filter(patient=patient)
        .order_by("-version")
        .first()
    )
    now = timezone.now()
    used = {f["code"] for f in final.soft}
    signed_changes = _plain_json(
        [
            {**c.as_json(), "fields": {**c.fields, **_override_of(overrides, pos)}}
            for pos, c in enumerate(changes)
        ]
    )
    prescription = Prescription(
        patient=patient,
        implant=implant,
        version=(previous.version + 1) if previous is not None else 1,
        supersedes=previous,
        changes=signed_changes,
        findings=_plain_json(final.findings),
        reasons={k: v for k, v in reasons.items() if k in used},
        library_id=final.library["id"],
        library_version=final.library["version"],
        program_before=_plain_json(final.before),
        program_after=_plain_json(final.after),
        signed_by=by,
        signed_by_username=by.get_username(),
        signed_at=now,
        reauthenticated_at=now,
        previous_signature=previous.signature if previous is not None else "",
    )
    # The JSON as the database gives it back (floats, key order) is what is signed.
    prescription.signature = prescription.compute_signature()
    prescription.save()
    implant_services.record_pump_events(
        by=by,
        implant=implant,
        events=[
            (c.kind, c.at, {**c.fields, **_override_of(overrides, pos)})
            for pos, c in enumerate(changes)
        ],
        prescription=prescription,
        field_of=_field_of,
    )
    record(
        by=by,
        action=Action.PRESCRIPTION_SIGNED,
        clinic=patient.clinic,
        patient=patient,
        obj=prescription,
        details={
            "version": prescription.version,
            "signature": prescription.signature,
            "changes": prescription.changes,
            "findings": [
                {"code": f["code"], "severity": f["severity"], "overridden": f["overridden"]}
                for f in final.findings
            ],
            "reasons": prescription.reasons,
            "library": final.library,
            "reauthenticated": True,
        },
    )
    return prescription


def _override_of(overrides: dict[int, list[dict[str, str]]], pos: int) -> dict[str, Any]:
    return {"override": overrides[pos]} if pos in overrides else {}


def _plain_json(value: Any) -> Any:
    """As the database's JSON gives it back: what is signed is what is stored."""
    return json.loads(canonical_json(value))


# -- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    ok: bool
    problems: tuple[str, ...] = ()


def verify(prescription: Prescription) -> Verification:
    """Whether the stored signature matches the content and the chain to the previous
    version is intact."""
    problems: list[str] = []
    if prescription.compute_signature() != prescription.signature:
        problems.append("the content does not match its signature: it was changed after signing")
    previous = prescription.supersedes
    if previous is None:
        if prescription.version != 1 or prescription.previous_signature:
            problems.append("the first version must be version 1 without a previous signature")
    else:
        if previous.version != prescription.version - 1:
            problems.append(f"version {prescription.version} does not follow {previous.version}")
        if prescription.previous_signature != previous.signature:
            problems.append("the previous version's signature does not match: the chain is broken")
        if previous.compute_signature() != previous.signature:
            problems.append(f"version {previous.version} was changed after signing")
    return Verification(not problems, tuple(problems))


def verify_history(patient: Patient) -> dict[int, Verification]:
    """Every version's verification, and whether the versions run 1, 2, 3 ... without gaps."""
    found = list(Prescription.objects.filter(patient=patient).order_by("version"))
    out = {p.version: verify(p) for p in found}
    for expected, p in enumerate(found, start=1):
        if p.version != expected:
            v = out[p.version]
            out[p.version] = Verification(False, (*v.problems, f"version {expected} is missing"))
    return out


def prescription_history(patient: Patient) -> list[Prescription]:
    """The patient's prescriptions, newest first (no access check: callers check)."""
    return list(
        Prescription.objects.filter(patient=patient)
        .select_related("signed_by", "supersedes", "implant")
        .order_by("-version")
    )


def current_prescription(patient: Patient) -> Prescription | None:
    return Prescription.objects.filter(patient=patient).order_by("-version").first()


@transaction.atomic
def list_prescriptions(*, by: Any, patient: Patient) -> list[Prescription]:
    """Physician or nurse; the reading is audited."""
    require_role(by, patient.clinic, CLINICAL)
    found = prescription_history(patient)
    record(
        by=by,
        action=Action.PRESCRIPTIONS_LISTED,
        clinic=patient.clinic,
        patient=patient,
        details={"count": len(found)},
    )
    return found


@transaction.atomic
def get_prescription(
    *, by: Any, prescription_id: int, patient: Patient | None = None
) -> Prescription:
    """One prescription (physician or nurse of its patient's clinic; 404 otherwise)."""
    from openidds.web.accounts.roles import role_in

    found = (
        Prescription.objects.select_related("patient__clinic", "signed_by", "supersedes", "implant")
        .filter(pk=prescription_id)
        .first()
    )
    if found is None or (patient is not None and found.patient_id != patient.pk):
        raise Http404("no such prescription")
    if role_in(by, found.patient.clinic) is None:
        raise Http404("no such prescription")
    require_role(by, found.patient.clinic, CLINICAL)
    record(
        by=by,
        action=Action.PRESCRIPTION_VIEWED,
        clinic=found.patient.clinic,
        patient=found.patient,
        obj=found,
        details={"version": found.version},
    )
    return found


def diff_to_previous(prescription: Prescription) -> list[dict[str, Any]]:
    """The program this version left against the one the previous version left (or, for
    version 1, against the program before it)."""
    base = (
        prescription.supersedes.program_after
        if prescription.supersedes is not None
        else prescription.program_before
    )
    return diff_rows(base, prescription.program_after)


def changes_for_people(prescription: Prescription) -> list[dict[str, Any]]:
    """Each change as a line: its kind, its instant and its fields in words."""
    labels = dict(PumpEventKind.choices)
    out = []
    for change in prescription.changes:
        at = _parse_instant(change.get("at"))
        fields = {k: v for k, v in change.get("fields", {}).items() if k != "override"}
        shown = PumpEvent(kind=change.get("kind", ""), fields=fields)
        out.append(
            {
                "kind": labels.get(change.get("kind", ""), change.get("kind", "")),
                "at": at,
                "text": shown.fields_text() or "—",
            }
        )
    return out


# -- the next refill -------------------------------------------------------------------------


def refill_order(implant: Implant) -> dict[str, Any] | None:
    """What the next refill must draw up: the drugs and concentrations and the volume of
    the latest prescription with a fill for this implant, else of the last fill recorded;
    None when there is neither."""
    from openidds.pump import ScenarioError
    from openidds.pump._units import parse_quantity  # the twin's own unit parser

    def parsed(drugs: dict[str, str]) -> dict[str, float]:
        out = {}
        for d, text in drugs.items():
            try:
                out[d] = round(parse_quantity(text, "concentration"), 9)
            except ScenarioError:  # a text the twin accepted when it was recorded
                continue
        return out

    for p in Prescription.objects.filter(implant=implant).order_by("-version"):
        fills = [c for c in p.changes if c.get("kind") == "fill"]
        if fills:
            fill = fills[-1]["fields"]
            return {
                "source": "prescription",
                "reference": f"prescription v{p.version}",
                "prescription": p.pk,
                "version": p.version,
                "signed_by": p.signed_by_username,
                "signed_at": p.signed_at,
                "drugs": dict(fill.get("drugs", {})),
                "concentrations_mg_per_ml": parsed(fill.get("drugs", {})),
                "volume_ml": fill.get("volume_ml"),
                "stability_days": fill.get("stability_days"),
            }
    fills_recorded = [e for e in effective_events(implant) if e.kind == PumpEventKind.FILL]
    if fills_recorded:
        last = fills_recorded[-1]
        return {
            "source": "last fill",
            "reference": f"fill of {last.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
            "event": last.pk,
            "at": last.at,
            "drugs": dict(last.fields.get("drugs", {})),
            "concentrations_mg_per_ml": parsed(last.fields.get("drugs", {})),
            "volume_ml": last.fields.get("volume_ml"),
            "stability_days": last.fields.get("stability_days"),
        }
    return None


# -- pump events, state and forecast (reads for the API) -----------------------------------


@transaction.atomic
def list_pump_events(*, by: Any, patient: Patient) -> list[PumpEvent]:
    """Every record of the active implant, oldest first, corrections included (audited)."""
    require_role(by, patient.clinic, CLINICAL)
    implant = implant_services.active_implant(patient)
    found = (
        list(
            implant.pump_events.select_related("recorded_by", "supersedes").order_by(
                "at", "sequence", "id"
            )
        )
        if implant is not None
        else []
    )
    record(
        by=by,
        action=Action.PUMP_EVENTS_LISTED,
        clinic=patient.clinic,
        patient=patient,
        details={"count": len(found)},
    )
    return found


def forecast(*, by: Any, patient: Patient, days: int, at: datetime | None = None) -> dict[str, Any]:
    """What the patient receives per 24 h for ``days`` from ``at`` (default now) under the
    records in force, and the reservoir (audited)."""
    from openidds.dosing import replay
    from openidds.pump import ScenarioError

    require_role(by, patient.clinic, CLINICAL)
    if not isinstance(days, int) or not 1 <= days <= max_forecast_days():
        raise ValidationError({"days": [f"a whole number from 1 to {max_forecast_days()}"]})
    implant = _implant_of(patient)
    start = max(at or timezone.now(), implant.implanted_at)
    end = start + timedelta(days=days)
    try:
        series = forecast_series(replay(scenario_for(implant, end)), start, days)
    except ScenarioError as exc:
        raise ValidationError(
            {NON_FIELD_ERRORS: [f"the pump's records cannot be replayed: {exc}"]}
        ) from exc
    with transaction.atomic():
        record(
            by=by,
            action=Action.PUMP_STATE_VIEWED,
            clinic=patient.clinic,
            patient=patient,
            obj=implant,
            details={"forecast_days": days, "from": _iso(start)},
        )
    return {"implant": implant.pk, "start": _iso(start), "days": days, **series}


def pump_state_for(*, by: Any, patient: Patient, at: datetime | None = None) -> Any:
    """The twin's state of the active implant at ``at`` (default now), audited."""
    from openidds.web.implants.twin import pump_state

    require_role(by, patient.clinic, CLINICAL)
    implant = _implant_of(patient)
    when = at or timezone.now()
    if when.tzinfo is None:
        raise ValidationError({"at": ["give the time zone (an aware date and time)"]})
    state = pump_state(implant, when)
    with transaction.atomic():
        record(
            by=by,
            action=Action.PUMP_STATE_VIEWED,
            clinic=patient.clinic,
            patient=patient,
            obj=implant,
            details={"at": _iso(when)},
        )
    return implant, state


__all__ = [
    "PRESCRIBABLE",
    "Change",
    "PermissionDenied",
    "Preview",
    "ValidationError",
    "changes_for_people",
    "current_prescription",
    "diff_to_previous",
    "forecast",
    "get_prescription",
    "list_prescriptions",
    "list_pump_events",
    "parse_changes",
    "prescribe",
    "prescription_history",
    "preview",
    "pump_state_for",
    "refill_order",
    "verify",
    "verify_history",
]
