"""API operations of diary and recovery, mounted under ``/api/v1/`` by ``openidds.web.api``.

Portal users (patient or caregiver) under ``/portal/patients/{patient_id}/...``: the same
gate as the portal pages (404 for a patient who is not theirs); clinicians (physician,
nurse) under ``/patients/{patient_id}/...``. Every operation calls the services of
``diary/services.py``; reads are audited.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status

from openidds.web.accounts.roles import CLINICAL, require_role
from openidds.web.api_common import ERRORS
from openidds.web.diary import services
from openidds.web.diary.instructions import call_instruction
from openidds.web.diary.models import (
    CheckIn,
    DiaryEntry,
    GoalProgress,
    PainPlan,
    Questionnaire,
    QuestionnaireKind,
    RedFlag,
)
from openidds.web.patients import services as patient_services

router = Router(tags=["diary"])


# -- schemas -------------------------------------------------------------------------------


class DiaryEntryIn(Schema):
    day: date | None = Field(None, description="the patient's local day; absent: today")
    pain_now: int = Field(description="0-10 numeric rating scale")
    pain_average: int
    pain_worst: int
    interference: dict[str, int] = Field(
        default_factory=dict,
        description="BPI interference items (general_activity, mood, walking, normal_work, "
        "relations, sleep, enjoyment) → 0-10",
    )
    adl_done: list[str] = Field(default_factory=list, description="keys of the ADL checklist")
    sleep_hours: Decimal | None = None
    sleep_quality: str = Field("", description="very_good, fairly_good, fairly_bad, very_bad")
    ptm_uses: int | None = None
    ptm_helped: str = Field("", description="yes, a_little, no")
    note: str = ""


class DiaryEntryOut(Schema):
    id: int
    day: date
    pain_now: int
    pain_average: int
    pain_worst: int
    interference: dict[str, int]
    interference_score: float | None
    adl_done: list[str]
    sleep_hours: Decimal | None
    sleep_quality: str
    ptm_uses: int | None
    ptm_helped: str
    note: str
    written_by: str
    relation: str
    recorded_at: datetime

    @staticmethod
    def resolve_written_by(obj: Any) -> str:
        return str(obj.written_by)


class QuestionnaireIn(Schema):
    kind: QuestionnaireKind
    day: date | None = None
    answers: dict[str, int] = Field(
        description="BPI: worst, least, average, now, the 7 interference items (0-10), "
        "relief_percent (0-100 by 10); ODI: section key → 0-5 (left out: absent)"
    )


class QuestionnaireOut(Schema):
    id: int
    kind: QuestionnaireKind
    day: date
    answers: dict[str, int]
    bpi_severity: float | None
    bpi_interference: float | None
    odi_percent: float | None
    answered: int
    rules_version: str
    written_by: str
    relation: str
    recorded_at: datetime

    @staticmethod
    def resolve_written_by(obj: Any) -> str:
        return str(obj.written_by)


class CheckInIn(Schema):
    day: date | None = None
    answers: dict[str, bool] = Field(
        description="every red-flag question answered: fever, wound, csf_leak, overdose, "
        "withdrawal, pump_alarm → true/false"
    )
    pain_today: int | None = None
    note: str = ""


class CallOut(Schema):
    headline: str
    emergency: bool
    emergency_number: str
    clinic_name: str
    clinic_phone: str
    lines: list[str]


class CheckInOut(Schema):
    id: int
    day: date
    answers: dict[str, bool]
    red_flags: list[str]
    pain_today: int | None
    note: str
    written_by: str
    relation: str
    recorded_at: datetime
    call: CallOut | None = Field(None, description="whom to call now, if any red flag")

    @staticmethod
    def resolve_written_by(obj: Any) -> str:
        return str(obj.written_by)

    @staticmethod
    def resolve_call(obj: Any) -> dict[str, Any] | None:
        instruction = call_instruction(obj.patient, obj.red_flags)
        if instruction is None:
            return None
        return {
            "headline": instruction.headline,
            "emergency": instruction.emergency,
            "emergency_number": instruction.emergency_number,
            "clinic_name": instruction.clinic_name,
            "clinic_phone": instruction.clinic_phone,
            "lines": instruction.lines,
        }


class GoalIn(Schema):
    key: str = Field("", description="keep a goal of the plan in force; empty: a new goal")
    text: str
    measure: str
    target: Decimal
    unit: str = ""
    direction: str = Field("at_least", description="at_least or at_most")


class TherapyIn(Schema):
    kind: str = Field(description="pump, physiotherapy, exercise, medicine, psychology, other")
    description: str = ""
    schedule: str


class PlanIn(Schema):
    goals: list[GoalIn] = Field(default_factory=list)
    therapies: list[TherapyIn] = Field(default_factory=list)
    review_dates: list[date] = Field(default_factory=list)
    agreed_on: date | None = None
    note: str = ""


class ProgressOut(Schema):
    id: int
    goal_key: str
    goal_text: str
    day: date
    value: Decimal
    note: str
    written_by: str
    relation: str
    recorded_at: datetime

    @staticmethod
    def resolve_written_by(obj: Any) -> str:
        return str(obj.written_by)


class GoalOut(Schema):
    key: str
    text: str
    measure: str
    target: float
    unit: str
    direction: str
    latest: ProgressOut | None
    reached: bool | None


class TherapyOut(Schema):
    kind: str
    description: str
    schedule: str


class PlanOut(Schema):
    version: int
    goals: list[GoalOut]
    therapies: list[TherapyOut]
    review_dates: list[date]
    agreed_on: date | None
    note: str
    written_by: str
    written_at: datetime


class PlanEnvelope(Schema):
    plan: PlanOut | None = Field(description="null: no plan written yet")


class ProgressIn(Schema):
    goal_key: str
    value: Decimal
    day: date | None = None
    note: str = ""


class ResolveIn(Schema):
    note: str = Field(description="what was done, e.g. called the patient")


class RedFlagOut(Schema):
    id: int
    flags: list[str]
    labels: list[str]
    emergency: bool
    raised_at: datetime
    checkin: int
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None

    @staticmethod
    def resolve_checkin(obj: Any) -> int:
        return int(obj.checkin_id)

    @staticmethod
    def _resolution(obj: Any) -> Any:
        try:
            return obj.resolution
        except Exception:
            return None

    @staticmethod
    def resolve_resolved_at(obj: Any) -> datetime | None:
        r = RedFlagOut._resolution(obj)
        return r.resolved_at if r is not None else None

    @staticmethod
    def resolve_resolved_by(obj: Any) -> str | None:
        r = RedFlagOut._resolution(obj)
        return str(r.resolved_by) if r is not None else None

    @staticmethod
    def resolve_resolution_note(obj: Any) -> str | None:
        r = RedFlagOut._resolution(obj)
        return r.note if r is not None else None


def _plan_out(plan: PainPlan | None) -> dict[str, Any]:
    if plan is None:
        return {"plan": None}
    goals = services.goals_with_progress(plan)
    return {
        "plan": {
            "version": plan.version,
            "goals": [
                {
                    **{k: g[k] for k in ("key", "text", "measure", "target", "unit", "direction")},
                    "latest": g["latest"],
                    "reached": g["reached"],
                }
                for g in goals
            ],
            "therapies": plan.therapies,
            "review_dates": plan.review_dates,
            "agreed_on": plan.agreed_on,
            "note": plan.note,
            "written_by": str(plan.written_by),
            "written_at": plan.written_at,
        }
    }


def _user(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


# -- portal --------------------------------------------------------------------------------


@router.get(
    "/portal/patients/{patient_id}/diary-entries",
    response={200: list[DiaryEntryOut], **ERRORS},
    summary="The diary, newest first (the patient or their caregiver; audited)",
)
@transaction.atomic
def list_diary_entries(request: HttpRequest, patient_id: int) -> list[DiaryEntry]:
    account = services.portal_reader(_user(request), patient_id, page="api:diary-entries")
    return list(DiaryEntry.objects.filter(patient=account.patient).select_related("written_by"))


@router.post(
    "/portal/patients/{patient_id}/diary-entries",
    response={201: DiaryEntryOut, **ERRORS},
    summary="Write a diary day (the patient or their caregiver)",
)
def create_diary_entry(
    request: HttpRequest, patient_id: int, payload: DiaryEntryIn
) -> Status[DiaryEntry]:
    user = _user(request)
    account = services.portal_writer_for(user, patient_id)
    entry = services.record_diary_entry(by=user, patient=account.patient, **payload.model_dump())
    return Status(201, entry)


@router.get(
    "/portal/patients/{patient_id}/questionnaires",
    response={200: list[QuestionnaireOut], **ERRORS},
    summary="BPI short forms and ODIs with their scores, newest first (audited)",
)
@transaction.atomic
def list_questionnaires(request: HttpRequest, patient_id: int) -> list[Questionnaire]:
    account = services.portal_reader(_user(request), patient_id, page="api:questionnaires")
    return list(Questionnaire.objects.filter(patient=account.patient).select_related("written_by"))


@router.post(
    "/portal/patients/{patient_id}/questionnaires",
    response={201: QuestionnaireOut, **ERRORS},
    summary="Fill in a BPI short form or an ODI; scored by the published rules",
)
def create_questionnaire(
    request: HttpRequest, patient_id: int, payload: QuestionnaireIn
) -> Status[Questionnaire]:
    user = _user(request)
    account = services.portal_writer_for(user, patient_id)
    q = services.record_questionnaire(
        by=user,
        patient=account.patient,
        kind=payload.kind.value,
        answers=payload.answers,
        day=payload.day,
    )
    return Status(201, q)


@router.get(
    "/portal/patients/{patient_id}/check-ins",
    response={200: list[CheckInOut], **ERRORS},
    summary="Recovery check-ins, newest first (audited)",
)
@transaction.atomic
def list_checkins(request: HttpRequest, patient_id: int) -> list[CheckIn]:
    account = services.portal_reader(_user(request), patient_id, page="api:check-ins")
    return list(
        CheckIn.objects.filter(patient=account.patient).select_related(
            "written_by", "patient", "patient__clinic"
        )
    )


@router.post(
    "/portal/patients/{patient_id}/check-ins",
    response={201: CheckInOut, **ERRORS},
    summary="A daily recovery check-in; a red flag raises an urgent worklist item and the "
    "answer says whom to call now",
)
def create_checkin(request: HttpRequest, patient_id: int, payload: CheckInIn) -> Status[CheckIn]:
    user = _user(request)
    account = services.portal_writer_for(user, patient_id)
    checkin = services.record_checkin(
        by=user,
        patient=account.patient,
        answers=payload.answers,
        pain_today=payload.pain_today,
        note=payload.note,
        day=payload.day,
    )
    return Status(201, checkin)


@router.get(
    "/portal/patients/{patient_id}/plan",
    response={200: PlanEnvelope, **ERRORS},
    summary="The pain management plan in force with the latest progress of each goal",
)
@transaction.atomic
def portal_plan(request: HttpRequest, patient_id: int) -> dict[str, Any]:
    account = services.portal_reader(_user(request), patient_id, page="api:plan")
    return _plan_out(services.current_plan(account.patient))


@router.post(
    "/portal/patients/{patient_id}/plan/progress",
    response={201: ProgressOut, **ERRORS},
    summary="Record progress towards a goal of the plan (the patient or their caregiver)",
)
def create_progress(
    request: HttpRequest, patient_id: int, payload: ProgressIn
) -> Status[GoalProgress]:
    user = _user(request)
    account = services.portal_writer_for(user, patient_id)
    progress = services.record_goal_progress(
        by=user,
        patient=account.patient,
        goal_key=payload.goal_key,
        value=payload.value,
        note=payload.note,
        day=payload.day,
    )
    return Status(201, progress)


# -- clinicians ----------------------------------------------------------------------------


def _clinic_patient(request: HttpRequest, patient_id: int) -> Any:
    user = _user(request)
    patient = patient_services.find_patient(by=user, patient_id=patient_id)
    require_role(user, patient.clinic, CLINICAL)
    return patient


@router.get(
    "/patients/{patient_id}/pain-plan",
    response={200: PlanEnvelope, **ERRORS},
    summary="The patient's pain management plan in force (physician or nurse; audited)",
)
@transaction.atomic
def clinic_plan(request: HttpRequest, patient_id: int) -> dict[str, Any]:
    patient = _clinic_patient(request, patient_id)
    services.clinician_reader(_user(request), patient, what="pain plan")
    return _plan_out(services.current_plan(patient))


@router.post(
    "/patients/{patient_id}/pain-plan",
    response={201: PlanEnvelope, **ERRORS},
    summary="Write a new version of the pain management plan (physician or nurse)",
)
def write_plan(request: HttpRequest, patient_id: int, payload: PlanIn) -> Status[dict[str, Any]]:
    patient = _clinic_patient(request, patient_id)
    data = payload.model_dump()
    for goal in data["goals"]:
        goal["target"] = goal["target"]
    plan = services.write_plan(by=_user(request), patient=patient, **data)
    return Status(201, _plan_out(plan))


@router.get(
    "/patients/{patient_id}/red-flags",
    response={200: list[RedFlagOut], **ERRORS},
    summary="The patient's red flags, open first then newest (physician or nurse; audited)",
)
@transaction.atomic
def list_red_flags(request: HttpRequest, patient_id: int) -> list[RedFlag]:
    patient = _clinic_patient(request, patient_id)
    services.clinician_reader(_user(request), patient, what="red flags")
    flags = list(RedFlag.objects.filter(patient=patient).select_related("resolution__resolved_by"))
    return sorted(flags, key=lambda f: (RedFlagOut._resolution(f) is not None, -f.pk))


@router.post(
    "/patients/{patient_id}/red-flags/{flag_id}/resolve",
    response={200: RedFlagOut, **ERRORS},
    summary="Resolve an open red flag, saying what was done (physician or nurse; audited)",
)
def resolve_red_flag(
    request: HttpRequest, patient_id: int, flag_id: int, payload: ResolveIn
) -> RedFlag:
    patient = _clinic_patient(request, patient_id)
    flag = get_object_or_404(RedFlag, pk=flag_id, patient=patient)
    services.resolve_red_flag(by=_user(request), red_flag=flag, note=payload.note)
    resolved: RedFlag = RedFlag.objects.select_related("resolution__resolved_by").get(pk=flag.pk)
    return resolved


__all__ = ["ValidationError", "router"]
