"""Every write of the diary app, and the audited reads, go through these functions.

Each takes the acting user as keyword-only ``by``; portal writes (patient or caregiver)
pass the portal gate (:func:`openidds.web.portal.access.portal_account`: 404 for a
patient who is not theirs) and the role check (``patient``/``caregiver`` in the patient's
clinic); clinic writes need ``physician`` or ``nurse``. Input is validated (ValidationError
by field; nothing is written) and the record and its audit event are written in one
transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from openidds.web.accounts.models import Clinic, Role
from openidds.web.accounts.roles import CLINICAL, require_role
from openidds.web.audit.models import Action
from openidds.web.audit.services import record
from openidds.web.diary import data, scoring
from openidds.web.diary.models import (
    CheckIn,
    DiaryEntry,
    GoalProgress,
    PainPlan,
    Questionnaire,
    QuestionnaireKind,
    RecoveryTemplate,
    RedFlag,
    RedFlagResolution,
)
from openidds.web.implants.services import active_implant
from openidds.web.patients.models import Patient
from openidds.web.portal.access import portal_account
from openidds.web.portal.models import PortalAccount

#: The roles of portal users in the patient's clinic.
PORTAL_ROLES = frozenset({Role.PATIENT, Role.CAREGIVER})
#: Kinds of therapy in a pain management plan (issue 5).
THERAPY_KINDS: dict[str, str] = {
    "pump": "Intrathecal pump",
    "physiotherapy": "Physiotherapy",
    "exercise": "Exercise",
    "medicine": "Other medicines",
    "psychology": "Psychology",
    "other": "Other",
}
GOAL_DIRECTIONS: dict[str, str] = {
    "at_least": "at least the target (more is better)",
    "at_most": "at most the target (less is better)",
}
TEXT_MOST = 2000
ENTRY_MOST = 300


# -- gates ---------------------------------------------------------------------------------


def portal_writer(by: Any, patient: Patient) -> PortalAccount:
    """The writer's live portal account for the patient (404 if none) and the role (403)."""
    account = portal_account(by, patient.pk)
    require_role(by, patient.clinic, PORTAL_ROLES)
    return account


def portal_reader(by: Any, patient_id: int, *, page: str) -> PortalAccount:
    """The reader's live portal account (404 if none); the reading is audited."""
    account = portal_account(by, patient_id)
    require_role(by, account.patient.clinic, PORTAL_ROLES)
    record(
        by=by,
        action=Action.PORTAL_VIEWED,
        clinic=account.patient.clinic,
        patient=account.patient,
        details={"page": page, "relation": account.relation},
    )
    return account


def clinician_reader(by: Any, patient: Patient, *, what: str) -> None:
    """A physician or nurse of the patient's clinic reads diary data (audited)."""
    require_role(by, patient.clinic, CLINICAL)
    record(
        by=by,
        action=Action.PATIENT_VIEWED,
        clinic=patient.clinic,
        patient=patient,
        details={"what": what},
    )


# -- validation helpers --------------------------------------------------------------------


def local_today(patient: Patient) -> date:
    return timezone.now().astimezone(ZoneInfo(patient.time_zone)).date()


def _day(errors: dict[str, list[str]], patient: Patient, value: Any, name: str = "day") -> date:
    today = local_today(patient)
    if value is None or value == "":
        return today
    if isinstance(value, datetime) or not isinstance(value, date):
        errors.setdefault(name, []).append("a date (YYYY-MM-DD) is required")
        return today
    if value > today:
        errors.setdefault(name, []).append("this day has not come yet")
    backfill = int(data.outcomes()["schedule"]["backfill_days"])
    if value < today - timedelta(days=backfill):
        errors.setdefault(name, []).append(f"at most {backfill} days back")
    return value


def _whole(
    errors: dict[str, list[str]],
    name: str,
    value: Any,
    least: int,
    most: int,
    *,
    required: bool = False,
) -> int | None:
    if value is None or value == "":
        if required:
            errors.setdefault(name, []).append("this field is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.setdefault(name, []).append(f"a whole number from {least} to {most}")
        return None
    if not least <= value <= most:
        errors.setdefault(name, []).append(f"from {least} to {most}")
        return None
    return value


def _text(errors: dict[str, list[str]], name: str, value: Any, most: int = TEXT_MOST) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else None
    if text is None:
        errors.setdefault(name, []).append("text is required")
        return ""
    if "\x00" in text:
        errors.setdefault(name, []).append("contains a NUL character")
    if len(text) > most:
        errors.setdefault(name, []).append(f"at most {most} characters")
    return text


def _choice(errors: dict[str, list[str]], name: str, value: Any, allowed: Iterable[str]) -> str:
    if value in (None, ""):
        return ""
    allowed = list(allowed)
    if value not in allowed:
        errors.setdefault(name, []).append(f"one of {', '.join(allowed)}")
        return ""
    return str(value)


def _nrs_bounds() -> tuple[int, int]:
    scale = data.bpi()["scale"]
    return int(scale["least"]), int(scale["most"])


# -- diary ---------------------------------------------------------------------------------


@transaction.atomic
def record_diary_entry(
    *,
    by: Any,
    patient: Patient,
    day: date | None = None,
    pain_now: Any = None,
    pain_average: Any = None,
    pain_worst: Any = None,
    interference: Mapping[str, Any] | None = None,
    adl_done: Sequence[str] = (),
    sleep_hours: Any = None,
    sleep_quality: str = "",
    ptm_uses: Any = None,
    ptm_helped: str = "",
    note: str = "",
) -> DiaryEntry:
    """A day of the diary (patient or caregiver). The latest entry of a day counts."""
    account = portal_writer(by, patient)
    errors: dict[str, list[str]] = {}
    least, most = _nrs_bounds()
    the_day = _day(errors, patient, day)
    pains = {
        name: _whole(errors, name, value, least, most, required=True)
        for name, value in (
            ("pain_now", pain_now),
            ("pain_average", pain_average),
            ("pain_worst", pain_worst),
        )
    }
    keys = scoring.bpi_interference_keys()
    items: dict[str, int] = {}
    interference = dict(interference or {})
    for key in sorted(set(interference) - set(keys)):
        errors.setdefault(f"interference.{key}", []).append("not a BPI interference item")
    for key in keys:
        value = _whole(errors, f"interference.{key}", interference.get(key), least, most)
        if value is not None:
            items[key] = value
    known_adl = data.adl_keys()
    adl = [str(a) for a in adl_done]
    unknown = sorted(set(adl) - set(known_adl))
    if unknown:
        errors["adl_done"] = [f"not on the checklist: {', '.join(unknown)}"]
    hours = None
    if sleep_hours not in (None, ""):
        try:
            hours = Decimal(str(sleep_hours))
        except InvalidOperation:
            errors["sleep_hours"] = ["a number of hours"]
        else:
            most_hours = data.outcomes()["sleep"]["most_hours"]
            if not hours.is_finite() or not 0 <= hours <= most_hours:
                errors["sleep_hours"] = [f"from 0 to {most_hours} hours"]
                hours = None
            elif hours != hours.quantize(Decimal("0.1")):
                errors["sleep_hours"] = ["at most one decimal place"]
                hours = None
    quality = _choice(
        errors, "sleep_quality", sleep_quality, [k for k, _ in data.sleep_quality_choices()]
    )
    uses = _whole(errors, "ptm_uses", ptm_uses, 0, int(data.outcomes()["ptm"]["most_uses_per_day"]))
    helped = _choice(errors, "ptm_helped", ptm_helped, [k for k, _ in data.ptm_helped_choices()])
    if helped and not uses:
        errors.setdefault("ptm_helped", []).append("say how often you used the PTM first")
    text = _text(errors, "note", note)
    if errors:
        raise ValidationError(errors)
    score = scoring.mean_or_none(
        list(items.values()), int(data.bpi()["interference"]["min_answered"])
    )
    now, average, worst = pains["pain_now"], pains["pain_average"], pains["pain_worst"]
    assert now is not None and average is not None and worst is not None  # required above
    entry = DiaryEntry.objects.create(
        patient=patient,
        day=the_day,
        pain_now=now,
        pain_average=average,
        pain_worst=worst,
        interference=items,
        interference_score=score,
        adl_done=[k for k in known_adl if k in adl],
        sleep_hours=hours,
        sleep_quality=quality,
        ptm_uses=uses,
        ptm_helped=helped,
        note=text,
        written_by=by,
        relation=account.relation,
    )
    record(
        by=by,
        action=Action.DIARY_ENTRY_RECORDED,
        clinic=patient.clinic,
        patient=patient,
        obj=entry,
        details={"day": the_day.isoformat(), "relation": account.relation},
    )
    return entry


@transaction.atomic
def record_questionnaire(
    *, by: Any, patient: Patient, kind: str, answers: Mapping[str, Any], day: date | None = None
) -> Questionnaire:
    """A BPI short form or an ODI (patient or caregiver), scored by its published rules."""
    account = portal_writer(by, patient)
    errors: dict[str, list[str]] = {}
    the_day = _day(errors, patient, day)
    if kind not in QuestionnaireKind.values:
        raise ValidationError({"kind": [f"one of {', '.join(QuestionnaireKind.values)}"]})
    answers = dict(answers)
    if kind == QuestionnaireKind.BPI:
        keys = [*scoring.bpi_severity_keys(), *scoring.bpi_interference_keys(), "relief_percent"]
    else:
        keys = scoring.odi_section_keys()
    for key in sorted(set(answers) - set(keys)):
        errors.setdefault(f"answers.{key}", []).append("not an item of this questionnaire")
    clean = {k: answers.get(k) for k in keys if answers.get(k) not in (None, "")}
    for key, value in clean.items():
        if isinstance(value, bool) or not isinstance(value, int):
            errors.setdefault(f"answers.{key}", []).append("a whole number")
    if errors:
        raise ValidationError(errors)
    fields: dict[str, Any] = {}
    try:
        if kind == QuestionnaireKind.BPI:
            bpi = scoring.score_bpi(clean)
            severity_n = sum(1 for k in scoring.bpi_severity_keys() if k in clean)
            fields = {
                "bpi_severity": bpi.severity,
                "bpi_interference": bpi.interference,
                "answered": severity_n + bpi.interference_answered,
                "rules_version": data.bpi()["version"],
            }
            if bpi.severity is None:
                errors["answers"] = ["answer all four pain items (worst, least, average, now)"]
        else:
            odi = scoring.score_odi(clean)
            fields = {
                "odi_percent": odi.percent,
                "answered": odi.answered,
                "rules_version": data.odi()["version"],
            }
            if odi.percent is None:
                minimum = data.odi()["scoring"]["min_answered"]
                errors["answers"] = [f"answer at least {minimum} of the 10 sections"]
    except ValueError as exc:
        key = str(exc).split(":", 1)[0]
        errors[f"answers.{key}"] = [str(exc).split(":", 1)[-1].strip()]
    if errors:
        raise ValidationError(errors)
    questionnaire = Questionnaire.objects.create(
        patient=patient,
        kind=kind,
        day=the_day,
        answers=clean,
        written_by=by,
        relation=account.relation,
        **fields,
    )
    record(
        by=by,
        action=Action.QUESTIONNAIRE_RECORDED,
        clinic=patient.clinic,
        patient=patient,
        obj=questionnaire,
        details={
            "kind": kind,
            "day": the_day.isoformat(),
            "relation": account.relation,
            **{k: v for k, v in fields.items() if k != "rules_version"},
        },
    )
    return questionnaire


def questionnaire_due(patient: Patient, kind: str) -> bool:
    """True when the weekly BPI or the monthly ODI is due (none yet, or the last too old)."""
    last = (
        Questionnaire.objects.filter(patient=patient, kind=kind)
        .aggregate(last=Max("day"))
        .get("last")
    )
    every = data.outcomes()["schedule"][f"{kind}_every_days"]
    return last is None or (local_today(patient) - last).days >= every


# -- recovery ------------------------------------------------------------------------------


@transaction.atomic
def record_checkin(
    *,
    by: Any,
    patient: Patient,
    answers: Mapping[str, Any],
    pain_today: Any = None,
    note: str = "",
    day: date | None = None,
) -> CheckIn:
    """A daily recovery check-in (patient or caregiver). Any red-flag answer "yes" raises
    exactly one open :class:`RedFlag` (the urgent worklist item) with the check-in."""
    account = portal_writer(by, patient)
    errors: dict[str, list[str]] = {}
    the_day = _day(errors, patient, day)
    keys = [f.key for f in data.red_flags()]
    answers = dict(answers)
    for key in sorted(set(answers) - set(keys)):
        errors.setdefault(f"answers.{key}", []).append("not a question of the check-in")
    for key in keys:
        if not isinstance(answers.get(key), bool):
            errors.setdefault(key, []).append("answer yes or no")
    least, most = _nrs_bounds()
    pain = _whole(errors, "pain_today", pain_today, least, most)
    text = _text(errors, "note", note)
    if errors:
        raise ValidationError(errors)
    flags = [k for k in keys if answers[k]]
    checkin = CheckIn.objects.create(
        patient=patient,
        implant=active_implant(patient),
        day=the_day,
        answers={k: bool(answers[k]) for k in keys},
        red_flags=flags,
        pain_today=pain,
        note=text,
        written_by=by,
        relation=account.relation,
    )
    record(
        by=by,
        action=Action.CHECKIN_RECORDED,
        clinic=patient.clinic,
        patient=patient,
        obj=checkin,
        details={"day": the_day.isoformat(), "red_flags": flags, "relation": account.relation},
    )
    if flags:
        emergency = any(data.red_flag(k).action == "emergency" for k in flags)
        flag = RedFlag.objects.create(
            patient=patient, checkin=checkin, flags=flags, emergency=emergency
        )
        record(
            by=by,
            action=Action.RED_FLAG_RAISED,
            clinic=patient.clinic,
            patient=patient,
            obj=flag,
            details={"flags": flags, "emergency": emergency},
        )
    return checkin


@transaction.atomic
def resolve_red_flag(*, by: Any, red_flag: RedFlag, note: str) -> RedFlagResolution:
    """A physician or nurse closes an urgent red flag, saying what was done."""
    patient = red_flag.patient
    require_role(by, patient.clinic, CLINICAL)
    RedFlag.objects.select_for_update().filter(pk=red_flag.pk).first()
    errors: dict[str, list[str]] = {}
    text = _text(errors, "note", note)
    if not text and "note" not in errors:
        errors["note"] = ["say what was done (e.g. called the patient, seen in clinic)"]
    if RedFlagResolution.objects.filter(red_flag=red_flag).exists():
        errors.setdefault("__all__", []).append("this red flag is resolved already")
    if errors:
        raise ValidationError(errors)
    resolution = RedFlagResolution.objects.create(red_flag=red_flag, resolved_by=by, note=text)
    record(
        by=by,
        action=Action.RED_FLAG_RESOLVED,
        clinic=patient.clinic,
        patient=patient,
        obj=red_flag,
        details={"flags": red_flag.flags, "note": text},
    )
    return resolution


def open_red_flags(patient: Patient) -> list[RedFlag]:
    return list(
        RedFlag.objects.filter(patient=patient, resolution__isnull=True)
        .select_related("checkin", "checkin__written_by")
        .order_by("raised_at", "id")
    )


def recovery_template(clinic: Clinic) -> RecoveryTemplate | None:
    """The clinic's template in force (its highest version), or None: the default."""
    return RecoveryTemplate.objects.filter(clinic=clinic).order_by("-version").first()


def recovery_weeks(clinic: Clinic) -> list[dict[str, Any]]:
    template = recovery_template(clinic)
    return list(template.weeks) if template is not None else data.default_recovery_weeks()


def _clean_weeks(errors: dict[str, list[str]], weeks: Any) -> list[dict[str, Any]]:
    if not isinstance(weeks, list) or not weeks:
        errors["weeks"] = ["at least one week"]
        return []
    most_weeks = int(data.load("recovery")["weeks_total"]) + 4
    if len(weeks) > most_weeks:
        errors["weeks"] = [f"at most {most_weeks} weeks"]
        return []
    clean: list[dict[str, Any]] = []
    for index, week in enumerate(weeks, start=1):
        name = f"week_{index}"
        if not isinstance(week, Mapping):
            errors[name] = ["a week needs a title and instructions"]
            continue
        title = _text(errors, f"{name}_title", week.get("title"), ENTRY_MOST)
        if not title and f"{name}_title" not in errors:
            errors[f"{name}_title"] = ["a title is required"]
        raw = week.get("instructions", [])
        if not isinstance(raw, list) or not all(isinstance(i, str) for i in raw):
            errors[f"{name}_instructions"] = ["a list of instructions"]
            continue
        lines = [line.strip() for line in raw if line.strip()]
        if not lines:
            errors[f"{name}_instructions"] = ["at least one instruction"]
        for line in lines:
            _text(errors, f"{name}_instructions", line, ENTRY_MOST)
        clean.append({"week": index, "title": title, "instructions": lines})
    return clean


@transaction.atomic
def write_recovery_template(
    *, by: Any, clinic: Clinic, weeks: Any, note: str = ""
) -> RecoveryTemplate:
    """A new version of the clinic's recovery programme (physician or nurse)."""
    require_role(by, clinic, CLINICAL)
    Clinic.objects.select_for_update().filter(pk=clinic.pk).first()
    errors: dict[str, list[str]] = {}
    clean = _clean_weeks(errors, weeks)
    text = _text(errors, "note", note)
    if errors:
        raise ValidationError(errors)
    current = recovery_template(clinic)
    template = RecoveryTemplate.objects.create(
        clinic=clinic,
        version=(current.version + 1) if current is not None else 1,
        weeks=clean,
        note=text,
        written_by=by,
    )
    record(
        by=by,
        action=Action.RECOVERY_TEMPLATE_UPDATED,
        clinic=clinic,
        obj=template,
        details={
            "version": template.version,
            "old_weeks": current.weeks if current is not None else "default",
            "new_weeks": clean,
            "note": text,
        },
    )
    return template


def recovery_week(patient: Patient, at: datetime | None = None) -> int | None:
    """The week of recovery (1 = the first 7 days after the implant), or None without an
    active implant."""
    implant = active_implant(patient)
    if implant is None:
        return None
    now = at or timezone.now()
    days = (now - implant.implanted_at).total_seconds() / 86400
    return int(days // 7) + 1 if days >= 0 else 0


# -- the pain management plan --------------------------------------------------------------


def current_plan(patient: Patient) -> PainPlan | None:
    return PainPlan.objects.filter(patient=patient).order_by("-version").first()


def _clean_goals(
    errors: dict[str, list[str]], goals: Any, previous: PainPlan | None
) -> list[dict[str, Any]]:
    if not isinstance(goals, list):
        errors["goals"] = ["a list of goals"]
        return []
    known = {g["key"] for g in previous.goals} if previous is not None else set()
    clean: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, goal in enumerate(goals, start=1):
        name = f"goal_{index}"
        if not isinstance(goal, Mapping):
            errors[name] = ["a goal needs a text, a measure and a target"]
            continue
        text = _text(errors, f"{name}_text", goal.get("text"), ENTRY_MOST)
        measure = _text(errors, f"{name}_measure", goal.get("measure"), ENTRY_MOST)
        unit = _text(errors, f"{name}_unit", goal.get("unit"), 40)
        if not text:
            errors.setdefault(f"{name}_text", []).append("what the patient wants to do")
        if not measure:
            errors.setdefault(f"{name}_measure", []).append("how progress is measured")
        target = goal.get("target")
        try:
            number = Decimal(str(target))
            if not number.is_finite() or number < 0 or number >= Decimal("1e8"):
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors.setdefault(f"{name}_target", []).append("a number (0 or more)")
            number = Decimal(0)
        direction = goal.get("direction") or "at_least"
        if direction not in GOAL_DIRECTIONS:
            errors.setdefault(f"{name}_direction", []).append(
                f"one of {', '.join(GOAL_DIRECTIONS)}"
            )
        key = goal.get("key") or ""
        if key and key not in known:
            errors.setdefault(f"{name}_key", []).append("not a goal of the plan in force")
        if not key:
            key = secrets.token_hex(4)
        if key in seen:
            errors.setdefault(f"{name}_key", []).append("the same goal twice")
        seen.add(key)
        clean.append(
            {
                "key": key,
                "text": text,
                "measure": measure,
                "target": float(number),
                "unit": unit,
                "direction": direction,
            }
        )
    return clean


def _clean_therapies(errors: dict[str, list[str]], therapies: Any) -> list[dict[str, str]]:
    if not isinstance(therapies, list):
        errors["therapies"] = ["a list of therapies"]
        return []
    clean = []
    for index, therapy in enumerate(therapies, start=1):
        name = f"therapy_{index}"
        if not isinstance(therapy, Mapping):
            errors[name] = ["a therapy needs a kind and a schedule"]
            continue
        kind = therapy.get("kind")
        if kind not in THERAPY_KINDS:
            errors[f"{name}_kind"] = [f"one of {', '.join(THERAPY_KINDS)}"]
        description = _text(errors, f"{name}_description", therapy.get("description"), 300)
        schedule = _text(errors, f"{name}_schedule", therapy.get("schedule"), 300)
        if not schedule:
            errors.setdefault(f"{name}_schedule", []).append("when and how often")
        clean.append({"kind": str(kind), "description": description, "schedule": schedule})
    return clean


@transaction.atomic
def write_plan(
    *,
    by: Any,
    patient: Patient,
    goals: Any,
    therapies: Any,
    review_dates: Sequence[Any] = (),
    agreed_on: date | None = None,
    note: str = "",
) -> PainPlan:
    """A new version of the patient's pain management plan (physician or nurse). A goal
    kept from the version in force keeps its ``key`` (and so its progress)."""
    require_role(by, patient.clinic, CLINICAL)
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    errors: dict[str, list[str]] = {}
    previous = current_plan(patient)
    clean_goals = _clean_goals(errors, goals, previous)
    clean_therapies = _clean_therapies(errors, therapies)
    if not clean_goals and not clean_therapies and not errors:
        errors["goals"] = ["a plan needs at least one goal or therapy"]
    dates: list[str] = []
    for index, value in enumerate(review_dates, start=1):
        if isinstance(value, datetime) or not isinstance(value, date):
            errors.setdefault(f"review_{index}", []).append("a date (YYYY-MM-DD)")
        else:
            dates.append(value.isoformat())
    if agreed_on is not None:
        if isinstance(agreed_on, datetime) or not isinstance(agreed_on, date):
            errors["agreed_on"] = ["a date (YYYY-MM-DD)"]
        elif agreed_on > local_today(patient):
            errors["agreed_on"] = ["this day has not come yet"]
    text = _text(errors, "note", note)
    if errors:
        raise ValidationError(errors)
    plan = PainPlan.objects.create(
        patient=patient,
        version=(previous.version + 1) if previous is not None else 1,
        goals=clean_goals,
        therapies=clean_therapies,
        review_dates=sorted(set(dates)),
        agreed_on=agreed_on,
        note=text,
        written_by=by,
    )
    record(
        by=by,
        action=Action.PLAN_UPDATED,
        clinic=patient.clinic,
        patient=patient,
        obj=plan,
        details={
            "version": plan.version,
            "old": _plan_dict(previous) if previous is not None else None,
            "new": _plan_dict(plan),
        },
    )
    return plan


def _plan_dict(plan: PainPlan) -> dict[str, Any]:
    return {
        "goals": plan.goals,
        "therapies": plan.therapies,
        "review_dates": plan.review_dates,
        "agreed_on": plan.agreed_on.isoformat() if plan.agreed_on else None,
    }


@transaction.atomic
def record_goal_progress(
    *,
    by: Any,
    patient: Patient,
    goal_key: str,
    value: Any,
    note: str = "",
    day: date | None = None,
) -> GoalProgress:
    """Progress towards a goal of the plan in force (patient or caregiver)."""
    account = portal_writer(by, patient)
    errors: dict[str, list[str]] = {}
    the_day = _day(errors, patient, day)
    plan = current_plan(patient)
    goal = next((g for g in plan.goals if g["key"] == goal_key), None) if plan else None
    if goal is None:
        errors["goal_key"] = ["not a goal of your plan"]
    try:
        number = Decimal(str(value))
        if not number.is_finite() or number < 0 or number >= Decimal("1e8"):
            raise InvalidOperation
        if number != number.quantize(Decimal("0.01")):
            errors["value"] = ["at most two decimal places"]
    except (InvalidOperation, ValueError):
        errors["value"] = ["a number (0 or more)"]
        number = Decimal(0)
    text = _text(errors, "note", note)
    if errors or plan is None or goal is None:
        raise ValidationError(errors)
    progress = GoalProgress.objects.create(
        patient=patient,
        plan=plan,
        goal_key=goal_key,
        goal_text=goal["text"],
        day=the_day,
        value=number,
        note=text,
        written_by=by,
        relation=account.relation,
    )
    record(
        by=by,
        action=Action.GOAL_PROGRESS_RECORDED,
        clinic=patient.clinic,
        patient=patient,
        obj=progress,
        details={
            "goal": goal["text"],
            "value": str(number),
            "day": the_day.isoformat(),
            "relation": account.relation,
        },
    )
    return progress


def goals_with_progress(plan: PainPlan | None) -> list[dict[str, Any]]:
    """The plan's goals, each with its progress records (newest first) and whether the
    latest reached the target."""
    if plan is None:
        return []
    records = list(
        GoalProgress.objects.filter(patient_id=plan.patient_id)
        .select_related("written_by")
        .order_by("-day", "-recorded_at", "-id")
    )
    out = []
    for goal in plan.goals:
        mine = [r for r in records if r.goal_key == goal["key"]]
        latest = mine[0] if mine else None
        reached = None
        if latest is not None:
            target = Decimal(str(goal["target"]))
            reached = (
                latest.value >= target
                if goal["direction"] == "at_least"
                else latest.value <= target
            )
        out.append({**goal, "records": mine[:10], "latest": latest, "reached": reached})
    return out


def portal_writer_for(by: Any, patient_id: int) -> PortalAccount:
    """The API's gate before reading a payload: the live account (404) and the role (403)."""
    account = portal_account(by, patient_id)
    require_role(by, account.patient.clinic, PORTAL_ROLES)
    return account
